package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	toml "github.com/pelletier/go-toml/v2"
)

// Load reads the TOML file at path over Default and validates the result.
//
// Every problem is refused, never guessed around: an unknown key (usually a
// typo that would otherwise silently keep the default), a value of the wrong
// type, or an invalid value. Each error names the file, the line and the key,
// e.g. `switchboard.toml:7: unknown key "xmpp.adr"`; when several are found
// they are joined, one per line.
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	return parse(path, data)
}

// parse is Load once the file is read; name only labels the errors.
func parse(name string, data []byte) (Config, error) {
	doc, scanErrs, ok := scan(data)
	if len(scanErrs) > 0 {
		return Config{}, joinLineErrors(name, scanErrs)
	}

	cfg := Default()
	dec := toml.NewDecoder(bytes.NewReader(data)).DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return Config{}, decodeError(name, err)
	}
	if !ok {
		// scan's parser refused what the decoder accepted; the two share one
		// parser, so this means a bug rather than a bad file.
		return Config{}, fmt.Errorf("%s: internal error: document did not parse twice the same way", name)
	}

	if err := cfg.Validate(); err != nil {
		return Config{}, locate(name, doc, err)
	}
	return cfg, nil
}

// lineError is one problem at a line of the file (0: line unknown).
type lineError struct {
	line int
	err  error
}

// joinLineErrors prefixes each error with file:line and joins them. The
// causes stay wrapped, so callers can still reach a *FieldError.
func joinLineErrors(name string, errs []lineError) error {
	out := make([]error, len(errs))
	for i, e := range errs {
		if e.line > 0 {
			out[i] = fmt.Errorf("%s:%d: %w", name, e.line, e.err)
		} else {
			out[i] = fmt.Errorf("%s: %w", name, e.err)
		}
	}
	return errors.Join(out...)
}

// decodeError rewrites go-toml's errors into file:line: key: message form.
func decodeError(name string, err error) error {
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) {
		errs := make([]lineError, len(strict.Errors))
		for i, e := range strict.Errors {
			line, _ := e.Position()
			what := "key"
			if strings.HasSuffix(e.Error(), "missing table") {
				what = "table"
			}
			errs[i] = lineError{line: line, err: fmt.Errorf("unknown %s %q", what, strings.Join(e.Key(), "."))}
		}
		return joinLineErrors(name, errs)
	}

	var de *toml.DecodeError
	if errors.As(err, &de) {
		line, _ := de.Position()
		msg := strings.TrimPrefix(de.Error(), "toml: ")
		if key := de.Key(); len(key) > 0 {
			msg = strings.Join(key, ".") + ": " + msg
		}
		return joinLineErrors(name, []lineError{{line: line, err: errors.New(msg)}})
	}

	return fmt.Errorf("%s: %w", name, err)
}

// locate adds the file and line to each *FieldError of a Validate error.
func locate(name string, doc *document, err error) error {
	var list []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	} else {
		list = []error{err}
	}
	errs := make([]lineError, len(list))
	for i, e := range list {
		errs[i] = lineError{err: e}
		var fe *FieldError
		if errors.As(e, &fe) {
			errs[i].line = doc.line(fe.Key)
		}
	}
	return joinLineErrors(name, errs)
}
