package fed

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard/switchboard/core"
)

// Rooms (docs/federation.md, section 4.3). A room #name@home lives on its
// home server, which keeps its members (users of any domain), gives its
// events their order, archives them and fans them out: to its own members
// in-process, and to every other member server once, through that peer's
// queue, addressed to the room itself. Each server hands what it receives
// from a room only to those of its users that joined the room through it.

// Room event types, besides TypeMessage.
const (
	TypeJoin   = "join"
	TypeLeave  = "leave"
	TypeInvite = "invite"
)

// Limits of rooms: what a peer's users can make a home keep.
const (
	maxRoomMembers  = 1000   // members of one room
	roomArchiveKeep = 10_000 // events of a room kept for history
	maxHistoryPage  = 100    // events in one history answer
	backfillEvents  = 500    // history a joining member's server fetches
	defaultHistory  = 50     // events in a history answer that names no limit
	maxReasonBytes  = 1024   // an invitation's text
	// maxInvitationSends bounds the invitations a home has in flight.
	maxInvitationSends = 8
)

// Member affiliations.
const (
	affiliationOwner  = "owner"
	affiliationMember = "member"
)

// roomHost is the Service's share of rooms: the store, and the locks
// that put each hosted room's events in one order: numbered, queued and
// delivered under the room's lock.
type roomHost struct {
	store core.FedRoomStore
	// locks are striped by room name: a lock per name would let a peer
	// grow the map with every name it makes up.
	locks [roomLockStripes]sync.Mutex
}

const roomLockStripes = 64

func newRoomHost(store core.FedRoomStore) *roomHost {
	return &roomHost{store: store}
}

// lock serializes the events of room (and of the rooms sharing its
// stripe) and returns the unlock.
func (h *roomHost) lock(room string) func() {
	sum := sha256.Sum256([]byte(room))
	l := &h.locks[int(sum[0])%roomLockStripes]
	l.Lock()
	return l.Unlock
}

// metricRoomEvents counts the events hosted rooms fan out, by type (a
// fixed word: only the home's own events are counted).
var metricRoomEvents = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "switchboard_fed_room_events_total",
	Help: "Events of rooms hosted here fanned out to their members, by type: message, join, leave.",
}, []string{"type"})

func init() { prometheus.MustRegister(metricRoomEvents) }

var errNoRooms = errors.New("this server keeps no federated rooms")

// errNotMember refuses events and requests of users outside the room.
var errNotMember = errors.New("not a member of the room")

// roomMember is a member as the wire names it.
type roomMember struct {
	Address     string `json:"address"`
	Affiliation string `json:"affiliation"`
}

// RoomRequest is the body of POST rooms/join and rooms/history: a user of
// the requesting server asks about a room of the receiving one.
type RoomRequest struct {
	// ID is fresh for every request: two requests with the same body in
	// the same second would otherwise carry the same signature, and the
	// second be refused as a replay.
	ID   string `json:"id"`
	Room string `json:"room"`
	User string `json:"user"`
	// Before and Limit page rooms/history: events with a sequence number
	// below Before (0: the newest), at most Limit (1 to 100, default 50).
	Before int64 `json:"before,omitempty"`
	Limit  int   `json:"limit,omitempty"`
}

// RoomJoinAnswer answers rooms/join: the members after the join.
type RoomJoinAnswer struct {
	Room    string       `json:"room"`
	Members []roomMember `json:"members"`
}

// RoomHistoryAnswer answers rooms/history: events oldest first, as the
// home fanned them out.
type RoomHistoryAnswer struct {
	Events []Event `json:"events"`
}

// DecodeRoomRequest parses and checks a rooms/join or rooms/history body
// from origin: the user is origin's, the room this server's.
func DecodeRoomRequest(body []byte, origin, domain string) (RoomRequest, Address, Address, error) {
	var req RoomRequest
	if len(body) > MaxRequestBytes {
		return req, Address{}, Address{}, fmt.Errorf("%w: body too large", ErrMalformed)
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return RoomRequest{}, Address{}, Address{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if err := checkID(req.ID); err != nil {
		return RoomRequest{}, Address{}, Address{}, fmt.Errorf("%w: id: %v", ErrMalformed, err)
	}
	room, err := ParseAddress(req.Room)
	if err != nil || !room.IsRoom() {
		return RoomRequest{}, Address{}, Address{}, fmt.Errorf("%w: room %q is not #name@domain", ErrMalformed, req.Room)
	}
	user, err := ParseAddress(req.User)
	if err != nil || user.IsRoom() {
		return RoomRequest{}, Address{}, Address{}, fmt.Errorf("%w: user %q is not user@domain", ErrMalformed, req.User)
	}
	switch {
	case req.Before < 0:
		return RoomRequest{}, Address{}, Address{}, fmt.Errorf("%w: before %d", ErrMalformed, req.Before)
	case req.Limit < 0 || req.Limit > maxHistoryPage:
		return RoomRequest{}, Address{}, Address{}, fmt.Errorf("%w: limit %d; want 1 to %d", ErrMalformed, req.Limit, maxHistoryPage)
	case req.Limit == 0:
		req.Limit = defaultHistory
	}
	if user.Domain != origin || room.Domain != domain {
		return RoomRequest{}, Address{}, Address{}, errWrongDomain
	}
	req.Room, req.User = room.String(), user.String()
	return req, room, user, nil
}

var errWrongDomain = errors.New("the user must be the requesting server's and the room this server's")

// serveRoomJoin answers POST rooms/join.
func (s *Service) serveRoomJoin(w http.ResponseWriter, r *http.Request) {
	s.serveRoom(w, r, func(ctx context.Context, req RoomRequest, room, user Address) (any, error) {
		members, err := s.joinHome(ctx, room, user)
		if err != nil {
			return nil, err
		}
		return RoomJoinAnswer{Room: room.String(), Members: members}, nil
	})
}

// serveRoomHistory answers POST rooms/history, for members only.
func (s *Service) serveRoomHistory(w http.ResponseWriter, r *http.Request) {
	s.serveRoom(w, r, func(ctx context.Context, req RoomRequest, room, user Address) (any, error) {
		events, err := s.homeHistory(ctx, room, user, req.Before, req.Limit)
		if err != nil {
			return nil, err
		}
		return RoomHistoryAnswer{Events: events}, nil
	})
}

// serveRoom authenticates and decodes a room request and answers what
// handle returns, or the problem its error stands for.
func (s *Service) serveRoom(w http.ResponseWriter, r *http.Request,
	handle func(context.Context, RoomRequest, Address, Address) (any, error)) {
	origin, body, p := s.authenticate(w, r)
	if p == nil {
		req, room, user, err := DecodeRoomRequest(body, origin, s.domain)
		var answer any
		if err == nil {
			answer, err = handle(r.Context(), req, room, user)
		}
		if p = roomProblem(err); p == nil {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(answer)
			return
		}
	}
	s.writeRefusal(w, r, origin, p)
}

// roomProblem is the answer to a refused room request; nil for nil.
func roomProblem(err error) *problem {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrMalformed):
		return refuse(http.StatusBadRequest, "malformed", err.Error())
	case errors.Is(err, errWrongDomain):
		return refuse(http.StatusForbidden, "wrong-domain", err.Error())
	case errors.Is(err, core.ErrNoSuchRoom), errors.Is(err, errNoRooms):
		return refuse(http.StatusNotFound, "no-such-room", err.Error())
	case errors.Is(err, errNotMember), errors.Is(err, core.ErrRoomFull):
		return refuse(http.StatusForbidden, "not-allowed", err.Error())
	}
	pr := refuse(http.StatusServiceUnavailable, "busy", "the room could not be read or changed; retry")
	pr.retryAfter = 5 * time.Second
	return pr
}

// joinHome adds member to a room hosted here. A room that does not exist
// is created by its first local member, who owns it; users of other
// domains join existing rooms only. Rooms are open: any user may join,
// as in a Prosody MUC by default. It returns the members after the join.
func (s *Service) joinHome(ctx context.Context, room, member Address) ([]roomMember, error) {
	store := s.rooms.store
	if store == nil {
		return nil, errNoRooms
	}
	defer s.rooms.lock(room.String())()
	added, err := store.JoinFedRoom(ctx, room.String(), member.String(), member.Domain == s.domain, maxRoomMembers)
	if err != nil {
		return nil, err
	}
	members, err := store.FedRoomMembers(ctx, room.String())
	if err != nil {
		return nil, err
	}
	if added {
		s.log.Info("a member joined a room", "room", room, "member", member)
		now := s.now().UTC()
		ev := Event{ID: membershipEventID(room, TypeJoin, member, now), Type: TypeJoin, From: room.String(), To: room.String(),
			Sender: member.String(), Time: now}
		if err := s.fanOut(ctx, room, members, ev, ""); err != nil {
			return nil, err
		}
	}
	out := make([]roomMember, len(members))
	for i, m := range members {
		out[i] = roomMember{Address: m.Address, Affiliation: m.Affiliation}
	}
	return out, nil
}

// leaveHome removes member from a room hosted here and tells the others,
// and the member's own server (its other users in the room).
func (s *Service) leaveHome(ctx context.Context, room, member Address) error {
	store := s.rooms.store
	if store == nil {
		return errNoRooms
	}
	defer s.rooms.lock(room.String())()
	removed, err := store.LeaveFedRoom(ctx, room.String(), member.String())
	if err != nil || !removed {
		return err
	}
	members, err := store.FedRoomMembers(ctx, room.String())
	if err != nil {
		return err
	}
	s.log.Info("a member left a room", "room", room, "member", member)
	now := s.now().UTC()
	ev := Event{ID: membershipEventID(room, TypeLeave, member, now), Type: TypeLeave, From: room.String(), To: room.String(),
		Sender: member.String(), Time: now}
	return s.fanOut(ctx, room, members, ev, member.Domain)
}

// homeHistory pages a hosted room's archive for one of its members.
func (s *Service) homeHistory(ctx context.Context, room, member Address, before int64, limit int) ([]Event, error) {
	store := s.rooms.store
	if store == nil {
		return nil, errNoRooms
	}
	members, err := store.FedRoomMembers(ctx, room.String())
	if err != nil {
		return nil, err
	}
	if !isMember(members, member) {
		return nil, fmt.Errorf("%s: %w", member, errNotMember)
	}
	entries, err := store.FedRoomHistory(ctx, room.String(), before, limit)
	if err != nil {
		return nil, err
	}
	events := make([]Event, 0, len(entries))
	for _, e := range entries {
		var ev Event
		if err := json.Unmarshal(e.Payload, &ev); err != nil {
			return nil, fmt.Errorf("archived event %s of %s: %w", e.EventID, room, err)
		}
		events = append(events, ev)
	}
	return events, nil
}

func isMember(members []core.FedRoomMember, a Address) bool {
	for _, m := range members {
		if m.Address == a.String() {
			return true
		}
	}
	return false
}

// membershipEventID names a join or leave: one per member, room and time.
func membershipEventID(room Address, typ string, member Address, at time.Time) string {
	sum := sha256.Sum256([]byte(room.String() + "\x00" + typ + "\x00" + member.String() + "\x00" + strconv.FormatInt(at.UnixNano(), 10)))
	return hex.EncodeToString(sum[:16])
}

// roomEventID names the home's event for a member's message: the same
// for every copy the member's server sends, so a retry is a duplicate.
func roomEventID(room, sender Address, senderEventID string) string {
	sum := sha256.Sum256([]byte(room.String() + "\x00" + sender.String() + "\x00" + senderEventID))
	return hex.EncodeToString(sum[:16])
}

// fanOut hands an event of a hosted room to every member server but this
// one (and to alsoDomain), each once through its queue, then to the local
// members. The caller holds the room's lock.
func (s *Service) fanOut(ctx context.Context, room Address, members []core.FedRoomMember, ev Event, alsoDomain string) error {
	metricRoomEvents.WithLabelValues(ev.Type).Inc()
	domains := make(map[string]bool)
	if alsoDomain != "" && alsoDomain != s.domain {
		domains[alsoDomain] = true
	}
	for _, m := range members {
		if a, err := ParseAddress(m.Address); err == nil && a.Domain != s.domain {
			domains[a.Domain] = true
		}
	}
	if len(domains) > 0 {
		owner, err := s.roomQueueUser(ctx, members)
		if err != nil {
			return err
		}
		payload, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		qs := make([]core.FedQueued, 0, len(domains))
		for d := range domains {
			if s.queue == nil {
				break
			}
			if _, err := s.peer(d); err != nil {
				s.log.Warn("a room member's server cannot be reached", "room", room, "peer", d, "err", err)
				continue
			}
			q := core.FedQueued{Peer: d, EventID: ev.ID, User: owner, Payload: payload, Created: s.now()}
			// A member server whose backlog reached the bound (down for
			// long, or never taking its copies) misses the event; the
			// room goes on for the others, and its members can page the
			// history when it is back.
			waiting, err := s.queue.CountFed(ctx, d, owner)
			if err != nil {
				return err
			}
			if waiting >= s.maxQueued {
				metricOutEvents.WithLabelValues("room_dropped_queue_full").Inc()
				s.log.Warn("a room event is not queued for a member server with too many waiting", "room", room, "peer", d,
					"waiting", waiting)
				continue
			}
			qs = append(qs, q)
		}
		if len(qs) > 0 {
			if err := s.enqueueBounded(ctx, qs); err != nil {
				return err
			}
		}
	}
	return s.deliverRoomLocal(ctx, room, ev)
}

// roomQueueUser is the local user a hosted room's queued events are filed
// under (the queue needs one): its first local member, the owner if still
// in. Nobody is told about these events' fate: they name no message.
func (s *Service) roomQueueUser(ctx context.Context, members []core.FedRoomMember) (core.UserID, error) {
	var locals []string
	for _, m := range members {
		a, err := ParseAddress(m.Address)
		if err != nil || a.Domain != s.domain {
			continue
		}
		if m.Affiliation == affiliationOwner {
			locals = append([]string{a.Local}, locals...)
		} else {
			locals = append(locals, a.Local)
		}
	}
	for _, name := range locals {
		b, err := s.recipient(ctx, name)
		if err != nil {
			return 0, err
		}
		if b != nil {
			return b.env.User.ID, nil
		}
	}
	// Only remote members are left; the room's events go to the first
	// local user there is, for the queue table's sake.
	s.mu.Lock()
	defer s.mu.Unlock()
	for id := range s.byUser {
		return id, nil
	}
	return 0, errors.New("no local user to file the room's events under")
}

// deliverRoomLocal hands an event of a room (hosted anywhere) to the
// local users that joined it, but not a member's own message, join or
// leave back to them: they have it.
func (s *Service) deliverRoomLocal(ctx context.Context, room Address, ev Event) error {
	if s.rooms.store == nil {
		return errNoRooms
	}
	users, err := s.rooms.store.FedRoomJoined(ctx, room.String())
	if err != nil {
		return err
	}
	sender, _ := ParseAddress(ev.Sender)
	for _, name := range users {
		// A leave of a user still in the room here is one they made
		// before joining again (fromHome): not shown either.
		if sender.Domain == s.domain && sender.Local == name {
			continue
		}
		b, err := s.recipient(ctx, name)
		if err != nil {
			return fmt.Errorf("finding %s: %w", name, err)
		}
		if b == nil {
			continue // the account is gone
		}
		e, err := s.roomCoreEvent(room, ev, sender)
		if err != nil {
			return err
		}
		if err := b.env.Inbound.Receive(ctx, e); err != nil {
			return fmt.Errorf("storing a room event for %s: %w", name, err)
		}
	}
	return nil
}

// roomCoreEvent is what a member's devices get for a room's event.
func (s *Service) roomCoreEvent(room Address, ev Event, sender Address) (core.Event, error) {
	member := core.Member{Nick: sender.String(), Addr: sender.String()}
	switch ev.Type {
	case TypeJoin:
		return core.MembershipEvent{Room: room.String(), Change: core.MemberJoined, Member: member}, nil
	case TypeLeave:
		return core.MembershipEvent{Room: room.String(), Change: core.MemberLeft, Member: member}, nil
	case TypeMessage:
		if err := ev.checkMessage(); err != nil {
			return nil, err
		}
		t := ev.Time
		if now := s.now(); t.After(now.Add(maxFutureSkew)) {
			t = now
		}
		// Replies and corrections in rooms are not carried yet: their
		// references would name room events, which the member's store
		// files under the home's event ids.
		m := &core.Message{Peer: core.Peer{Kind: core.Room, Remote: room.String()}, OriginID: ev.ID, Direction: core.Incoming,
			Sender: core.Address{Addr: sender.String(), Name: sender.String()}, Time: t, Kind: core.MessageKind(ev.Kind), Body: ev.Body}
		for _, a := range ev.Attachments {
			m.Attachments = append(m.Attachments, core.Attachment{URL: a.URL, Name: a.Name, MediaType: a.MediaType, Size: a.Size})
		}
		return core.MessageEvent{Message: m}, nil
	}
	return nil, fmt.Errorf("room event type %q not supported", ev.Type)
}

// receiveRoomEvents applies the events at indexes of a batch from origin
// that concern rooms: members' messages and leaves for rooms hosted here,
// and what homes fan out. A refused event is rejected alone; an error
// means the batch is to be retried.
func (s *Service) receiveRoomEvents(ctx context.Context, origin string, events []Event, indexes []int, results []Result) error {
	for _, i := range indexes {
		ev := events[i]
		from, _ := ParseAddress(ev.From)
		to, _ := ParseAddress(ev.To)
		var err error
		switch {
		case from.Domain != origin:
			return fmt.Errorf("event %s: from %s does not fit origin %s", ev.ID, from, origin)
		case s.rooms.store == nil:
			err = errNoRooms
		case !from.IsRoom() && to.IsRoom() && to.Domain == s.domain:
			err = s.fromMember(ctx, ev, from, to)
		case from.IsRoom() && to == from && from.Domain != s.domain:
			err = s.fromHome(ctx, ev, from)
		case from.IsRoom() && !to.IsRoom() && to.Domain == s.domain && from.Domain != s.domain && ev.Type == TypeInvite:
			err = s.deliverInvite(ctx, from, to, ev)
		default:
			// Rejected alone, as an unknown type is: failing the batch
			// would have the sender retry it for days, and everything
			// behind it in its queue to us wait.
			err = &refusal{fmt.Errorf("from %s to %s: not a room event this server takes", from, to)}
		}
		var refused *refusal
		switch {
		case errors.As(err, &refused):
			results[i] = Result{ID: ev.ID, Status: StatusRejected, Error: refused.Error()}
		case errors.Is(err, errNoRooms), errors.Is(err, core.ErrNoSuchRoom), errors.Is(err, errNotMember), core.IsPermanent(err):
			results[i] = Result{ID: ev.ID, Status: StatusRejected, Error: err.Error()}
		case err != nil:
			return fmt.Errorf("room event %s: %w", ev.ID, err)
		}
	}
	return nil
}

// refusal is an event that will never be accepted, as opposed to one the
// store could not take now.
type refusal struct{ err error }

func (r *refusal) Error() string { return r.err.Error() }

// fromMember applies a member's event for a room hosted here: a message,
// which the home numbers, archives and fans out, or a leave.
func (s *Service) fromMember(ctx context.Context, ev Event, from, room Address) error {
	switch ev.Type {
	case TypeLeave:
		return s.leaveHome(ctx, room, from)
	case TypeInvite:
		invitee, err := ParseAddress(ev.Invitee)
		if err != nil || invitee.IsRoom() || len(ev.Body) > maxReasonBytes {
			return &refusal{fmt.Errorf("invite: invitee %q or its text is not valid", ev.Invitee)}
		}
		return s.inviteHome(ctx, room, from, invitee, ev)
	case TypeMessage:
	default:
		return &refusal{fmt.Errorf("event type %q not supported for a room", ev.Type)}
	}
	if err := ev.checkMessage(); err != nil {
		return &refusal{err}
	}
	defer s.rooms.lock(room.String())()
	members, err := s.rooms.store.FedRoomMembers(ctx, room.String())
	if err != nil {
		return err
	}
	if !isMember(members, from) {
		return fmt.Errorf("%s: %w", from, errNotMember)
	}
	// The message's content only: what else the member put in (fields of
	// other types) is not the home's to archive and repeat to every member
	// server. References name the sender's events, which other members'
	// stores do not file under those ids: not carried in rooms yet.
	out := Event{ID: roomEventID(room, from, ev.ID), Type: TypeMessage, From: room.String(), To: room.String(),
		Sender: from.String(), Time: ev.Time, Kind: ev.Kind, Body: ev.Body, Attachments: ev.Attachments}
	if now := s.now(); out.Time.After(now.Add(maxFutureSkew)) {
		out.Time = now
	}
	entry, _, err := s.rooms.store.AppendFedRoom(ctx, room.String(), out.ID, func(seq int64) ([]byte, error) {
		out.Seq = seq
		return json.Marshal(out)
	}, roomArchiveKeep)
	if err != nil {
		return err
	}
	// A duplicate is fanned out again: the first time may have stopped
	// half way, and every receiver drops what it has by event id.
	if err := json.Unmarshal(entry.Payload, &out); err != nil {
		return err
	}
	return s.fanOut(ctx, room, members, out, "")
}

// fromHome hands what a room's home fanned out to the local users in the
// room.
func (s *Service) fromHome(ctx context.Context, ev Event, room Address) error {
	sender, err := ParseAddress(ev.Sender)
	if err != nil || sender.IsRoom() {
		return &refusal{fmt.Errorf("sender %q: not a user", ev.Sender)}
	}
	if reservedID(ev.ID) { // refs.go: the member's own messages have such ids
		return &refusal{errors.New("event id begins with a prefix this server keeps for its own ids")}
	}
	switch ev.Type {
	case TypeMessage:
		if err := ev.checkMessage(); err != nil {
			return &refusal{err}
		}
	case TypeJoin, TypeLeave:
	default:
		return &refusal{fmt.Errorf("room event type %q not supported", ev.Type)}
	}
	if ev.Type == TypeLeave && sender.Domain == s.domain {
		// Our user left here before this arrives (LeaveRoom), unless
		// they joined again meanwhile: the leave waited in our queue
		// while the join went straight to the home, which now counts
		// them out. They join again. (A home removes a member only on
		// their leave, section 4.3; were homes to remove members
		// themselves, such a removal would need telling apart.)
		joined, err := s.rooms.store.FedRoomJoined(ctx, room.String())
		if err != nil {
			return err
		}
		if slices.Contains(joined, sender.Local) {
			s.rejoinAfterStaleLeave(room, sender)
		}
	}
	return s.deliverRoomLocal(ctx, room, ev)
}

// rejoinAfterStaleLeave joins user to room at its home again, and fetches
// what they missed, in the background; one at a time per user and room,
// whatever a home sends.
func (s *Service) rejoinAfterStaleLeave(room, user Address) {
	key := room.String() + "\x00" + user.Local
	s.mu.Lock()
	b, ctx := s.locals[user.Local], s.runCtx
	if b == nil || ctx == nil || s.rejoining[key] {
		s.mu.Unlock()
		return // a network that starts rejoins its rooms anyway
	}
	if s.rejoining == nil {
		s.rejoining = make(map[string]bool)
	}
	s.rejoining[key] = true
	s.mu.Unlock()
	go func() {
		defer func() {
			s.mu.Lock()
			delete(s.rejoining, key)
			s.mu.Unlock()
		}()
		ctx, cancel := context.WithTimeout(ctx, 2*requestTimeout)
		defer cancel()
		s.log.Info("joining a room again after a leave sent before the user's last join", "room", room, "user", user)
		if _, err := b.joinAt(ctx, room); err != nil {
			if ctx.Err() == nil {
				b.env.Log.Warn("joining a room again", "room", room, "err", err)
			}
			return
		}
		if err := b.backfill(ctx, room); err != nil && ctx.Err() == nil {
			b.env.Log.Warn("fetching a room's history", "room", room, "err", err)
		}
	}()
}

// roomAddress reads a room named on a device; a user's address, or
// anything else, is refused for good.
func roomAddress(name string) (Address, error) {
	room, err := ParseAddress(name)
	if err != nil || !room.IsRoom() {
		return Address{}, core.Permanent(fmt.Errorf("%q: a room is #name@domain", name))
	}
	return room, nil
}

// roomArg is roomAddress for a join or leave, which also needs the
// store of rooms.
func (b *bridge) roomArg(name string) (Address, error) {
	room, err := roomAddress(name)
	if err == nil && b.svc.rooms.store == nil {
		err = core.Permanent(errNoRooms)
	}
	return room, err
}

// JoinRoom joins the user to a room: in-process when this server is its
// home, else by asking the home (rooms/join), which answers with the
// members. The devices then get the join and the member list, and the
// room's recent history is fetched into the user's store.
func (b *bridge) JoinRoom(ctx context.Context, name, _ string) error {
	room, err := b.roomArg(name)
	if err != nil {
		return err
	}
	s := b.svc
	// Recorded first: what the home sends once it took the join must
	// find the user in the room.
	if err := s.rooms.store.SetFedRoomJoined(ctx, room.String(), b.self.Local, true); err != nil {
		return err
	}
	members, err := b.joinAt(ctx, room)
	if err != nil {
		if uerr := s.rooms.store.SetFedRoomJoined(context.WithoutCancel(ctx), room.String(), b.self.Local, false); uerr != nil {
			b.env.Log.Warn("undoing a refused room join", "room", room, "err", uerr)
		}
		if errors.Is(err, core.ErrNoSuchRoom) || errors.Is(err, core.ErrRoomFull) {
			err = core.Permanent(err)
		}
		return err
	}
	if err := b.announceRoom(ctx, room, members); err != nil {
		return err
	}
	if err := b.backfill(ctx, room); err != nil && ctx.Err() == nil {
		b.env.Log.Warn("fetching a room's history", "room", room, "err", err)
	}
	return nil
}

// joinAt joins the user to room at its home and returns the members.
func (b *bridge) joinAt(ctx context.Context, room Address) ([]roomMember, error) {
	if room.Domain == b.svc.domain {
		return b.svc.joinHome(ctx, room, b.self)
	}
	var answer RoomJoinAnswer
	err := b.svc.roomRequest(ctx, room, "rooms/join", RoomRequest{Room: room.String(), User: b.self.String()}, &answer)
	return answer.Members, err
}

// announceRoom tells the user's devices they are in room, with members.
func (b *bridge) announceRoom(ctx context.Context, room Address, members []roomMember) error {
	list := make([]core.Member, 0, len(members)+1)
	self := core.Member{Nick: b.self.String(), Addr: b.self.String()}
	in := false
	for _, m := range members {
		cm := core.Member{Nick: m.Address, Addr: m.Address}
		if m.Affiliation == affiliationOwner {
			cm.Role = "owner"
		}
		if m.Address == self.Addr {
			self, in = cm, true
		}
		list = append(list, cm)
	}
	if !in {
		list = append(list, self)
	}
	return b.env.Inbound.Receive(ctx, core.MembershipEvent{Room: room.String(), Change: core.MemberJoined, Member: self, Self: true},
		core.RoomMembersEvent{Room: room.String(), Members: list})
}

// rejoinRooms shows the user's devices, when the network starts, the rooms
// the user is in: the Hub forgets rooms when the daemon stops. Each is
// joined again, which its home answers with the members (joining twice
// changes nothing there). A room its home no longer has is forgotten; one
// whose home cannot be reached now is shown with the user alone, and its
// events arrive as the home's queue delivers them.
func (b *bridge) rejoinRooms(ctx context.Context) {
	s := b.svc
	if s.rooms.store == nil {
		return
	}
	rooms, err := s.rooms.store.FedRoomsOf(ctx, b.self.Local)
	if err != nil {
		if ctx.Err() == nil { // stopped as it started: no fault
			b.env.Log.Warn("reading the user's rooms", "err", err)
		}
		return
	}
	// A join the Hub saved that did not get through (the home was
	// down) is tried again in full.
	for _, saved := range b.env.Rooms {
		if !slices.Contains(rooms, saved.Room) {
			if err := b.JoinRoom(ctx, saved.Room, saved.Key); err != nil && ctx.Err() == nil {
				b.env.Log.Info("joining a saved room", "room", saved.Room, "err", err)
			}
		}
	}
	for _, name := range rooms {
		room, err := ParseAddress(name)
		if err != nil || !room.IsRoom() {
			continue
		}
		members, err := b.joinAt(ctx, room)
		if errors.Is(err, core.ErrNoSuchRoom) {
			b.env.Log.Info("forgetting a room its home refused to rejoin", "room", room, "err", err)
			if err := s.rooms.store.SetFedRoomJoined(ctx, room.String(), b.self.Local, false); err != nil && ctx.Err() == nil {
				b.env.Log.Warn("forgetting a room", "room", room, "err", err)
			}
			continue
		}
		if err != nil {
			b.env.Log.Info("rejoining a room whose home cannot be reached now", "room", room, "err", err)
		}
		if err := b.announceRoom(ctx, room, members); err != nil && ctx.Err() == nil {
			b.env.Log.Warn("showing a room the user is in", "room", room, "err", err)
		}
	}
}

// backfill stores the room's recent messages in the user's history; the
// store drops those it has by event id.
func (b *bridge) backfill(ctx context.Context, room Address) error {
	s := b.svc
	// Pages back from the newest, then stored oldest first. The number
	// of pages is bounded whatever the home answers.
	var events []Event
	before := int64(0)
	for range backfillEvents / maxHistoryPage {
		var page []Event
		var err error
		if room.Domain == s.domain {
			page, err = s.homeHistory(ctx, room, b.self, before, maxHistoryPage)
		} else {
			var answer RoomHistoryAnswer
			err = s.roomRequest(ctx, room, "rooms/history",
				RoomRequest{Room: room.String(), User: b.self.String(), Before: before, Limit: maxHistoryPage}, &answer)
			page = answer.Events
		}
		if err != nil {
			return err
		}
		events = append(page, events...)
		if len(page) < maxHistoryPage || page[0].Seq <= 1 || (before != 0 && page[0].Seq >= before) {
			break
		}
		before = page[0].Seq
	}
	var out []core.Event
	for _, ev := range events {
		sender, err := ParseAddress(ev.Sender)
		if err != nil || ev.Type != TypeMessage || ev.From != room.String() || sender == b.self {
			continue // the user's own messages are in the history already
		}
		if checkID(ev.ID) != nil || reservedID(ev.ID) {
			continue // the id the message is stored under must be an event id, and not one of ours
		}
		e, err := s.roomCoreEvent(room, ev, sender)
		if err != nil {
			continue
		}
		out = append(out, e)
	}
	if len(out) == 0 {
		return nil
	}
	return b.env.Inbound.Receive(ctx, out...)
}

// LeaveRoom leaves a room: at once here, and at its home in-process or
// through the home's queue, so the leave survives the home being down.
func (b *bridge) LeaveRoom(ctx context.Context, name, _ string) error {
	room, err := b.roomArg(name)
	if err != nil {
		return err
	}
	s := b.svc
	if err := s.rooms.store.SetFedRoomJoined(ctx, room.String(), b.self.Local, false); err != nil {
		return err
	}
	if room.Domain == s.domain {
		err = s.leaveHome(ctx, room, b.self)
	} else {
		now := s.now().UTC()
		ev := Event{ID: membershipEventID(room, TypeLeave, b.self, now), Type: TypeLeave, From: b.self.String(), To: room.String(), Time: now}
		var q core.FedQueued
		if q, err = s.queued(b.env.User.ID, 0, ev, room.Domain); err == nil {
			err = s.enqueueAll(ctx, []core.FedQueued{q})
		}
	}
	if err != nil {
		return err
	}
	return b.env.Inbound.Receive(ctx, core.MembershipEvent{Room: room.String(), Change: core.MemberLeft,
		Member: core.Member{Nick: b.self.String(), Addr: b.self.String()}, Self: true})
}

// roomRequest posts a room request to the room's home and decodes its
// answer into out; a refusal is the home's problem detail.
func (s *Service) roomRequest(ctx context.Context, room Address, path string, req RoomRequest, out any) error {
	if s.queue == nil {
		return fmt.Errorf("%s: federation with other domains is not enabled on this server", room.Domain)
	}
	p, err := s.peer(room.Domain)
	if err != nil {
		return err
	}
	var nonce [16]byte
	_, _ = rand.Read(nonce[:])
	req.ID = hex.EncodeToString(nonce[:])
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	status, answer, _, err := p.post(ctx, path, body)
	if err != nil {
		return fmt.Errorf("asking %s: %w", room.Domain, err)
	}
	if status != http.StatusOK {
		err := fmt.Errorf("%s answered %d", room.Domain, status)
		var pr problem
		if json.Unmarshal(answer, &pr) == nil && pr.Detail != "" {
			err = fmt.Errorf("%s refused: %s", room.Domain, pr.Detail)
		}
		if pr.Type == problemBase+"no-such-room" {
			err = fmt.Errorf("%w: %v", core.ErrNoSuchRoom, err)
		}
		if status >= 400 && status < 500 && status != http.StatusTooManyRequests && status != http.StatusUnauthorized {
			return core.Permanent(err) // the room, not the moment, is the matter
		}
		return err
	}
	if err := json.Unmarshal(answer, out); err != nil {
		return fmt.Errorf("%s's answer: %w", room.Domain, err)
	}
	return nil
}

// inviteHome passes a member's invitation on to the invitee, from the
// room: the home vouches that a member invited. Rooms are open, so the
// invitation grants nothing; it tells the invitee where to join.
func (s *Service) inviteHome(ctx context.Context, room, inviter, invitee Address, ev Event) error {
	members, err := s.rooms.store.FedRoomMembers(ctx, room.String())
	if err != nil {
		return err
	}
	if !isMember(members, inviter) {
		return fmt.Errorf("%s: %w", inviter, errNotMember)
	}
	out := Event{ID: roomEventID(room, inviter, ev.ID), Type: TypeInvite, From: room.String(), To: invitee.String(),
		Sender: inviter.String(), Invitee: invitee.String(), Body: ev.Body, Time: s.now().UTC()}
	if invitee.Domain == s.domain {
		return s.deliverInvite(ctx, room, invitee, out)
	}
	return s.sendInvitation(ctx, out, invitee)
}

// sendInvitation passes the home's invitation to the invitee's server
// once, best effort, as presence goes: any member of an open room may
// name any domain, and a queued invitation would keep a queue entry and a
// delivery worker for each such domain for days (a peer with a worker is
// never forgotten, so made-up domains would fill the peer table). What
// exceeds maxInvitationSends in flight is dropped.
func (s *Service) sendInvitation(ctx context.Context, ev Event, to Address) error {
	if s.queue == nil {
		return core.Permanent(fmt.Errorf("%s: federation with other domains is not enabled on this server", to.Domain))
	}
	p, err := s.peer(to.Domain)
	if err != nil {
		return core.Permanent(err)
	}
	body, err := json.Marshal(Batch{Events: []Event{ev}})
	if err != nil {
		return core.Permanent(err)
	}
	select {
	case s.invitationSends <- struct{}{}:
	default:
		metricOutEvents.WithLabelValues("invitation_dropped").Inc()
		return nil
	}
	go func() {
		defer func() { <-s.invitationSends }()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), presenceTimeout)
		defer cancel()
		status, answer, _, err := p.post(ctx, "events", body)
		if err != nil || status != http.StatusOK {
			metricOutEvents.WithLabelValues("invitation_dropped").Inc()
			s.log.Info("an invitation was not delivered", "peer", p.domain, "room", ev.From, "status", status,
				"answer", string(answer[:min(len(answer), 200)]), "err", err)
			return
		}
		metricOutEvents.WithLabelValues("invitation").Inc()
	}()
	return nil
}

// deliverInvite shows a local user an invitation into room, as a notice
// from the member who invited, in their conversation with that member.
func (s *Service) deliverInvite(ctx context.Context, room, invitee Address, ev Event) error {
	inviter, err := ParseAddress(ev.Sender)
	if err != nil || inviter.IsRoom() || len(ev.Body) > maxReasonBytes {
		return &refusal{fmt.Errorf("invite: sender %q or its text is not valid", ev.Sender)}
	}
	b, err := s.recipient(ctx, invitee.Local)
	if err != nil {
		return err
	}
	if b == nil {
		return &refusal{errors.New("no such user")}
	}
	if s.blocks != nil {
		list, err := s.blocks.BlockList(ctx, b.env.User.ID)
		if err != nil {
			return err
		}
		for _, a := range list {
			if a = strings.ToLower(a); a == inviter.String() || a == inviter.Domain || a == room.String() || a == room.Domain {
				return &refusal{fmt.Errorf("the recipient does not accept invitations from %s", inviter)}
			}
		}
	}
	// Stored as every bridge stores an invitation of the user: from the
	// inviter, the room's address then the reason as its body, which
	// devices show as an invitation they can accept (XEP-0249 on the
	// XMPP port).
	text := room.String()
	if ev.Body != "" {
		text += " " + ev.Body
	}
	// Filed in the conversation with the inviter, a user of any domain,
	// under an id no event id can be ('/' is not in their alphabet): the
	// home chose ev.ID, and one of the inviter's own ids (guessable: they
	// derive from time-ordered message ids) or one of this server's
	// reserved ids would make that message a duplicate when it comes.
	sum := sha256.Sum256([]byte(room.String() + "\x00" + ev.ID))
	originID := "invite/" + hex.EncodeToString(sum[:16])
	m := &core.Message{Peer: core.Peer{Kind: core.Direct, Remote: inviter.String()}, OriginID: originID, Direction: core.Incoming,
		Sender: core.Address{Addr: inviter.String(), Name: inviter.Local}, Time: s.now(), Kind: core.KindInvite, Body: text}
	return b.env.Inbound.Receive(ctx, core.MessageEvent{Message: m})
}

// InviteToRoom invites a user of any domain into a room the user is in:
// through the room's home, which checks the inviter is a member.
func (b *bridge) InviteToRoom(ctx context.Context, name, invitee, reason string) error {
	room, err := roomAddress(name)
	if err != nil {
		return err
	}
	to, err := ParseAddress(invitee)
	if err != nil || to.IsRoom() {
		return core.Permanent(fmt.Errorf("%q: invite a user, user@domain", invitee))
	}
	if len(reason) > maxReasonBytes {
		reason = strings.ToValidUTF8(reason[:maxReasonBytes], "")
	}
	s := b.svc
	if s.rooms.store == nil {
		return core.Permanent(errNoRooms)
	}
	now := s.now().UTC()
	ev := Event{ID: membershipEventID(room, TypeInvite+"\x00"+to.String(), b.self, now), Type: TypeInvite, From: b.self.String(),
		To: room.String(), Invitee: to.String(), Body: reason, Time: now}
	if room.Domain == s.domain {
		err := s.inviteHome(ctx, room, b.self, to, ev)
		var refused *refusal
		if errors.As(err, &refused) || errors.Is(err, errNotMember) || errors.Is(err, core.ErrNoSuchRoom) {
			return core.Permanent(err)
		}
		return err
	}
	q, err := s.queued(b.env.User.ID, 0, ev, room.Domain)
	if err != nil {
		return err
	}
	return s.enqueueAll(ctx, []core.FedQueued{q})
}
