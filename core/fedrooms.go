package core

import (
	"context"
	"errors"
	"time"
)

// FedRoomMember is one member of a federated room hosted by this server
// (docs/federation.md, section 4.3): a user of this or another domain.
type FedRoomMember struct {
	Address     string // user@domain
	Affiliation string // "owner" or "member"
	Joined      time.Time
}

// FedRoomEntry is one event of a hosted room's archive, kept opaque: the
// fed bridge stores the event as it fans it out.
type FedRoomEntry struct {
	Seq     int64
	EventID string
	Payload []byte
}

// ErrNoSuchRoom is returned for a room this server does not host.
var ErrNoSuchRoom = errors.New("no such room")

// ErrRoomFull is returned when a room has as many members as it may.
var ErrRoomFull = errors.New("the room is full")

// FedRoomStore keeps the federated rooms: on their home server the rooms,
// their members and archives; on every server which of its users joined
// which room (wherever hosted), so events a home fans out reach only the
// users that joined.
type FedRoomStore interface {
	// JoinFedRoom adds member to room, creating the room with member as
	// its owner when create is set and the room does not exist. A room
	// with maxMembers members takes no one new (ErrRoomFull). added is
	// false when member was in the room already.
	JoinFedRoom(ctx context.Context, room, member string, create bool, maxMembers int) (added bool, err error)
	// LeaveFedRoom removes member from room; removed is false when it
	// was not a member.
	LeaveFedRoom(ctx context.Context, room, member string) (removed bool, err error)
	// FedRoomMembers lists room's members by address; ErrNoSuchRoom when
	// the room is not hosted here.
	FedRoomMembers(ctx context.Context, room string) ([]FedRoomMember, error)
	// AppendFedRoom gives the event eventID the room's next sequence
	// number and stores build(seq) in the archive, which keeps the newest
	// keep events. When eventID is in the archive already it stores
	// nothing and returns that entry with dup set.
	AppendFedRoom(ctx context.Context, room, eventID string, build func(seq int64) ([]byte, error), keep int) (e FedRoomEntry, dup bool, err error)
	// FedRoomHistory returns up to limit archived events of room with a
	// sequence number below before (0: the newest), oldest first.
	FedRoomHistory(ctx context.Context, room string, before int64, limit int) ([]FedRoomEntry, error)

	// SetFedRoomJoined records whether the local user (the local part of
	// their address) is in room, wherever the room is hosted.
	SetFedRoomJoined(ctx context.Context, room, user string, joined bool) error
	// FedRoomJoined lists the local users in room.
	FedRoomJoined(ctx context.Context, room string) ([]string, error)
	// FedRoomsOf lists the rooms the local user is in.
	FedRoomsOf(ctx context.Context, user string) ([]string, error)
}
