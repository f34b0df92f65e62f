package history

import (
	"context"
	"fmt"

	"github.com/switchboard/switchboard/core"
)

// SavedRooms lists the rooms devices joined on network, oldest first.
func (s *Store) SavedRooms(ctx context.Context, network core.NetworkID) ([]core.SavedRoom, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	rows, err := s.rdb.QueryContext(ctx, `SELECT room, room_key FROM saved_rooms WHERE network_id = ? ORDER BY joined_at, room`, network)
	if err != nil {
		return nil, fmt.Errorf("reading the saved rooms of network %d: %w", network, err)
	}
	defer rows.Close()
	var out []core.SavedRoom
	for rows.Next() {
		var r core.SavedRoom
		if err := rows.Scan(&r.Room, &r.Key); err != nil {
			return nil, fmt.Errorf("reading the saved rooms of network %d: %w", network, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading the saved rooms of network %d: %w", network, err)
	}
	return out, nil
}

// SaveRoom records that a device joined room on network. Saving a room
// again keeps its place in the list, and its key unless a new one is
// given.
func (s *Store) SaveRoom(ctx context.Context, network core.NetworkID, r core.SavedRoom) error {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	_, err := s.wdb.ExecContext(ctx, `INSERT INTO saved_rooms (network_id, room, room_key, joined_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (network_id, room) DO UPDATE SET room_key = excluded.room_key WHERE excluded.room_key != ''`,
		network, r.Room, r.Key, msOf(s.now()))
	if err != nil {
		return fmt.Errorf("saving room %s of network %d: %w", r.Room, network, err)
	}
	return nil
}

// ForgetRoom removes room from network's saved rooms; forgetting a room
// that was not saved is not an error.
func (s *Store) ForgetRoom(ctx context.Context, network core.NetworkID, room string) error {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	if _, err := s.wdb.ExecContext(ctx, `DELETE FROM saved_rooms WHERE network_id = ? AND room = ?`, network, room); err != nil {
		return fmt.Errorf("forgetting room %s of network %d: %w", room, network, err)
	}
	return nil
}
