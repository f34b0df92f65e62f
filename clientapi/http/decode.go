package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
)

// maxBodyBytes bounds every request body: the largest legitimate one is a
// message of maxMessageBytes with its JSON around it.
const maxBodyBytes = 64 << 10

// readJSON decodes the request body into dst: application/json only, one
// value, no unknown members, at most maxBodyBytes.
func readJSON(w http.ResponseWriter, r *http.Request, dst any) *problem {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			p := newProblem(http.StatusUnsupportedMediaType, "the request body must be application/json")
			p.Field = "Content-Type"
			return p
		}
	}
	return decodeJSON(http.MaxBytesReader(w, r.Body, maxBodyBytes), dst)
}

// decodeJSON is readJSON's decoding, apart so the fuzzer can reach it.
func decodeJSON(body io.Reader, dst any) *problem {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return jsonProblem(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badField("", "the request body must hold one JSON value and nothing after it")
	}
	return nil
}

// jsonProblem turns a decoding error into a problem naming the member.
func jsonProblem(err error) *problem {
	var (
		syntax  *json.SyntaxError
		typ     *json.UnmarshalTypeError
		tooBig  *http.MaxBytesError
		invalid *json.InvalidUnmarshalError
	)
	switch {
	case errors.As(err, &tooBig):
		return newProblem(http.StatusRequestEntityTooLarge, fmt.Sprintf("the request body exceeds %d bytes", tooBig.Limit))
	case errors.As(err, &syntax):
		return badField("", "the request body is not valid JSON (at byte %d)", syntax.Offset)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return badField("", "the request body must be a JSON object")
		}
		return badField(field, "%s must be %s", field, jsonTypeName(typ.Type.Kind().String()))
	case errors.As(err, &invalid):
		return internal(err)
	case errors.Is(err, io.EOF):
		return badField("", "the request body is empty")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badField("", "the request body is cut short")
	}
	// encoding/json words these "json: unknown field \"x\"".
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name = strings.Trim(name, `"`)
		return badField(name, "unknown member %q", name)
	}
	var p *problem
	if errors.As(err, &p) {
		return p // from a type's own UnmarshalJSON
	}
	return badField("", "the request body could not be read: %v", err)
}

func jsonTypeName(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "map", "struct":
		return "an object"
	case "slice", "array":
		return "an array"
	case "ptr":
		return "a value"
	}
	return "a number"
}
