package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDefaultIsValid(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
}

func TestCheckDomain(t *testing.T) {
	good := []string{"localhost", "example.org", "chat.example.org", "a", "xn--bcher-kva.example", "a-b.c-d", "1.2.3.4",
		strings.Repeat("a", 63) + ".org"}
	bad := []string{"", "Example.org", "Bad Domain", "example.org.", ".example.org", "a..b", "-a.org", "a-.org",
		"a_b.org", "bücher.example", strings.Repeat("a", 64) + ".org", strings.Repeat("a.", 127) + "ab", "example.org:5222"}
	for _, d := range good {
		if err := checkDomain(d); err != nil {
			t.Errorf("checkDomain(%q) = %v", d, err)
		}
	}
	for _, d := range bad {
		if err := checkDomain(d); err == nil {
			t.Errorf("checkDomain(%q) accepted", d)
		}
	}
}

func TestCheckAddr(t *testing.T) {
	good := []string{":5222", "0.0.0.0:0", "127.0.0.1:65535", "[::1]:443", "localhost:8443", "[::]:5223"}
	bad := []string{"", "localhost", "5222", ":65536", ":-1", ":https", "::1:443", "host:", "[::1]"}
	for _, a := range good {
		if err := checkAddr(a); err != nil {
			t.Errorf("checkAddr(%q) = %v", a, err)
		}
	}
	for _, a := range bad {
		if err := checkAddr(a); err == nil {
			t.Errorf("checkAddr(%q) accepted", a)
		}
	}
}

func TestValidateNamesTheKey(t *testing.T) {
	tests := []struct {
		key    string
		change func(*Config)
	}{
		{"domain", func(c *Config) { c.Domain = "Bad Domain" }},
		{"data_dir", func(c *Config) { c.DataDir = "" }},
		{"away_message", func(c *Config) { c.AwayMessage = "away\r\nQUIT :bye" }},
		{"xmpp.addr", func(c *Config) { c.XMPP.Addr = "5222" }},
		{"xmpp.direct_tls_addr", func(c *Config) { c.XMPP.DirectTLSAddr = ":99999" }},
		{"http.addr", func(c *Config) { c.HTTP.Addr = "localhost" }},
		{"tls.key_file", func(c *Config) { c.TLS.CertFile = "/c.pem" }},
		{"tls.cert_file", func(c *Config) { c.TLS.KeyFile = "/k.pem" }},
		{"log.level", func(c *Config) { c.Log.Level = "INFO" }},
		{"log.format", func(c *Config) { c.Log.Format = "logfmt" }},
		{"history.retention", func(c *Config) { c.History.Retention = -1 }},
		{"history.prune_interval", func(c *Config) { c.History.PruneInterval = 0 }},
		{"auth.max_login_failures", func(c *Config) { c.Auth.MaxLoginFailures = -1 }},
		{"auth.login_lockout", func(c *Config) { c.Auth.LoginLockout = 0 }},
	}
	for _, tt := range tests {
		c := Default()
		tt.change(&c)
		err := c.Validate()
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Key != tt.key {
			t.Errorf("%s: Validate() = %v, want a *FieldError for it", tt.key, err)
			continue
		}
		if !strings.HasPrefix(err.Error(), tt.key+": ") {
			t.Errorf("%s: error %q does not start with the key", tt.key, err)
		}
	}
}

func TestValidateReportsEveryField(t *testing.T) {
	c := Default()
	c.Domain = "BAD"
	c.HTTP.Addr = "nope"
	c.Log.Level = "loud"
	err := c.Validate()
	for _, key := range []string{"domain: ", "http.addr: ", "log.level: "} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("Validate() = %v, missing %q", err, key)
		}
	}
}

func TestFederationPeers(t *testing.T) {
	cfg, err := parse("f.toml", []byte("[federation]\ndiscover = false\n[federation.peers.\"b.example\"]\nurl = \"https://10.0.0.2:8443\"\nca_file = \"/b.pem\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p := cfg.Federation.Peers["b.example"]; p.URL != "https://10.0.0.2:8443" || p.CAFile != "/b.pem" || cfg.Federation.Discover {
		t.Fatalf("federation %+v", cfg.Federation)
	}
	for in, want := range map[string]string{
		"[federation.peers.\"b.example\"]\nurl = \"http://x\"\n": `f.toml:2: federation.peers.b.example.url: "http://x" is not an https://HOST[:PORT] URL`,
		"[federation.peers.\"B_x\"]\nurl = \"https://x\"\n":      `federation.peers.B_x: "B_x" is not a peer domain`,
		"[federation.peers.\"b.example\"]\nport = 1\n":           `unknown key "federation.peers.b.example.port"`,
		"[http]\npublic_url = \"https://x/path\"\n":              `http.public_url`,
		"[federation]\npeers = 3\n":                              `federation.peers: expected a table`,
	} {
		if _, err := parse("f.toml", []byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %s", in, err, want)
		}
	}
}

func TestPublicURLAndUploads(t *testing.T) {
	for _, u := range []string{"http://chat.example.org", "chat.example.org", "https://", "https://h/?q=1", "https://u:p@h"} {
		c := Default()
		c.HTTP.PublicURL = u
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "http.public_url:") {
			t.Errorf("http.public_url %q: %v", u, err)
		}
	}
	c := Default()
	c.Domain = "example.org"
	if got := c.PublicURL(c.HTTP.Addr); got != "https://example.org:8443" {
		t.Errorf("derived public URL %q", got)
	}
	if got := c.PublicURL("[::]:443"); got != "https://example.org" {
		t.Errorf("derived public URL on 443: %q", got)
	}
	c.HTTP.PublicURL = "https://chat.example.org/"
	if got := c.PublicURL(c.HTTP.Addr); got != "https://chat.example.org" {
		t.Errorf("configured public URL: %q", got)
	}
	c.Upload.MaxFileSizeMiB, c.Upload.QuotaMiB, c.Upload.Retention = 0, -1, Duration(-time.Hour)
	err := c.Validate()
	for _, key := range []string{"upload.max_file_size_mib", "upload.quota_mib", "upload.retention"} {
		if err == nil || !strings.Contains(err.Error(), key+":") {
			t.Errorf("Validate() = %v; want an error naming %s", err, key)
		}
	}
}

// TestUploadSizesThatWouldOverflow: sizes in MiB the daemon would turn
// into a negative number of bytes (and a negative quota is none) are
// refused.
func TestUploadSizesThatWouldOverflow(t *testing.T) {
	c := Default()
	c.Upload.MaxFileSizeMiB, c.Upload.QuotaMiB = 1<<44, 1<<44
	err := c.Validate()
	for _, key := range []string{"upload.max_file_size_mib", "upload.quota_mib"} {
		if err == nil || !strings.Contains(err.Error(), key+":") {
			t.Errorf("Validate() = %v; want an error naming %s", err, key)
		}
	}
	c.Upload.MaxFileSizeMiB, c.Upload.QuotaMiB = 1<<40, 1<<40
	if err := c.Validate(); err != nil {
		t.Errorf("the largest sizes: %v", err)
	}
}
