package history

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/switchboard/switchboard/core"
)

// spanJSON and attachmentJSON are the stored JSON forms; they are kept
// apart from core's types so that renaming a Go field never changes data
// already on disk.
type spanJSON struct {
	Start int        `json:"s"`
	End   int        `json:"e"`
	Style core.Style `json:"f"`
	FG    string     `json:"fg,omitempty"`
	BG    string     `json:"bg,omitempty"`
}

type attachmentJSON struct {
	URL       string `json:"url"`
	Name      string `json:"name,omitempty"`
	MediaType string `json:"type,omitempty"`
	Size      int64  `json:"size,omitempty"`
}

func spansJSON(in []core.Span) []spanJSON {
	out := make([]spanJSON, len(in))
	for i, s := range in {
		out[i] = spanJSON{s.Start, s.End, s.Style, s.FG, s.BG}
	}
	return out
}

func attachmentsJSON(in []core.Attachment) []attachmentJSON {
	out := make([]attachmentJSON, len(in))
	for i, a := range in {
		out[i] = attachmentJSON(a)
	}
	return out
}

// messageColumns is the select list scanMessage reads, for a query whose
// messages table is named m and joined with its conversation c.
const messageColumns = `m.id, m.conversation_id, m.user_id, m.network_id, c.kind, c.remote,
	m.origin_id, m.direction, m.sender, m.sender_name, m.sent_at, m.kind, m.body, m.spans,
	m.reply_to_id, m.reply_to_origin, m.correction_of_id, m.correction_of_origin, m.attachments`

type scanner interface{ Scan(dest ...any) error }

// messageScan holds the destinations of messageColumns (and of any extra
// columns after them), reused for every row of a query: allocating them
// per row was most of what a page of 50 messages allocated (about 1 KB a
// message), and the garbage collections it caused were a visible part of
// paging's p99.
type messageScan struct {
	m                                    core.Message
	origin, spans, replyO, corrO, attach sql.NullString
	replyID, corrID                      sql.NullInt64
	sentAt                               int64
	kind                                 string
	dest                                 []any
}

func newMessageScan(extra ...any) *messageScan {
	sc := &messageScan{}
	m := &sc.m
	sc.dest = append([]any{&m.ID, &m.Conversation, &m.User, &m.Network, &m.Peer.Kind, &m.Peer.Remote,
		&sc.origin, &m.Direction, &m.Sender.Addr, &m.Sender.Name, &sc.sentAt, &sc.kind, &m.Body, &sc.spans,
		&sc.replyID, &sc.replyO, &sc.corrID, &sc.corrO, &sc.attach}, extra...)
	return sc
}

// scan reads one row into out.
func (sc *messageScan) scan(r scanner, out *core.Message) error {
	sc.m = core.Message{}
	if err := r.Scan(sc.dest...); err != nil {
		return err
	}
	m := &sc.m
	m.OriginID = sc.origin.String
	m.Time = timeOf(sc.sentAt)
	m.Kind = core.MessageKind(sc.kind)
	m.ReplyTo = core.MessageRef{ID: core.MessageID(sc.replyID.Int64), OriginID: sc.replyO.String}
	m.CorrectionOf = core.MessageRef{ID: core.MessageID(sc.corrID.Int64), OriginID: sc.corrO.String}
	if sc.spans.Valid {
		var js []spanJSON
		if err := json.Unmarshal([]byte(sc.spans.String), &js); err != nil {
			return fmt.Errorf("message %s: decoding spans: %w", m.ID, err)
		}
		for _, s := range js {
			m.Spans = append(m.Spans, core.Span{Start: s.Start, End: s.End, Style: s.Style, FG: s.FG, BG: s.BG})
		}
	}
	if sc.attach.Valid {
		var js []attachmentJSON
		if err := json.Unmarshal([]byte(sc.attach.String), &js); err != nil {
			return fmt.Errorf("message %s: decoding attachments: %w", m.ID, err)
		}
		for _, a := range js {
			m.Attachments = append(m.Attachments, core.Attachment(a))
		}
	}
	*out = *m
	return nil
}

// scanMessage reads one row of messageColumns, then extra.
func scanMessage(r scanner, extra ...any) (*core.Message, error) {
	m := new(core.Message)
	if err := newMessageScan(extra...).scan(r, m); err != nil {
		return nil, err
	}
	return m, nil
}

// The scopes of a conversation's page and of a user's, for page.
const (
	conversationScope = "m.conversation_id = ? AND m.user_id = ?"
	userScope         = "m.user_id = ?"
)

// Messages returns a page of one of the user's conversations.
func (s *Store) Messages(ctx context.Context, q core.PageQuery) ([]*core.Message, error) {
	// No index: messages is keyed by (conversation_id, id) (migration
	// 11), so a page is one range of the table itself, on a few
	// neighbouring pages, instead of a row lookup per message.
	msgs, err := s.page(ctx, "", conversationScope,
		[]any{q.Conversation, q.User}, q.Before, q.After, q.Order, q.Limit)
	if err != nil {
		return nil, fmt.Errorf("reading messages: %w", err)
	}
	return msgs, nil
}

// page reads one page of messages in scope (a WHERE clause and its
// arguments) through index (none: the table's own key), between before
// and after, in order.
func (s *Store) page(ctx context.Context, index, scope string, args []any, before, after core.MessageID, o core.Order, limit int) ([]*core.Message, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	if before != 0 {
		args = append(args, before)
	}
	if after != 0 {
		args = append(args, after)
	}
	args = append(args, pageLimit(limit))
	rows, err := s.rq.query(ctx, pageSQL(index, scope, before != 0, after != 0, o), args...)
	if err != nil {
		return nil, err
	}
	return collectMessages(rows)
}

// pageSQL is page's query; its arguments are scope's, then before and
// after if bounded, then the limit.
func pageSQL(index, scope string, before, after bool, o core.Order) string {
	where := scope
	if before {
		where += " AND m.id < ?"
	}
	if after {
		where += " AND m.id > ?"
	}
	order := "DESC"
	if o == core.OldestFirst {
		order = "ASC"
	}
	hint := ""
	if index != "" {
		hint = "INDEXED BY " + index
	}
	return `SELECT ` + messageColumns + `
		FROM messages m ` + hint + `
		JOIN conversations c ON c.id = m.conversation_id
		WHERE ` + where + ` ORDER BY m.id ` + order + ` LIMIT ?`
}

func collectMessages(rows *sql.Rows) ([]*core.Message, error) {
	defer rows.Close()
	var (
		out   []*core.Message
		block []core.Message // messages allocated a page at a time
		sc    = newMessageScan()
	)
	for rows.Next() {
		if len(block) == 0 {
			block = make([]core.Message, 64)
		}
		m := &block[0]
		block = block[1:]
		if err := sc.scan(rows, m); err != nil {
			return nil, fmt.Errorf("reading messages: %w", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading messages: %w", err)
	}
	return out, nil
}

func pageLimit(n int) int {
	switch {
	case n <= 0:
		return 50
	case n > core.MaxPageLimit:
		return core.MaxPageLimit
	}
	return n
}

// UserMessages returns a page of all of the user's conversations by
// message id, for a device catching up; see core.MessageReader. It reads
// the messages_user index, so a page costs the same at any history size.
func (s *Store) UserMessages(ctx context.Context, q core.UserPageQuery) ([]*core.Message, error) {
	if q.User == 0 {
		return nil, errors.New("reading messages: no user")
	}
	msgs, err := s.page(ctx, "messages_user", userScope, []any{q.User}, q.Before, q.After, q.Order, q.Limit)
	if err != nil {
		return nil, fmt.Errorf("reading messages of user %d: %w", q.User, err)
	}
	return msgs, nil
}

// Message returns one of the user's messages by id.
func (s *Store) Message(ctx context.Context, user core.UserID, id core.MessageID) (*core.Message, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	row := s.rq.queryRow(ctx, `SELECT `+messageColumns+`
		FROM messages m JOIN conversations c ON c.id = m.conversation_id
		WHERE m.id = ? AND m.user_id = ?`, id, user)
	m, err := scanMessage(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("message %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading message %s: %w", id, err)
	}
	return m, nil
}

// EachMessage calls fn with every message of user in id order, reading in
// pages so that a history of any size streams in bounded memory.
func (s *Store) EachMessage(ctx context.Context, user core.UserID, fn func(*core.Message) error) error {
	var after core.MessageID
	for {
		qctx, cancel := s.timeout(ctx)
		rows, err := s.rq.query(qctx, `SELECT `+messageColumns+`
			FROM messages m INDEXED BY messages_user
			JOIN conversations c ON c.id = m.conversation_id
			WHERE m.user_id = ? AND m.id > ? ORDER BY m.id LIMIT 1000`, user, after)
		if err != nil {
			cancel()
			return fmt.Errorf("reading messages: %w", err)
		}
		page, err := collectMessages(rows)
		cancel()
		if err != nil {
			return err
		}
		for _, m := range page {
			if err := fn(m); err != nil {
				return err
			}
		}
		if len(page) < 1000 {
			return nil
		}
		after = page[len(page)-1].ID
	}
}

// CountMessages returns how many messages user has.
func (s *Store) CountMessages(ctx context.Context, user core.UserID) (int64, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	var n int64
	err := s.rq.queryRow(ctx,
		"SELECT count(*) FROM messages INDEXED BY messages_user WHERE user_id = ?", user).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("counting messages: %w", err)
	}
	return n, nil
}
