package history

import (
	"context"
	"fmt"

	"github.com/switchboard/switchboard/core"
)

// SetReadMarker moves a read position forward; see core.MessageStore.
func (s *Store) SetReadMarker(ctx context.Context, m core.ReadMarker) (bool, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	// The SELECT yields no row for another user's conversation, and the
	// upsert's WHERE leaves a position that is already further alone.
	res, err := s.wdb.ExecContext(ctx, `
		INSERT INTO read_markers (conversation_id, device, message_id, updated_at)
		SELECT id, ?, ?, ? FROM conversations WHERE id = ? AND user_id = ?
		ON CONFLICT (conversation_id, device) DO UPDATE
			SET message_id = excluded.message_id, updated_at = excluded.updated_at
			WHERE excluded.message_id > read_markers.message_id`,
		m.Device, m.Upto, msOf(m.At), m.Conversation, m.User)
	if err != nil {
		return false, fmt.Errorf("setting read marker: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("setting read marker: %w", err)
	}
	if n == 0 {
		if _, err := s.Conversation(ctx, m.User, m.Conversation); err != nil {
			return false, err
		}
	}
	return n > 0, nil
}

// ReadMarkers returns the read positions of one of the user's
// conversations, the user's own (Device "") among them.
func (s *Store) ReadMarkers(ctx context.Context, user core.UserID, conv core.ConversationID) ([]core.ReadMarker, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	rows, err := s.rdb.QueryContext(ctx, `
		SELECT r.device, r.message_id, r.updated_at FROM read_markers r
		JOIN conversations c ON c.id = r.conversation_id
		WHERE r.conversation_id = ? AND c.user_id = ? ORDER BY r.device`, conv, user)
	if err != nil {
		return nil, fmt.Errorf("reading read markers: %w", err)
	}
	defer rows.Close()
	var out []core.ReadMarker
	for rows.Next() {
		m := core.ReadMarker{User: user, Conversation: conv}
		var at int64
		if err := rows.Scan(&m.Device, &m.Upto, &at); err != nil {
			return nil, fmt.Errorf("reading read markers: %w", err)
		}
		m.At = timeOf(at)
		out = append(out, m)
	}
	return out, rows.Err()
}
