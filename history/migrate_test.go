package history

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
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
	db := legacyDB(t, 2)
	// Old ids: one millisecond apart, a day ago and earlier.
	base := int64(core.MessageIDAt(time.Now().AddDate(0, 0, -1)))
	for i := 0; i < 40; i++ {
		user := 1 + i%2
		mustExec(t, db.DB, `INSERT INTO messages (id, conversation_id, user_id, network_id, direction, sender, sender_name, sent_at, kind, body)
			VALUES (?, ?, ?, ?, 0, 'carol', 'Carol', 0, 'chat', ?)`,
			base+int64(i)<<16, user, user, user, fmt.Sprintf("deploy number %d", i))
	}
	db.Close()

	s := openUpgraded(t, db.path)
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

// openUpgraded opens the database at path, which upgrades it, and checks
// the result with SQLite's and FTS5's integrity checks.
func openUpgraded(t *testing.T, path string) *Store {
	t.Helper()
	ctx := context.Background()
	s, err := Open(ctx, path, Options{Log: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.IntegrityCheck(ctx); err != nil {
		t.Fatalf("after the upgrade: %v", err)
	}
	return s
}

// legacyDBFile is an open database file of an older schema version.
type legacyDBFile struct {
	*sql.DB
	path string
}

// legacyDB creates a database at an older schema version by the
// migrations of its time, holding users alice (1) and bob (2), each with a
// network and a conversation of the same id.
func legacyDB(t *testing.T, version int) legacyDBFile {
	t.Helper()
	path := filepath.Join(t.TempDir(), fmt.Sprintf("v%d.db", version))
	db, err := openDB(path, false, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	steps, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range steps[:version] {
		if _, err := db.Exec(step.sql); err != nil {
			t.Fatal(err)
		}
	}
	mustExec(t, db, fmt.Sprintf("PRAGMA user_version = %d", version))
	mustExec(t, db, "INSERT INTO users (id, name, created_at) VALUES (1, 'alice', 0), (2, 'bob', 0)")
	mustExec(t, db, "INSERT INTO networks (id, user_id, name, kind, created_at) VALUES (1, 1, 'libera', 'irc', 0), (2, 2, 'libera', 'irc', 0)")
	mustExec(t, db, "INSERT INTO conversations (id, user_id, network_id, kind, remote, created_at) VALUES (1, 1, 1, 'room', '#go', 0), (2, 2, 2, 'room', '#go', 0)")
	return legacyDBFile{db, path}
}

func mustExec(t *testing.T, db *sql.DB, query string, args ...any) {
	t.Helper()
	if _, err := db.Exec(query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// A database of schema version 5 upgrades to prefix indexes and the hours
// table: the index is rebuilt with prefixes and passes FTS5's check, the
// hours of the messages already stored bound time windows, and new
// messages join both.
func TestOpenUpgradesToPrefixIndexAndHours(t *testing.T) {
	ctx := context.Background()
	db := legacyDB(t, 5)
	// Archived a day ago, one millisecond apart; sent an hour apart a
	// year earlier, the newest sent first.
	base := int64(core.MessageIDAt(time.Now().AddDate(0, 0, -1)))
	sentBase := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 39; i >= 0; i-- { // newest first, as version 5's appender indexed
		user, id := 1+i%2, base+int64(i)<<16
		body := fmt.Sprintf("deploy number %d", i)
		sent := sentBase.Add(time.Duration(40-i) * time.Hour).UnixMilli()
		mustExec(t, db.DB, `INSERT INTO messages (id, conversation_id, user_id, network_id, direction, sender, sender_name, sent_at, kind, body)
			VALUES (?, ?, ?, ?, 0, 'carol', 'Carol', ?, 'chat', ?)`, id, user, user, user, sent, body)
		mustExec(t, db.DB, "INSERT INTO messages_fts (rowid, body, sender, scope) VALUES (?, ?, 'carol Carol', ?)",
			-id, body, fmt.Sprintf("u%d n%d c%d", user, user, user))
	}
	db.Close()

	s := openUpgraded(t, db.path)
	var schema string
	if err := s.rdb.QueryRow("SELECT sql FROM sqlite_schema WHERE name = 'messages_fts'").Scan(&schema); err != nil || !strings.Contains(schema, "prefix = '2 3'") {
		t.Fatalf("index after the upgrade: %q, %v", schema, err)
	}
	rs, err := s.Search(ctx, core.SearchQuery{User: 1, Text: "dep*", Limit: 2})
	if err != nil || !equal(resultBodies(rs), []string{"deploy number 38", "deploy number 36"}) {
		t.Fatalf("prefix newest first after the upgrade: %v, %v", resultBodies(rs), err)
	}
	// Messages 30 and 28 were sent in hours 10 and 12.
	rs, err = s.Search(ctx, core.SearchQuery{User: 1, Text: "de*",
		Since: sentBase.Add(10 * time.Hour), Until: sentBase.Add(12*time.Hour + time.Millisecond)})
	if err != nil || !equal(resultBodies(rs), []string{"deploy number 30", "deploy number 28"}) {
		t.Fatalf("time window after the upgrade: %v, %v", resultBodies(rs), err)
	}

	f := fixture{user: core.User{ID: 1}, net: core.Network{ID: 1, User: 1}}
	late := f.msg("#go", "deploy after the upgrade")
	late.Time = sentBase.Add(11 * time.Hour)
	appendAll(t, s, late)
	rs, err = s.Search(ctx, core.SearchQuery{User: 1, Text: "de*",
		Since: sentBase.Add(10 * time.Hour), Until: sentBase.Add(12*time.Hour + time.Millisecond)})
	if err != nil || !equal(resultBodies(rs), []string{"deploy after the upgrade", "deploy number 30", "deploy number 28"}) {
		t.Fatalf("a new message in an upgraded window: %v, %v", resultBodies(rs), err)
	}
	// Version 5's delete trigger removes a message from the new index.
	mustExec(t, s.wdb, "DELETE FROM messages WHERE body = 'deploy number 30'")
	rs, err = s.Search(ctx, core.SearchQuery{User: 1, Text: "de*",
		Since: sentBase.Add(10 * time.Hour), Until: sentBase.Add(12*time.Hour + time.Millisecond)})
	if err != nil || !equal(resultBodies(rs), []string{"deploy after the upgrade", "deploy number 28"}) {
		t.Fatalf("after a delete: %v, %v", resultBodies(rs), err)
	}
	if err := s.IntegrityCheck(ctx); err != nil {
		t.Fatalf("after appending and deleting: %v", err)
	}
}

// TestOpenLogsTheUpgrade: an upgrade says it started before its first
// step (a step can take minutes on a big history, with the daemon not
// serving) and names each step with its time; a new database is
// created without that noise.
func TestOpenLogsTheUpgrade(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	db := legacyDB(t, 5)
	db.Close()
	s, err := Open(context.Background(), db.path, Options{Log: log})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	text := buf.String()
	started := strings.Index(text, "upgrading the database schema")
	first := strings.Index(text, "step=0006_search_prefixes_and_hours.sql")
	if started < 0 || first < started {
		t.Fatalf("the upgrade was not announced before its first step:\n%s", text)
	}
	if n := strings.Count(text, `msg="schema step applied"`); n != SchemaVersion()-5 {
		t.Errorf("%d steps logged, want %d:\n%s", n, SchemaVersion()-5, text)
	}

	buf.Reset()
	fresh, err := Open(context.Background(), filepath.Join(t.TempDir(), "new.db"), Options{Log: log})
	if err != nil {
		t.Fatal(err)
	}
	fresh.Close()
	if strings.Contains(buf.String(), "upgrading") || strings.Contains(buf.String(), "step applied") {
		t.Errorf("a new database logged an upgrade:\n%s", buf.String())
	}
}
