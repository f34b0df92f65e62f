package irc

import (
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/core"
)

func TestParseConfig(t *testing.T) {
	c, err := parseConfig(core.Settings{"addr": "ircs://irc.example.net", "nick": "alice", "join": "#go, #secret hunter2 ,&local",
		"password": "pw", "charset": "cp1252", "flood-rate": "0.5", "flood-burst": "3"})
	if err != nil {
		t.Fatal(err)
	}
	if c.addr != "irc.example.net:6697" || !c.tls || c.serverName != "irc.example.net" {
		t.Errorf("address parsed as %q tls=%v name=%q", c.addr, c.tls, c.serverName)
	}
	if strings.Join(c.nicks, ",") != "alice,alice_,alice__" || c.username != "alice" || c.realname != "alice" {
		t.Errorf("identity parsed as nicks=%v user=%q real=%q", c.nicks, c.username, c.realname)
	}
	if c.sasl != "PLAIN" || c.saslUser != "alice" || c.saslPass != "pw" {
		t.Errorf("SASL parsed as %q %q %q", c.sasl, c.saslUser, c.saslPass)
	}
	want := []channelJoin{{"#go", ""}, {"#secret", "hunter2"}, {"&local", ""}}
	if len(c.channels) != len(want) {
		t.Fatalf("channels %v, want %v", c.channels, want)
	}
	for i := range want {
		if c.channels[i] != want[i] {
			t.Errorf("channel %d is %v, want %v", i, c.channels[i], want[i])
		}
	}
	if c.floodRate != 0.5 || c.floodBurst != 3 {
		t.Errorf("flood limit %v/%v", c.floodRate, c.floodBurst)
	}
	if got := c.decode([]byte("caf\xe9")); got != "café" {
		t.Errorf("cp1252 fallback decoded %q", got)
	}

	plain, err := parseConfig(core.Settings{"addr": "irc://127.0.0.1", "nick": "bob", "sasl": "none", "password": "x"})
	if err != nil {
		t.Fatal(err)
	}
	if plain.addr != "127.0.0.1:6667" || plain.tls || plain.sasl != "" {
		t.Errorf("plain address parsed as %q tls=%v sasl=%q", plain.addr, plain.tls, plain.sasl)
	}
}

func TestValidateSettingsNamesTheKey(t *testing.T) {
	base := func(kv ...string) core.Settings {
		s := core.Settings{"addr": "ircs://irc.example.net", "nick": "alice"}
		for i := 0; i+1 < len(kv); i += 2 {
			s[kv[i]] = kv[i+1]
		}
		return s
	}
	for _, c := range []struct {
		s    core.Settings
		want string
	}{
		{core.Settings{"nick": "alice"}, `setting "addr": an IRC network needs a server address`},
		{base("addr", "http://x"), `setting "addr": "http://x": want irc://HOST[:PORT] (plain) or ircs://HOST[:PORT] (TLS)`},
		{base("addr", "ircs://host:99999"), `setting "addr": "ircs://host:99999": the port must be 1 to 65535`},
		{base("addr", "ircs://host/chan"), `want irc://HOST[:PORT]`},
		{base("nick", ""), `setting "nick": empty nick`},
		{base("nick", "al ice"), `setting "nick": nick "al ice": may not start with a digit`},
		{base("nick", "9lives"), `setting "nick": nick "9lives"`},
		{base("alt-nicks", "ok,bad nick"), `setting "alt-nicks": nick "bad nick"`},
		{base("join", "go"), `setting "join": "go" is not a channel name`},
		{base("join", "#go,rust key"), `setting "join": "rust" is not a channel name`},
		{base("sasl", "plain"), `setting "sasl": SASL PLAIN needs "password"`},
		{base("sasl", "external"), `setting "sasl": SASL EXTERNAL needs "client-cert"`},
		{base("sasl", "scram"), `setting "sasl": "scram": want plain, external or none`},
		{base("tls-fingerprint", "abc"), `setting "tls-fingerprint": want the SHA-256`},
		{base("addr", "irc://h", "tls-fingerprint", strings.Repeat("ab", 32)), `only meaningful with an ircs:// address`},
		{base("charset", "ebcdic"), `charset`},
		{base("flood-rate", "0"), `setting "flood-rate"`},
		{base("flood-burst", "many"), `setting "flood-burst"`},
		{base("client-cert", "/nonexistent.pem"), `setting "client-cert"`},
		{base("realname", "a\nb"), `setting "realname"`},
	} {
		err := ValidateSettings(c.s)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ValidateSettings(%v) = %v, want an error containing %q", c.s, err, c.want)
		}
	}
	if err := ValidateSettings(base("tls-fingerprint", strings.Repeat("AB:", 31)+"AB")); err != nil {
		t.Errorf("a colon-separated fingerprint was refused: %v", err)
	}
}

func TestBackoffGrowsWithinBounds(t *testing.T) {
	defer func(u time.Duration) { backoffUnit = u }(backoffUnit)
	backoffUnit = time.Second // TestMain shortens it for the other tests
	for _, c := range []struct {
		kind     failure
		min, max float64 // seconds, jitter included
	}{
		{failTemporary, 1.5, 375},
		{failThrottled, 45, 2250},
		{failBanned, 1350, 27000},
	} {
		prev := 0.0
		for n := 1; n <= 20; n++ {
			d := backoff(c.kind, n).Seconds()
			if d < c.min || d > c.max {
				t.Errorf("%s attempt %d waits %.1fs, outside [%v, %v]", c.kind, n, d, c.min, c.max)
			}
			if n <= 3 && d < prev*0.9 {
				t.Errorf("%s attempt %d waits %.1fs, less than attempt %d's %.1fs", c.kind, n, d, n-1, prev)
			}
			prev = d
		}
	}
}

func TestClassifyServerError(t *testing.T) {
	for text, want := range map[string]failure{
		"Closing Link: alice[1.2.3.4] (K-Lined: spam)":                failBanned,
		"Closing Link: 1.2.3.4 (You are banned from this server)":     failBanned,
		"Trying to reconnect too fast.":                               failThrottled,
		"Closing Link: alice (Excess Flood)":                          failThrottled,
		"Your host is trying to (re)connect too fast -- throttled":    failThrottled,
		"Closing Link: alice (Ping timeout: 240 seconds)":             failTemporary,
		"Closing Link: alice[127.0.0.1] (Server shutting down)":       failTemporary,
		"Too many host connections (local)":                           failThrottled,
		"Closing link: (alice@1.2.3.4) [G-lined (evading a ban)]":     failBanned,
		"Closing Link: alice (Quit: restarting the bouncer, see you)": failTemporary,
	} {
		if got := classifyServerError(text); got != want {
			t.Errorf("classifyServerError(%q) = %s, want %s", text, got, want)
		}
	}
}

func TestParsePeer(t *testing.T) {
	for in, want := range map[string]core.Peer{
		"Bob":     {Kind: core.Direct, Remote: "bob"},
		"#Go":     {Kind: core.Room, Remote: "#go"},
		"&Local":  {Kind: core.Room, Remote: "&local"},
		"Nick[m]": {Kind: core.Direct, Remote: "nick[m]"}, // []\~ stay: they differ on ascii servers
		"ÉLODIE":  {Kind: core.Direct, Remote: "Élodie"},  // only ASCII letters fold
		"":        {Kind: core.Direct, Remote: ""},
	} {
		if got := Kind().ParsePeer(in); got != want {
			t.Errorf("ParsePeer(%q) = %+v, want %+v", in, got, want)
		}
	}
}
