package history

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/switchboard/switchboard/core"
)

// ConversationSummaries lists the user's conversations with their newest
// message, the user's read position and the unread count, newest activity
// first. Two queries whatever the number of conversations.
func (s *Store) ConversationSummaries(ctx context.Context, user core.UserID) ([]core.ConversationSummary, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	// Unread: incoming chat, action and notice messages after the user's
	// own marker, counted through messages_conversation and capped so a
	// huge backlog costs a bounded range scan.
	rows, err := s.rdb.QueryContext(ctx, `
		SELECT `+conversationColumns+`,
			coalesce((SELECT max(m.id) FROM messages m WHERE m.conversation_id = c.id), 0),
			coalesce(r.message_id, 0),
			(SELECT count(*) FROM (SELECT 1 FROM messages m
				WHERE m.conversation_id = c.id AND m.id > coalesce(r.message_id, 0)
				AND m.direction = 0 AND m.kind IN ('chat', 'action', 'notice') LIMIT ?))
		FROM conversations c
		LEFT JOIN read_markers r ON r.conversation_id = c.id AND r.device = ''
		WHERE c.user_id = ?`, core.MaxUnreadCount, user)
	if err != nil {
		return nil, fmt.Errorf("listing conversations: %w", err)
	}
	var (
		out  []core.ConversationSummary
		last []core.MessageID
	)
	for rows.Next() {
		var (
			sum core.ConversationSummary
			id  core.MessageID
		)
		var (
			retention, created int64
			c                  = &sum.Conversation
		)
		if err := rows.Scan(&c.ID, &c.User, &c.Network, &c.Kind, &c.Remote, &c.Name, &c.KeepForever, &retention, &created,
			&id, &sum.ReadUpto, &sum.Unread); err != nil {
			rows.Close()
			return nil, fmt.Errorf("listing conversations: %w", err)
		}
		c.Retention = time.Duration(retention) * time.Millisecond
		c.Created = timeOf(created)
		out = append(out, sum)
		last = append(last, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing conversations: %w", err)
	}
	byID, err := s.messagesByID(ctx, user, last)
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].Last = byID[last[i]]
	}
	// Newest activity first; a conversation without messages by creation.
	activity := func(c core.ConversationSummary) int64 {
		if c.Last != nil {
			return int64(c.Last.ID)
		}
		return int64(core.MessageIDAt(c.Created))
	}
	slices.SortStableFunc(out, func(a, b core.ConversationSummary) int { return cmp.Compare(activity(b), activity(a)) })
	return out, nil
}

// messagesByID reads the user's messages with the given ids (zeros are
// skipped), in chunks that stay under SQLite's parameter limit.
func (s *Store) messagesByID(ctx context.Context, user core.UserID, ids []core.MessageID) (map[core.MessageID]*core.Message, error) {
	out := make(map[core.MessageID]*core.Message, len(ids))
	var want []any
	for _, id := range ids {
		if id != 0 {
			want = append(want, id)
		}
	}
	const chunk = 500
	for len(want) > 0 {
		n := min(chunk, len(want))
		args := append([]any{user}, want[:n]...)
		want = want[n:]
		rows, err := s.rdb.QueryContext(ctx, `SELECT `+messageColumns+`
			FROM messages m JOIN conversations c ON c.id = m.conversation_id
			WHERE m.user_id = ? AND m.id IN (?`+strings.Repeat(", ?", n-1)+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("reading messages: %w", err)
		}
		ms, err := collectMessages(rows)
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			out[m.ID] = m
		}
	}
	return out, nil
}

// ReadMarkersSince returns the user's read positions, of every device and
// conversation, that changed at or after t.
func (s *Store) ReadMarkersSince(ctx context.Context, user core.UserID, t time.Time) ([]core.ReadMarker, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	rows, err := s.rdb.QueryContext(ctx, `
		SELECT r.conversation_id, r.device, r.message_id, r.updated_at FROM read_markers r
		JOIN conversations c ON c.id = r.conversation_id
		WHERE c.user_id = ? AND r.updated_at >= ? ORDER BY r.updated_at`, user, msOf(t))
	if err != nil {
		return nil, fmt.Errorf("reading read markers: %w", err)
	}
	defer rows.Close()
	var out []core.ReadMarker
	for rows.Next() {
		m := core.ReadMarker{User: user}
		var at int64
		if err := rows.Scan(&m.Conversation, &m.Device, &m.Upto, &at); err != nil {
			return nil, fmt.Errorf("reading read markers: %w", err)
		}
		m.At = timeOf(at)
		out = append(out, m)
	}
	return out, rows.Err()
}
