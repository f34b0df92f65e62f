package httpsig

import (
	"crypto/ed25519"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// The test-key-ed25519 of RFC 9421 appendix B.1.4 (JWK "d" and "x").
const (
	rfcSeed   = "n4Ni-HpISpVObnQMW0wOhCKROaIKqKtW_2ZYb2p9KcU"
	rfcPublic = "JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs"
	// The signature of appendix B.2.6.
	rfcB26Input = `sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519"`
	rfcB26Sig   = "sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:"
)

func rfcKey(t *testing.T) (ed25519.PrivateKey, ed25519.PublicKey) {
	t.Helper()
	seed, err := base64.RawURLEncoding.DecodeString(rfcSeed)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := base64.RawURLEncoding.DecodeString(rfcPublic)
	if err != nil {
		t.Fatal(err)
	}
	return ed25519.NewKeyFromSeed(seed), ed25519.PublicKey(pub)
}

// rfcRequest is the test-request of RFC 9421 appendix B.2.
func rfcRequest() Message {
	u, _ := url.Parse("https://example.com/foo?param=Value&Pet=dog")
	h := http.Header{}
	h.Set("Date", "Tue, 20 Apr 2021 02:07:55 GMT")
	h.Set("Content-Type", "application/json")
	h.Set("Content-Digest", "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:")
	h.Set("Content-Length", "18")
	return Message{Method: "POST", URL: u, Header: h}
}

// TestRFC9421B26 signs the appendix B.2.6 request with the RFC's key and
// must produce the RFC's signature byte for byte (Ed25519 is
// deterministic), then verifies the RFC's headers.
func TestRFC9421B26(t *testing.T) {
	priv, pub := rfcKey(t)
	if !pub.Equal(priv.Public()) {
		t.Fatal("the RFC's public key does not belong to its private key")
	}
	m := rfcRequest()
	components := []string{"date", "@method", "@path", "@authority", "content-type", "content-length"}
	input, sig, err := Sign(m, "sig-b26", components, Params{Created: time.Unix(1618884473, 0), KeyID: "test-key-ed25519"}, priv)
	if err != nil {
		t.Fatal(err)
	}
	if input != rfcB26Input {
		t.Errorf("Signature-Input:\n%s\nwant\n%s", input, rfcB26Input)
	}
	if sig != rfcB26Sig {
		t.Errorf("Signature:\n%s\nwant\n%s", sig, rfcB26Sig)
	}

	m.Header.Set("Signature-Input", rfcB26Input)
	m.Header.Set("Signature", rfcB26Sig)
	s, err := Parse(m, "sig-b26")
	if err != nil {
		t.Fatal(err)
	}
	if s.Params.KeyID != "test-key-ed25519" || s.Params.Created.Unix() != 1618884473 {
		t.Errorf("params %+v", s.Params)
	}
	if err := s.Verify(m, pub); err != nil {
		t.Fatalf("the RFC's own signature: %v", err)
	}
	// Any change of a covered component breaks it.
	m.Header.Set("Content-Length", "19")
	if err := s.Verify(m, pub); err == nil {
		t.Error("verified after content-length changed")
	}
}

// TestRFC9530Digest checks the example of RFC 9530 appendix B.1.
func TestRFC9530Digest(t *testing.T) {
	body := []byte("{\"hello\": \"world\"}\n")
	want := "sha-256=:RK/0qy18MlBSVnWgjwz6lZEWjP/lF5HF9bvEF8FabDg=:"
	if got := ContentDigest(body); got != want {
		t.Fatalf("ContentDigest = %s, want %s", got, want)
	}
	if err := CheckContentDigest("sha-512=:AAAA:, "+want, body); err != nil {
		t.Fatal(err)
	}
	if err := CheckContentDigest(want, []byte("{}")); err == nil {
		t.Fatal("a digest of another body verified")
	}
	if err := CheckContentDigest("sha-512=:AAAA:", body); err == nil {
		t.Fatal("a digest without sha-256 verified")
	}
}

func TestRoundTripAndRefusals(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	otherPub, _, _ := ed25519.GenerateKey(nil)
	u, _ := url.Parse("https://b.example:8443/_switchboard/fed/v1/events")
	body := []byte(`{"events":[]}`)
	h := http.Header{}
	h.Set("Content-Digest", ContentDigest(body))
	h.Set("Switchboard-Origin", "a.example")
	m := Message{Method: "POST", URL: u, Header: h}
	comps := []string{"@method", "@target-uri", "content-digest", "switchboard-origin"}
	now := time.Unix(1763947800, 0)
	in, sig, err := Sign(m, "sb", comps, Params{Created: now, Expires: now.Add(5 * time.Minute), KeyID: "k1", Alg: AlgEd25519}, priv)
	if err != nil {
		t.Fatal(err)
	}
	h.Set("Signature-Input", in)
	h.Set("Signature", sig)
	s, err := Parse(m, "sb")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Verify(m, pub); err != nil {
		t.Fatal(err)
	}
	if strings.Join(s.Components, " ") != strings.Join(comps, " ") || s.Params.Alg != "ed25519" || !s.Params.Expires.Equal(now.Add(5*time.Minute)) {
		t.Errorf("parsed %+v", s)
	}
	if err := s.Verify(m, otherPub); err == nil {
		t.Error("verified with another key")
	}
	for name, mutate := range map[string]func(Message) Message{
		"origin": func(m Message) Message { m.Header.Set("Switchboard-Origin", "evil.example"); return m },
		"method": func(m Message) Message { m.Method = "PUT"; return m },
		"uri": func(m Message) Message {
			m.URL, _ = url.Parse("https://b.example:8443/_switchboard/fed/v1/other")
			return m
		},
		"no header": func(m Message) Message {
			m.Header.Del("Content-Digest")
			return m
		},
	} {
		c := Message{Method: m.Method, URL: m.URL, Header: m.Header.Clone()}
		if err := s.Verify(mutate(c), pub); err == nil {
			t.Errorf("%s changed and the signature still verified", name)
		}
	}
	// Parameters are covered too: a later expiry breaks the signature.
	h2 := h.Clone()
	h2.Set("Signature-Input", strings.Replace(in, "expires=", "expires=9", 1))
	s2, err := Parse(Message{Method: m.Method, URL: m.URL, Header: h2}, "sb")
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Verify(m, pub); err == nil {
		t.Error("a changed expires verified")
	}
	if _, err := Parse(Message{Method: "POST", URL: u, Header: http.Header{}}, "sb"); err == nil {
		t.Error("parsed a signature from no headers")
	}
}

func TestParseRefusesBadFields(t *testing.T) {
	for _, in := range []string{
		`sb=("@method";created=1`, `sb=("@method")created=1`, `sb=("@method" 5)`, `sb=(@method)`,
		`sb=("a");created=1.5`, `sb=("a");keyid="x`, `sb=("a"),`, `SB=("a")`, `sb=("a");created=9999999999999999`,
	} {
		h := http.Header{}
		h.Set("Signature-Input", in)
		h.Set("Signature", "sb=:AAAA:")
		if _, err := Parse(Message{Method: "POST", Header: h}, "sb"); err == nil {
			t.Errorf("parsed %s", in)
		}
	}
}

// FuzzParse feeds arbitrary header values: never a panic, and what parses
// serializes back to something that parses the same.
func FuzzParse(f *testing.F) {
	f.Add(rfcB26Input, rfcB26Sig)
	f.Add(`sb=("@method" "@target-uri");created=1;expires=2;keyid="k";alg="ed25519"`, "sb=:AAAA:")
	f.Add(`a=?1;b=tok, sb=("x";p=1)`, "sb=:AA==:, c=\"s\\\"\"")
	u, _ := url.Parse("https://example.com/foo?x=1")
	f.Fuzz(func(t *testing.T, input, sig string) {
		h := http.Header{}
		h.Set("Signature-Input", input)
		h.Set("Signature", sig)
		h.Set("Date", "x")
		m := Message{Method: "POST", URL: u, Header: h}
		s, err := Parse(m, "sb")
		if err != nil {
			return
		}
		_ = s.Verify(m, make(ed25519.PublicKey, ed25519.PublicKeySize))
		h.Set("Signature-Input", "sb="+s.paramsValue)
		s2, err := Parse(m, "sb")
		if err != nil {
			t.Fatalf("re-serialized %q does not parse: %v", s.paramsValue, err)
		}
		if s2.paramsValue != s.paramsValue {
			t.Fatalf("serialization not stable: %q then %q", s.paramsValue, s2.paramsValue)
		}
	})
}

// TestVerifyLeavesHeadersAlone: building the signature base reads the
// message's header values without rewriting them.
func TestVerifyLeavesHeadersAlone(t *testing.T) {
	priv, pub := rfcKey(t)
	m := rfcRequest()
	m.Header.Set("X-Padded", "  value  ")
	in, sig, err := Sign(m, "sb", []string{"@method", "x-padded"}, Params{KeyID: "k"}, priv)
	if err != nil {
		t.Fatal(err)
	}
	m.Header.Set("Signature-Input", in)
	m.Header.Set("Signature", sig)
	s, err := Parse(m, "sb")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Verify(m, pub); err != nil {
		t.Fatal(err)
	}
	if got := m.Header.Get("X-Padded"); got != "  value  " {
		t.Errorf("header after Sign and Verify: %q", got)
	}
}
