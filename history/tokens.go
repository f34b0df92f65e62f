package history

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/switchboard/switchboard/core"
)

const tokenColumns = "id, user_id, hash, name, created_at, expires_at, last_used_at"

func scanToken(r scanner) (core.AccessToken, error) {
	var (
		t                      core.AccessToken
		created, expires, used int64
	)
	err := r.Scan(&t.ID, &t.User, &t.Hash, &t.Name, &created, &expires, &used)
	t.Created, t.Expires, t.LastUsed = timeOf(created), timeOf(expires), timeOf(used)
	return t, err
}

// CreateToken stores a token of the HTTP API; ID and Created are filled in.
func (s *Store) CreateToken(ctx context.Context, t core.AccessToken) (core.AccessToken, error) {
	if len(t.Hash) == 0 || t.Expires.IsZero() {
		return t, errors.New("creating token: no hash or no expiry")
	}
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	now := s.now()
	err := s.wdb.QueryRowContext(ctx, `
		INSERT INTO api_tokens (user_id, hash, name, created_at, expires_at)
		SELECT id, ?, ?, ?, ? FROM users WHERE id = ? RETURNING id`,
		t.Hash, t.Name, msOf(now), msOf(t.Expires), t.User).Scan(&t.ID)
	if errors.Is(err, sql.ErrNoRows) {
		return t, fmt.Errorf("user %d: %w", t.User, ErrNotFound)
	}
	if err != nil {
		return t, fmt.Errorf("creating token: %w", err)
	}
	t.Created = timeOf(msOf(now))
	t.Expires = timeOf(msOf(t.Expires))
	return t, nil
}

// TokenByHash returns the token whose secret hashes to hash, expired or not.
func (s *Store) TokenByHash(ctx context.Context, hash []byte) (core.AccessToken, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	t, err := scanToken(s.rdb.QueryRowContext(ctx, "SELECT "+tokenColumns+" FROM api_tokens WHERE hash = ?", hash))
	if errors.Is(err, sql.ErrNoRows) {
		return t, fmt.Errorf("token: %w", ErrNotFound)
	}
	if err != nil {
		return t, fmt.Errorf("reading token: %w", err)
	}
	return t, nil
}

// Tokens lists the user's tokens, oldest first.
func (s *Store) Tokens(ctx context.Context, user core.UserID) ([]core.AccessToken, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	rows, err := s.rdb.QueryContext(ctx, "SELECT "+tokenColumns+" FROM api_tokens WHERE user_id = ? ORDER BY id", user)
	if err != nil {
		return nil, fmt.Errorf("listing tokens: %w", err)
	}
	defer rows.Close()
	var out []core.AccessToken
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("listing tokens: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// DeleteToken revokes one of the user's tokens.
func (s *Store) DeleteToken(ctx context.Context, user core.UserID, id int64) error {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	res, err := s.wdb.ExecContext(ctx, "DELETE FROM api_tokens WHERE id = ? AND user_id = ?", id, user)
	return expectOne(res, err, fmt.Sprintf("token %d", id))
}

// TouchToken records when a token was last used.
func (s *Store) TouchToken(ctx context.Context, id int64, at time.Time) error {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	// A token revoked meanwhile is no error: there is nothing to touch.
	if _, err := s.wdb.ExecContext(ctx, "UPDATE api_tokens SET last_used_at = ? WHERE id = ?", msOf(at), id); err != nil {
		return fmt.Errorf("touching token %d: %w", id, err)
	}
	return nil
}

// PruneTokens deletes tokens that expired before t.
func (s *Store) PruneTokens(ctx context.Context, t time.Time) (int64, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	res, err := s.wdb.ExecContext(ctx, "DELETE FROM api_tokens WHERE expires_at < ?", msOf(t))
	if err != nil {
		return 0, fmt.Errorf("pruning tokens: %w", err)
	}
	return res.RowsAffected()
}

var _ core.TokenStore = (*Store)(nil)
