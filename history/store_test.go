package history

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/core"
)

func TestOpenMigratesEmptyDatabase(t *testing.T) {
	s := openTest(t)
	var v int
	if err := s.rdb.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	if v != SchemaVersion() || v == 0 {
		t.Fatalf("user_version = %d, want %d", v, SchemaVersion())
	}
	var mode string
	if err := s.rdb.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Fatalf("journal_mode = %q, want wal", mode)
	}
	if err := s.IntegrityCheck(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestOpenTwiceKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	ctx := context.Background()
	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, s, "alice")
	appendAll(t, s, f.msg("#go", "hello"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	n, err := s.CountMessages(ctx, f.user.ID)
	if err != nil || n != 1 {
		t.Fatalf("CountMessages = %d, %v; want 1", n, err)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("PRAGMA user_version = 999"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = Open(context.Background(), path, Options{})
	if !errors.Is(err, ErrNewerSchema) {
		t.Fatalf("Open = %v, want ErrNewerSchema", err)
	}
	if !strings.Contains(err.Error(), "999") || !strings.Contains(err.Error(), "newer switchboard") {
		t.Fatalf("error does not say what to do: %v", err)
	}
}

func TestMergeIndexConvergesAndKeepsResults(t *testing.T) {
	s := openTest(t)
	f := newFixture(t, s, "alice")
	ctx := context.Background()
	// Many small commits leave many segments behind.
	for i := 0; i < 60; i++ {
		appendAll(t, s, f.msg("#go", fmt.Sprintf("merge test message %d with needle%d", i, i%3)))
	}
	before, err := s.Search(ctx, core.SearchQuery{User: f.user.ID, Text: "needle1"})
	if err != nil || len(before) != 20 {
		t.Fatalf("before merging: %d results, %v", len(before), err)
	}
	finished, err := s.MergeIndex(ctx, 1000)
	if err != nil || !finished {
		t.Fatalf("MergeIndex = %v, %v", finished, err)
	}
	if finished, _ := s.MergeIndex(ctx, 1); !finished {
		t.Fatal("a merged index still reports work to do")
	}
	after, err := s.Search(ctx, core.SearchQuery{User: f.user.ID, Text: "needle1"})
	if err != nil || !equal(resultBodies(after), resultBodies(before)) {
		t.Fatalf("results changed by merging: %v, %v", resultBodies(after), err)
	}
	if err := s.IntegrityCheck(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestSpansKeepStylesAndColours: a message's formatting, colours
// included, comes back from the store as it went in.
func TestSpansKeepStylesAndColours(t *testing.T) {
	s := openTest(t)
	f := newFixture(t, s, "alice")
	m := f.msg("#go", "red on black, then bold")
	m.Spans = []core.Span{{Start: 0, End: 3, FG: "#ff0000", BG: "#000000"}, {Start: 19, End: 23, Style: core.Bold}}
	appendAll(t, s, m)
	got, err := s.Message(context.Background(), m.User, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Spans, m.Spans) {
		t.Errorf("spans came back as %+v, want %+v", got.Spans, m.Spans)
	}
}

// Every connection, the appender's included, checkpoints the write-ahead
// log in steps of walCheckpointPages, not SQLite's default 1,000 (see
// walCheckpointPages for what it is worth to ingest).
func TestConnectionsCheckpointInLargeSteps(t *testing.T) {
	s := openTest(t)
	for name, db := range map[string]*sql.DB{"appender": s.adb, "writer": s.wdb, "reader": s.rdb} {
		var pages int
		if err := db.QueryRow("PRAGMA wal_autocheckpoint").Scan(&pages); err != nil || pages != walCheckpointPages {
			t.Errorf("%s connection: wal_autocheckpoint %d, %v; want %d", name, pages, err, walCheckpointPages)
		}
	}
}
