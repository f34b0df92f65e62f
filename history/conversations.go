package history

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/switchboard/switchboard/core"
)

const conversationColumns = "id, user_id, network_id, kind, remote, name, keep_forever, retention_ms, created_at"

func scanConversation(r scanner) (core.Conversation, error) {
	var (
		c                  core.Conversation
		retention, created int64
	)
	err := r.Scan(&c.ID, &c.User, &c.Network, &c.Kind, &c.Remote, &c.Name, &c.KeepForever, &retention, &created)
	c.Retention = time.Duration(retention) * time.Millisecond
	c.Created = timeOf(created)
	return c, err
}

// Conversations lists the user's conversations.
func (s *Store) Conversations(ctx context.Context, user core.UserID) ([]core.Conversation, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	rows, err := s.rdb.QueryContext(ctx,
		"SELECT "+conversationColumns+" FROM conversations WHERE user_id = ? ORDER BY id", user)
	if err != nil {
		return nil, fmt.Errorf("listing conversations: %w", err)
	}
	defer rows.Close()
	var out []core.Conversation
	for rows.Next() {
		c, err := scanConversation(rows)
		if err != nil {
			return nil, fmt.Errorf("listing conversations: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// Conversation returns one of the user's conversations.
func (s *Store) Conversation(ctx context.Context, user core.UserID, id core.ConversationID) (core.Conversation, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	c, err := scanConversation(s.rdb.QueryRowContext(ctx,
		"SELECT "+conversationColumns+" FROM conversations WHERE id = ? AND user_id = ?", id, user))
	if errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("conversation %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return c, fmt.Errorf("reading conversation %d: %w", id, err)
	}
	return c, nil
}

// SetConversationRetention sets how long a conversation's messages are
// kept (zero: the user's retention) and whether they are kept forever.
func (s *Store) SetConversationRetention(ctx context.Context, user core.UserID, id core.ConversationID, retention time.Duration, keepForever bool) error {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	res, err := s.wdb.ExecContext(ctx,
		"UPDATE conversations SET retention_ms = ?, keep_forever = ? WHERE id = ? AND user_id = ?",
		retention.Milliseconds(), keepForever, id, user)
	return expectOne(res, err, fmt.Sprintf("conversation %d", id))
}

// expectOne turns an update that touched no row into ErrNotFound.
func expectOne(res sql.Result, err error, what string) error {
	if err != nil {
		return fmt.Errorf("updating %s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("updating %s: %w", what, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return nil
}
