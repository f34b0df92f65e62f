package httpsig

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// AlgEd25519 is the RFC 9421 registry name of EdDSA with edwards25519.
const AlgEd25519 = "ed25519"

// Message is the part of an HTTP request a signature covers.
type Message struct {
	Method string
	URL    *url.URL
	Header http.Header
}

// Params are a signature's parameters; zero values are left out.
type Params struct {
	Created time.Time
	Expires time.Time
	KeyID   string
	Alg     string
	Nonce   string
}

// Signature is one parsed signature of a message.
type Signature struct {
	Label      string
	Components []string
	Params     Params
	Sig        []byte
	// paramsValue is the serialized inner list with its parameters: the
	// value of the @signature-params line.
	paramsValue string
}

// ErrNoSignature means the message carries no signature with the label.
var ErrNoSignature = errors.New("no signature")

// Sign signs m with key and returns the Signature-Input and Signature
// header values for label (each one dictionary member).
func Sign(m Message, label string, components []string, p Params, key ed25519.PrivateKey) (input, signature string, err error) {
	if len(key) != ed25519.PrivateKeySize {
		return "", "", errors.New("httpsig: not an Ed25519 private key")
	}
	pv, err := serializeParams(components, p)
	if err != nil {
		return "", "", err
	}
	base, err := signatureBase(m, components, pv)
	if err != nil {
		return "", "", err
	}
	sig := ed25519.Sign(key, []byte(base))
	return label + "=" + pv, label + "=:" + base64.StdEncoding.EncodeToString(sig) + ":", nil
}

// Parse finds the signature called label in m's Signature-Input and
// Signature headers. It checks the syntax only; call Verify.
func Parse(m Message, label string) (*Signature, error) {
	inputs, err := parseDictionary(strings.Join(m.Header.Values("Signature-Input"), ", "))
	if err != nil {
		return nil, fmt.Errorf("Signature-Input: %w", err)
	}
	sigs, err := parseDictionary(strings.Join(m.Header.Values("Signature"), ", "))
	if err != nil {
		return nil, fmt.Errorf("Signature: %w", err)
	}
	in, ok1 := inputs[label]
	sv, ok2 := sigs[label]
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("%w labelled %q", ErrNoSignature, label)
	}
	if in.list == nil || sv.item.kind != kindBytes {
		return nil, fmt.Errorf("signature %q: want an inner list and a byte sequence", label)
	}
	s := &Signature{Label: label, Sig: sv.item.bytes}
	for _, it := range in.list {
		if it.kind != kindString || len(it.params) > 0 {
			return nil, fmt.Errorf("signature %q: components must be plain strings", label)
		}
		s.Components = append(s.Components, it.str)
	}
	for _, kv := range in.params {
		switch kv.key {
		case "created", "expires":
			if kv.val.kind != kindInteger {
				return nil, fmt.Errorf("signature %q: %s must be an integer", label, kv.key)
			}
			t := time.Unix(kv.val.integer, 0)
			if kv.key == "created" {
				s.Params.Created = t
			} else {
				s.Params.Expires = t
			}
		case "keyid", "alg", "nonce":
			if kv.val.kind != kindString {
				return nil, fmt.Errorf("signature %q: %s must be a string", label, kv.key)
			}
			switch kv.key {
			case "keyid":
				s.Params.KeyID = kv.val.str
			case "alg":
				s.Params.Alg = kv.val.str
			default:
				s.Params.Nonce = kv.val.str
			}
		default:
			// tag and future parameters are covered by the signature
			// through the re-serialized value below; Params ignores them.
		}
	}
	s.paramsValue = serializeInnerList(in)
	return s, nil
}

// Verify checks the signature over m with pub. alg, when present, must be
// ed25519.
func (s *Signature) Verify(m Message, pub ed25519.PublicKey) error {
	if s.Params.Alg != "" && s.Params.Alg != AlgEd25519 {
		return fmt.Errorf("algorithm %q not supported", s.Params.Alg)
	}
	if len(pub) != ed25519.PublicKeySize {
		return errors.New("not an Ed25519 public key")
	}
	base, err := signatureBase(m, s.Components, s.paramsValue)
	if err != nil {
		return err
	}
	if !ed25519.Verify(pub, []byte(base), s.Sig) {
		return errors.New("signature does not verify")
	}
	return nil
}

// signatureBase is RFC 9421 section 2.5: one line per component, then
// the @signature-params line, no trailing newline.
func signatureBase(m Message, components []string, paramsValue string) (string, error) {
	var b strings.Builder
	seen := make(map[string]bool, len(components))
	for _, c := range components {
		if seen[c] {
			return "", fmt.Errorf("component %q covered twice", c)
		}
		seen[c] = true
		v, err := componentValue(m, c)
		if err != nil {
			return "", err
		}
		b.WriteString(`"` + c + `": ` + v + "\n")
	}
	b.WriteString(`"@signature-params": ` + paramsValue)
	return b.String(), nil
}

func componentValue(m Message, name string) (string, error) {
	if name == "" || name != strings.ToLower(name) || strings.ContainsAny(name, "\"\\\n\r") {
		return "", fmt.Errorf("component %q: not a lowercase name", name)
	}
	if strings.HasPrefix(name, "@") {
		u := m.URL
		if u == nil && name != "@method" {
			return "", fmt.Errorf("component %q: message has no URL", name)
		}
		switch name {
		case "@method":
			return m.Method, nil
		case "@target-uri":
			return u.String(), nil
		case "@authority":
			return authority(u), nil
		case "@scheme":
			return strings.ToLower(u.Scheme), nil
		case "@path":
			if p := u.EscapedPath(); p != "" {
				return p, nil
			}
			return "/", nil
		case "@query":
			return "?" + u.RawQuery, nil
		}
		return "", fmt.Errorf("derived component %q not supported", name)
	}
	vals := m.Header.Values(name)
	if len(vals) == 0 {
		return "", fmt.Errorf("component %q: header missing", name)
	}
	// Header.Values is the message's own slice: trim into a copy.
	trimmed := make([]string, len(vals))
	for i, v := range vals {
		if strings.ContainsAny(v, "\r\n") {
			return "", fmt.Errorf("component %q: line break in value", name)
		}
		trimmed[i] = strings.TrimSpace(v)
	}
	return strings.Join(trimmed, ", "), nil
}

// authority is host[:port] in lowercase without the scheme's default port.
func authority(u *url.URL) string {
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port == "" || (u.Scheme == "https" && port == "443") || (u.Scheme == "http" && port == "80") {
		return host
	}
	return host + ":" + port
}

func serializeParams(components []string, p Params) (string, error) {
	var b strings.Builder
	b.WriteByte('(')
	for i, c := range components {
		if i > 0 {
			b.WriteByte(' ')
		}
		if err := checkSFString(c); err != nil {
			return "", err
		}
		b.WriteString(`"` + c + `"`)
	}
	b.WriteByte(')')
	if !p.Created.IsZero() {
		b.WriteString(";created=" + strconv.FormatInt(p.Created.Unix(), 10))
	}
	if !p.Expires.IsZero() {
		b.WriteString(";expires=" + strconv.FormatInt(p.Expires.Unix(), 10))
	}
	for _, kv := range []struct{ k, v string }{{"keyid", p.KeyID}, {"alg", p.Alg}, {"nonce", p.Nonce}} {
		if kv.v == "" {
			continue
		}
		if err := checkSFString(kv.v); err != nil {
			return "", err
		}
		b.WriteString(";" + kv.k + `="` + kv.v + `"`)
	}
	return b.String(), nil
}

// checkSFString allows the printable ASCII an sf-string may hold, without
// the two characters that would need escaping.
func checkSFString(s string) error {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return fmt.Errorf("httpsig: %q: character %q not allowed", s, c)
		}
	}
	return nil
}

// ContentDigest is the RFC 9530 Content-Digest value of body (sha-256).
func ContentDigest(body []byte) string {
	sum := sha256.Sum256(body)
	return "sha-256=:" + base64.StdEncoding.EncodeToString(sum[:]) + ":"
}

// CheckContentDigest verifies the sha-256 member of a Content-Digest
// header value against body.
func CheckContentDigest(header string, body []byte) error {
	d, err := parseDictionary(header)
	if err != nil {
		return fmt.Errorf("Content-Digest: %w", err)
	}
	m, ok := d["sha-256"]
	if !ok || m.item.kind != kindBytes {
		return errors.New("Content-Digest: no sha-256 byte sequence")
	}
	sum := sha256.Sum256(body)
	if subtle.ConstantTimeCompare(m.item.bytes, sum[:]) != 1 {
		return errors.New("Content-Digest: does not match the body")
	}
	return nil
}
