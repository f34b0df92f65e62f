package history

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/switchboard/switchboard/core"
)

// ErrExists is returned when creating a user or network whose name is taken.
var ErrExists = errors.New("already exists")

const userColumns = "id, name, admin, retention_ms, created_at"

func scanUser(r scanner) (core.User, error) {
	var (
		u                  core.User
		retention, created int64
	)
	err := r.Scan(&u.ID, &u.Name, &u.Admin, &retention, &created)
	u.Retention = time.Duration(retention) * time.Millisecond
	u.Created = timeOf(created)
	return u, err
}

// CreateUser adds a user with SCRAM keys derived from password.
func (s *Store) CreateUser(ctx context.Context, name, password string, admin bool) (core.User, error) {
	if err := core.ValidateUserName(name); err != nil {
		return core.User{}, err
	}
	keys, err := core.NewCredentials(password)
	if err != nil {
		return core.User{}, err
	}
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return core.User{}, fmt.Errorf("creating user %q: %w", name, err)
	}
	defer tx.Rollback()
	now := s.now()
	u := core.User{Name: name, Admin: admin, Created: now.UTC().Truncate(time.Millisecond)}
	err = tx.QueryRowContext(ctx, "INSERT INTO users (name, admin, created_at) VALUES (?, ?, ?) RETURNING id",
		name, admin, msOf(now)).Scan(&u.ID)
	if isUniqueViolation(err) {
		return core.User{}, fmt.Errorf("user %q: %w", name, ErrExists)
	}
	if err != nil {
		return core.User{}, fmt.Errorf("creating user %q: %w", name, err)
	}
	if err := putCredentials(ctx, tx, u.ID, keys); err != nil {
		return core.User{}, err
	}
	if err := tx.Commit(); err != nil {
		return core.User{}, fmt.Errorf("creating user %q: %w", name, err)
	}
	return u, nil
}

func putCredentials(ctx context.Context, tx *sql.Tx, user core.UserID, keys []core.ScramKeys) error {
	for _, k := range keys {
		_, err := tx.ExecContext(ctx, `
			INSERT INTO credentials (user_id, mechanism, salt, iterations, stored_key, server_key)
			VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (user_id, mechanism) DO UPDATE SET salt = excluded.salt,
				iterations = excluded.iterations, stored_key = excluded.stored_key, server_key = excluded.server_key`,
			user, k.Mechanism, k.Salt, k.Iterations, k.StoredKey, k.ServerKey)
		if err != nil {
			return fmt.Errorf("storing %s keys: %w", k.Mechanism, err)
		}
	}
	return nil
}

// SetPassword replaces the user's SCRAM keys.
func (s *Store) SetPassword(ctx context.Context, user core.UserID, password string) error {
	keys, err := core.NewCredentials(password)
	if err != nil {
		return err
	}
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("setting password: %w", err)
	}
	defer tx.Rollback()
	var exists int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM users WHERE id = ?", user).Scan(&exists); err != nil {
		return fmt.Errorf("setting password: %w", err)
	}
	if exists == 0 {
		return fmt.Errorf("user %d: %w", user, ErrNotFound)
	}
	if err := putCredentials(ctx, tx, user, keys); err != nil {
		return err
	}
	return tx.Commit()
}

// User returns the user with id.
func (s *Store) User(ctx context.Context, id core.UserID) (core.User, error) {
	return s.oneUser(ctx, "id = ?", id)
}

// UserByName returns the user called name.
func (s *Store) UserByName(ctx context.Context, name string) (core.User, error) {
	return s.oneUser(ctx, "name = ?", name)
}

func (s *Store) oneUser(ctx context.Context, where string, arg any) (core.User, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	u, err := scanUser(s.rdb.QueryRowContext(ctx, "SELECT "+userColumns+" FROM users WHERE "+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return u, fmt.Errorf("user %v: %w", arg, ErrNotFound)
	}
	if err != nil {
		return u, fmt.Errorf("reading user %v: %w", arg, err)
	}
	return u, nil
}

// Users lists every user by name.
func (s *Store) Users(ctx context.Context) ([]core.User, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	rows, err := s.rdb.QueryContext(ctx, "SELECT "+userColumns+" FROM users ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("listing users: %w", err)
	}
	defer rows.Close()
	var out []core.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("listing users: %w", err)
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// UserCount returns how many users exist.
func (s *Store) UserCount(ctx context.Context) (int, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	var n int
	if err := s.rdb.QueryRowContext(ctx, "SELECT count(*) FROM users").Scan(&n); err != nil {
		return 0, fmt.Errorf("counting users: %w", err)
	}
	return n, nil
}

// DeleteUser removes the user and everything they own: networks,
// conversations, messages and markers.
func (s *Store) DeleteUser(ctx context.Context, id core.UserID) error {
	ctx, cancel := withTimeout(ctx, 30*time.Minute)
	defer cancel()
	res, err := s.wdb.ExecContext(ctx, "DELETE FROM users WHERE id = ?", id)
	return expectOne(res, err, fmt.Sprintf("user %d", id))
}

// SetUserRetention sets how long the user's messages are kept (zero:
// forever).
func (s *Store) SetUserRetention(ctx context.Context, id core.UserID, retention time.Duration) error {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	res, err := s.wdb.ExecContext(ctx, "UPDATE users SET retention_ms = ? WHERE id = ?", retention.Milliseconds(), id)
	return expectOne(res, err, fmt.Sprintf("user %d", id))
}

// Credentials returns the user's SCRAM keys for mechanism.
func (s *Store) Credentials(ctx context.Context, user core.UserID, mechanism string) (core.ScramKeys, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	k := core.ScramKeys{Mechanism: mechanism}
	err := s.rdb.QueryRowContext(ctx,
		"SELECT salt, iterations, stored_key, server_key FROM credentials WHERE user_id = ? AND mechanism = ?",
		user, mechanism).Scan(&k.Salt, &k.Iterations, &k.StoredKey, &k.ServerKey)
	if errors.Is(err, sql.ErrNoRows) {
		return k, fmt.Errorf("%s keys of user %d: %w", mechanism, user, ErrNotFound)
	}
	if err != nil {
		return k, fmt.Errorf("reading %s keys: %w", mechanism, err)
	}
	return k, nil
}

// ErrBadLogin is returned by CheckPassword for an unknown user or a wrong
// password alike, so callers cannot tell which.
var ErrBadLogin = errors.New("wrong user name or password")

// CheckPassword verifies a plain password (HTTP login, SASL PLAIN) against
// the stored SCRAM-SHA-256 keys.
func (s *Store) CheckPassword(ctx context.Context, name, password string) (core.User, error) {
	u, err := s.UserByName(ctx, name)
	if errors.Is(err, ErrNotFound) {
		return core.User{}, ErrBadLogin
	}
	if err != nil {
		return core.User{}, err
	}
	k, err := s.Credentials(ctx, u.ID, core.ScramSHA256)
	if err != nil {
		return core.User{}, err
	}
	if !k.Verify(password) {
		return core.User{}, ErrBadLogin
	}
	return u, nil
}

func isUniqueViolation(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.ExtendedCode == sqlite3.ErrConstraintUnique
}
