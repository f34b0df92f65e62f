package history

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/switchboard/switchboard/core"
)

var _ core.PEPStore = (*Store)(nil)

// PEPNode implements core.PEPStore.PEPNode.
func (s *Store) PEPNode(ctx context.Context, user core.UserID, node string) (core.PEPNodeConfig, bool, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	c, err := pepNode(ctx, s.rdb, user, node)
	if errors.Is(err, ErrNotFound) {
		return c, false, nil
	}
	return c, err == nil, err
}

type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func pepNode(ctx context.Context, db queryRower, user core.UserID, node string) (core.PEPNodeConfig, error) {
	var c core.PEPNodeConfig
	err := db.QueryRowContext(ctx, `SELECT persist_items, access_model, max_items FROM pep_nodes WHERE user_id = ? AND node = ?`,
		user, node).Scan(&c.PersistItems, &c.AccessModel, &c.MaxItems)
	if errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("PEP node %q: %w", node, ErrNotFound)
	}
	if err != nil {
		return c, fmt.Errorf("reading PEP node %q: %w", node, err)
	}
	return c, nil
}

// PEPNodes implements core.PEPStore.PEPNodes.
func (s *Store) PEPNodes(ctx context.Context, user core.UserID) ([]string, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	rows, err := s.rdb.QueryContext(ctx, `SELECT node FROM pep_nodes WHERE user_id = ? ORDER BY node`, user)
	if err != nil {
		return nil, fmt.Errorf("listing PEP nodes: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("listing PEP nodes: %w", err)
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// ConfigurePEPNode implements core.PEPStore.ConfigurePEPNode.
func (s *Store) ConfigurePEPNode(ctx context.Context, user core.UserID, node string, c core.PEPNodeConfig) error {
	return s.pepTx(ctx, "configuring PEP node", func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO pep_nodes (user_id, node, persist_items, access_model, max_items) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (user_id, node) DO UPDATE SET persist_items = excluded.persist_items,
				access_model = excluded.access_model, max_items = excluded.max_items`,
			user, node, c.PersistItems, c.AccessModel, c.MaxItems); err != nil {
			return err
		}
		return trimPEPNode(ctx, tx, user, node, c)
	})
}

// PublishPEPItem implements core.PEPStore.PublishPEPItem.
func (s *Store) PublishPEPItem(ctx context.Context, user core.UserID, node string, c core.PEPNodeConfig, it core.PEPItem) error {
	return s.pepTx(ctx, "publishing a PEP item", func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `
			INSERT OR IGNORE INTO pep_nodes (user_id, node, persist_items, access_model, max_items) VALUES (?, ?, ?, ?, ?)`,
			user, node, c.PersistItems, c.AccessModel, c.MaxItems); err != nil {
			return err
		}
		stored, err := pepNode(ctx, tx, user, node)
		if err != nil {
			return err
		}
		if !stored.PersistItems {
			return nil
		}
		published := it.Published
		if published.IsZero() {
			published = s.now()
		}
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO pep_items (user_id, node, item_id, payload, published_at, seq)
			VALUES (?, ?, ?, ?, ?, (SELECT coalesce(max(seq), 0) + 1 FROM pep_items WHERE user_id = ? AND node = ?))
			ON CONFLICT (user_id, node, item_id) DO UPDATE SET payload = excluded.payload,
				published_at = excluded.published_at, seq = excluded.seq`,
			user, node, it.ID, it.Payload, msOf(published), user, node); err != nil {
			return err
		}
		return trimPEPNode(ctx, tx, user, node, stored)
	})
}

// trimPEPNode drops the items c does not keep: all of them when items are
// not persisted, else all but the newest max.
func trimPEPNode(ctx context.Context, tx *sql.Tx, user core.UserID, node string, c core.PEPNodeConfig) error {
	keep := c.MaxItems
	if keep <= 0 || keep > core.PEPMaxItems {
		keep = core.PEPMaxItems
	}
	if !c.PersistItems {
		keep = 0
	}
	_, err := tx.ExecContext(ctx, `
		DELETE FROM pep_items WHERE user_id = ? AND node = ? AND seq NOT IN (
			SELECT seq FROM pep_items WHERE user_id = ? AND node = ? ORDER BY seq DESC LIMIT ?)`,
		user, node, user, node, keep)
	return err
}

// PEPItems implements core.PEPStore.PEPItems.
func (s *Store) PEPItems(ctx context.Context, user core.UserID, node string, ids []string, max int) ([]core.PEPItem, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	q := `SELECT item_id, payload, published_at FROM (
		SELECT item_id, payload, published_at, seq FROM pep_items WHERE user_id = ? AND node = ?`
	args := []any{user, node}
	if len(ids) > 0 {
		q += ` AND item_id IN (?` + strings.Repeat(", ?", len(ids)-1) + `)`
		for _, id := range ids {
			args = append(args, id)
		}
	}
	if max <= 0 || max > core.PEPMaxItems {
		max = core.PEPMaxItems
	}
	q += ` ORDER BY seq DESC LIMIT ?) ORDER BY seq`
	args = append(args, max)
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("reading PEP items of %q: %w", node, err)
	}
	defer rows.Close()
	var out []core.PEPItem
	for rows.Next() {
		var (
			it core.PEPItem
			ms int64
		)
		if err := rows.Scan(&it.ID, &it.Payload, &ms); err != nil {
			return nil, fmt.Errorf("reading PEP items of %q: %w", node, err)
		}
		it.Published = timeOf(ms)
		out = append(out, it)
	}
	return out, rows.Err()
}

// RetractPEPItem implements core.PEPStore.RetractPEPItem.
func (s *Store) RetractPEPItem(ctx context.Context, user core.UserID, node, id string) (bool, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	res, err := s.wdb.ExecContext(ctx, `DELETE FROM pep_items WHERE user_id = ? AND node = ? AND item_id = ?`, user, node, id)
	if err != nil {
		return false, fmt.Errorf("retracting a PEP item: %w", err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// DeletePEPNode implements core.PEPStore.DeletePEPNode.
func (s *Store) DeletePEPNode(ctx context.Context, user core.UserID, node string) (bool, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	res, err := s.wdb.ExecContext(ctx, `DELETE FROM pep_nodes WHERE user_id = ? AND node = ?`, user, node)
	if err != nil {
		return false, fmt.Errorf("deleting PEP node %q: %w", node, err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// PrivateXML implements core.PEPStore.PrivateXML.
func (s *Store) PrivateXML(ctx context.Context, user core.UserID, key string) (string, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	var payload string
	err := s.rdb.QueryRowContext(ctx, `SELECT payload FROM private_xml WHERE user_id = ? AND element = ?`, user, key).Scan(&payload)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading private XML %s: %w", key, err)
	}
	return payload, nil
}

// SetPrivateXML implements core.PEPStore.SetPrivateXML.
func (s *Store) SetPrivateXML(ctx context.Context, user core.UserID, key, payload string) error {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	if _, err := s.wdb.ExecContext(ctx, `
		INSERT INTO private_xml (user_id, element, payload) VALUES (?, ?, ?)
		ON CONFLICT (user_id, element) DO UPDATE SET payload = excluded.payload`, user, key, payload); err != nil {
		return fmt.Errorf("storing private XML %s: %w", key, err)
	}
	return nil
}

func (s *Store) pepTx(ctx context.Context, what string, f func(context.Context, *sql.Tx) error) error {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer tx.Rollback()
	if err := f(ctx, tx); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}
