package history

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/core"
)

// legacyV10 is a version-10 database, as the appender of that version
// left it: three conversations whose messages interleave in id order
// (alice's #go and #rust, bob's #go), every column used by some message,
// each message in the search index and in message_hours, and three of
// alice's messages waiting in the outbound queue.
func legacyV10(t *testing.T) (legacyDBFile, []int64) {
	t.Helper()
	db := legacyDB(t, 10)
	mustExec(t, db.DB, "INSERT INTO conversations (id, user_id, network_id, kind, remote, created_at) VALUES (3, 1, 1, 'room', '#rust', 0)")
	base := int64(core.MessageIDAt(time.Now().AddDate(0, 0, -1)))
	var ids []int64
	for i := 0; i < 60; i++ {
		conv := []int{1, 3, 2}[i%3]
		user := 1 // conversations 1 and 3 are alice's, 2 bob's
		if conv == 2 {
			user = 2
		}
		id := base + int64(i)<<16
		body := fmt.Sprintf("deploy number %d", i)
		var origin, spans, replyOrigin, attach any
		var replyID any
		if i%4 == 0 {
			origin = fmt.Sprintf("origin-%d", i)
		}
		if i%5 == 0 {
			spans = `[{"s":0,"e":6,"f":1}]`
			attach = `[{"url":"https://example.net/a.png","type":"image/png","size":12}]`
		}
		if i > 3 && i%7 == 0 {
			replyID, replyOrigin = ids[i-3], "reply-origin"
		}
		sent := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Hour).UnixMilli()
		mustExec(t, db.DB, `INSERT INTO messages (id, conversation_id, user_id, network_id, origin_id, direction,
				sender, sender_name, sent_at, kind, body, spans, reply_to_id, reply_to_origin, attachments)
			VALUES (?, ?, ?, ?, ?, ?, 'carol', 'Carol', ?, 'chat', ?, ?, ?, ?, ?)`,
			id, conv, user, user, origin, i%2, sent, body, spans, replyID, replyOrigin, attach)
		mustExec(t, db.DB, "INSERT INTO messages_fts (rowid, body, sender, scope) VALUES (?, ?, 'carol Carol', ?)",
			-id, body, fmt.Sprintf("u%d n%d c%d", user, user, conv))
		ids = append(ids, id)
	}
	mustExec(t, db.DB, `INSERT INTO message_hours (user_id, hour, min_id, max_id)
		SELECT user_id, sent_at / 3600000, min(id), max(id) FROM messages GROUP BY user_id, sent_at / 3600000`)
	for _, i := range []int{3, 9, 15} { // alice's #go
		mustExec(t, db.DB, "INSERT INTO outbound (network_id, message_id, created_at) VALUES (1, ?, 0)", ids[i])
	}
	return db, ids
}

// dumpMessages is every column of every message, in id order.
func dumpMessages(t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.Query(`SELECT id, conversation_id, user_id, network_id, origin_id, direction,
		sender, sender_name, sent_at, kind, body, spans, reply_to_id, reply_to_origin,
		correction_of_id, correction_of_origin, attachments FROM messages ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		cols := make([]any, 17)
		ptrs := make([]any, len(cols))
		for i := range cols {
			ptrs[i] = &cols[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%v", cols))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// A version-10 database upgrades to messages stored by conversation: every
// row keeps every column, the search index (keyed by the unchanged ids)
// passes FTS5's check without a rebuild, the outbound queue is not
// cascaded away by the drop of the old table, and everything that finds
// messages by id or by conversation still does, including foreign keys
// and the search index's triggers.
func TestOpenUpgradesMessagesToConversationOrder(t *testing.T) {
	ctx := context.Background()
	db, ids := legacyV10(t)
	before := dumpMessages(t, db.DB)
	db.Close()

	s := openUpgraded(t, db.path)
	if after := dumpMessages(t, s.rdb); !equal(after, before) {
		t.Fatalf("messages changed in the upgrade:\nbefore %v\nafter  %v", before, after)
	}
	var schema string
	if err := s.rdb.QueryRow("SELECT sql FROM sqlite_schema WHERE name = 'messages'").Scan(&schema); err != nil ||
		!strings.Contains(schema, "PRIMARY KEY (conversation_id, id)") || !strings.Contains(schema, "WITHOUT ROWID") {
		t.Fatalf("messages after the upgrade: %q, %v", schema, err)
	}
	var fk int
	if err := s.wdb.QueryRow("PRAGMA foreign_keys").Scan(&fk); err != nil || fk != 1 {
		t.Fatalf("foreign keys on the writer after the upgrade: %d, %v", fk, err)
	}

	// Paging by conversation, both ways, from a message of another one.
	page, err := s.Messages(ctx, core.PageQuery{User: 1, Conversation: 3, Before: core.MessageID(ids[30]), Limit: 3})
	if err != nil || !equal(bodies(page), []string{"deploy number 28", "deploy number 25", "deploy number 22"}) {
		t.Fatalf("newest first before an id: %v, %v", bodies(page), err)
	}
	page, err = s.Messages(ctx, core.PageQuery{User: 1, Conversation: 1, After: core.MessageID(ids[31]), Order: core.OldestFirst, Limit: 2})
	if err != nil || !equal(bodies(page), []string{"deploy number 33", "deploy number 36"}) {
		t.Fatalf("oldest first after an id: %v, %v", bodies(page), err)
	}
	if page, err = s.Messages(ctx, core.PageQuery{User: 2, Conversation: 1, Limit: 5}); err != nil || len(page) != 0 {
		t.Fatalf("bob paged alice's conversation: %v, %v", bodies(page), err)
	}
	if _, err := s.Message(ctx, 1, core.MessageID(ids[35])); !errors.Is(err, ErrNotFound) {
		t.Fatalf("alice read bob's message: %v", err)
	}
	m, err := s.Message(ctx, 2, core.MessageID(ids[35]))
	if err != nil || m.Body != "deploy number 35" || m.Conversation != 2 || len(m.Spans) != 1 || len(m.Attachments) != 1 ||
		m.ReplyTo.ID != core.MessageID(ids[32]) || m.Peer.Remote != "#go" {
		t.Fatalf("message by id: %+v, %v", m, err)
	}
	page, err = s.UserMessages(ctx, core.UserPageQuery{User: 2, Order: core.OldestFirst, Limit: 2})
	if err != nil || !equal(bodies(page), []string{"deploy number 2", "deploy number 5"}) {
		t.Fatalf("catch-up of an upgraded user: %v, %v", bodies(page), err)
	}

	// The outbound queue survived the drop of the old table.
	items, err := s.PendingOutbound(ctx, 1, 10)
	if err != nil || len(items) != 3 || items[0].Message.Body != "deploy number 3" || items[2].Message.Body != "deploy number 15" {
		t.Fatalf("outbound queue after the upgrade: %d items, %v", len(items), err)
	}

	// Search: across conversations, within one, and a new message joins.
	rs, err := s.Search(ctx, core.SearchQuery{User: 1, Text: "deploy", Limit: 3})
	if err != nil || !equal(resultBodies(rs), []string{"deploy number 58", "deploy number 57", "deploy number 55"}) {
		t.Fatalf("search after the upgrade: %v, %v", resultBodies(rs), err)
	}
	rs, err = s.Search(ctx, core.SearchQuery{User: 1, Conversation: 3, Text: "deploy", Limit: 2})
	if err != nil || !equal(resultBodies(rs), []string{"deploy number 58", "deploy number 55"}) {
		t.Fatalf("search in one conversation: %v, %v", resultBodies(rs), err)
	}
	f := fixture{user: core.User{ID: 1}, net: core.Network{ID: 1, User: 1}}
	ws := appendAll(t, s, f.msg("#rust", "deploy after the upgrade"))
	rs, err = s.Search(ctx, core.SearchQuery{User: 1, Conversation: 3, Text: "deploy", Limit: 2})
	if err != nil || !equal(resultBodies(rs), []string{"deploy after the upgrade", "deploy number 58"}) {
		t.Fatalf("a new message among upgraded ones: %v, %v", resultBodies(rs), err)
	}
	if ws[0].Message.Conversation != 3 {
		t.Fatalf("the new message went to conversation %d", ws[0].Message.Conversation)
	}

	// Deduplication by origin id finds upgraded rows.
	dup := f.msg("#go", "the same again")
	dup.OriginID = "origin-12"
	ws = appendAll(t, s, dup)
	if !ws[0].Duplicate || ws[0].Message.ID != core.MessageID(ids[12]) {
		t.Fatalf("a known origin id was stored again: %+v", ws[0])
	}

	// Deleting a conversation cascades into its messages, their search
	// entries and their outbound items; the others stay.
	mustExec(t, s.wdb, "DELETE FROM conversations WHERE id = 1")
	if items, err = s.PendingOutbound(ctx, 1, 10); err != nil || len(items) != 0 {
		t.Fatalf("outbound items of a deleted conversation: %d, %v", len(items), err)
	}
	rs, err = s.Search(ctx, core.SearchQuery{User: 1, Text: "deploy", Limit: 2})
	if err != nil || !equal(resultBodies(rs), []string{"deploy after the upgrade", "deploy number 58"}) {
		t.Fatalf("search after deleting a conversation: %v, %v", resultBodies(rs), err)
	}
	if n, err := s.CountMessages(ctx, 1); err != nil || n != 21 {
		t.Fatalf("alice has %d messages, want #rust's 20 and the new one: %v", n, err)
	}
	if err := s.IntegrityCheck(ctx); err != nil {
		t.Fatalf("after appending and deleting: %v", err)
	}
}

// The upgrade checks foreign keys before it commits: a queue item whose
// message is missing (written with foreign keys off) fails the upgrade,
// which leaves the database as it was.
func TestUpgradeRefusesBrokenForeignKeys(t *testing.T) {
	db, _ := legacyV10(t)
	mustExec(t, db.DB, "PRAGMA foreign_keys = OFF")
	mustExec(t, db.DB, "INSERT INTO outbound (network_id, message_id, created_at) VALUES (1, 12345, 0)")
	db.Close()

	s, err := Open(context.Background(), db.path, Options{Log: quietLog})
	if err == nil {
		s.Close()
		t.Fatal("the upgrade went through with an outbound item of a missing message")
	}
	if !strings.Contains(err.Error(), "outbound") || !strings.Contains(err.Error(), "messages") {
		t.Fatalf("the error does not name the broken reference: %v", err)
	}
	again, err := openDB(db.path, true, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	var version int
	var schema string
	if err := again.QueryRow("PRAGMA user_version").Scan(&version); err != nil || version != 10 {
		t.Fatalf("schema version after a failed upgrade: %d, %v", version, err)
	}
	if err := again.QueryRow("SELECT sql FROM sqlite_schema WHERE name = 'messages'").Scan(&schema); err != nil || strings.Contains(schema, "WITHOUT ROWID") {
		t.Fatalf("messages after a failed upgrade: %q, %v", schema, err)
	}
}

// The reads that must not get slower as the history grows use the key
// or index meant for them: a conversation's page is a range of the
// table's own key, read in order (no sort), and a lookup by id, by the
// search index's negated id or for a user's catch-up uses its index.
func TestMessageQueriesUseTheirKeys(t *testing.T) {
	s := openTest(t)
	cases := []struct {
		name, query string
		want        string
	}{
		{"conversation page, newest first", pageSQL("", conversationScope, true, false, core.NewestFirst),
			"USING PRIMARY KEY (conversation_id=? AND id<?)"},
		{"conversation page, oldest first", pageSQL("", conversationScope, false, true, core.OldestFirst),
			"USING PRIMARY KEY (conversation_id=? AND id>?)"},
		{"user page", pageSQL("messages_user", userScope, true, true, core.NewestFirst),
			"USING INDEX messages_user (user_id=? AND id>? AND id<?)"},
		{"message by id", `SELECT ` + messageColumns + ` FROM messages m JOIN conversations c ON c.id = m.conversation_id
			WHERE m.id = ? AND m.user_id = ?`, "(user_id=? AND id=?)"},
		{"search index content", "SELECT T.body FROM messages_fts_content T WHERE T.fts_rowid = ?",
			"USING INDEX messages_fts_key (<expr>=?)"},
		{"origin dedup", findOriginSQL, "INDEX messages_origin (conversation_id=? AND origin_id=?)"},
		{"outbound join", "SELECT m.body FROM outbound o JOIN messages m ON m.id = o.message_id WHERE o.id = ?",
			"USING INDEX messages_id (id=?)"},
		{"retention", pruneSQL, "SEARCH messages USING PRIMARY KEY (conversation_id=? AND id<?)"},
	}
	for _, c := range cases {
		args := make([]any, strings.Count(c.query, "?"))
		if c.query == pruneSQL {
			args = args[:3] // ?1 ?2 ?3, one of them twice
		}
		rows, err := s.wdb.Query("EXPLAIN QUERY PLAN "+c.query, args...)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		text := strings.Join(plan, "; ")
		if !strings.Contains(text, c.want) || strings.Contains(text, "TEMP B-TREE") {
			t.Errorf("%s: plan %q, want %q and no sort", c.name, text, c.want)
		}
	}
}
