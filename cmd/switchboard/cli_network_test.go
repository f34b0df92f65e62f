package main

import (
	"strings"
	"testing"
	"time"
)

// networkLines returns the rows of "network list USER" below the header,
// each as its four columns (the settings column whole).
func networkLines(t testing.TB, user string) [][]string {
	t.Helper()
	out := mustRun(t, "", "network", "list", user)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if strings.Join(strings.Fields(lines[0]), " ") != "NETWORK KIND ENABLED SETTINGS" {
		t.Fatalf("network list printed %q", out)
	}
	var rows [][]string
	for _, l := range lines[1:] {
		f := strings.SplitN(strings.Join(strings.Fields(l), " "), " ", 4)
		if len(f) != 4 {
			t.Fatalf("network list row %q", l)
		}
		rows = append(rows, f)
	}
	return rows
}

func TestNetworkAddAndList(t *testing.T) {
	mustRun(t, "", "user", "add", "alice")
	out := mustRun(t, "", "network", "add", "alice", "libera", "--kind", "irc",
		"--addr", "ircs://irc.example.org:6697", "--join", "#go,#xmpp")
	if out != "added irc network libera for alice\n" {
		t.Fatalf("network add printed %q", out)
	}
	out = mustRun(t, "", "network", "list", "alice")
	want := "NETWORK  KIND  ENABLED  SETTINGS\n" +
		`libera   irc   true     addr="ircs://irc.example.org:6697" join="#go,#xmpp" nick="alice"` + "\n"
	if out != want {
		t.Fatalf("network list printed\n%s\nwant\n%s", out, want)
	}

	add := func(args ...string) []string {
		return append([]string{"network", "add", "alice"}, args...)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{add("efnet", "--kind", "irc", "--addr", "http://x"),
			`setting "addr": "http://x": want irc://HOST[:PORT] (plain) or ircs://HOST[:PORT] (TLS)`},
		{add("efnet", "--kind", "irc", "--addr", "ircs://host:99999"),
			`setting "addr": "ircs://host:99999": the port must be 1 to 65535`},
		{add("efnet", "--kind", "irc", "--addr", "ircs://host:0"),
			`setting "addr": "ircs://host:0": the port must be 1 to 65535`},
		{add("efnet", "--kind", "irc", "--addr", "ircs://host/chan"),
			`setting "addr": "ircs://host/chan": want irc://HOST[:PORT] (plain) or ircs://HOST[:PORT] (TLS)`},
		{add("efnet", "--kind", "irc"),
			`setting "addr": an IRC network needs a server address such as ircs://irc.libera.chat:6697`},
		{add("efnet", "--addr", "ircs://irc.efnet.example"), "--kind: required (irc, xmpp or fed)"},
		{add("efnet", "--kind", "smtp"), `--kind "smtp": want irc, xmpp or fed`},
		{add("EFnet", "--kind", "irc", "--addr", "ircs://irc.efnet.example"),
			`NAME: network name "EFnet": only lowercase letters, digits and inner hyphens are allowed`},
		{add("efnet-", "--kind", "irc", "--addr", "ircs://irc.efnet.example"),
			`NAME: network name "efnet-": only lowercase letters, digits and inner hyphens are allowed`},
		{add("efnet", "--kind", "irc", "--addr", "ircs://irc.efnet.example", "--join", "go"),
			`setting "join": "go" is not a channel name (they start with #, &, + or !)`},
		{add("efnet", "--kind", "irc", "--addr", "ircs://irc.efnet.example", "--join", "#go,rust key"),
			`setting "join": "rust" is not a channel name (they start with #, &, + or !)`},
		{add("efnet", "--kind", "irc", "--addr", "ircs://irc.efnet.example", "--nick", "al ice"),
			`setting "nick": nick "al ice": may not start with a digit, - or $, nor contain spaces or any of ,*?!@.:#&`},
		{add("efnet", "--kind", "irc", "--addr", "ircs://irc.efnet.example", "--set", "novalue"),
			`--set "novalue": want KEY=VALUE`},
		{add("libera", "--kind", "irc", "--addr", "ircs://irc.example.org"),
			`NAME: user "alice" already has a network "libera"`},
		{add("work", "--kind", "xmpp"), `setting "jid": an XMPP network needs the account's address, user@server`},
		{add("work", "--kind", "xmpp", "--jid", "me@example.net/phone"),
			`setting "jid": "me@example.net/phone": want the account's bare address, user@server`},
		{add("work", "--kind", "xmpp", "--jid", "me@example.net"),
			`setting "password": an XMPP account needs its password (network set --password-stdin)`},
		{[]string{"network", "add", "zed", "work", "--kind", "fed"}, `USER: no user "zed" (see "switchboard user list")`},
	} {
		wantErr(t, "", c.want, c.args...)
	}
	wantErr(t, "pw\n", `setting "addr": "example.net": want HOST:PORT with a port from 1 to 65535`,
		add("work", "--kind", "xmpp", "--jid", "me@example.net", "--addr", "example.net", "--password-stdin")...)

	// The secret goes in on standard input and never comes out again.
	const secret = "s3cret-Passw0rd"
	out = mustRun(t, secret+"\n", "network", "add", "alice", "work", "--kind", "xmpp", "--jid", "me@example.net", "--password-stdin")
	if out != "added xmpp network work for alice\n" {
		t.Fatalf("network add of an XMPP account printed %q", out)
	}
	out, errOut, err := run(t, "", "network", "list", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out+errOut, secret) {
		t.Fatalf("network list printed the password: %q", out)
	}
	rows := networkLines(t, "alice")
	if len(rows) != 2 || strings.Join(rows[1], " ") != `work xmpp true jid="me@example.net" password="(set)"` {
		t.Fatalf("network list rows %q", rows)
	}
	// network set prints the settings too, masked alike.
	out = mustRun(t, "", "network", "set", "alice", "work", "--addr", "xmpp.example.net:5222")
	if strings.Contains(out, secret) || !strings.Contains(out, `password="(set)"`) {
		t.Fatalf("network set printed %q", out)
	}
}

func TestNetworkSetAndDel(t *testing.T) {
	mustRun(t, "", "user", "add", "alice")
	mustRun(t, "", "network", "add", "alice", "libera", "--kind", "irc",
		"--addr", "ircs://irc.example.org:6697", "--join", "#go,#xmpp", "--realname", "Alice")

	out := mustRun(t, "", "network", "set", "alice", "libera", "--nick", "alice_", "--disable", "--unset", "realname")
	want := `updated network libera of alice: enabled=false addr="ircs://irc.example.org:6697" join="#go,#xmpp" nick="alice_"` + "\n"
	if out != want {
		t.Fatalf("network set printed %q, want %q", out, want)
	}
	rows := networkLines(t, "alice")
	if len(rows) != 1 || strings.Join(rows[0], " ") != `libera irc false addr="ircs://irc.example.org:6697" join="#go,#xmpp" nick="alice_"` {
		t.Fatalf("network list after set: %q", rows)
	}

	// A refused change changes nothing, not even the flags before the bad one.
	wantErr(t, "", `--unset "realname": the network has no such setting`,
		"network", "set", "alice", "libera", "--nick", "bob", "--unset", "realname")
	wantErr(t, "", `setting "nick": empty nick`,
		"network", "set", "alice", "libera", "--unset", "nick")
	wantErr(t, "", "--enable and --disable: give one or the other", "network", "set", "alice", "libera", "--enable", "--disable")
	wantErr(t, "", `NETWORK: user "alice" has no network "oftc" (see "switchboard network list alice")`,
		"network", "set", "alice", "oftc", "--enable")
	if rows2 := networkLines(t, "alice"); strings.Join(rows2[0], " ") != strings.Join(rows[0], " ") {
		t.Fatalf("a refused network set changed the network: %q", rows2)
	}

	out = mustRun(t, "", "network", "set", "alice", "libera", "--enable", "--set", "sasl-password=hunter2")
	if !strings.Contains(out, "enabled=true") || strings.Contains(out, "hunter2") || !strings.Contains(out, `sasl-password="(set)"`) {
		t.Fatalf("network set --enable --set printed %q", out)
	}

	appendMessages(t, "alice", "libera", chat("#go", "bob", "hello", time.Time{}))
	wantErr(t, "", `network "libera" has history; pass --yes to delete it with the network, or use "network set --disable" to keep it`,
		"network", "del", "alice", "libera")
	if rows := networkLines(t, "alice"); len(rows) != 1 {
		t.Fatalf("a refused network del removed the network: %q", rows)
	}
	if out := mustRun(t, "", "network", "del", "alice", "libera", "--yes"); out != "removed network libera of alice\n" {
		t.Fatalf("network del --yes printed %q", out)
	}
	if rows := networkLines(t, "alice"); len(rows) != 0 {
		t.Fatalf("network list after del: %q", rows)
	}
	// Its history went with it.
	if out := mustRun(t, "", "user", "del", "alice"); out != "deleted user alice and 0 messages\n" {
		t.Fatalf("user del after network del printed %q", out)
	}

	// A network without history goes without --yes.
	mustRun(t, "", "user", "add", "bob")
	addIRC(t, "bob", "oftc")
	if out := mustRun(t, "", "network", "del", "bob", "oftc"); out != "removed network oftc of bob\n" {
		t.Fatalf("network del printed %q", out)
	}
	wantErr(t, "", `NETWORK: user "bob" has no network "oftc" (see "switchboard network list bob")`,
		"network", "del", "bob", "oftc")
}
