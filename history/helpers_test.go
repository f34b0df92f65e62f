package history

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchboard/switchboard/core"
)

// quietLog keeps migration notices out of test output.
var quietLog = slog.New(slog.DiscardHandler)

func openTest(t testing.TB) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "test.db"), Options{Log: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// fixture is a user with one IRC network.
type fixture struct {
	user core.User
	net  core.Network
}

func newFixture(t testing.TB, s *Store, name string) fixture {
	t.Helper()
	ctx := context.Background()
	u, err := s.CreateUser(ctx, name, "secret-"+name, false)
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.CreateNetwork(ctx, core.Network{User: u.ID, Name: "libera", Kind: core.KindIRC, Enabled: true,
		Settings: core.Settings{"addr": "ircs://irc.example:6697"}})
	if err != nil {
		t.Fatal(err)
	}
	return fixture{user: u, net: n}
}

func (f fixture) msg(room, body string) *core.Message {
	return &core.Message{
		User: f.user.ID, Network: f.net.ID,
		Peer:   core.Peer{Kind: core.Room, Remote: room},
		Sender: core.Address{Addr: "bob", Name: "Bob"},
		Time:   time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Kind:   core.KindChat, Body: body,
	}
}

func appendAll(t testing.TB, s *Store, msgs ...*core.Message) []core.Write {
	t.Helper()
	ws := make([]core.Write, len(msgs))
	for i, m := range msgs {
		ws[i] = core.Write{Message: m}
	}
	if err := s.Append(context.Background(), ws); err != nil {
		t.Fatal(err)
	}
	return ws
}

func bodies(ms []*core.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Body
	}
	return out
}

func resultBodies(rs []core.SearchResult) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Message.Body
	}
	return out
}

func equal(a, b []string) bool { return fmt.Sprint(a) == fmt.Sprint(b) }
