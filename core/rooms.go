package core

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
)

// RoomJoiner is implemented by bridges whose networks have rooms (IRC
// channels, XMPP group chats) that a device can join or leave while the
// network runs: a MUC join, an ad-hoc command. A room joined so stays
// joined across the bridge's reconnects until it is left, and across
// the daemon's restarts when the Hub has a RoomMemory: the
// bridge is then built with it in BridgeEnv.Rooms.
type RoomJoiner interface {
	// JoinRoom joins room, with key when it needs one. It returns once
	// the network confirmed or refused the join, or the bridge stopped
	// waiting; a network that is down joins it when it is back. Devices
	// see the join as the bridge's membership events.
	JoinRoom(ctx context.Context, room, key string) error
	// LeaveRoom parts room on the network and stops rejoining it.
	LeaveRoom(ctx context.Context, room, reason string) error
}

// ErrCannotJoin is wrapped by JoinRoom's and LeaveRoom's error when the
// network's bridge has no way to join rooms on request.
var ErrCannotJoin = errors.New("this network's bridge cannot join or leave rooms on request")

// RoomState is what the Hub knows of a room one of the user's networks
// is in: enough for a device that arrives later to show the room as the
// devices that were there all along see it.
type RoomState struct {
	Network NetworkID
	Room    string // as the bridge names it
	// Joined is set once the network sent the whole member list.
	Joined  bool
	Self    string   // the user's own nick in the room
	Members []Member // sorted by nick; omitted by Rooms
	Topic   TopicEvent
}

type roomKey struct {
	network NetworkID
	room    string
}

type roomState struct {
	joined  bool
	self    string
	members map[string]Member // by nick
	topic   TopicEvent
}

// rooms is one user's room states. The dispatcher writes it as events
// pass; devices read snapshots from their own goroutines.
type rooms struct {
	mu sync.Mutex
	m  map[roomKey]*roomState
}

// track applies e to the room states before it is fanned out, and returns
// the events to fan out before it: when a rejoin brings a fresh member
// list, a departure for each member who left meanwhile, so devices that
// add and remove occupants event by event stay right.
func (r *rooms) track(e Event) []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	get := func(n NetworkID, room string) *roomState {
		k := roomKey{n, room}
		st := r.m[k]
		if st == nil {
			if r.m == nil {
				r.m = make(map[roomKey]*roomState)
			}
			st = &roomState{members: make(map[string]Member)}
			r.m[k] = st
		}
		return st
	}
	switch e := e.(type) {
	case RoomMembersEvent:
		st := get(e.Network, e.Room)
		fresh := make(map[string]Member, len(e.Members))
		for _, m := range e.Members {
			fresh[m.Nick] = m
		}
		var gone []Event
		if st.joined {
			for nick, m := range st.members {
				if _, still := fresh[nick]; !still && nick != st.self {
					gone = append(gone, MembershipEvent{User: e.User, Network: e.Network, Room: e.Room, Change: MemberLeft, Member: m})
				}
			}
		}
		st.members, st.joined = fresh, true
		return gone
	case MembershipEvent:
		// A room is known from the user's own join or a member list; a
		// stray event about a room the user is not in (after a part)
		// must not bring it back, or it becomes a bookmark and a join.
		st := r.m[roomKey{e.Network, e.Room}]
		if st == nil && !(e.Self && e.Change == MemberJoined) {
			return nil
		}
		if st == nil {
			st = get(e.Network, e.Room)
		}
		switch e.Change {
		case MemberJoined:
			st.members[e.Member.Nick] = e.Member
			if e.Self {
				st.self = e.Member.Nick
			}
		case MemberUpdated:
			if e.PreviousNick != "" {
				delete(st.members, e.PreviousNick)
			}
			st.members[e.Member.Nick] = e.Member
			if e.Self {
				st.self = e.Member.Nick
			}
		case MemberLeft:
			if e.Self {
				delete(r.m, roomKey{e.Network, e.Room})
				return nil
			}
			delete(st.members, e.Member.Nick)
		}
	case TopicEvent:
		if st := r.m[roomKey{e.Network, e.Room}]; st != nil {
			st.topic = e
		}
	}
	return nil
}

func (r *rooms) snapshot(k roomKey, st *roomState, members bool) RoomState {
	out := RoomState{Network: k.network, Room: k.room, Joined: st.joined, Self: st.self, Topic: st.topic}
	if members {
		out.Members = make([]Member, 0, len(st.members))
		for _, m := range st.members {
			out.Members = append(out.Members, m)
		}
		slices.SortFunc(out.Members, func(a, b Member) int {
			switch {
			case a.Nick < b.Nick:
				return -1
			case a.Nick > b.Nick:
				return 1
			}
			return 0
		})
	}
	return out
}

// ofNetwork lists the rooms network n is in, with the user's nick in each.
func (r *rooms) ofNetwork(n NetworkID) []RoomState {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []RoomState
	for k, st := range r.m {
		if k.network == n {
			out = append(out, r.snapshot(k, st, false))
		}
	}
	return out
}

// dropNetwork forgets the rooms of a network that stopped running.
func (r *rooms) dropNetwork(n NetworkID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k := range r.m {
		if k.network == n {
			delete(r.m, k)
		}
	}
}

// leaveRoomsOf tells the user's devices that a network which stopped
// running (removed, disabled, or changed and restarted) is out of its
// rooms: the user's own departure from each, through the dispatcher like
// any membership event, so devices' room lists follow the Hub's. Were it
// silent, devices would show occupants of a room nobody is in and send
// into it in vain.
func (h *Hub) leaveRoomsOf(ctx context.Context, n Network) {
	u := h.userIfAny(n.User)
	if u == nil {
		return
	}
	var left []Event
	for _, st := range u.rooms.ofNetwork(n.ID) {
		left = append(left, MembershipEvent{User: n.User, Network: n.ID, Room: st.Room, Change: MemberLeft,
			Member: Member{Nick: st.Self}, Self: true})
	}
	if len(left) > 0 {
		if err := h.post(ctx, n.User, &op{kind: opEvents, events: left}); err != nil {
			h.log.Warn("telling devices a stopped network left its rooms", "network", n.Name, "err", err)
		}
	}
	// Whatever the devices were told, the rooms are gone.
	u.rooms.dropNetwork(n.ID)
}

// Room returns what the Hub knows of one of the user's rooms, members
// included; ok is false for a room the network is not in.
func (h *Hub) Room(user UserID, network NetworkID, room string) (st RoomState, ok bool) {
	u := h.userIfAny(user)
	if u == nil {
		return RoomState{}, false
	}
	u.rooms.mu.Lock()
	defer u.rooms.mu.Unlock()
	k := roomKey{network, room}
	s := u.rooms.m[k]
	if s == nil {
		return RoomState{}, false
	}
	return u.rooms.snapshot(k, s, true), true
}

// Rooms lists the rooms the user's networks are in, without members,
// sorted by network and room.
func (h *Hub) Rooms(user UserID) []RoomState {
	u := h.userIfAny(user)
	if u == nil {
		return nil
	}
	u.rooms.mu.Lock()
	out := make([]RoomState, 0, len(u.rooms.m))
	for k, s := range u.rooms.m {
		out = append(out, u.rooms.snapshot(k, s, false))
	}
	u.rooms.mu.Unlock()
	slices.SortFunc(out, func(a, b RoomState) int {
		if a.Network != b.Network {
			return int(a.Network - b.Network)
		}
		switch {
		case a.Room < b.Room:
			return -1
		case a.Room > b.Room:
			return 1
		}
		return 0
	})
	return out
}

// JoinRoom asks the bridge of one of user's running networks to join
// room, with key when the room needs one.
func (h *Hub) JoinRoom(ctx context.Context, user UserID, network NetworkID, room, key string) error {
	j, n, err := h.roomJoiner(user, network)
	if err != nil {
		return err
	}
	// Saved before the bridge is asked, as LeaveRoom forgets before it
	// parts: a join can take a while to be answered, and a device may
	// leave the room meanwhile; saving after the answer put the room back
	// after the leave had forgotten it, and a restart rejoined it. The
	// calls' order is the user's last word.
	saved := SavedRoom{Room: h.ParsePeer(n.Kind, room).Remote, Key: key}
	if h.cfg.Rooms != nil {
		if serr := h.cfg.Rooms.SaveRoom(ctx, network, saved); serr != nil {
			h.log.Warn("saving a joined room; a restart will not rejoin it", "network", n.Name, "room", room, "err", serr)
		}
	}
	err = j.JoinRoom(ctx, room, key)
	if err != nil && IsPermanent(err) && h.cfg.Rooms != nil {
		// Refused for good: not a room to join again.
		if ferr := h.cfg.Rooms.ForgetRoom(context.WithoutCancel(ctx), network, saved.Room); ferr != nil {
			h.log.Warn("forgetting a refused room; a restart will try it again", "network", n.Name, "room", room, "err", ferr)
		}
	}
	// Otherwise accepted, or waiting for an answer the bridge keeps
	// waiting for: either way the bridge now joins it on every
	// reconnect, and so does a restarted daemon.
	if err != nil {
		return fmt.Errorf("joining %s on %q: %w", room, n.Name, err)
	}
	return nil
}

// LeaveRoom parts room on one of user's running networks, for every
// device of the user, and forgets it as a room to join again.
func (h *Hub) LeaveRoom(ctx context.Context, user UserID, network NetworkID, room, reason string) error {
	j, n, err := h.roomJoiner(user, network)
	if err != nil {
		return err
	}
	// Forgotten first: a part that fails on the wire still means the
	// user no longer wants the room after a restart.
	if h.cfg.Rooms != nil {
		if err := h.cfg.Rooms.ForgetRoom(ctx, network, h.ParsePeer(n.Kind, room).Remote); err != nil {
			return fmt.Errorf("leaving %s on %q: %w", room, n.Name, err)
		}
	}
	if err := j.LeaveRoom(ctx, room, reason); err != nil {
		return fmt.Errorf("leaving %s on %q: %w", room, n.Name, err)
	}
	return nil
}

func (h *Hub) roomJoiner(user UserID, network NetworkID) (RoomJoiner, Network, error) {
	r, err := h.userRunner(user, network)
	if err != nil {
		return nil, Network{}, err
	}
	j, ok := r.bridge.(RoomJoiner)
	if !ok {
		return nil, Network{}, fmt.Errorf("network %q: %w", r.network.Name, ErrCannotJoin)
	}
	return j, r.network, nil
}

// userIfAny returns the user's state without starting a dispatcher.
func (h *Hub) userIfAny(user UserID) *userState {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.users[user]
}
