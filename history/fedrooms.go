package history

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/switchboard/switchboard/core"
)

var _ core.FedRoomStore = (*Store)(nil)

// JoinFedRoom adds member to a room hosted here, creating the room when
// create is set (the creator is its owner).
func (s *Store) JoinFedRoom(ctx context.Context, room, member string, create bool, maxMembers int) (bool, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("joining %s: %w", room, err)
	}
	defer tx.Rollback()
	now := msOf(s.now())
	affiliation := "member"
	id, err := fedRoomID(ctx, tx, room)
	switch {
	case errors.Is(err, core.ErrNoSuchRoom) && create:
		res, err := tx.ExecContext(ctx, `INSERT INTO fed_rooms (address, created_at) VALUES (?, ?)`, room, now)
		if err != nil {
			return false, fmt.Errorf("creating %s: %w", room, err)
		}
		if id, err = res.LastInsertId(); err != nil {
			return false, err
		}
		affiliation = "owner"
	case err != nil:
		return false, err
	}
	var present, count int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(member = ?), 0) FROM fed_room_members WHERE room_id = ?`,
		member, id).Scan(&count, &present); err != nil {
		return false, fmt.Errorf("joining %s: %w", room, err)
	}
	if present > 0 {
		return false, nil
	}
	if count >= maxMembers {
		return false, core.ErrRoomFull
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO fed_room_members (room_id, member, affiliation, joined_at) VALUES (?, ?, ?, ?)`,
		id, member, affiliation, now); err != nil {
		return false, fmt.Errorf("joining %s: %w", room, err)
	}
	return true, tx.Commit()
}

func fedRoomID(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, room string) (int64, error) {
	var id int64
	err := q.QueryRowContext(ctx, `SELECT id FROM fed_rooms WHERE address = ?`, room).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("%s: %w", room, core.ErrNoSuchRoom)
	}
	if err != nil {
		return 0, fmt.Errorf("finding room %s: %w", room, err)
	}
	return id, nil
}

// LeaveFedRoom removes member from a room hosted here.
func (s *Store) LeaveFedRoom(ctx context.Context, room, member string) (bool, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	res, err := s.wdb.ExecContext(ctx, `DELETE FROM fed_room_members
		WHERE room_id = (SELECT id FROM fed_rooms WHERE address = ?) AND member = ?`, room, member)
	if err != nil {
		return false, fmt.Errorf("leaving %s: %w", room, err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// FedRoomMembers lists a hosted room's members by address.
func (s *Store) FedRoomMembers(ctx context.Context, room string) ([]core.FedRoomMember, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	id, err := fedRoomID(ctx, s.rdb, room)
	if err != nil {
		return nil, err
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT member, affiliation, joined_at FROM fed_room_members
		WHERE room_id = ? ORDER BY member`, id)
	if err != nil {
		return nil, fmt.Errorf("listing the members of %s: %w", room, err)
	}
	defer rows.Close()
	var out []core.FedRoomMember
	for rows.Next() {
		var m core.FedRoomMember
		var joined int64
		if err := rows.Scan(&m.Address, &m.Affiliation, &joined); err != nil {
			return nil, fmt.Errorf("listing the members of %s: %w", room, err)
		}
		m.Joined = timeOf(joined)
		out = append(out, m)
	}
	return out, rows.Err()
}

// AppendFedRoom archives a hosted room's event under the room's next
// sequence number, keeping the newest keep events.
func (s *Store) AppendFedRoom(ctx context.Context, room, eventID string, build func(seq int64) ([]byte, error), keep int) (core.FedRoomEntry, bool, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return core.FedRoomEntry{}, false, fmt.Errorf("archiving in %s: %w", room, err)
	}
	defer tx.Rollback()
	id, err := fedRoomID(ctx, tx, room)
	if err != nil {
		return core.FedRoomEntry{}, false, err
	}
	e := core.FedRoomEntry{EventID: eventID}
	err = tx.QueryRowContext(ctx, `SELECT seq, payload FROM fed_room_archive WHERE room_id = ? AND event_id = ?`,
		id, eventID).Scan(&e.Seq, &e.Payload)
	if err == nil {
		return e, true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return core.FedRoomEntry{}, false, fmt.Errorf("archiving in %s: %w", room, err)
	}
	if err := tx.QueryRowContext(ctx, `UPDATE fed_rooms SET last_seq = last_seq + 1 WHERE id = ? RETURNING last_seq`,
		id).Scan(&e.Seq); err != nil {
		return core.FedRoomEntry{}, false, fmt.Errorf("archiving in %s: %w", room, err)
	}
	if e.Payload, err = build(e.Seq); err != nil {
		return core.FedRoomEntry{}, false, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO fed_room_archive (room_id, seq, event_id, payload) VALUES (?, ?, ?, ?)`,
		id, e.Seq, eventID, e.Payload); err != nil {
		return core.FedRoomEntry{}, false, fmt.Errorf("archiving in %s: %w", room, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM fed_room_archive WHERE room_id = ? AND seq <= ?`,
		id, e.Seq-int64(keep)); err != nil {
		return core.FedRoomEntry{}, false, fmt.Errorf("trimming the archive of %s: %w", room, err)
	}
	return e, false, tx.Commit()
}

// FedRoomHistory pages a hosted room's archive backwards from before.
func (s *Store) FedRoomHistory(ctx context.Context, room string, before int64, limit int) ([]core.FedRoomEntry, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	id, err := fedRoomID(ctx, s.rdb, room)
	if err != nil {
		return nil, err
	}
	if before <= 0 {
		before = 1<<63 - 1
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT seq, event_id, payload FROM fed_room_archive
		WHERE room_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?`, id, before, limit)
	if err != nil {
		return nil, fmt.Errorf("reading the archive of %s: %w", room, err)
	}
	defer rows.Close()
	var out []core.FedRoomEntry
	for rows.Next() {
		var e core.FedRoomEntry
		if err := rows.Scan(&e.Seq, &e.EventID, &e.Payload); err != nil {
			return nil, fmt.Errorf("reading the archive of %s: %w", room, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

// SetFedRoomJoined records whether a local user is in a room.
func (s *Store) SetFedRoomJoined(ctx context.Context, room, user string, joined bool) error {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	q := `DELETE FROM fed_room_joined WHERE room = ? AND user_name = ?`
	if joined {
		q = `INSERT OR IGNORE INTO fed_room_joined (room, user_name) VALUES (?, ?)`
	}
	if _, err := s.wdb.ExecContext(ctx, q, room, user); err != nil {
		return fmt.Errorf("recording %s in %s: %w", user, room, err)
	}
	return nil
}

// FedRoomJoined lists the local users in a room.
func (s *Store) FedRoomJoined(ctx context.Context, room string) ([]string, error) {
	return s.fedRoomStrings(ctx, `SELECT user_name FROM fed_room_joined WHERE room = ? ORDER BY user_name`, room)
}

// FedRoomsOf lists the rooms a local user is in.
func (s *Store) FedRoomsOf(ctx context.Context, user string) ([]string, error) {
	return s.fedRoomStrings(ctx, `SELECT room FROM fed_room_joined WHERE user_name = ? ORDER BY room`, user)
}

func (s *Store) fedRoomStrings(ctx context.Context, query, arg string) ([]string, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	rows, err := s.rdb.QueryContext(ctx, query, arg)
	if err != nil {
		return nil, fmt.Errorf("reading room memberships: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("reading room memberships: %w", err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
