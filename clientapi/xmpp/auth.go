package xmpp

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"strings"

	"github.com/switchboard/switchboard/core"
)

// maxAuthAttempts is how many failed SASL exchanges one stream may try
// before it is closed: enough for a client to go down the whole list, as
// slixmpp does when its tls-unique binding is refused on TLS 1.3.
const maxAuthAttempts = 6

// authenticate offers the SASL mechanisms and runs exchanges until one
// succeeds (RFC 6120 §6). Each failure is answered with <failure/> and
// counted against the address and the account.
func (c *conn) authenticate(ctx context.Context) error {
	cs := c.tlsState()
	serverCert := c.srv.serverCert()
	mechs := el(nsSASL, "mechanisms")
	for _, m := range saslMechanisms(cs, serverCert) {
		mechs.add(el(nsSASL, "mechanism").withText(m))
	}
	feats := el(nsStream, "features").add(mechs)
	if types := channelBindingTypes(cs, serverCert); len(types) > 0 {
		cb := el(nsSASLCB, "sasl-channel-binding")
		for _, t := range types {
			cb.add(el(nsSASLCB, "channel-binding", "type", t))
		}
		feats.add(cb)
	}
	if err := c.openStream(feats); err != nil {
		return err
	}
	for attempt := 0; attempt < maxAuthAttempts; {
		e, err := c.nextElement(negotiationTimeout)
		if err != nil {
			return err
		}
		if e.Name.Space != nsSASL || e.Name.Local != "auth" {
			return streamErr("not-authorized", "authenticate first")
		}
		if ok, retry := c.srv.limiter.Allow(c.remote, ""); !ok {
			c.saslFailure("temporary-auth-failure", "too many failed logins; try again in "+retry.Round(1e9).String())
			return streamErr("policy-violation", "too many failed logins")
		}
		user, err := c.saslExchange(ctx, e, cs, serverCert)
		if err == nil {
			c.log.Debug("XMPP login", "user", user.Name, "mechanism", e.attr("mechanism"), "remote", c.remote)
			c.user, c.authed = user, true
			c.srv.limiter.Success(c.remote, user.Name)
			return nil
		}
		var se *saslError
		if !errors.As(err, &se) {
			return err // the stream itself failed
		}
		attempt++
	}
	return streamErr("policy-violation", "too many failed authentication attempts")
}

// serverCert is the leaf certificate the port presents, which
// tls-server-end-point channel binding hashes.
func (srv *Server) serverCert() *x509.Certificate {
	if len(srv.tlsConfig.Certificates) == 0 {
		return nil
	}
	c := srv.tlsConfig.Certificates[0]
	if c.Leaf != nil {
		return c.Leaf
	}
	if len(c.Certificate) > 0 {
		leaf, _ := x509.ParseCertificate(c.Certificate[0])
		return leaf
	}
	return nil
}

// saslExchange runs one exchange begun by auth. It returns a *saslError
// (already answered with <failure/>) when the exchange failed.
func (c *conn) saslExchange(ctx context.Context, auth *element, cs *tls.ConnectionState, serverCert *x509.Certificate) (core.User, error) {
	mech := auth.attr("mechanism")
	data, err := decodeSASL(auth.Text)
	if err != nil {
		return c.failSASL("", &saslError{Condition: "incorrect-encoding"})
	}
	account := authcidOf(mech, data, c.srv.domain)
	if ok, retry := c.srv.limiter.Allow(c.remote, account); !ok {
		return c.failSASL("", &saslError{Condition: "temporary-auth-failure", Text: "too many failed logins; try again in " + retry.Round(1e9).String()})
	}
	x, err := newSASL(ctx, mech, c.srv.creds, cs, serverCert, c.srv.domain)
	if err != nil {
		var se *saslError
		if errors.As(err, &se) {
			return c.failSASL(account, se)
		}
		return c.failSASL(account, &saslError{Condition: "temporary-auth-failure"})
	}
	for {
		out, done, err := x.Step(data)
		if err != nil {
			var se *saslError
			if !errors.As(err, &se) {
				se = &saslError{Condition: "temporary-auth-failure"}
			}
			return c.failSASL(account, se)
		}
		if done {
			var b bytes.Buffer
			b.WriteString("<success xmlns='" + nsSASL + "'>")
			if len(out) > 0 {
				b.WriteString(base64.StdEncoding.EncodeToString(out))
			}
			b.WriteString("</success>")
			return x.User(), c.write(b.Bytes())
		}
		if err := c.write([]byte("<challenge xmlns='" + nsSASL + "'>" + base64.StdEncoding.EncodeToString(out) + "</challenge>")); err != nil {
			return core.User{}, err
		}
		resp, err := c.nextElement(negotiationTimeout)
		if err != nil {
			return core.User{}, err
		}
		switch {
		case resp.Name.Space == nsSASL && resp.Name.Local == "abort":
			return c.failSASL("", &saslError{Condition: "aborted"})
		case resp.Name.Space == nsSASL && resp.Name.Local == "response":
			if data, err = decodeSASL(resp.Text); err != nil {
				return c.failSASL(account, &saslError{Condition: "incorrect-encoding"})
			}
		default:
			return core.User{}, streamErr("not-authorized", "expected a SASL response")
		}
	}
}

// failSASL answers a failed exchange and counts it.
func (c *conn) failSASL(account string, se *saslError) (core.User, error) {
	if se.Condition == "not-authorized" || se.Condition == "invalid-authzid" {
		c.srv.limiter.Failure(c.remote, account)
	}
	c.saslFailure(se.Condition, se.Text)
	return core.User{}, se
}

func (c *conn) saslFailure(condition, text string) {
	f := el(nsSASL, "failure").add(el(nsSASL, condition))
	if text != "" {
		f.add(el(nsSASL, "text").withText(text))
	}
	_ = c.writeEl(f)
}

// decodeSASL reads the base64 of <auth/> and <response/>; "=" is an empty
// message.
func decodeSASL(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "=" {
		return nil, nil
	}
	return base64.StdEncoding.DecodeString(s)
}

// authcidOf reads the account name a client gives in its first message,
// to count failures per account before the exchange is done.
func authcidOf(mech string, first []byte, domain string) string {
	var name string
	switch {
	case mech == "PLAIN":
		parts := bytes.SplitN(first, []byte{0}, 3)
		if len(parts) == 3 {
			name = string(parts[1])
		}
	case strings.HasPrefix(mech, "SCRAM-"):
		// gs2-header "n,," then "n=name,r=nonce"
		if i := bytes.Index(first, []byte("n=")); i >= 0 {
			rest := first[i+2:]
			if j := bytes.IndexByte(rest, ','); j >= 0 {
				rest = rest[:j]
			}
			name = strings.NewReplacer("=2C", ",", "=3D", "=").Replace(string(rest))
		}
	}
	name = strings.ToLower(name)
	if local, d, ok := strings.Cut(name, "@"); ok && strings.EqualFold(d, domain) {
		name = local
	}
	if len(name) > 64 {
		name = name[:64]
	}
	return name
}
