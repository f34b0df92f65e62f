package history

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/switchboard/switchboard/core"
)

const fedContactColumns = `addr, name, groups_json, listed, sub_to, sub_from, ask, pending, pending_text, preapproved`

// FedContacts lists the user's federation contact list entries by address.
func (s *Store) FedContacts(ctx context.Context, user core.UserID) ([]core.FedContact, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+fedContactColumns+` FROM fed_contacts WHERE user_id = ? ORDER BY addr`, user)
	if err != nil {
		return nil, fmt.Errorf("reading the federation contacts: %w", err)
	}
	defer rows.Close()
	var out []core.FedContact
	for rows.Next() {
		c, err := scanFedContact(rows)
		if err != nil {
			return nil, fmt.Errorf("reading the federation contacts: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// FedContact reads one entry of the user's federation contact list.
func (s *Store) FedContact(ctx context.Context, user core.UserID, addr string) (core.FedContact, bool, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	c, err := scanFedContact(s.rdb.QueryRowContext(ctx, `SELECT `+fedContactColumns+` FROM fed_contacts
		WHERE user_id = ? AND addr = ?`, user, addr))
	if errors.Is(err, sql.ErrNoRows) {
		return core.FedContact{}, false, nil
	}
	if err != nil {
		return core.FedContact{}, false, fmt.Errorf("reading federation contact %s: %w", addr, err)
	}
	return c, true, nil
}

// PutFedContact stores an entry, or deletes it when nothing is left of it.
func (s *Store) PutFedContact(ctx context.Context, user core.UserID, c core.FedContact) error {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	if c.Empty() {
		if _, err := s.wdb.ExecContext(ctx, `DELETE FROM fed_contacts WHERE user_id = ? AND addr = ?`, user, c.Addr); err != nil {
			return fmt.Errorf("removing federation contact %s: %w", c.Addr, err)
		}
		return nil
	}
	groups := c.Groups
	if groups == nil {
		groups = []string{}
	}
	gj, err := json.Marshal(groups)
	if err != nil {
		return fmt.Errorf("storing federation contact %s: %w", c.Addr, err)
	}
	_, err = s.wdb.ExecContext(ctx, `INSERT OR REPLACE INTO fed_contacts (user_id, `+fedContactColumns+`, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		user, c.Addr, c.Name, string(gj), c.Listed, c.To, c.From, c.Ask, c.Pending, c.PendingText, c.Preapproved, msOf(s.now()))
	if err != nil {
		return fmt.Errorf("storing federation contact %s: %w", c.Addr, err)
	}
	return nil
}

// CountFedPending counts the user's unanswered incoming requests.
func (s *Store) CountFedPending(ctx context.Context, user core.UserID) (int, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	var n int
	err := s.rdb.QueryRowContext(ctx, `SELECT count(*) FROM fed_contacts WHERE user_id = ? AND pending = 1`, user).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("counting pending subscription requests: %w", err)
	}
	return n, nil
}

func scanFedContact(row interface{ Scan(...any) error }) (core.FedContact, error) {
	var c core.FedContact
	var gj string
	if err := row.Scan(&c.Addr, &c.Name, &gj, &c.Listed, &c.To, &c.From, &c.Ask, &c.Pending, &c.PendingText, &c.Preapproved); err != nil {
		return c, err
	}
	if err := json.Unmarshal([]byte(gj), &c.Groups); err != nil {
		return c, fmt.Errorf("groups of %s: %w", c.Addr, err)
	}
	if len(c.Groups) == 0 {
		c.Groups = nil
	}
	return c, nil
}
