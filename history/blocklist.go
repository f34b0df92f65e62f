package history

import (
	"context"
	"fmt"

	"github.com/switchboard/switchboard/core"
)

// BlockList returns the addresses the user blocked, in order.
func (s *Store) BlockList(ctx context.Context, user core.UserID) ([]string, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	rows, err := s.rdb.QueryContext(ctx, `SELECT address FROM blocklist WHERE user_id = ? ORDER BY address`, user)
	if err != nil {
		return nil, fmt.Errorf("reading the block list: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return nil, fmt.Errorf("reading the block list: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// Block adds addresses to the user's block list; blocking one twice is not
// an error.
func (s *Store) Block(ctx context.Context, user core.UserID, addresses []string) error {
	return s.changeBlockList(ctx, user, addresses, `INSERT OR IGNORE INTO blocklist (user_id, address) VALUES (?, ?)`)
}

// Unblock removes addresses from the block list; none removes them all.
func (s *Store) Unblock(ctx context.Context, user core.UserID, addresses []string) error {
	if len(addresses) == 0 {
		ctx, cancel := s.timeout(ctx)
		defer cancel()
		if _, err := s.wdb.ExecContext(ctx, `DELETE FROM blocklist WHERE user_id = ?`, user); err != nil {
			return fmt.Errorf("clearing the block list: %w", err)
		}
		return nil
	}
	return s.changeBlockList(ctx, user, addresses, `DELETE FROM blocklist WHERE user_id = ? AND address = ?`)
}

func (s *Store) changeBlockList(ctx context.Context, user core.UserID, addresses []string, stmt string) error {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("changing the block list: %w", err)
	}
	defer tx.Rollback()
	for _, a := range addresses {
		if _, err := tx.ExecContext(ctx, stmt, user, a); err != nil {
			return fmt.Errorf("changing the block list: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("changing the block list: %w", err)
	}
	return nil
}
