package xmpp

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/switchboard/switchboard/core"
)

// The settings keys an XMPP network understands. jid, password and addr
// are the ones `switchboard network add --kind xmpp` writes (--jid,
// --password-stdin, --addr); the others are set with --set KEY=VALUE.
const (
	keyJID      = "jid"      // the account's bare address, user@server
	keyPassword = "password" // the account's password
	keyAddr     = "addr"     // HOST:PORT; empty: SRV lookup of the JID's domain
	keyTLS      = "tls"      // "starttls" (default) or "direct" (XEP-0368 direct TLS)
	// keyResource is the resource bound, default "switchboard"; the
	// bridge binds it itself (bind.go), as mellium v0.22.0's bind sends
	// an empty <resource/>. A resource the server says is taken is left
	// to the server to choose.
	keyResource    = "resource"
	keyFingerprint = "tls-fingerprint" // SHA-256 of the server certificate, hex; pins a self-signed server
)

const defaultResource = "switchboard"

// config is a network's settings, parsed and checked.
type config struct {
	jid         jid.JID // bare
	password    string
	addr        string // host:port, or "" for the SRV lookup
	directTLS   bool
	resource    string
	fingerprint []byte // pinned SHA-256 of the leaf certificate; nil: verify against the system roots
}

// ValidateSettings refuses settings the bridge cannot connect with, naming
// the key. It is the check behind `switchboard network add --kind xmpp`.
func ValidateSettings(s core.Settings) error {
	_, err := parseConfig(s)
	return err
}

func parseConfig(s core.Settings) (*config, error) {
	c := &config{}
	j, err := jid.Parse(s[keyJID])
	switch {
	case s[keyJID] == "":
		return nil, fmt.Errorf("setting %q: an XMPP network needs the account's address, user@server", keyJID)
	case err != nil:
		return nil, fmt.Errorf("setting %q: %q: %w", keyJID, s[keyJID], err)
	case j.Localpart() == "" || j.Resourcepart() != "":
		return nil, fmt.Errorf("setting %q: %q: want the account's bare address, user@server", keyJID, s[keyJID])
	}
	c.jid = j
	c.password = s[keyPassword]
	if c.password == "" {
		return nil, fmt.Errorf("setting %q: an XMPP account needs its password (network set --password-stdin)", keyPassword)
	}
	if a := s[keyAddr]; a != "" {
		host, port, err := net.SplitHostPort(a)
		n, perr := strconv.Atoi(port)
		if err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("setting %q: %q: want HOST:PORT with a port from 1 to 65535", keyAddr, a)
		}
		c.addr = a
	}
	switch v := strings.ToLower(s[keyTLS]); v {
	case "", "starttls":
	case "direct":
		c.directTLS = true
	default:
		return nil, fmt.Errorf("setting %q: %q: want starttls or direct", keyTLS, v)
	}
	c.resource = s[keyResource]
	if c.resource == "" {
		c.resource = defaultResource
	}
	if _, err := c.jid.WithResource(c.resource); err != nil {
		return nil, fmt.Errorf("setting %q: %q: %w", keyResource, c.resource, err)
	}
	if fp := s[keyFingerprint]; fp != "" {
		b, err := hex.DecodeString(strings.ReplaceAll(strings.ToLower(fp), ":", ""))
		if err != nil || len(b) != sha256.Size {
			return nil, fmt.Errorf("setting %q: want the SHA-256 of the server certificate as 64 hex digits", keyFingerprint)
		}
		c.fingerprint = b
	}
	return c, nil
}

// errPinMismatch ends a connection whose certificate is not the pinned
// one; retrying cannot mend it, so it is permanent.
var errPinMismatch = errors.New("the server certificate does not match tls-fingerprint")

// tlsConfig is used for both STARTTLS and direct TLS. With a pin, the
// chain is not verified (a pinned server is typically self-signed) but
// the leaf must hash to the pin; without one, normal verification applies.
func (c *config) tlsConfig() *tls.Config {
	cfg := &tls.Config{
		ServerName: c.jid.Domainpart(),
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"xmpp-client"},
	}
	if c.fingerprint != nil {
		pin := c.fingerprint
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errPinMismatch
			}
			sum := sha256.Sum256(cs.PeerCertificates[0].Raw)
			if subtle.ConstantTimeCompare(sum[:], pin) != 1 {
				return fmt.Errorf("%w (it has %s)", errPinMismatch, hex.EncodeToString(sum[:]))
			}
			return nil
		}
	}
	return cfg
}

// Timing of the connection supervisor. Variables, so tests can shorten them.
var (
	dialTimeout  = 30 * time.Second
	loginTimeout = 60 * time.Second
	// iqTimeout bounds each request the bridge makes of its server
	// (roster, carbons, one MAM page).
	iqTimeout = 30 * time.Second
	// pingInterval is how long a silent stream waits before the bridge
	// pings its server (XEP-0199), which finds a dead TCP connection.
	pingInterval = 90 * time.Second
)
