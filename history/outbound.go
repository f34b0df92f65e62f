package history

import (
	"context"
	"fmt"
	"time"

	"github.com/switchboard/switchboard/core"
)

// PendingOutbound lists a network's waiting messages, oldest first.
func (s *Store) PendingOutbound(ctx context.Context, network core.NetworkID, limit int) ([]core.OutboundItem, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+messageColumns+`, o.id, o.attempts, o.next_attempt_at, o.last_error
		FROM outbound o
		JOIN messages m ON m.id = o.message_id
		JOIN conversations c ON c.id = m.conversation_id
		WHERE o.network_id = ? AND o.failed = 0 ORDER BY o.id LIMIT ?`, network, limit)
	if err != nil {
		return nil, fmt.Errorf("reading outbound queue: %w", err)
	}
	defer rows.Close()
	var out []core.OutboundItem
	for rows.Next() {
		var (
			it   core.OutboundItem
			next int64
		)
		it.Message, err = scanMessage(rows, &it.ID, &it.Attempts, &next, &it.LastError)
		if err != nil {
			return nil, fmt.Errorf("reading outbound queue: %w", err)
		}
		it.NextAttempt = timeOf(next)
		out = append(out, it)
	}
	return out, rows.Err()
}

// CompleteOutbound removes a sent item and records the network's id of the
// message, so that the network's echo of it is recognised as a duplicate.
func (s *Store) CompleteOutbound(ctx context.Context, item int64, originID string) error {
	return s.CompleteOutboundBatch(ctx, []int64{item}, []string{originID})
}

// CompleteOutboundBatch is CompleteOutbound for many items in one
// transaction. If an echo was stored before the send returned, its id is
// taken (UPDATE OR IGNORE) and the echo stays as the copy with it.
func (s *Store) CompleteOutboundBatch(ctx context.Context, items []int64, originIDs []string) error {
	if len(items) != len(originIDs) {
		return fmt.Errorf("completing outbound items: %d items, %d origin ids", len(items), len(originIDs))
	}
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("completing %d outbound items: %w", len(items), err)
	}
	defer tx.Rollback()
	for i, item := range items {
		if originIDs[i] != "" {
			_, err = tx.ExecContext(ctx, `UPDATE OR IGNORE messages SET origin_id = ?
				WHERE id = (SELECT message_id FROM outbound WHERE id = ?) AND origin_id IS NULL`, originIDs[i], item)
			if err != nil {
				return fmt.Errorf("recording origin id: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM outbound WHERE id = ?", item); err != nil {
			return fmt.Errorf("completing outbound item %d: %w", item, err)
		}
	}
	return tx.Commit()
}

// RetryOutbound records a failed attempt and when to try again.
func (s *Store) RetryOutbound(ctx context.Context, item int64, next time.Time, cause string) error {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	res, err := s.wdb.ExecContext(ctx,
		"UPDATE outbound SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE id = ?",
		msOf(next), cause, item)
	return expectOne(res, err, fmt.Sprintf("outbound item %d", item))
}

// FailOutbound gives up on an item; it stays in the table, marked failed,
// so the failure can be shown and the message sent again by hand.
func (s *Store) FailOutbound(ctx context.Context, item int64, cause string) error {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	res, err := s.wdb.ExecContext(ctx,
		"UPDATE outbound SET attempts = attempts + 1, failed = 1, last_error = ? WHERE id = ?", cause, item)
	return expectOne(res, err, fmt.Sprintf("outbound item %d", item))
}
