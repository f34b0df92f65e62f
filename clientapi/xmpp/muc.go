package xmpp

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/switchboard/switchboard/core"
)

const (
	nsMUC     = "http://jabber.org/protocol/muc"
	nsMUCUser = "http://jabber.org/protocol/muc#user"
)

// MUC status codes (XEP-0045 §15.6) the port sends.
const (
	mucNonAnonymous = "100" // occupants' real addresses are shown
	mucSelf         = "110" // this presence is the device's own
	mucNewNick      = "303" // the occupant changed nick
	mucNickAssigned = "210" // the service chose the device's nick
)

// mucJoinTimeout is how long a join waits for the network's member list
// before the device is told the room could not be joined.
var mucJoinTimeout = 30 * time.Second

// defaultMUCHistory is how many past messages a join without a history
// request gets, as Prosody gives.
const defaultMUCHistory = 20

// maxMUCHistory caps what a join may ask for; more is for MAM.
const maxMUCHistory = 200

// mucRoom is a room this device joined as a MUC occupant (XEP-0045). The
// network's membership is the user's, shared by all devices: a device
// that leaves the MUC leaves only its view of it, and the channel stays
// joined for the others and for history.
type mucRoom struct {
	jid     string // the room's address, e.g. #go@libera.example.org
	network core.Network
	room    string // as the bridge names it
	asked   string // the nick the device asked for
	pending bool   // waiting for the network's member list
	history mucHistory
	timer   *time.Timer
	subject string // the last subject sent, so a repeat is not news
	// joinedAt is the room's newest stored message when the join
	// completed: the join's history covers it and what came before, so
	// live events queued meanwhile for older messages are not repeated.
	joinedAt core.MessageID
}

// mucHistory is a join's <history/> request.
type mucHistory struct {
	max   int // stanzas; -1 for the default
	since time.Time
}

// mucRooms is the rooms one session joined, keyed by room address.
type mucRooms struct {
	mu sync.Mutex
	m  map[string]*mucRoom
}

func (r *mucRooms) get(jid string) *mucRoom {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m[jid]
}

// occupant returns the room if the device is a full occupant of it: its
// pending flag is read under the lock the join's completion takes.
func (r *mucRooms) occupant(jid string) *mucRoom {
	r.mu.Lock()
	defer r.mu.Unlock()
	if room := r.m[jid]; room != nil && !room.pending {
		return room
	}
	return nil
}

// maxPendingJoins bounds the joins one device may have waiting for the
// network: each is a real JOIN and a timer.
const maxPendingJoins = 16

// putPending adds a pending join unless the device has too many.
func (r *mucRooms) putPending(room *mucRoom) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, other := range r.m {
		if other.pending {
			n++
		}
	}
	if n >= maxPendingJoins {
		return false
	}
	if r.m == nil {
		r.m = make(map[string]*mucRoom)
	}
	r.m[room.jid] = room
	return true
}

func (r *mucRooms) remove(jid string) *mucRoom {
	r.mu.Lock()
	defer r.mu.Unlock()
	room := r.m[jid]
	delete(r.m, jid)
	if room != nil && room.timer != nil {
		room.timer.Stop()
	}
	return room
}

// finishPending marks a pending join done; false when it was not pending
// (done already, or left), so a join completes once. want, if not nil,
// is the join a timer or a refusal is about: a later join of the same
// room is not theirs to end.
func (r *mucRooms) finishPending(jid string, want *mucRoom) (*mucRoom, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	room := r.m[jid]
	if room == nil || !room.pending || (want != nil && room != want) {
		return nil, false
	}
	room.pending = false
	if room.timer != nil {
		room.timer.Stop()
	}
	return room, true
}

// newSubject records topic as the room's subject for this device; false
// when it is what the device has already or the device is no occupant.
func (r *mucRooms) newSubject(jid, topic string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	room := r.m[jid]
	if room == nil || room.pending || room.subject == topic {
		return false
	}
	room.subject = topic
	return true
}

// joined reports whether the device is a full occupant of the room.
func (r *mucRooms) joined(jid string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	room := r.m[jid]
	return room != nil && !room.pending
}

func (r *mucRooms) all() []*mucRoom {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*mucRoom, 0, len(r.m))
	for _, room := range r.m {
		out = append(out, room)
	}
	return out
}

// handleRoomPresence handles a presence to a room occupant address: a
// join, a leave, or a status change while in the room.
func (s *session) handleRoomPresence(ctx context.Context, p *element, r resolved) {
	roomJID := peerJID(r.network, r.peer.Remote, s.srv.domain)
	if r.resource == "" {
		s.send(bounce(p, "modify", "jid-malformed", "join a room as ROOM/NICK"))
		return
	}
	switch p.attr("type") {
	case "unavailable":
		if room := s.muc.remove(roomJID); room != nil {
			self := s.mucSelfNick(room)
			s.send(s.occupantPresence(room, core.Member{Nick: self}, true, "unavailable", mucSelf))
		}
		return
	case "":
	default:
		return // subscriptions to occupants mean nothing here
	}
	if room := s.muc.get(roomJID); room != nil {
		if s.muc.occupant(roomJID) != nil && r.resource != room.asked && r.resource != s.mucSelfNick(room) {
			// IRC nicks belong to the connection, not the channel.
			s.send(bounce(p, "cancel", "not-acceptable", "the nick is the network's; change it there"))
		}
		return // a status change: IRC channels carry none
	}
	room := &mucRoom{jid: roomJID, network: r.network, room: r.peer.Remote, asked: r.resource, pending: true,
		history: mucHistory{max: -1}}
	var key string
	if x := p.child(nsMUC, "x"); x != nil {
		key = x.childText(nsMUC, "password")
		room.history = parseMUCHistory(x.child(nsMUC, "history"))
	}
	// The timer exists before the room is shared, so nothing reads the
	// field while it is set.
	room.timer = time.AfterFunc(mucJoinTimeout, func() {
		if room, ok := s.muc.finishPending(roomJID, room); ok {
			s.muc.remove(roomJID)
			s.send(s.joinError(room, "wait", "remote-server-timeout", "the network did not confirm the join"))
		}
	})
	if !s.muc.putPending(room) {
		room.timer.Stop()
		s.send(s.joinError(room, "wait", "resource-constraint", "too many joins waiting for the network"))
		return
	}
	if st, ok := s.srv.hub.Room(s.user.ID, r.network.ID, r.peer.Remote); ok && st.Joined {
		// The network is in the room already. The pump completes the
		// join: the room's live events, which the pump delivers once
		// the join is done, must not come before the join's own
		// presences and history, nor be lost between a snapshot taken
		// here and the pump's next event.
		s.runOnPump(func(ctx context.Context) {
			st, in := s.srv.hub.Room(s.user.ID, r.network.ID, r.peer.Remote)
			if in && !st.Joined {
				// The network left and is joining again: its member
				// list completes the join (deliverRoom), as for a
				// first join.
				return
			}
			room, ok := s.muc.finishPending(roomJID, room)
			if !ok {
				return // timed out or left meanwhile
			}
			if in {
				s.completeJoin(ctx, room, st)
				return
			}
			s.muc.remove(roomJID) // the network left it meanwhile
			s.send(s.joinError(room, "cancel", "item-not-found", "the network is no longer in the room"))
		})
		return
	}
	// The network's answer comes as the member list (deliverRoom); the
	// call returns early only for a refusal.
	go func() {
		jctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), mucJoinTimeout)
		defer cancel()
		err := s.srv.hub.JoinRoom(jctx, s.user.ID, r.network.ID, r.peer.Remote, key)
		if err == nil {
			return
		}
		if room, ok := s.muc.finishPending(roomJID, room); ok {
			s.muc.remove(roomJID)
			s.log.Info("room join refused", "room", roomJID, "err", err)
			s.send(s.joinError(room, "cancel", "not-allowed", err.Error()))
		}
	}()
}

// parseMUCHistory reads <history maxstanzas seconds since maxchars/>.
func parseMUCHistory(h *element) mucHistory {
	out := mucHistory{max: -1}
	if h == nil {
		return out
	}
	if v, err := strconv.Atoi(h.attr("maxstanzas")); err == nil && v >= 0 {
		out.max = v
	}
	if h.attr("maxchars") == "0" {
		out.max = 0 // the old way of asking for none
	}
	if v, err := strconv.Atoi(h.attr("seconds")); err == nil && v >= 0 {
		out.since = time.Now().Add(-time.Duration(v) * time.Second)
	}
	if t, err := time.Parse(time.RFC3339, h.attr("since")); err == nil && t.After(out.since) {
		out.since = t
	}
	return out
}

func (s *session) joinError(room *mucRoom, typ, condition, text string) *element {
	p := el(nsClient, "presence", "from", room.jid+"/"+room.asked, "to", s.full, "type", "error")
	return p.add(el(nsMUC, "x"), stanzaError(typ, condition, text))
}

// mucSelfNick is the user's nick in the room: the network's.
func (s *session) mucSelfNick(room *mucRoom) string {
	if st, ok := s.srv.hub.Room(s.user.ID, room.network.ID, room.room); ok && st.Self != "" {
		return st.Self
	}
	return room.asked
}

// completeJoin sends what XEP-0045 §7.2 orders for a join: the other
// occupants, the device's own presence, the history, then the subject.
func (s *session) completeJoin(ctx context.Context, room *mucRoom, st core.RoomState) {
	self := st.Self
	if self == "" {
		self = room.asked
	}
	for _, m := range st.Members {
		if m.Nick != self {
			s.send(s.occupantPresence(room, m, false, ""))
		}
	}
	codes := []string{mucSelf, mucNonAnonymous}
	if self != room.asked {
		codes = append(codes, mucNickAssigned)
	}
	selfMember := core.Member{Nick: self}
	for _, m := range st.Members {
		if m.Nick == self {
			selfMember = m
		}
	}
	s.send(s.occupantPresence(room, selfMember, false, "", codes...))
	s.sendRoomHistory(ctx, room)
	s.muc.mu.Lock()
	room.subject = st.Topic.Topic
	s.muc.mu.Unlock()
	subject := el(nsClient, "message", "from", room.jid, "to", s.full, "type", "groupchat", "id", "subject-"+randomID()[:8]).
		add(el(nsClient, "subject").withText(st.Topic.Topic))
	s.send(subject)
}

// sendRoomHistory sends the join's share of the room's archive, oldest
// first, each marked as delayed, and notes where the join's history ends.
func (s *session) sendRoomHistory(ctx context.Context, room *mucRoom) {
	limit := room.history.max
	if limit < 0 {
		limit = defaultMUCHistory
	}
	limit = min(limit, maxMUCHistory)
	conv, ok := s.conversationOfPeer(ctx, room.network.ID, core.Peer{Kind: core.Room, Remote: room.room})
	if !ok {
		return
	}
	// At least the newest message is read, even for a join that wants
	// no history, to know where the live messages start.
	msgs, err := s.srv.store.Messages(ctx, core.PageQuery{User: s.user.ID, Conversation: conv.ID, Order: core.NewestFirst, Limit: max(limit, 1)})
	if err != nil {
		s.log.Warn("reading room history for a join", "room", room.jid, "err", err)
		return
	}
	if len(msgs) > 0 {
		s.muc.mu.Lock()
		room.joinedAt = msgs[0].ID
		s.muc.mu.Unlock()
	}
	msgs = msgs[:min(len(msgs), limit)]
	for i := len(msgs) - 1; i >= 0; i-- {
		m := msgs[i]
		if !room.history.since.IsZero() && m.Time.Before(room.history.since) {
			continue
		}
		st := s.messageStanza(room.network, m)
		if st == nil {
			continue
		}
		s.fromOccupant(st, room, m)
		if st.child(nsDelay, "delay") == nil {
			st.add(el(nsDelay, "delay", "from", room.jid, "stamp", m.Time.UTC().Format("2006-01-02T15:04:05.000Z")))
		}
		s.send(st)
	}
}

// fromOccupant addresses a room message from its sender's occupant
// address; the user's own messages come from the user's nick.
func (s *session) fromOccupant(st *element, room *mucRoom, m *core.Message) {
	nick := m.Sender.Addr
	if m.Direction == core.Outgoing || nick == "" {
		nick = s.mucSelfNick(room)
	}
	st.setAttr("from", room.jid+"/"+nick)
}

// occupantPresence is an occupant's presence in the room, with its role
// mapped from the channel mode (XEP-0045 §5) and its network address.
func (s *session) occupantPresence(room *mucRoom, m core.Member, self bool, typ string, codes ...string) *element {
	p := el(nsClient, "presence", "from", room.jid+"/"+m.Nick, "to", s.full)
	if typ != "" {
		p.setAttr("type", typ)
	}
	affiliation, role := "none", "participant"
	switch m.Role {
	case "owner":
		affiliation, role = "owner", "moderator"
	case "admin":
		affiliation, role = "admin", "moderator"
	case "op", "halfop":
		role = "moderator"
	}
	if typ == "unavailable" {
		role = "none"
	}
	item := el(nsMUCUser, "item", "affiliation", affiliation, "role", role)
	if m.Nick != "" {
		item.setAttr("jid", peerJID(room.network, s.nets.remoteOf(room.network, m.Nick), s.srv.domain))
	}
	x := el(nsMUCUser, "x").add(item)
	if self && !containsCode(codes, mucSelf) {
		codes = append(codes, mucSelf)
	}
	for _, c := range codes {
		x.add(el(nsMUCUser, "status", "code", c))
	}
	return p.add(x)
}

func containsCode(codes []string, c string) bool {
	for _, x := range codes {
		if x == c {
			return true
		}
	}
	return false
}

// deliverRoom turns the Hub's room events into occupant presences and
// subjects for the rooms this device joined, and completes joins waiting
// for the network's member list.
func (s *session) deliverRoom(ctx context.Context, e core.Event) {
	var network core.NetworkID
	var name string
	switch e := e.(type) {
	case core.RoomMembersEvent:
		network, name = e.Network, e.Room
	case core.MembershipEvent:
		network, name = e.Network, e.Room
	case core.TopicEvent:
		network, name = e.Network, e.Room
	}
	nw, ok := s.nets.get(ctx, network)
	if !ok {
		return
	}
	roomJID := peerJID(nw, name, s.srv.domain)
	switch e := e.(type) {
	case core.RoomMembersEvent:
		if room, ok := s.muc.finishPending(roomJID, nil); ok {
			if st, ok := s.srv.hub.Room(s.user.ID, network, name); ok {
				s.completeJoin(ctx, room, st)
			}
			return
		}
		room := s.muc.occupant(roomJID)
		if room == nil {
			return
		}
		// A rejoin after a reconnect: everyone present, again.
		self := s.mucSelfNick(room)
		for _, m := range e.Members {
			s.send(s.occupantPresence(room, m, m.Nick == self, ""))
		}
	case core.MembershipEvent:
		room := s.muc.occupant(roomJID)
		if room == nil {
			return
		}
		switch e.Change {
		case core.MemberJoined:
			s.send(s.occupantPresence(room, e.Member, e.Self, ""))
		case core.MemberUpdated:
			if e.PreviousNick != "" && e.PreviousNick != e.Member.Nick {
				gone := s.occupantPresence(room, core.Member{Nick: e.PreviousNick, Role: e.Member.Role}, e.Self, "unavailable", mucNewNick)
				gone.child(nsMUCUser, "x").child(nsMUCUser, "item").setAttr("nick", e.Member.Nick)
				s.send(gone)
			}
			s.send(s.occupantPresence(room, e.Member, e.Self, ""))
		case core.MemberLeft:
			s.send(s.occupantPresence(room, e.Member, e.Self, "unavailable"))
			if e.Self {
				s.muc.remove(roomJID) // parted or kicked on the network
			}
		}
	case core.TopicEvent:
		if !s.muc.newSubject(roomJID, e.Topic) {
			return
		}
		st := el(nsClient, "message", "from", roomJID, "to", s.full, "type", "groupchat", "id", "subject-"+randomID()[:8]).
			add(el(nsClient, "subject").withText(e.Topic))
		if e.SetBy != "" {
			st.setAttr("from", roomJID+"/"+e.SetBy)
		}
		s.send(st)
	}
}

// leaveAllRooms ends the device's occupancy of every room, as a client
// going unavailable does (XEP-0045 §7.14 is done by the client's server;
// here that is this port).
func (s *session) leaveAllRooms() {
	for _, room := range s.muc.all() {
		s.muc.remove(room.jid)
	}
}

// roomDiscoFeatures are what a room address offers.
var roomDiscoFeatures = []string{nsDiscoInfo, nsMUC, "muc_persistent", "muc_open", "muc_nonanonymous",
	"muc_unsecured", "muc_unmoderated", nsMAM, nsSID, nsChatStates}

// deliverRoomMessage sends a room's message to this device if it is an
// occupant: from the sender's occupant address, and the device's own
// messages reflected with the id and origin-id it sent them with, which
// is how MUC clients know their message went through. The stanza is the
// same for every device of the user but for its 'to', so it is
// serialized once (roomRenders) and each device's copy only splices its
// address in: a busy channel's line goes to every device at once.
func (s *session) deliverRoomMessage(nw core.Network, m *core.Message) {
	room := s.muc.occupant(s.roomAddress(nw, m.Peer.Remote))
	if room == nil {
		return // not an occupant here: the room's archive has it
	}
	s.muc.mu.Lock()
	seen := m.ID != 0 && m.ID <= room.joinedAt
	s.muc.mu.Unlock()
	if seen {
		return // the join's history had it
	}
	tmpl := s.srv.roomRenders.get(s.user.ID, m, func() []byte {
		st := s.messageStanza(nw, m)
		if st == nil {
			return nil
		}
		st.setAttr("to", "") // each device's own is spliced in
		s.fromOccupant(st, room, m)
		if id, ok := strings.CutPrefix(m.OriginID, "xmpp-origin:"); ok && m.Direction == core.Outgoing {
			st.setAttr("id", id)
			st.add(el(nsSID, "origin-id", "id", id))
		}
		return st.bytes()
	})
	if tmpl == nil {
		return
	}
	s.sendRendered(addressedTo(tmpl, s.messageTo))
}

// messageTemplate is how a message rendered without a 'to' begins.
const messageTemplate = "<message"

// messageOpening is the beginning of a message stanza to to, which
// addressedTo puts in front of a rendering made without one.
func messageOpening(to string) []byte {
	var b bytes.Buffer
	b.WriteString(messageTemplate + " to='")
	escapeAttr(&b, to)
	b.WriteByte('\'')
	return b.Bytes()
}

// addressedTo addresses a message rendered without a 'to' (tmpl) with
// opening, from messageOpening.
func addressedTo(tmpl, opening []byte) rendered {
	rest, ok := bytes.CutPrefix(tmpl, []byte(messageTemplate))
	if !ok {
		return rendered{body: tmpl}
	}
	return rendered{head: opening, body: rest}
}

// renderCache keeps the last few room messages' serializations, keyed by
// the Hub's message pointer, which every device of the user receives.
type renderCache struct {
	mu   sync.Mutex
	ring [64]struct {
		user core.UserID
		m    *core.Message
		b    []byte
	}
	next int
}

// get returns m's serialization for user's devices, rendering it on
// first use. The user is part of the key as a defence: a message pointer
// is one user's today, and a rendering carries that user's nick.
func (c *renderCache) get(user core.UserID, m *core.Message, render func() []byte) []byte {
	c.mu.Lock()
	// Newest first: the devices of a busy room ask for the message just
	// rendered, so the search usually ends at its first step.
	for k := 1; k <= len(c.ring); k++ {
		i := (c.next - k + len(c.ring)) % len(c.ring)
		if c.ring[i].m == m && c.ring[i].user == user {
			b := c.ring[i].b
			c.mu.Unlock()
			return b
		}
	}
	c.mu.Unlock()
	b := render()
	c.mu.Lock()
	c.ring[c.next].user, c.ring[c.next].m, c.ring[c.next].b = user, m, b
	c.next = (c.next + 1) % len(c.ring)
	c.mu.Unlock()
	return b
}

// answerSelfPing answers a ping to a room occupant (XEP-0410 MUC
// self-ping): success only while this device is an occupant under that
// nick, so a client that silently dropped out learns to rejoin. False
// for pings to anything else.
func (s *session) answerSelfPing(ctx context.Context, iq *element) bool {
	to := iq.attr("to")
	r, ok := s.nets.resolve(ctx, to, s.srv.domain)
	if !ok || r.peer.Kind != core.Room || r.resource == "" {
		return false
	}
	room := s.muc.occupant(peerJID(r.network, r.peer.Remote, s.srv.domain))
	if room == nil || r.resource != s.mucSelfNick(room) {
		s.send(iqError(iq, "cancel", "not-acceptable", "not an occupant of this room"))
		return true
	}
	s.send(iqResult(iq))
	return true
}

// roomAddress is peerJID for a room's messages, remembering the last one:
// a busy room's lines come one after another, and escaping its name for
// every line and device was a tenth of a delivery's cost. Only the pump
// calls it.
func (s *session) roomAddress(nw core.Network, room string) string {
	last := &s.lastRoom
	if last.network != nw.ID || last.room != room || last.label != nw.Name {
		*last = lastRoomAddress{network: nw.ID, room: room, label: nw.Name, jid: peerJID(nw, room, s.srv.domain)}
	}
	return last.jid
}

// lastRoomAddress is roomAddress's memory.
type lastRoomAddress struct {
	network     core.NetworkID
	room, label string
	jid         string
}
