package history

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/switchboard/switchboard/core"
)

const networkColumns = "id, user_id, name, kind, settings, enabled, created_at"

func scanNetwork(r scanner) (core.Network, error) {
	var (
		n        core.Network
		settings string
		created  int64
	)
	if err := r.Scan(&n.ID, &n.User, &n.Name, &n.Kind, &settings, &n.Enabled, &created); err != nil {
		return n, err
	}
	n.Created = timeOf(created)
	if err := json.Unmarshal([]byte(settings), &n.Settings); err != nil {
		return n, fmt.Errorf("network %q: decoding settings: %w", n.Name, err)
	}
	if n.Settings == nil {
		n.Settings = core.Settings{}
	}
	return n, nil
}

// CreateNetwork adds a network to n.User; ID and Created are filled in.
func (s *Store) CreateNetwork(ctx context.Context, n core.Network) (core.Network, error) {
	if err := core.ValidateNetworkName(n.Name); err != nil {
		return n, err
	}
	settings, err := json.Marshal(n.Settings)
	if err != nil {
		return n, fmt.Errorf("encoding settings: %w", err)
	}
	if n.Settings == nil {
		settings = []byte("{}")
	}
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	now := s.now()
	err = s.wdb.QueryRowContext(ctx, `
		INSERT INTO networks (user_id, name, kind, settings, enabled, created_at)
		SELECT id, ?, ?, ?, ?, ? FROM users WHERE id = ? RETURNING id`,
		n.Name, n.Kind, string(settings), n.Enabled, msOf(now), n.User).Scan(&n.ID)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return n, fmt.Errorf("user %d: %w", n.User, ErrNotFound)
	case isUniqueViolation(err):
		return n, fmt.Errorf("network %q: %w", n.Name, ErrExists)
	case err != nil:
		return n, fmt.Errorf("creating network %q: %w", n.Name, err)
	}
	n.Created = timeOf(msOf(now))
	return n, nil
}

// UpdateNetwork stores n's settings and enabled flag; the name and kind of
// a network never change, since its addresses derive from them.
func (s *Store) UpdateNetwork(ctx context.Context, n core.Network) error {
	settings, err := json.Marshal(n.Settings)
	if err != nil {
		return fmt.Errorf("encoding settings: %w", err)
	}
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	res, err := s.wdb.ExecContext(ctx, "UPDATE networks SET settings = ?, enabled = ? WHERE id = ? AND user_id = ?",
		string(settings), n.Enabled, n.ID, n.User)
	return expectOne(res, err, fmt.Sprintf("network %q", n.Name))
}

// DeleteNetwork removes the network with its conversations and messages.
func (s *Store) DeleteNetwork(ctx context.Context, user core.UserID, id core.NetworkID) error {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	res, err := s.wdb.ExecContext(ctx, "DELETE FROM networks WHERE id = ? AND user_id = ?", id, user)
	return expectOne(res, err, fmt.Sprintf("network %d", id))
}

// Networks lists the user's networks by name.
func (s *Store) Networks(ctx context.Context, user core.UserID) ([]core.Network, error) {
	return s.listNetworks(ctx, "WHERE user_id = ? ORDER BY name", user)
}

// EnabledNetworks lists every user's enabled networks.
func (s *Store) EnabledNetworks(ctx context.Context) ([]core.Network, error) {
	return s.listNetworks(ctx, "WHERE enabled ORDER BY id")
}

// NetworkByName returns the user's network called name.
func (s *Store) NetworkByName(ctx context.Context, user core.UserID, name string) (core.Network, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	n, err := scanNetwork(s.rdb.QueryRowContext(ctx,
		"SELECT "+networkColumns+" FROM networks WHERE user_id = ? AND name = ?", user, name))
	if errors.Is(err, sql.ErrNoRows) {
		return n, fmt.Errorf("network %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return n, fmt.Errorf("reading network %q: %w", name, err)
	}
	return n, nil
}

func (s *Store) listNetworks(ctx context.Context, tail string, args ...any) ([]core.Network, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	rows, err := s.rdb.QueryContext(ctx, "SELECT "+networkColumns+" FROM networks "+tail, args...)
	if err != nil {
		return nil, fmt.Errorf("listing networks: %w", err)
	}
	defer rows.Close()
	var out []core.Network
	for rows.Next() {
		n, err := scanNetwork(rows)
		if err != nil {
			return nil, fmt.Errorf("listing networks: %w", err)
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// DataVersion changes whenever a connection other than the one asking
// commits: the admin CLI, but also this store's own appender. The daemon
// uses it only to skip re-reading networks while nothing was written at
// all; under traffic it re-reads them every poll (one small query).
func (s *Store) DataVersion(ctx context.Context) (int64, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	var v int64
	err := s.wdb.QueryRowContext(ctx, "PRAGMA data_version").Scan(&v)
	return v, err
}
