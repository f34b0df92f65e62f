package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard/switchboard/core"
	"github.com/switchboard/switchboard/history"
)

// This file holds the in-process helpers of the CLI tests and the tests of
// the user, version and no-database paths. network, search and
// export/import have files of their own.

// dataDirs maps each test to its data directory (see dataDir).
var dataDirs sync.Map

// dataDir returns t's data directory, created with an empty database on
// first use: admin commands refuse a directory without one.
func dataDir(t testing.TB) string {
	t.Helper()
	if d, ok := dataDirs.Load(t); ok {
		return d.(string)
	}
	dir := t.TempDir()
	if err := openStore(t, dir).Close(); err != nil {
		t.Fatal(err)
	}
	dataDirs.Store(t, dir)
	t.Cleanup(func() { dataDirs.Delete(t) })
	return dir
}

// openStore opens the database of the data directory dir directly. Callers
// close it before the next command runs.
func openStore(t testing.TB, dir string) *history.Store {
	t.Helper()
	st, err := history.Open(context.Background(), filepath.Join(dir, "switchboard.db"),
		history.Options{Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// withStore runs fn on t's store, closed again before it returns.
func withStore(t testing.TB, fn func(ctx context.Context, st *history.Store)) {
	t.Helper()
	st := openStore(t, dataDir(t))
	defer func() {
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
	}()
	fn(context.Background(), st)
}

// run executes the CLI in-process on t's data directory with stdin as
// standard input.
func run(t testing.TB, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	return runIn(t, dataDir(t), stdin, args...)
}

// runIn executes the CLI in-process with --data-dir dir.
func runIn(t testing.TB, dir, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := newRootCommand()
	var out, errb bytes.Buffer
	cmd.SetArgs(append([]string{"--data-dir", dir}, args...))
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = cmd.ExecuteContext(ctx)
	return out.String(), errb.String(), err
}

// mustRun runs the command and returns its standard output, failing t if
// the command fails.
func mustRun(t testing.TB, stdin string, args ...string) string {
	t.Helper()
	out, errOut, err := run(t, stdin, args...)
	if err != nil {
		t.Fatalf("switchboard %s: %v (stderr %q)", strings.Join(args, " "), err, errOut)
	}
	return out
}

// wantErr runs the command, which must fail with exactly the error want
// and print nothing on standard output.
func wantErr(t testing.TB, stdin, want string, args ...string) {
	t.Helper()
	out, _, err := run(t, stdin, args...)
	if err == nil {
		t.Fatalf("switchboard %s: succeeded (stdout %q), want error %q", strings.Join(args, " "), out, want)
	}
	if err.Error() != want {
		t.Fatalf("switchboard %s:\n got error %q\nwant error %q", strings.Join(args, " "), err, want)
	}
	if out != "" {
		t.Errorf("switchboard %s: failed but printed %q", strings.Join(args, " "), out)
	}
}

// checkPassword reports whether name logs in with pw.
func checkPassword(t testing.TB, name, pw string) bool {
	t.Helper()
	ok := false
	withStore(t, func(ctx context.Context, st *history.Store) {
		_, err := st.CheckPassword(ctx, name, pw)
		switch {
		case err == nil:
			ok = true
		case !errors.Is(err, history.ErrBadLogin):
			t.Fatal(err)
		}
	})
	return ok
}

// appendMessages stores msgs in user's network called network, filling in
// the user, network, and defaults for kind, conversation kind and time. It
// returns the messages as stored (with their ids).
func appendMessages(t testing.TB, user, network string, msgs ...*core.Message) []*core.Message {
	t.Helper()
	withStore(t, func(ctx context.Context, st *history.Store) {
		u, err := st.UserByName(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		n, err := st.NetworkByName(ctx, u.ID, network)
		if err != nil {
			t.Fatal(err)
		}
		ws := make([]core.Write, len(msgs))
		for i, m := range msgs {
			m.User, m.Network = u.ID, n.ID
			if m.Kind == "" {
				m.Kind = core.KindChat
			}
			if m.Peer.Kind == "" {
				m.Peer.Kind = core.Room
			}
			if m.Time.IsZero() {
				m.Time = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
			}
			ws[i] = core.Write{Message: m}
		}
		if err := st.Append(ctx, ws); err != nil {
			t.Fatal(err)
		}
	})
	return msgs
}

// chat is a room message from sender at t.
func chat(room, sender, body string, at time.Time) *core.Message {
	return &core.Message{Peer: core.Peer{Kind: core.Room, Remote: room}, Sender: core.Address{Addr: sender},
		Time: at, Kind: core.KindChat, Body: body}
}

// addIRC adds an IRC network called name to user.
func addIRC(t testing.TB, user, name string) {
	t.Helper()
	mustRun(t, "", "network", "add", user, name, "--kind", "irc", "--addr", "ircs://irc."+name+".example:6697")
}

func TestUserCommands(t *testing.T) {
	out := mustRun(t, "", "user", "add", "alice")
	m := regexp.MustCompile(`^created user alice@localhost\npassword: (\S+)\n$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("user add alice printed %q", out)
	}
	alicePW := m[1]
	if !checkPassword(t, "alice", alicePW) {
		t.Fatalf("the printed password %q does not log alice in", alicePW)
	}

	if out := mustRun(t, "pw\n", "user", "add", "bob", "--password-stdin"); out != "created user bob@localhost\n" {
		t.Fatalf("user add bob --password-stdin printed %q", out)
	}
	if !checkPassword(t, "bob", "pw") {
		t.Fatal(`bob does not log in with the password "pw" given on standard input`)
	}

	wantErr(t, "", `USER: user "alice" already exists`, "user", "add", "alice")
	wantErr(t, "", `USER: user name "Bad Name": only lowercase letters, digits and inner '-', '_' or '.' are allowed`,
		"user", "add", "Bad Name")
	wantErr(t, "", "--password-stdin: no password on standard input", "user", "add", "carol", "--password-stdin")
	wantErr(t, "\n", "--password-stdin: no password on standard input", "user", "add", "carol", "--password-stdin")
	wantErr(t, "", "accepts 1 arg(s), received 0", "user", "add")

	out = mustRun(t, "", "user", "list")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 3 || strings.Join(strings.Fields(lines[0]), " ") != "USER ADMIN RETENTION CREATED" {
		t.Fatalf("user list printed %q", out)
	}
	for i, want := range []string{"alice false forever", "bob false forever"} {
		if f := strings.Fields(lines[i+1]); len(f) != 5 || strings.Join(f[:3], " ") != want {
			t.Errorf("user list line %d is %q, want %q and the creation time", i+2, lines[i+1], want)
		}
	}

	// CRLF from a Windows-edited file is one line ending, not part of the
	// password.
	if out := mustRun(t, "new-pw\r\n", "user", "passwd", "alice", "--password-stdin"); out != "password of alice changed\n" {
		t.Fatalf("user passwd printed %q", out)
	}
	if !checkPassword(t, "alice", "new-pw") || checkPassword(t, "alice", alicePW) {
		t.Fatal("user passwd did not replace alice's password")
	}
	out = mustRun(t, "", "user", "passwd", "bob")
	if m := regexp.MustCompile(`^password of bob changed\npassword: (\S+)\n$`).FindStringSubmatch(out); m == nil || !checkPassword(t, "bob", m[1]) {
		t.Fatalf("user passwd bob printed %q, which does not log bob in", out)
	}
	wantErr(t, "x\n", `USER: no user "zed" (see "switchboard user list")`, "user", "passwd", "zed", "--password-stdin")

	addIRC(t, "alice", "libera")
	appendMessages(t, "alice", "libera", chat("#go", "bob", "one", time.Time{}), chat("#go", "bob", "two", time.Time{}))
	wantErr(t, "", `user "alice" has 2 messages; pass --yes to delete them with the user`, "user", "del", "alice")
	if !checkPassword(t, "alice", "new-pw") {
		t.Fatal("a refused user del changed alice")
	}
	if out := mustRun(t, "", "user", "del", "alice", "--yes"); out != "deleted user alice and 2 messages\n" {
		t.Fatalf("user del --yes printed %q", out)
	}
	if out := mustRun(t, "", "user", "del", "bob"); out != "deleted user bob and 0 messages\n" {
		t.Fatalf("user del of a user without history printed %q", out)
	}
	wantErr(t, "", `USER: no user "alice" (see "switchboard user list")`, "user", "del", "alice")
	if out := mustRun(t, "", "user", "list"); strings.Count(out, "\n") != 1 {
		t.Fatalf("user list after deleting everyone printed %q", out)
	}
	withStore(t, func(ctx context.Context, st *history.Store) {
		if n, err := st.UserCount(ctx); err != nil || n != 0 {
			t.Fatalf("%d users left (%v)", n, err)
		}
	})
}

func TestVersion(t *testing.T) {
	out, _, err := runIn(t, t.TempDir(), "", "version")
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf(`^switchboard \S+ \(go\S+, schema %d\)\n$`, history.SchemaVersion()); !regexp.MustCompile(want).MatchString(out) {
		t.Fatalf("version printed %q", out)
	}
}

func TestNoDatabase(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "empty")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "export.jsonl")
	want := "no database at " + filepath.Join(dir, "switchboard.db") +
		`: run "switchboard serve" once, or pass --data-dir or --config`
	for _, args := range [][]string{
		{"user", "add", "alice"},
		{"user", "list"},
		{"user", "del", "alice"},
		{"user", "passwd", "alice"},
		{"network", "add", "alice", "libera", "--kind", "irc", "--addr", "ircs://irc.example:6697"},
		{"network", "list", "alice"},
		{"network", "set", "alice", "libera", "--nick", "al"},
		{"network", "del", "alice", "libera"},
		{"search", "alice", "deploy"},
		{"export", "alice"},
		{"import", "alice", file},
	} {
		out, _, err := runIn(t, dir, "", args...)
		if err == nil || err.Error() != want {
			t.Errorf("switchboard %s: got error %v, want %q", strings.Join(args, " "), err, want)
		}
		if out != "" {
			t.Errorf("switchboard %s printed %q", strings.Join(args, " "), out)
		}
	}
	// Nothing was created by mistake.
	if ents, err := os.ReadDir(dir); err != nil || len(ents) != 0 {
		t.Fatalf("the data directory holds %v (%v), want nothing", ents, err)
	}
}
