package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

func TestBadRequestBodies(t *testing.T) {
	e := newEnv(t)
	_, tok := e.user("alice")
	for _, c := range []struct {
		name, body string
		status     int
		field      string
	}{
		{"unknown member", `{"username":"a","password":"b","admin":true}`, 400, "admin"},
		{"wrong type", `{"username":1,"password":"b"}`, 400, "username"},
		{"not an object", `[1,2]`, 400, ""},
		{"not JSON", `{"username":`, 400, ""},
		{"two values", `{"username":"a","password":"b"} {}`, 400, ""},
		{"empty", ``, 400, ""},
		{"too big", `{"username":"` + strings.Repeat("a", maxBodyBytes) + `","password":"b"}`, 413, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			e.t = t
			e.wantProblem(e.do("POST", "/api/v1/tokens", "", c.body), c.status, c.field)
		})
	}
	e.t = t
	req, _ := http.NewRequest("POST", e.ts.URL+"/api/v1/networks", strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "text/plain")
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	e.wantProblem(resp, http.StatusUnsupportedMediaType, "Content-Type")
}

// requestTypes are every JSON body the API decodes.
func requestTypes() []func() any {
	return []func() any{
		func() any { return new(loginRequest) },
		func() any { return new(networkCreateRequest) },
		func() any { return new(networkUpdateRequest) },
		func() any { return new(sendRequest) },
		func() any { return new(markRequest) },
		func() any { return new(presenceRequest) },
	}
}

// FuzzDecodeRequest feeds arbitrary bodies to every request type: decoding
// never panics, every refusal is a 4xx problem, and what is accepted
// survives a round trip (decode, encode, decode: equal).
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		`{"username":"a","password":"b","name":"n","expires_in":5}`,
		`{"name":"lab","kind":"irc","enabled":false,"settings":{"addr":"irc://x"}}`,
		`{"settings":{"nick":null,"addr":"y"},"enabled":true}`,
		`{"body":"hi","kind":"action","reply_to":"0000000000001"}`,
		`{"upto":"038GANJS8P001"}`, `{"show":"dnd","text":"x"}`, `{"a":1}`, `[]`, `null`, `"\ud800"`, `{"body":"\u0000"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, mk := range requestTypes() {
			v := mk()
			if p := decodeJSON(bytes.NewReader(body), v); p != nil {
				if p.Status < 400 || p.Status >= 500 || p.Detail == "" {
					t.Fatalf("%T: %q refused with %+v", v, body, p)
				}
				continue
			}
			enc, err := json.Marshal(v)
			if err != nil {
				t.Fatalf("%T: re-encoding %+v: %v", v, v, err)
			}
			w := mk()
			if p := decodeJSON(bytes.NewReader(enc), w); p != nil {
				t.Fatalf("%T: own encoding %s refused: %+v", v, enc, p)
			}
			if !reflect.DeepEqual(v, w) {
				t.Fatalf("%T: round trip of %q: %+v became %+v", v, body, v, w)
			}
		}
	})
}
