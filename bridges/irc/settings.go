package irc

import (
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard/switchboard/core"
)

// The settings keys an IRC network understands. The CLI's named flags set
// the common ones; every key can be set with `network set --set KEY=VALUE`.
const (
	keyAddr           = "addr"            // irc://HOST[:PORT] or ircs://HOST[:PORT]
	keyFingerprint    = "tls-fingerprint" // SHA-256 of the server certificate, hex; pins a self-signed server
	keyServerPassword = "server-password" // PASS
	keyNick           = "nick"
	keyAltNicks       = "alt-nicks" // comma separated; default nick_ and nick__
	keyUsername       = "username"
	keyRealname       = "realname"
	keySASL           = "sasl"          // plain, external or none; default plain when a password is set
	keySASLUser       = "sasl-username" // default: the nick
	keyPassword       = "password"      // SASL PLAIN password
	keyClientCert     = "client-cert"   // PEM file, for SASL EXTERNAL and CertFP
	keyClientKey      = "client-key"
	keyJoin           = "join"    // "#a key,#b": channels to join, each with an optional key
	keyCharset        = "charset" // fallback for lines that are not UTF-8
	keyFloodRate      = "flood-rate"
	keyFloodBurst     = "flood-burst"
	keyAwayMessage    = "away-message"
)

// config is a network's settings, parsed and checked.
type config struct {
	addr        string // host:port
	tls         bool
	fingerprint []byte // pinned SHA-256 of the leaf certificate; nil: verify against the system roots
	serverName  string
	password    string // server password
	nicks       []string
	username    string
	realname    string
	sasl        string // "", "PLAIN" or "EXTERNAL"
	saslUser    string
	saslPass    string
	clientCert  *tls.Certificate
	channels    []channelJoin
	decode      lineDecoder
	floodRate   float64 // lines per second once the burst is spent
	floodBurst  int
	awayMessage string
}

type channelJoin struct {
	name, key string
}

const (
	defaultFloodRate  = 2.0 // what ZNC and most networks' default classes tolerate
	defaultFloodBurst = 8
)

// ValidateSettings refuses settings the bridge cannot connect with, naming
// the key. It is the check behind `switchboard network add --kind irc`.
func ValidateSettings(s core.Settings) error {
	_, err := parseConfig(s)
	return err
}

func parseConfig(s core.Settings) (*config, error) {
	c := &config{}
	if err := c.parseAddr(s[keyAddr]); err != nil {
		return nil, err
	}
	if fp := s[keyFingerprint]; fp != "" {
		b, err := hex.DecodeString(strings.ReplaceAll(strings.ToLower(fp), ":", ""))
		if err != nil || len(b) != 32 {
			return nil, fmt.Errorf("setting %q: want the SHA-256 of the server certificate as 64 hex digits", keyFingerprint)
		}
		if !c.tls {
			return nil, fmt.Errorf("setting %q: only meaningful with an ircs:// address", keyFingerprint)
		}
		c.fingerprint = b
	}
	c.password = s[keyServerPassword]

	nick := s[keyNick]
	if err := validNick(nick); err != nil {
		return nil, fmt.Errorf("setting %q: %w", keyNick, err)
	}
	c.nicks = []string{nick}
	if alt := s[keyAltNicks]; alt != "" {
		for _, n := range strings.Split(alt, ",") {
			n = strings.TrimSpace(n)
			if err := validNick(n); err != nil {
				return nil, fmt.Errorf("setting %q: %w", keyAltNicks, err)
			}
			c.nicks = append(c.nicks, n)
		}
	} else {
		c.nicks = append(c.nicks, nick+"_", nick+"__")
	}
	c.username = s[keyUsername]
	if c.username == "" {
		c.username = nick
	}
	if strings.ContainsAny(c.username, " @\r\n\x00") {
		return nil, fmt.Errorf("setting %q: may not contain spaces, @ or control characters", keyUsername)
	}
	c.realname = s[keyRealname]
	if c.realname == "" {
		c.realname = nick
	}
	if strings.ContainsAny(c.realname, "\r\n\x00") {
		return nil, fmt.Errorf("setting %q: may not contain line breaks", keyRealname)
	}

	if err := c.parseSASL(s); err != nil {
		return nil, err
	}
	for _, item := range strings.Split(s[keyJoin], ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, key, _ := strings.Cut(item, " ")
		if name == "" || !strings.ContainsAny(name[:1], "#&+!") || strings.ContainsAny(name, " ,\a\x00\r\n") {
			return nil, fmt.Errorf("setting %q: %q is not a channel name (they start with #, &, + or !)", keyJoin, name)
		}
		c.channels = append(c.channels, channelJoin{name: name, key: strings.TrimSpace(key)})
	}
	dec, err := newLineDecoder(s[keyCharset])
	if err != nil {
		return nil, err
	}
	c.decode = dec

	c.floodRate, c.floodBurst = defaultFloodRate, defaultFloodBurst
	if v := s[keyFloodRate]; v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 || f > 1000 {
			return nil, fmt.Errorf("setting %q: want lines per second, more than 0 and at most 1000", keyFloodRate)
		}
		c.floodRate = f
	}
	if v := s[keyFloodBurst]; v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return nil, fmt.Errorf("setting %q: want a number of lines from 1 to 1000", keyFloodBurst)
		}
		c.floodBurst = n
	}
	c.awayMessage = s[keyAwayMessage]
	return c, nil
}

func (c *config) parseAddr(addr string) error {
	if addr == "" {
		return fmt.Errorf("setting %q: an IRC network needs a server address such as ircs://irc.libera.chat:6697", keyAddr)
	}
	u, err := url.Parse(addr)
	if err != nil || (u.Scheme != "irc" && u.Scheme != "ircs") || u.Hostname() == "" || (u.Path != "" && u.Path != "/") || u.User != nil {
		return fmt.Errorf("setting %q: %q: want irc://HOST[:PORT] (plain) or ircs://HOST[:PORT] (TLS)", keyAddr, addr)
	}
	c.tls = u.Scheme == "ircs"
	port := u.Port()
	if port == "" {
		port = "6667"
		if c.tls {
			port = "6697"
		}
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("setting %q: %q: the port must be 1 to 65535", keyAddr, addr)
	}
	c.serverName = u.Hostname()
	c.addr = net.JoinHostPort(u.Hostname(), port)
	return nil
}

func (c *config) parseSASL(s core.Settings) error {
	if certFile, keyFile := s[keyClientCert], s[keyClientKey]; certFile != "" || keyFile != "" {
		if keyFile == "" {
			keyFile = certFile // one PEM file holding both
		}
		if certFile == "" {
			return fmt.Errorf("setting %q: needed with %q", keyClientCert, keyClientKey)
		}
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return fmt.Errorf("setting %q: %w", keyClientCert, err)
		}
		c.clientCert = &cert
	}
	c.saslUser = s[keySASLUser]
	if c.saslUser == "" {
		c.saslUser = c.nicks[0]
	}
	c.saslPass = s[keyPassword]
	switch mech := strings.ToLower(s[keySASL]); mech {
	case "":
		if c.saslPass != "" {
			c.sasl = "PLAIN"
		}
	case "none":
	case "plain":
		if c.saslPass == "" {
			return fmt.Errorf("setting %q: SASL PLAIN needs %q (network set --password-stdin)", keySASL, keyPassword)
		}
		c.sasl = "PLAIN"
	case "external":
		if c.clientCert == nil {
			return fmt.Errorf("setting %q: SASL EXTERNAL needs %q", keySASL, keyClientCert)
		}
		if !c.tls {
			return fmt.Errorf("setting %q: SASL EXTERNAL needs an ircs:// address", keySASL)
		}
		c.sasl = "EXTERNAL"
	default:
		return fmt.Errorf("setting %q: %q: want plain, external or none", keySASL, mech)
	}
	return nil
}

// validNick accepts what servers accept as a nick, loosely: the server has
// the last word, and 432 ERR_ERRONEUSNICKNAME falls back to the next nick.
func validNick(n string) error {
	switch {
	case n == "":
		return fmt.Errorf("empty nick")
	case len(n) > 64:
		return fmt.Errorf("nick %q: longer than 64 bytes", n)
	case strings.ContainsAny(n, " ,*?!@.:#&\x00\r\n") || n[0] == '$' || (n[0] >= '0' && n[0] <= '9') || n[0] == '-':
		return fmt.Errorf("nick %q: may not start with a digit, - or $, nor contain spaces or any of ,*?!@.:#&", n)
	}
	return nil
}

// Timing of the connection supervisor. Variables, so tests can shorten them.
var (
	dialTimeout     = 30 * time.Second
	registerTimeout = 60 * time.Second
	// pingInterval is how long a silent link waits before the bridge sends
	// PING; pingTimeout how long it then waits for anything at all.
	pingInterval = 90 * time.Second
	pingTimeout  = 60 * time.Second
	// nickRegainInterval is how often the bridge asks for its preferred
	// nick while it goes by another.
	nickRegainInterval = 60 * time.Second
	// echoTimeout is how long Send waits for the server's echo of a line
	// to learn its msgid.
	echoTimeout = 10 * time.Second
)
