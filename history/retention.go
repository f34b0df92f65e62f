package history

import (
	"context"
	"fmt"
	"time"

	"github.com/switchboard/switchboard/core"
)

// pruneBatch bounds each delete transaction so pruning a large history
// never holds the write lock for long.
const pruneBatch = 5000

// Prune deletes messages older than their retention: the conversation's
// own, else its user's, else defaultRetention (zero keeps them). Kept-forever
// conversations are skipped. It returns how many messages it deleted.
// Age is archive age (the message id's time), which an index covers.
func (s *Store) Prune(ctx context.Context, defaultRetention time.Duration) (int64, error) {
	type target struct {
		conv   core.ConversationID
		cutoff core.MessageID
	}
	qctx, cancel := s.timeout(ctx)
	rows, err := s.rdb.QueryContext(qctx, `
		SELECT c.id, CASE WHEN c.retention_ms > 0 THEN c.retention_ms
		                  WHEN u.retention_ms > 0 THEN u.retention_ms
		                  ELSE ? END
		FROM conversations c JOIN users u ON u.id = c.user_id
		WHERE c.keep_forever = 0`, defaultRetention.Milliseconds())
	if err != nil {
		cancel()
		return 0, fmt.Errorf("pruning: %w", err)
	}
	now := s.now()
	var targets []target
	for rows.Next() {
		var (
			t  target
			ms int64
		)
		if err := rows.Scan(&t.conv, &ms); err != nil {
			rows.Close()
			cancel()
			return 0, fmt.Errorf("pruning: %w", err)
		}
		if ms > 0 {
			t.cutoff = core.MessageIDAt(now.Add(-time.Duration(ms) * time.Millisecond))
			targets = append(targets, t)
		}
	}
	rows.Close()
	cancel()
	var total int64
	for _, t := range targets {
		for {
			n, err := s.pruneSome(ctx, t.conv, t.cutoff)
			if err != nil {
				return total, err
			}
			total += n
			if n < pruneBatch {
				break
			}
		}
	}
	return total, nil
}

// pruneSQL deletes the oldest ?3 messages of conversation ?1 older than
// id ?2, as one range of the table's key (conversation_id, id): every
// message up to the newest of them. (An "id IN (the oldest ?3)" found
// each row through messages_id first.)
const pruneSQL = `DELETE FROM messages WHERE conversation_id = ?1 AND id <= (
	SELECT max(id) FROM (SELECT id FROM messages WHERE conversation_id = ?1 AND id < ?2 ORDER BY id LIMIT ?3))`

func (s *Store) pruneSome(ctx context.Context, conv core.ConversationID, cutoff core.MessageID) (int64, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	res, err := s.wdb.ExecContext(ctx, pruneSQL,
		conv, cutoff, pruneBatch)
	if err != nil {
		return 0, fmt.Errorf("pruning conversation %d: %w", conv, err)
	}
	return res.RowsAffected()
}
