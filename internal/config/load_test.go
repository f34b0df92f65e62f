package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// writeConfig puts doc in a switchboard.toml of a fresh directory.
func writeConfig(t *testing.T, doc string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "switchboard.toml")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadEmptyFileGivesDefaults(t *testing.T) {
	for _, doc := range []string{"", "\n\n", "# only a comment\n", "[xmpp]\n[log]\n"} {
		got, err := Load(writeConfig(t, doc))
		if err != nil {
			t.Fatalf("Load(%q): %v", doc, err)
		}
		if !reflect.DeepEqual(got, Default()) {
			t.Errorf("Load(%q) = %+v, want defaults %+v", doc, got, Default())
		}
	}
}

func TestLoadOverridesEachKey(t *testing.T) {
	tests := []struct {
		doc  string
		want func(*Config)
	}{
		{`domain = "chat.example.org"`, func(c *Config) { c.Domain = "chat.example.org" }},
		{`data_dir = "/var/lib/switchboard"`, func(c *Config) { c.DataDir = "/var/lib/switchboard" }},
		{`away_when_detached = false`, func(c *Config) { c.AwayWhenDetached = false }},
		{`away_message = "gone fishing"`, func(c *Config) { c.AwayMessage = "gone fishing" }},
		{"[xmpp]\naddr = \"127.0.0.1:15222\"", func(c *Config) { c.XMPP.Addr = "127.0.0.1:15222" }},
		{"[xmpp]\ndirect_tls_addr = \"[::1]:15223\"", func(c *Config) { c.XMPP.DirectTLSAddr = "[::1]:15223" }},
		{"[http]\naddr = \"localhost:0\"", func(c *Config) { c.HTTP.Addr = "localhost:0" }},
		{"[tls]\ncert_file = \"/c.pem\"\nkey_file = \"/k.pem\"", func(c *Config) { c.TLS = TLSConfig{CertFile: "/c.pem", KeyFile: "/k.pem"} }},
		{"[log]\nlevel = \"debug\"", func(c *Config) { c.Log.Level = "debug" }},
		{"[log]\nformat = \"json\"", func(c *Config) { c.Log.Format = "json" }},
		{"[history]\nretention = \"30d\"", func(c *Config) { c.History.Retention = Duration(30 * 24 * time.Hour) }},
		{"[history]\nretention = \"720h\"", func(c *Config) { c.History.Retention = Duration(720 * time.Hour) }},
		{"[history]\nprune_interval = \"1h30m\"", func(c *Config) { c.History.PruneInterval = Duration(90 * time.Minute) }},
		{"[auth]\nmax_login_failures = 0", func(c *Config) { c.Auth.MaxLoginFailures = 0 }},
		{"[auth]\nlogin_lockout = \"90s\"", func(c *Config) { c.Auth.LoginLockout = Duration(90 * time.Second) }},
		// Other spellings TOML allows reach the same fields.
		{`http.addr = ":1"`, func(c *Config) { c.HTTP.Addr = ":1" }},
		{`auth = { max_login_failures = 3 }`, func(c *Config) { c.Auth.MaxLoginFailures = 3 }},
	}
	for _, tt := range tests {
		t.Run(tt.doc, func(t *testing.T) {
			got, err := Load(writeConfig(t, tt.doc))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			want := Default()
			tt.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestLoadRefuses(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string // substrings of the error, after "switchboard.toml"
	}{
		{
			name: "unknown key",
			doc:  "# comment\n\n[xmpp]\naddr = \":5222\"\n\n\nadr = \":1\"\n",
			want: []string{`switchboard.toml:7: unknown key "xmpp.adr"`},
		},
		{
			name: "unknown top-level key",
			doc:  "domain = \"example.org\"\ndomian = \"example.org\"\n",
			want: []string{`switchboard.toml:2: unknown key "domian"`},
		},
		{
			name: "unknown table",
			doc:  "[xmpp]\n[histroy]\nretention = \"1d\"\n",
			want: []string{`switchboard.toml:2: unknown table "histroy"`},
		},
		{
			name: "unknown key in an inline table",
			doc:  "\n\nlog = { level = \"debug\", lvl = \"info\" }\n",
			want: []string{`switchboard.toml:3: unknown key "log.lvl"`},
		},
		{
			name: "keys under a misspelt table are not listed again",
			doc:  "[xmp]\naddr = \":1\"\n",
			want: []string{`switchboard.toml:1: unknown table "xmp"` + "\x00"},
		},
		{
			name: "every unknown key at once",
			doc:  "a = 1\nb = 2\n",
			want: []string{`switchboard.toml:1: unknown key "a"`, `switchboard.toml:2: unknown key "b"`},
		},
		{
			name: "wrong type string",
			doc:  "\n\n[http]\naddr = 8443\n",
			want: []string{`switchboard.toml:4: http.addr: expected a string, found integer 8443`},
		},
		{
			name: "wrong type bool",
			doc:  `away_when_detached = "yes"`,
			want: []string{`switchboard.toml:1: away_when_detached: expected true or false, found string "yes"`},
		},
		{
			name: "wrong type int",
			doc:  "[auth]\nmax_login_failures = 2.5\n",
			want: []string{`switchboard.toml:2: auth.max_login_failures: expected an integer, found float 2.5`},
		},
		{
			name: "value where a table belongs",
			doc:  "xmpp = \":5222\"\n",
			want: []string{`switchboard.toml:1: xmpp: expected a table, found string ":5222"`},
		},
		{
			name: "wrong type inside inline table",
			doc:  "\nlog = { level = 1 }\n",
			want: []string{`switchboard.toml:2: log.level: expected a string, found integer 1`},
		},
		{
			name: "duration as bare number",
			doc:  "[history]\nretention = 30\n",
			want: []string{`switchboard.toml:2: history.retention: expected a duration such as "90s", "1h30m" or "30d" (a quoted string), found integer 30`},
		},
		{
			name: "bad duration",
			doc:  "[auth]\n\nlogin_lockout = \"5 minutes\"\n",
			want: []string{`switchboard.toml:3:`, `auth.login_lockout`, `"5 minutes" is not a duration such as "90s", "1h30m" or "30d"`},
		},
		{
			name: "negative duration",
			doc:  "[history]\nretention = \"-1h\"\n",
			want: []string{`switchboard.toml:2: history.retention: "-1h" is negative`},
		},
		{
			name: "invalid domain",
			doc:  "data_dir = \"x\"\ndomain = \"Bad Domain\"\n",
			want: []string{`switchboard.toml:2: domain: "Bad Domain" is not a valid DNS name`},
		},
		{
			name: "invalid addr",
			doc:  "[xmpp]\n[http]\n\naddr = \"localhost\"\n",
			want: []string{`switchboard.toml:4: http.addr: "localhost" is not HOST:PORT`},
		},
		{
			name: "port out of range",
			doc:  "[xmpp]\ndirect_tls_addr = \":65536\"\n",
			want: []string{`switchboard.toml:2: xmpp.direct_tls_addr: ":65536": port "65536" is not a number from 0 to 65535`},
		},
		{
			name: "bad log level",
			doc:  "[log]\nlevel = \"verbose\"\n",
			want: []string{`switchboard.toml:2: log.level: "verbose" is not one of debug, info, warn, error`},
		},
		{
			name: "bad log format",
			doc:  "[log]\nformat = \"xml\"\n",
			want: []string{`switchboard.toml:2: log.format: "xml" is not one of text, json`},
		},
		{
			name: "half a key pair points at the table",
			doc:  "[log]\n[tls]\ncert_file = \"/c.pem\"\n",
			want: []string{`switchboard.toml:2: tls.key_file: must be set when tls.cert_file is`},
		},
		{
			name: "every invalid value at once",
			doc:  "domain = \"-x\"\n[log]\nlevel = \"loud\"\n",
			want: []string{`switchboard.toml:1: domain:`, `switchboard.toml:3: log.level:`},
		},
		{
			name: "syntax error",
			doc:  "[xmpp]\naddr = \":5222\n",
			want: []string{`switchboard.toml:2:`},
		},
		{
			name: "duplicate key",
			doc:  "domain = \"a.org\"\ndomain = \"b.org\"\n",
			want: []string{`switchboard.toml:2:`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, tt.doc)
			_, err := Load(path)
			if err == nil {
				t.Fatalf("Load accepted:\n%s", tt.doc)
			}
			// Strip the temporary directory so the wanted text can be
			// written as an operator would see it next to the file.
			msg := strings.ReplaceAll(err.Error(), filepath.Dir(path)+string(filepath.Separator), "")
			msg += "\x00" // marks the end, so a case can assert nothing follows
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error\n%s\ndoes not contain\n%s", msg, w)
				}
			}
		})
	}
}

func TestLoadKeepsFieldError(t *testing.T) {
	_, err := Load(writeConfig(t, "domain = \"UPPER.example\"\n"))
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Key != "domain" {
		t.Fatalf("Load error %v does not carry a *FieldError for domain", err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.toml")
	_, err := Load(path)
	if err == nil {
		t.Fatal("Load of a missing file succeeded")
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name %s", err, path)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error %q is not fs.ErrNotExist", err)
	}
}

func TestCertPaths(t *testing.T) {
	c := Default()
	c.DataDir = "/data"
	cert, key := c.CertPaths()
	if cert != filepath.Join("/data", "tls", "cert.pem") || key != filepath.Join("/data", "tls", "key.pem") || !c.SelfSignedTLS() {
		t.Errorf("self-signed CertPaths = %q, %q", cert, key)
	}
	c.TLS = TLSConfig{CertFile: "/etc/c.pem", KeyFile: "/etc/k.pem"}
	cert, key = c.CertPaths()
	if cert != "/etc/c.pem" || key != "/etc/k.pem" || c.SelfSignedTLS() {
		t.Errorf("configured CertPaths = %q, %q", cert, key)
	}
}
