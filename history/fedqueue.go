package history

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/switchboard/switchboard/core"
)

// EnqueueFed adds federation events to their peers' queues in one
// transaction; an event id a peer's queue already holds adds nothing, so
// a send retried after a crash is queued once.
func (s *Store) EnqueueFed(ctx context.Context, qs []core.FedQueued) (int, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("queueing federation events: %w", err)
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, `INSERT OR IGNORE INTO fed_outbound
		(peer, event_id, user_id, message_id, payload, created_at) VALUES (?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return 0, fmt.Errorf("queueing federation events: %w", err)
	}
	defer stmt.Close()
	added := 0
	for _, q := range qs {
		created := q.Created
		if created.IsZero() {
			created = s.now()
		}
		res, err := stmt.ExecContext(ctx, q.Peer, q.EventID, q.User, q.Message, q.Payload, msOf(created))
		if err != nil {
			return 0, fmt.Errorf("queueing event %s for %s: %w", q.EventID, q.Peer, err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			added++
		}
	}
	return added, tx.Commit()
}

// PendingFed lists a peer's waiting events, oldest first.
func (s *Store) PendingFed(ctx context.Context, peer string, limit int) ([]core.FedQueued, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	rows, err := s.rdb.QueryContext(ctx, `SELECT id, peer, event_id, user_id, message_id, payload, created_at,
		attempts, next_attempt_at, last_error FROM fed_outbound
		WHERE peer = ? AND failed = 0 ORDER BY id LIMIT ?`, peer, limit)
	if err != nil {
		return nil, fmt.Errorf("reading the queue for %s: %w", peer, err)
	}
	defer rows.Close()
	var out []core.FedQueued
	for rows.Next() {
		var (
			q             core.FedQueued
			created, next int64
		)
		if err := rows.Scan(&q.ID, &q.Peer, &q.EventID, &q.User, &q.Message, &q.Payload, &created,
			&q.Attempts, &next, &q.LastError); err != nil {
			return nil, fmt.Errorf("reading the queue for %s: %w", peer, err)
		}
		q.Created, q.NextAttempt = timeOf(created), timeOf(next)
		out = append(out, q)
	}
	return out, rows.Err()
}

// FedPeersPending lists the peers with waiting events.
func (s *Store) FedPeersPending(ctx context.Context) ([]string, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	rows, err := s.rdb.QueryContext(ctx, "SELECT DISTINCT peer FROM fed_outbound WHERE failed = 0 ORDER BY peer")
	if err != nil {
		return nil, fmt.Errorf("listing federation peers: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// CompleteFed removes delivered events.
func (s *Store) CompleteFed(ctx context.Context, ids []int64) error {
	return s.updateFed(ctx, ids, "DELETE FROM fed_outbound WHERE id IN (%s)")
}

// RetryFed records a failed attempt and when to try again.
func (s *Store) RetryFed(ctx context.Context, ids []int64, next time.Time, cause string) error {
	return s.updateFed(ctx, ids,
		"UPDATE fed_outbound SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE id IN (%s)",
		msOf(next), cause)
}

// FailFed gives up on events; they stay, marked failed.
func (s *Store) FailFed(ctx context.Context, ids []int64, cause string) error {
	return s.updateFed(ctx, ids,
		"UPDATE fed_outbound SET attempts = attempts + 1, failed = 1, last_error = ? WHERE id IN (%s)", cause)
}

// CountFed counts user's waiting events for peer.
func (s *Store) CountFed(ctx context.Context, peer string, user core.UserID) (int, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	var n int
	err := s.rdb.QueryRowContext(ctx, "SELECT count(*) FROM fed_outbound WHERE peer = ? AND failed = 0 AND user_id = ?",
		peer, user).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("counting the events of user %d for %s: %w", user, peer, err)
	}
	return n, nil
}

// PurgeFailedFed deletes failed events created before before.
func (s *Store) PurgeFailedFed(ctx context.Context, before time.Time) (int, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	res, err := s.wdb.ExecContext(ctx, "DELETE FROM fed_outbound WHERE failed = 1 AND created_at < ?", msOf(before))
	if err != nil {
		return 0, fmt.Errorf("purging failed federation events: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// updateFed runs query, whose %s takes the placeholders of ids, in one
// transaction.
func (s *Store) updateFed(ctx context.Context, ids []int64, query string, args ...any) error {
	if len(ids) == 0 {
		return nil
	}
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	marks := strings.TrimSuffix(strings.Repeat("?,", len(ids)), ",")
	for _, id := range ids {
		args = append(args, id)
	}
	if _, err := s.wdb.ExecContext(ctx, fmt.Sprintf(query, marks), args...); err != nil {
		return fmt.Errorf("updating %d queued federation events: %w", len(ids), err)
	}
	return nil
}
