package history

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/switchboard/switchboard/core"
)

// Idempotency returns the user's record for key.
func (s *Store) Idempotency(ctx context.Context, user core.UserID, key string) (core.IdempotencyRecord, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	r := core.IdempotencyRecord{User: user, Key: key}
	var created int64
	err := s.rdb.QueryRowContext(ctx,
		"SELECT fingerprint, message_id, created_at FROM idempotency WHERE user_id = ? AND key = ?", user, key).
		Scan(&r.Fingerprint, &r.Message, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("idempotency key: %w", ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("reading idempotency key: %w", err)
	}
	r.Created = timeOf(created)
	return r, nil
}

// PutIdempotency stores r unless the user has a record for its key already,
// and returns the record that is stored: r, or the earlier one.
func (s *Store) PutIdempotency(ctx context.Context, r core.IdempotencyRecord) (core.IdempotencyRecord, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	if r.Created.IsZero() {
		r.Created = s.now()
	}
	// The user must exist: the foreign key refuses the row otherwise.
	_, err := s.wdb.ExecContext(ctx, `INSERT INTO idempotency (user_id, key, fingerprint, message_id, created_at)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (user_id, key) DO NOTHING`,
		r.User, r.Key, r.Fingerprint, r.Message, msOf(r.Created))
	if err != nil {
		return r, fmt.Errorf("storing idempotency key: %w", err)
	}
	return s.Idempotency(ctx, r.User, r.Key)
}

// PruneIdempotency deletes records created before t.
func (s *Store) PruneIdempotency(ctx context.Context, t time.Time) (int64, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	res, err := s.wdb.ExecContext(ctx, "DELETE FROM idempotency WHERE created_at < ?", msOf(t))
	if err != nil {
		return 0, fmt.Errorf("pruning idempotency keys: %w", err)
	}
	return res.RowsAffected()
}

var _ core.IdempotencyStore = (*Store)(nil)
