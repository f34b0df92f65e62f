package xmpp

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"hash"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/xdg-go/scram"
	"golang.org/x/text/secure/precis"

	"github.com/switchboard/switchboard/core"
)

// CredentialStore is what the port needs from the store to log users in.
//
// The port does not tell a missing user or missing keys from a broken
// store (core.ErrNotFound could now, once every store wraps it), so every
// error is taken to mean "no such user" and the login fails with
// not-authorized, with the
// error kept as the saslError's Cause for the log; only errors wrapping
// context.DeadlineExceeded or context.Canceled give temporary-auth-failure.
type CredentialStore interface {
	UserByName(ctx context.Context, name string) (core.User, error)
	Credentials(ctx context.Context, user core.UserID, mechanism string) (core.ScramKeys, error)
}

// SASL mechanism names beside core.ScramSHA1 and core.ScramSHA256.
const (
	mechPlain  = "PLAIN"
	plusSuffix = "-PLUS"
)

// Channel-binding types (RFC 5929, RFC 9266), in the order they are
// preferred.
var cbTypes = []string{
	string(scram.ChannelBindingTLSExporter),
	string(scram.ChannelBindingTLSServerEndpoint),
	string(scram.ChannelBindingTLSUnique),
}

// SASL failure conditions (RFC 6120 §6.5) this file produces.
const (
	saslEncryptionRequired = "encryption-required"
	saslInvalidAuthzid     = "invalid-authzid"
	saslInvalidMechanism   = "invalid-mechanism"
	saslMalformedRequest   = "malformed-request"
	saslNotAuthorized      = "not-authorized"
	saslTemporaryFailure   = "temporary-auth-failure"
)

// saslError is a failed SASL exchange: Condition is one of RFC 6120 §6.5
// (aborted, account-disabled, credentials-expired, encryption-required,
// incorrect-encoding, invalid-authzid, invalid-mechanism,
// malformed-request, mechanism-too-weak, not-authorized,
// temporary-auth-failure) and Text an optional human-readable reason;
// both go to the client in <failure/>. Cause is the internal reason for
// the log and never goes on the wire: it may tell an unknown user from a
// wrong password.
type saslError struct {
	Condition string
	Text      string
	Cause     error
}

func (e *saslError) Error() string {
	s := "SASL " + e.Condition
	if e.Text != "" {
		s += ": " + e.Text
	}
	if e.Cause != nil {
		s += " (" + e.Cause.Error() + ")"
	}
	return s
}

func (e *saslError) Unwrap() error { return e.Cause }

// tlsUp reports whether cs is a completed TLS handshake.
func tlsUp(cs *tls.ConnectionState) bool { return cs != nil && cs.HandshakeComplete }

// saslMechanisms lists what to offer on a connection, best first:
// SCRAM-SHA-256-PLUS and SCRAM-SHA-1-PLUS when a channel binding can be
// checked (see channelBindingTypes), SCRAM-SHA-256, SCRAM-SHA-1, and PLAIN
// only over TLS. serverCert is the leaf certificate this connection
// presented, nil if unknown (then tls-server-end-point is not offered).
func saslMechanisms(cs *tls.ConnectionState, serverCert *x509.Certificate) []string {
	var m []string
	if len(channelBindingTypes(cs, serverCert)) > 0 {
		m = append(m, core.ScramSHA256+plusSuffix, core.ScramSHA1+plusSuffix)
	}
	m = append(m, core.ScramSHA256, core.ScramSHA1)
	if tlsUp(cs) {
		m = append(m, mechPlain)
	}
	return m
}

// channelBindingTypes lists the channel-binding types this connection
// supports, for XEP-0440 <sasl-channel-binding/>: tls-exporter (RFC 9266)
// on TLS 1.3; tls-server-end-point (RFC 5929) whenever serverCert is known
// and its signature names one hash; tls-unique on TLS 1.2 when Go provides
// it (not on resumed sessions without extended master secret).
func channelBindingTypes(cs *tls.ConnectionState, serverCert *x509.Certificate) []string {
	var out []string
	for _, t := range cbTypes {
		if _, ok := channelBindingData(t, cs, serverCert); ok {
			out = append(out, t)
		}
	}
	return out
}

// channelBindingData returns what a client's channel binding of type typ
// must equal on this connection.
func channelBindingData(typ string, cs *tls.ConnectionState, serverCert *x509.Certificate) ([]byte, bool) {
	if !tlsUp(cs) {
		return nil, false
	}
	switch scram.ChannelBindingType(typ) {
	case scram.ChannelBindingTLSExporter:
		// RFC 9266 defines it for TLS 1.3; TLS 1.2 would also need the
		// extended master secret, which ConnectionState does not report.
		if cs.Version < tls.VersionTLS13 {
			return nil, false
		}
		b, err := cs.ExportKeyingMaterial("EXPORTER-Channel-Binding", nil, 32)
		return b, err == nil
	case scram.ChannelBindingTLSServerEndpoint:
		return endPointHash(serverCert)
	case scram.ChannelBindingTLSUnique:
		if cs.Version >= tls.VersionTLS13 || len(cs.TLSUnique) == 0 {
			return nil, false
		}
		return bytes.Clone(cs.TLSUnique), true
	}
	return nil, false
}

// endPointHash is the tls-server-end-point binding of cert (RFC 5929
// §4.1): its DER hashed with the hash of its signature algorithm, SHA-256
// for MD5 and SHA-1; undefined when the algorithm names no single hash
// (Ed25519).
func endPointHash(cert *x509.Certificate) ([]byte, bool) {
	if cert == nil || len(cert.Raw) == 0 {
		return nil, false
	}
	var h hash.Hash
	switch cert.SignatureAlgorithm {
	case x509.MD5WithRSA, x509.SHA1WithRSA, x509.DSAWithSHA1, x509.ECDSAWithSHA1,
		x509.SHA256WithRSA, x509.DSAWithSHA256, x509.ECDSAWithSHA256, x509.SHA256WithRSAPSS:
		h = sha256.New()
	case x509.SHA384WithRSA, x509.ECDSAWithSHA384, x509.SHA384WithRSAPSS:
		h = sha512.New384()
	case x509.SHA512WithRSA, x509.ECDSAWithSHA512, x509.SHA512WithRSAPSS:
		h = sha512.New()
	default:
		return nil, false
	}
	h.Write(cert.Raw)
	return h.Sum(nil), true
}

type saslState uint8

const (
	saslFirst saslState = iota // waiting for the client's first message
	saslFinal                  // SCRAM: waiting for client-final-message
	saslOver                   // done or failed
)

// saslExchange is one SASL exchange on one connection: newSASL, then Step
// with each client message until it reports done or an error.
type saslExchange struct {
	ctx        context.Context
	store      CredentialStore
	domain     string
	mech       string                 // as the client chose it
	keyMech    string                 // core.ScramSHA1 or core.ScramSHA256; "" for PLAIN
	hash       scram.HashGeneratorFcn // for SCRAM
	plus       bool                   // mech is a -PLUS variant
	offerPlus  bool                   // -PLUS was offered on this connection
	cs         *tls.ConnectionState
	serverCert *x509.Certificate
	nonce      scram.NonceGeneratorFcn // server nonces; nil is the library's (tests set it)

	state    saslState
	prompted bool // an empty challenge asked for the missing initial response
	conv     *scram.ServerConversation
	name     string // the authcid as a user name, if it can be one
	nameOK   bool
	found    bool  // the user and its keys exist
	missing  error // why found is false, for the log
	user     core.User
	ok       bool
}

// newSASL starts one exchange of mechanism mech on a connection whose TLS
// state is cs (nil before TLS) and whose certificate is serverCert (nil if
// unknown). domain is the server's domain: the authcid may be given as
// "alice" or "alice@domain". ctx bounds the store lookups of the whole
// exchange. The error is a *saslError: invalid-mechanism for a mechanism
// not offered on this connection, encryption-required for PLAIN without
// TLS.
//
// User names are case-insensitive: the authcid's local part is prepared
// with the PRECIS UsernameCaseMapped profile (RFC 8265, as XMPP localparts
// are, RFC 7622), so "Alice", "ALICE@Example.org" and "alice" all name the
// account alice; a name that is then not a valid core user name names no
// account.
func newSASL(ctx context.Context, mech string, store CredentialStore, cs *tls.ConnectionState, serverCert *x509.Certificate, domain string) (*saslExchange, error) {
	offered := saslMechanisms(cs, serverCert)
	if !slices.Contains(offered, mech) {
		if mech == mechPlain {
			return nil, &saslError{Condition: saslEncryptionRequired, Text: "PLAIN needs TLS"}
		}
		return nil, &saslError{Condition: saslInvalidMechanism, Text: fmt.Sprintf("%.40q is not offered on this connection", mech)}
	}
	x := &saslExchange{
		ctx: ctx, store: store, domain: domain, mech: mech,
		cs: cs, serverCert: serverCert,
		offerPlus: strings.HasSuffix(offered[0], plusSuffix),
	}
	base, plus := strings.CutSuffix(mech, plusSuffix)
	x.plus = plus
	switch base {
	case core.ScramSHA1:
		x.keyMech, x.hash = core.ScramSHA1, scram.SHA1
	case core.ScramSHA256:
		x.keyMech, x.hash = core.ScramSHA256, scram.SHA256
	}
	return x, nil
}

// User is the authenticated user once Step has reported done.
func (x *saslExchange) User() core.User {
	if !x.ok {
		return core.User{}
	}
	return x.user
}

// Step takes the client's message (already base64-decoded; empty when the
// client sent no initial response) and returns the server's next message:
// a challenge to send in <challenge/>, or with done the additional data for
// <success/> (SCRAM's server-final-message; nothing for PLAIN). A failure is
// a *saslError, after which the exchange is over.
//
// An empty first message is answered with an empty challenge, once, asking
// for the initial response (RFC 6120 §6.4.2).
func (x *saslExchange) Step(clientMsg []byte) (serverMsg []byte, done bool, err error) {
	switch {
	case x.state == saslOver:
		return nil, false, &saslError{Condition: saslMalformedRequest, Text: "the exchange is over"}
	case x.state == saslFirst && len(clientMsg) == 0 && !x.prompted:
		x.prompted = true
		return []byte{}, false, nil
	}
	if x.keyMech == "" {
		serverMsg, done, err = x.stepPlain(clientMsg)
	} else {
		serverMsg, done, err = x.stepSCRAM(clientMsg)
	}
	if err != nil || done {
		x.state = saslOver
	}
	if err != nil {
		return nil, false, err
	}
	return serverMsg, done, nil
}

// stepPlain checks "authzid NUL authcid NUL password" (RFC 4616) against
// the SCRAM-SHA-256 keys, or the SCRAM-SHA-1 keys of a user without them.
func (x *saslExchange) stepPlain(msg []byte) ([]byte, bool, error) {
	parts := bytes.Split(msg, []byte{0})
	if len(parts) != 3 || len(parts[1]) == 0 || len(parts[2]) == 0 || !utf8.Valid(msg) {
		return nil, false, &saslError{Condition: saslMalformedRequest, Text: "PLAIN expects authzid NUL authcid NUL password"}
	}
	x.name, x.nameOK = saslUserName(string(parts[1]), x.domain)
	if err := x.checkAuthzid(string(parts[0])); err != nil {
		return nil, false, err
	}
	keys, err := x.lookup(string(parts[1]), core.ScramSHA256, core.ScramSHA1)
	if err != nil {
		return nil, false, err
	}
	// Verify costs the same PBKDF2 for the made-up keys of an unknown user.
	if !keys.Verify(string(parts[2])) || !x.found {
		return nil, false, x.notAuthorized("")
	}
	x.ok = true
	return nil, true, nil
}

func (x *saslExchange) stepSCRAM(msg []byte) ([]byte, bool, error) {
	if !utf8.Valid(msg) {
		return nil, false, &saslError{Condition: saslMalformedRequest, Text: "SCRAM messages are UTF-8"}
	}
	if x.state == saslFinal {
		return x.scramFinal(msg)
	}
	flag, cbType, ok := gs2Flag(msg)
	switch {
	case !ok:
		return nil, false, &saslError{Condition: saslMalformedRequest, Text: "bad GS2 header"}
	case x.plus && flag != "p":
		return nil, false, &saslError{Condition: saslMalformedRequest, Text: x.mech + " needs channel binding (GS2 flag p)"}
	case !x.plus && flag == "p":
		return nil, false, &saslError{Condition: saslMalformedRequest, Text: "channel binding needs a -PLUS mechanism"}
	case flag == "y" && x.offerPlus:
		// RFC 5802 §6: the client saw no -PLUS, though it was offered.
		// Like the refusals above it tests no password, so it is not
		// not-authorized, which ports count against the account.
		return nil, false, &saslError{Condition: saslMalformedRequest, Text: "channel binding downgrade detected: -PLUS was offered"}
	}
	srv, err := x.hash.NewServer(x.credentials)
	if err != nil {
		return nil, false, &saslError{Condition: saslTemporaryFailure, Cause: err}
	}
	if x.nonce != nil {
		srv = srv.WithNonceGenerator(x.nonce)
	}
	if x.plus {
		data, ok := channelBindingData(cbType, x.cs, x.serverCert)
		if !ok {
			return nil, false, &saslError{Condition: saslMalformedRequest, Text: fmt.Sprintf("channel binding %.40q is not available on this connection", cbType)}
		}
		x.conv = srv.NewConversationWithChannelBindingRequired(scram.ChannelBinding{Type: scram.ChannelBindingType(cbType), Data: data})
	} else {
		x.conv = srv.NewConversation()
	}
	resp, err := x.conv.Step(string(msg))
	if err != nil {
		var se *saslError
		switch {
		case errors.As(err, &se):
			return nil, false, se
		case resp == scram.ErrServerDoesSupportChannelBinding, resp == scram.ErrChannelBindingNotSupported,
			resp == scram.ErrUnsupportedChannelBindingType:
			return nil, false, &saslError{Condition: saslMalformedRequest, Text: "channel binding refused", Cause: err}
		}
		return nil, false, &saslError{Condition: saslMalformedRequest, Text: "bad client-first-message", Cause: err}
	}
	if err := x.checkAuthzid(x.conv.AuthzID()); err != nil {
		return nil, false, err
	}
	x.state = saslFinal
	return []byte(resp), false, nil
}

func (x *saslExchange) scramFinal(msg []byte) ([]byte, bool, error) {
	resp, err := x.conv.Step(string(msg))
	switch {
	case err != nil && resp == "":
		return nil, false, &saslError{Condition: saslMalformedRequest, Text: "bad client-final-message", Cause: err}
	case err != nil && resp == scram.ErrChannelBindingsDontMatch:
		// Checked before the proof, so it says nothing about the account.
		return nil, false, &saslError{Condition: saslNotAuthorized, Text: "channel binding does not match this TLS connection", Cause: err}
	case err != nil:
		return nil, false, x.notAuthorized(err.Error())
	case !x.conv.Valid() || !x.found:
		return nil, false, x.notAuthorized("")
	}
	x.ok = true
	return []byte(resp), true, nil
}

// notAuthorized is the one failure of a wrong password and an unknown user
// alike; only Cause, for the log, tells them apart.
func (x *saslExchange) notAuthorized(why string) *saslError {
	var cause error
	if why != "" {
		cause = errors.New(why)
	}
	if !x.found {
		cause = errors.Join(cause, fmt.Errorf("no account %q: %w", x.name, x.missing))
	}
	return &saslError{Condition: saslNotAuthorized, Cause: cause}
}

// credentials is the SCRAM server's lookup: the stored keys of the user,
// or keys made up for a user who does not exist.
func (x *saslExchange) credentials(authcid string) (scram.StoredCredentials, error) {
	x.name, x.nameOK = saslUserName(authcid, x.domain)
	keys, err := x.lookup(authcid, x.keyMech)
	if err != nil {
		return scram.StoredCredentials{}, err
	}
	return scram.StoredCredentials{
		KeyFactors: scram.KeyFactors{Salt: string(keys.Salt), Iters: keys.Iterations}, // raw salt bytes; the library base64-encodes them
		StoredKey:  keys.StoredKey,
		ServerKey:  keys.ServerKey,
	}, nil
}

// lookup returns the keys of x.name for the first of mechs the user has.
// An unknown user, or one without such keys, gets made-up keys (and
// x.found stays false) after the same number of store queries, so the
// exchange fails exactly like a wrong password. Only a timed-out or
// cancelled lookup is an error.
func (x *saslExchange) lookup(authcid string, mechs ...string) (core.ScramKeys, error) {
	if !x.nameOK {
		x.missing = errors.New("not a user name")
		return fakeScramKeys(mechs[0], authcid), nil
	}
	u, err := x.store.UserByName(x.ctx, x.name)
	if err != nil {
		if x.temporary(err) {
			return core.ScramKeys{}, &saslError{Condition: saslTemporaryFailure, Cause: err}
		}
		x.missing = err
		// A known user costs a second query: spend it too.
		_, _ = x.store.Credentials(x.ctx, 0, mechs[0])
		return fakeScramKeys(mechs[0], x.name), nil
	}
	for _, m := range mechs {
		k, err := x.store.Credentials(x.ctx, u.ID, m)
		if err != nil {
			if x.temporary(err) {
				return core.ScramKeys{}, &saslError{Condition: saslTemporaryFailure, Cause: err}
			}
			x.missing = err
			continue
		}
		if err := checkScramKeys(m, k); err != nil {
			return core.ScramKeys{}, &saslError{Condition: saslTemporaryFailure, Cause: fmt.Errorf("user %q: %w", x.name, err)}
		}
		x.user, x.found, x.missing = u, true, nil
		return k, nil
	}
	return fakeScramKeys(mechs[0], x.name), nil
}

func (x *saslExchange) temporary(err error) bool {
	return x.ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// checkScramKeys rejects stored keys the exchange could not use.
func checkScramKeys(mech string, k core.ScramKeys) error {
	size := sha256.Size
	if mech == core.ScramSHA1 {
		size = 20
	}
	if k.Mechanism != "" && k.Mechanism != mech {
		return fmt.Errorf("stored %s keys are for %s", mech, k.Mechanism)
	}
	if len(k.Salt) == 0 || k.Iterations < 1 || len(k.StoredKey) != size || len(k.ServerKey) != size {
		return fmt.Errorf("stored %s keys are malformed", mech)
	}
	return nil
}

// checkAuthzid accepts an empty authzid or the bare JID of the authcid.
func (x *saslExchange) checkAuthzid(authzid string) error {
	if authzid == "" {
		return nil
	}
	local, domain, ok := strings.Cut(authzid, "@")
	if ok && x.nameOK && strings.EqualFold(domain, x.domain) {
		if n, err := precis.UsernameCaseMapped.String(local); err == nil && n == x.name {
			return nil
		}
	}
	return &saslError{Condition: saslInvalidAuthzid, Text: "the authzid must be empty or your own bare JID"}
}

// saslUserName maps an authcid, "alice" or "alice@domain", to the account
// name it means, reporting false if it cannot name an account here.
func saslUserName(authcid, domain string) (string, bool) {
	local := authcid
	if l, d, ok := strings.Cut(authcid, "@"); ok {
		if !strings.EqualFold(d, domain) {
			return "", false
		}
		local = l
	}
	n, err := precis.UsernameCaseMapped.String(local)
	if err != nil || core.ValidateUserName(n) != nil {
		return "", false
	}
	return n, true
}

// gs2Flag reads the channel-binding flag of a SCRAM client-first-message
// (RFC 5802 §7): "n", "y", or "p" with the binding type.
func gs2Flag(msg []byte) (flag, cbType string, ok bool) {
	f, _, found := bytes.Cut(msg, []byte{','})
	switch {
	case !found:
		return "", "", false
	case string(f) == "n", string(f) == "y":
		return string(f), "", true
	case bytes.HasPrefix(f, []byte("p=")) && len(f) > 2:
		return "p", string(f[2:]), true
	}
	return "", "", false
}

// fakeKeySecret keys the made-up SCRAM keys of unknown users. It is drawn
// once per process: the same name sees the same salt until a restart.
var fakeKeySecret = sync.OnceValue(func() []byte {
	b := make([]byte, 32)
	rand.Read(b)
	return b
})

// fakeScramKeys makes keys for a user who does not exist that look like a
// real user's: a 16-byte salt that is the same at every try (a salt that
// changed would tell the name is unknown), the usual iteration count, and
// keys no password derives.
func fakeScramKeys(mech, name string) core.ScramKeys {
	size := sha256.Size
	if mech == core.ScramSHA1 {
		size = 20
	}
	derive := func(label string) []byte {
		m := hmac.New(sha256.New, fakeKeySecret())
		m.Write([]byte(label + "\x00" + mech + "\x00" + name))
		return m.Sum(nil)
	}
	return core.ScramKeys{
		Mechanism:  mech,
		Salt:       derive("salt")[:16],
		Iterations: core.ScramIterations,
		StoredKey:  derive("stored key")[:size],
		ServerKey:  derive("server key")[:size],
	}
}
