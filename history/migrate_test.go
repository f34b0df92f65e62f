package history

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchboard/switchboard/core"
)

// A database written before the search index was keyed by negated ids
// (schema version 2, as the first release left it) upgrades in place: its
// messages are found newest first, the index passes FTS5's own check, and
// new messages join the same index.
func TestOpenUpgradesSearchIndexOfVersion2(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v2.db")
	db, err := openDB(path, false, 1)
	if err != nil {
		t.Fatal(err)
	}
	steps, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range steps[:2] {
		if _, err := db.Exec(step); err != nil {
			t.Fatal(err)
		}
	}
	mustExec(t, db, "PRAGMA user_version = 2")
	mustExec(t, db, "INSERT INTO users (id, name, created_at) VALUES (1, 'alice', 0), (2, 'bob', 0)")
	mustExec(t, db, "INSERT INTO networks (id, user_id, name, kind, created_at) VALUES (1, 1, 'libera', 'irc', 0), (2, 2, 'libera', 'irc', 0)")
	mustExec(t, db, "INSERT INTO conversations (id, user_id, network_id, kind, remote, created_at) VALUES (1, 1, 1, 'room', '#go', 0), (2, 2, 2, 'room', '#go', 0)")
	// Old ids: one millisecond apart, a day ago and earlier.
	base := int64(core.MessageIDAt(time.Now().AddDate(0, 0, -1)))
	for i := 0; i < 40; i++ {
		user := 1 + i%2
		mustExec(t, db, `INSERT INTO messages (id, conversation_id, user_id, network_id, direction, sender, sender_name, sent_at, kind, body)
			VALUES (?, ?, ?, ?, 0, 'carol', 'Carol', 0, 'chat', ?)`,
			base+int64(i)<<16, user, user, user, fmt.Sprintf("deploy number %d", i))
	}
	db.Close()

	s, err := Open(ctx, path, Options{Log: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.IntegrityCheck(ctx); err != nil {
		t.Fatalf("after the upgrade: %v", err)
	}
	rs, err := s.Search(ctx, core.SearchQuery{User: 1, Text: "deploy", Limit: 3})
	if err != nil || !equal(resultBodies(rs), []string{"deploy number 38", "deploy number 36", "deploy number 34"}) {
		t.Fatalf("newest first after the upgrade: %v, %v", resultBodies(rs), err)
	}
	rs, err = s.Search(ctx, core.SearchQuery{User: 1, Text: "deploy", Before: rs[2].Message.ID, Limit: 2})
	if err != nil || !equal(resultBodies(rs), []string{"deploy number 32", "deploy number 30"}) {
		t.Fatalf("before an id: %v, %v", resultBodies(rs), err)
	}
	if len(rs) > 0 && (rs[0].Snippet != "deploy number 32" || len(rs[0].Highlights) != 1) {
		t.Fatalf("snippet %q %v", rs[0].Snippet, rs[0].Highlights)
	}

	f := fixture{user: core.User{ID: 1}, net: core.Network{ID: 1, User: 1}}
	appendAll(t, s, f.msg("#go", "deploy after the upgrade"))
	rs, err = s.Search(ctx, core.SearchQuery{User: 1, Text: "deploy", Limit: 2})
	if err != nil || !equal(resultBodies(rs), []string{"deploy after the upgrade", "deploy number 38"}) {
		t.Fatalf("a new message among upgraded ones: %v, %v", resultBodies(rs), err)
	}
	page, err := s.UserMessages(ctx, core.UserPageQuery{User: 2, Order: core.OldestFirst, Limit: 2})
	if err != nil || !equal(bodies(page), []string{"deploy number 1", "deploy number 3"}) {
		t.Fatalf("catch-up of an upgraded user: %v, %v", bodies(page), err)
	}
	if err := s.IntegrityCheck(ctx); err != nil {
		t.Fatalf("after appending: %v", err)
	}
}

func mustExec(t *testing.T, db *sql.DB, query string, args ...any) {
	t.Helper()
	if _, err := db.Exec(query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}
