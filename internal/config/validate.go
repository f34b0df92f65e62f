package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"unicode"
)

// FieldError is one invalid value, named by its key as written in the file
// ("http.addr") so Load can point at the line that sets it.
type FieldError struct {
	Key string
	Err error
}

func (e *FieldError) Error() string { return e.Key + ": " + e.Err.Error() }

func (e *FieldError) Unwrap() error { return e.Err }

// Validate checks every field and reports every problem at once, joined, each
// a *FieldError, so an operator fixes the whole file in one pass.
func (c *Config) Validate() error {
	var errs []error
	check := func(key string, err error) {
		if err != nil {
			errs = append(errs, &FieldError{Key: key, Err: err})
		}
	}

	check("domain", checkDomain(c.Domain))
	if c.DataDir == "" {
		check("data_dir", errors.New("must not be empty"))
	}
	check("away_message", checkOneLine(c.AwayMessage))

	check("xmpp.addr", checkAddr(c.XMPP.Addr))
	check("xmpp.direct_tls_addr", checkAddr(c.XMPP.DirectTLSAddr))
	check("http.addr", checkAddr(c.HTTP.Addr))
	if u := c.HTTP.PublicURL; u != "" {
		check("http.public_url", checkHTTPSBase(u))
	}

	// One file without the other is a half-finished edit; guessing would
	// either serve the wrong key or silently fall back to self-signed.
	switch {
	case c.TLS.CertFile != "" && c.TLS.KeyFile == "":
		check("tls.key_file", errors.New("must be set when tls.cert_file is"))
	case c.TLS.CertFile == "" && c.TLS.KeyFile != "":
		check("tls.cert_file", errors.New("must be set when tls.key_file is"))
	}

	check("log.level", checkOneOf(c.Log.Level, "debug", "info", "warn", "error"))
	check("log.format", checkOneOf(c.Log.Format, "text", "json"))

	if c.History.Retention < 0 {
		check("history.retention", fmt.Errorf("%q is negative (use 0 to keep history forever)", c.History.Retention))
	}
	if c.History.PruneInterval <= 0 {
		check("history.prune_interval", fmt.Errorf("%q must be positive", c.History.PruneInterval))
	}

	if c.Auth.MaxLoginFailures < 0 {
		check("auth.max_login_failures", fmt.Errorf("%d is negative (use 0 to disable the lockout)", c.Auth.MaxLoginFailures))
	}
	if c.Auth.LoginLockout <= 0 {
		check("auth.login_lockout", fmt.Errorf("%q must be positive", c.Auth.LoginLockout))
	}

	if c.Federation.MaxAge <= 0 {
		check("federation.max_age", fmt.Errorf("%q must be positive", c.Federation.MaxAge))
	}
	if c.Federation.Rate <= 0 {
		check("federation.rate", fmt.Errorf("%v must be positive", c.Federation.Rate))
	}
	if c.Federation.Burst <= 0 {
		check("federation.burst", fmt.Errorf("%d must be positive", c.Federation.Burst))
	}
	if c.Federation.InboundRate <= 0 {
		check("federation.inbound_rate", fmt.Errorf("%v must be positive", c.Federation.InboundRate))
	}
	if c.Federation.InboundBurst <= 0 {
		check("federation.inbound_burst", fmt.Errorf("%d must be positive", c.Federation.InboundBurst))
	}
	if c.Federation.MaxQueued <= 0 {
		check("federation.max_queued", fmt.Errorf("%d must be positive", c.Federation.MaxQueued))
	}
	for d, p := range c.Federation.Peers {
		key := "federation.peers." + d
		if d == "localhost" || checkDomain(d) != nil {
			check(key, fmt.Errorf("%q is not a peer domain", d))
		}
		check(key+".url", checkHTTPSBase(p.URL))
	}
	// The daemon counts bytes in an int64: a size past maxUploadMiB
	// would wrap to a negative number, and a negative quota means none.
	switch {
	case c.Upload.MaxFileSizeMiB <= 0:
		check("upload.max_file_size_mib", fmt.Errorf("%d must be positive", c.Upload.MaxFileSizeMiB))
	case c.Upload.MaxFileSizeMiB > maxUploadMiB:
		check("upload.max_file_size_mib", fmt.Errorf("%d is over the largest size, %d", c.Upload.MaxFileSizeMiB, maxUploadMiB))
	}
	switch {
	case c.Upload.QuotaMiB < 0:
		check("upload.quota_mib", fmt.Errorf("%d is negative (use 0 for no quota)", c.Upload.QuotaMiB))
	case c.Upload.QuotaMiB > maxUploadMiB:
		check("upload.quota_mib", fmt.Errorf("%d is over the largest quota, %d (use 0 for no quota)", c.Upload.QuotaMiB, maxUploadMiB))
	}
	if c.Upload.Retention < 0 {
		check("upload.retention", fmt.Errorf("%q is negative (use 0 to keep uploads)", c.Upload.Retention))
	}

	return errors.Join(errs...)
}

// checkHTTPSBase accepts https://host[:port] with no path beyond "/".
func checkHTTPSBase(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return fmt.Errorf("%q is not an https://HOST[:PORT] URL", s)
	}
	return nil
}

// maxUploadMiB is the largest upload size or quota in MiB (1 EiB), far
// below where a count of bytes overflows an int64.
const maxUploadMiB = 1 << 40

// PublicURL is the HTTPS port's public address: http.public_url, or
// https://DOMAIN:PORT with the port of listening, the address the port
// listens on (http.addr, or what the system chose for port 0).
func (c *Config) PublicURL(listening string) string {
	if c.HTTP.PublicURL != "" {
		return strings.TrimSuffix(c.HTTP.PublicURL, "/")
	}
	_, port, _ := net.SplitHostPort(listening)
	if port == "443" {
		return "https://" + c.Domain
	}
	return "https://" + net.JoinHostPort(c.Domain, port)
}

// checkDomain accepts "localhost" or a lowercase DNS name. Lowercase only,
// because the domain is compared byte for byte in JIDs and certificate names;
// accepting "Example.org" would create a second spelling of every address.
func checkDomain(d string) error {
	if d == "localhost" {
		return nil
	}
	bad := fmt.Errorf("%q is not a valid DNS name", d)
	if d == "" || len(d) > 253 {
		return bad
	}
	for label := range strings.SplitSeq(d, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return bad
		}
		for _, r := range label {
			if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
				return bad
			}
		}
	}
	return nil
}

// checkAddr accepts HOST:PORT with a numeric port; an empty host listens on
// all interfaces. Service names ("https") are refused: they depend on the
// host's /etc/services and hide the real port from whoever reads the file.
func checkAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not HOST:PORT", addr)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("%q: port %q is not a number from 0 to 65535", addr, port)
	}
	return nil
}

func checkOneOf(v string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return fmt.Errorf("%q is not one of %s", v, strings.Join(allowed, ", "))
}

// checkOneLine refuses control characters: the away message is sent verbatim
// to IRC, where a line break would end the command and start another one.
func checkOneLine(s string) error {
	for _, r := range s {
		if unicode.IsControl(r) {
			return fmt.Errorf("%q contains a control character", s)
		}
	}
	return nil
}
