package xmpp

// Group chats (XEP-0045). The account's rooms come from its bookmarks
// (bookmarks.go) on every connect and from devices (JoinRoom); each is
// joined with no history from the room, whose own archive (XEP-0313 on
// the room's address) fills the gap since the newest stored message
// instead. Occupants become core membership events, the subject a topic,
// groupchat messages room messages, and an occupant's private message a
// direct conversation with the occupant's full address.

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"github.com/switchboard/switchboard/core"
)

const (
	nsMUC     = "http://jabber.org/protocol/muc"
	nsMUCUser = "http://jabber.org/protocol/muc#user"
	nsPing    = "urn:xmpp:ping"
)

// MUC status codes (XEP-0045 §15.6) the bridge acts on.
const (
	statusSelf      = "110" // this presence is about the account's own occupant
	statusBanned    = "301"
	statusNewNick   = "303"
	statusKicked    = "307"
	statusAffRemove = "321" // removed by an affiliation change
	statusMembers   = "322" // removed as the room became members-only
)

// Bounds on what rooms can make the bridge remember.
const (
	maxRooms      = 256  // rooms per account, from bookmarks and devices together
	maxOccupants  = 5000 // occupants tracked per room; more still talk, but are not listed
	maxNickTries  = 5    // nick-clash retries, each with a longer suffix
	maxEchoesWait = 1024 // messages sent to a room still waiting for the room's echo
	maxKnownRooms = 100000
)

// Timing of group chats; variables so tests can shorten them.
var (
	// roomEchoTimeout is how long Send waits for the room to reflect a
	// message (the proof it went out) or refuse it.
	roomEchoTimeout = 10 * time.Second
	// selfPingInterval is how often each joined room is asked whether
	// the account is still in it (XEP-0410): a room restarted or a
	// stanza lost can drop an occupant without a word.
	selfPingInterval = 3 * time.Minute
)

// mucUserX is the muc#user payload of presences and messages.
type mucUserX struct {
	Items    []mucItem   `xml:"http://jabber.org/protocol/muc#user item"`
	Statuses []mucStatus `xml:"http://jabber.org/protocol/muc#user status"`
	Destroy  *struct{}   `xml:"http://jabber.org/protocol/muc#user destroy"`
	Invite   *mucInvite  `xml:"http://jabber.org/protocol/muc#user invite"`
}

// mucInvite is a mediated invitation (XEP-0045 §7.8.2): the room
// passes on who invites the account and why.
type mucInvite struct {
	From   string `xml:"from,attr"`
	Reason string `xml:"http://jabber.org/protocol/muc#user reason"`
}

// directInvite is an invitation sent straight from the inviter
// (XEP-0249).
type directInvite struct {
	JID    string `xml:"jid,attr"`
	Reason string `xml:"reason,attr"`
}

type mucItem struct {
	Affiliation string `xml:"affiliation,attr"`
	Role        string `xml:"role,attr"`
	JID         string `xml:"jid,attr"`
	Nick        string `xml:"nick,attr"`
}

type mucStatus struct {
	Code string `xml:"code,attr"`
}

func (x *mucUserX) has(code string) bool {
	if x == nil {
		return false
	}
	for _, s := range x.Statuses {
		if s.Code == code {
			return true
		}
	}
	return false
}

func (x *mucUserX) item() mucItem {
	if x == nil || len(x.Items) == 0 {
		return mucItem{}
	}
	return x.Items[0]
}

// memberRole maps an occupant's affiliation and role (XEP-0045 §5) to the
// role names the IRC bridge gives channel modes, which is what devices
// already show: owner and admin as themselves, a moderator as an op, a
// member as voiced. Everyone else is a plain occupant.
func memberRole(it mucItem) string {
	switch {
	case it.Affiliation == "owner":
		return "owner"
	case it.Affiliation == "admin":
		return "admin"
	case it.Role == "moderator":
		return "op"
	case it.Affiliation == "member" && it.Role != "visitor":
		return "voice"
	}
	return ""
}

// roomWant is a room the account should be in.
type roomWant struct {
	nick, password string
}

// wantedRooms is the bridge's list of rooms, kept across reconnects, and
// the time of the newest stored message of each, where its archive gap
// fill starts.
type wantedRooms struct {
	mu   sync.Mutex
	m    map[string]roomWant // by the room's bare address
	seen map[string]time.Time
	// lost is the rooms a lost stream was in, which a resumed stream is
	// still in: the server kept the occupancy (sm.go).
	lost map[string]*mucRoom
}

func (w *wantedRooms) want(room string, rw roomWant) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.m[room]; !ok && len(w.m) >= maxRooms {
		return false
	}
	if w.m == nil {
		w.m = make(map[string]roomWant)
	}
	if old, ok := w.m[room]; ok {
		// A join without a password or nick keeps what a bookmark said.
		if rw.password == "" {
			rw.password = old.password
		}
		if rw.nick == "" {
			rw.nick = old.nick
		}
	}
	w.m[room] = rw
	return true
}

func (w *wantedRooms) unwant(room string) {
	w.mu.Lock()
	delete(w.m, room)
	w.mu.Unlock()
}

func (w *wantedRooms) get(room string) (roomWant, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	rw, ok := w.m[room]
	return rw, ok
}

func (w *wantedRooms) all() map[string]roomWant {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]roomWant, len(w.m))
	for k, v := range w.m {
		out[k] = v
	}
	return out
}

func (w *wantedRooms) noteSeen(room string, t time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.seen == nil {
		w.seen = make(map[string]time.Time)
	}
	if t.After(w.seen[room]) && (len(w.seen) < maxRooms*2 || !w.seen[room].IsZero()) {
		w.seen[room] = t
	}
}

func (w *wantedRooms) seenOf(room string) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.seen[room]
}

// knownRooms is every address the bridges of this process know to be a
// room (from bookmarks, joins and stored room conversations), so
// parsePeer files a name typed on a device as a room, and an occupant's
// full address as a direct conversation of its own. Whether an address
// is a room is public knowledge about it, so one set serves every user.
var knownRooms roomRegistry

type roomRegistry struct {
	mu sync.RWMutex
	m  map[string]struct{}
}

func (r *roomRegistry) add(room string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = make(map[string]struct{})
	}
	if len(r.m) < maxKnownRooms {
		r.m[room] = struct{}{}
	}
}

func (r *roomRegistry) has(room string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	_, ok := r.m[room]
	return ok
}

// mucServiceLabels are the first labels of the domains group chat
// services conventionally live on. A room on such a domain is taken for
// one before the bridge has seen it, so a device can join it by name.
var mucServiceLabels = map[string]bool{
	"conference": true, "muc": true, "rooms": true, "chatrooms": true, "groupchat": true, "conf": true,
}

// isRoom says whether the bare address j is a group chat.
func isRoom(j jid.JID) bool {
	if j.Localpart() == "" {
		return false
	}
	if knownRooms.has(j.Bare().String()) {
		return true
	}
	label, _, _ := strings.Cut(j.Domainpart(), ".")
	return mucServiceLabels[label]
}

// directRemote is how a direct conversation with addr is filed: by the
// bare address, but an occupant of a room by its full one, since the
// occupant's nick is all that tells one from another.
func directRemote(addr jid.JID) string {
	if addr.Resourcepart() != "" && isRoom(addr.Bare()) {
		return addr.String()
	}
	return addr.Bare().String()
}

// mucState is one session's rooms. Presences and messages arrive on the
// Serve goroutine; joins, sends and self-pings come from others.
type mucState struct {
	mu    sync.Mutex
	rooms map[string]*mucRoom
}

// mucRoom is a room the session is in or joining.
type mucRoom struct {
	addr    jid.JID // bare
	want    roomWant
	base    string // the nick asked for first
	nick    string // the nick asked for now, then the one the room gave
	tries   int    // nick clashes so far
	joined  bool
	leaving bool // the user parted it
	members map[string]core.Member
	waiters []chan error // JoinRoom calls waiting for the outcome
	// echoes are the ids of messages sent and not yet reflected.
	echoes map[string]chan error
	// mamQuery and mamPage are the archive page being read, as in session.
	mamQuery string
	mamPage  []core.Event
	// own pairs the account's recent messages' two ids, and senders
	// knows the occupants' own ids of their recent messages (roomids.go).
	own     roomIDs
	senders senderIDs
}

func (r *mucRoom) finish(err error) {
	for _, w := range r.waiters {
		w <- err
	}
	r.waiters = nil
}

// release ends every wait on a room the session is no longer in. A
// message sent is taken as sent: it went out, and whether the room took
// it is not known; an error would make the Hub send it twice.
func (r *mucRoom) release(err error) {
	r.finish(err)
	for id, ch := range r.echoes {
		ch <- nil
		delete(r.echoes, id)
	}
}

func (m *mucState) get(room string) *mucRoom {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rooms[room]
}

// defaultNick is the nick rooms are joined with when the bookmark names
// none: the account's local part.
func (s *session) defaultNick() string { return s.self.Localpart() }

// joinRoom sends the join of room unless the session is in it or joining
// it already; wait, if not nil, gets the outcome. The room is asked for
// no history: the archive fills the gap once the join is through.
func (s *session) joinRoom(ctx context.Context, addr jid.JID, rw roomWant, wait chan error) {
	key := addr.String()
	knownRooms.add(key)
	s.muc.mu.Lock()
	if s.muc.rooms == nil {
		s.muc.rooms = make(map[string]*mucRoom)
	}
	if r := s.muc.rooms[key]; r != nil && !r.leaving {
		switch {
		case wait == nil:
		case r.joined:
			wait <- nil
		default:
			r.waiters = append(r.waiters, wait)
		}
		s.muc.mu.Unlock()
		return
	}
	nick := rw.nick
	if nick == "" {
		nick = s.defaultNick()
	}
	r := &mucRoom{addr: addr, want: rw, base: nick, nick: nick, members: make(map[string]core.Member)}
	if wait != nil {
		r.waiters = append(r.waiters, wait)
	}
	s.muc.rooms[key] = r
	s.muc.mu.Unlock()
	if err := s.sendJoin(ctx, r.addr, nick, rw.password); err != nil {
		s.dropRoom(key, r, err)
	}
}

// sendJoin writes the join presence for room as nick.
func (s *session) sendJoin(ctx context.Context, room jid.JID, nick, password string) error {
	to, err := room.WithResource(nick)
	if err != nil {
		return core.Permanent(fmt.Errorf("%q cannot be a nick in %s: %w", nick, room, err))
	}
	x := []xml.TokenReader{xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Local: "history"}, Attr: []xml.Attr{{Name: xml.Name{Local: "maxstanzas"}, Value: "0"}}})}
	if password != "" {
		x = append(x, textElement("password", password))
	}
	payload := []xml.TokenReader{xmlstream.Wrap(xmlstream.MultiReader(x...), xml.StartElement{Name: xml.Name{Space: nsMUC, Local: "x"}})}
	payload = append(payload, statusPayload(s.b.currentStatus())...)
	ctx, cancel := context.WithTimeout(ctx, iqTimeout)
	defer cancel()
	return s.xs.Send(ctx, stanza.Presence{To: to}.Wrap(xmlstream.MultiReader(payload...)))
}

// sendRoomsPresence tells every room the account is in of the user's
// new status: presence to a room is directed, so the server's broadcast
// of the account's presence does not reach it.
func (s *session) sendRoomsPresence(ctx context.Context, st core.Status) {
	s.muc.mu.Lock()
	var to []jid.JID
	for _, r := range s.muc.rooms {
		if occupant, err := r.addr.WithResource(r.nick); err == nil && r.joined && !r.leaving {
			to = append(to, occupant)
		}
	}
	s.muc.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, iqTimeout)
	defer cancel()
	for _, occupant := range to {
		if err := s.xs.Send(ctx, stanza.Presence{To: occupant}.Wrap(xmlstream.MultiReader(statusPayload(st)...))); err != nil {
			s.log.Info("sending the status to a room", "room", occupant.Bare(), "err", err)
			return
		}
	}
}

// dropRoom forgets a room the session is no longer in or joining, and
// tells whoever waits for the join.
func (s *session) dropRoom(key string, r *mucRoom, err error) {
	s.muc.mu.Lock()
	if s.muc.rooms[key] == r {
		delete(s.muc.rooms, key)
	}
	r.release(err)
	s.muc.mu.Unlock()
}

// keepRooms remembers the rooms of a session that ended, for a stream
// that resumes it. Sends still waiting for a room's echo are let go as
// sent: a resumed stream delivers them; a fresh one does not send group
// chat messages again (sm.go), since a room would show a second copy, so
// one the server never got is lost rather than doubled.
func (b *Bridge) keepRooms(s *session) {
	s.muc.mu.Lock()
	kept := make(map[string]*mucRoom)
	for key, r := range s.muc.rooms {
		r.release(errors.New("the stream ended while the room was being joined"))
		if r.joined && !r.leaving {
			kept[key] = r
		}
	}
	s.muc.rooms = nil
	s.muc.mu.Unlock()
	b.rooms.mu.Lock()
	b.rooms.lost = kept
	b.rooms.mu.Unlock()
}

// resumeRooms takes over the rooms of the stream this one resumed: the
// server never took the account out of them, and joining again would
// only echo its own presence back (no member list), which would look
// like everyone else left. It runs before the stream is served, since
// the server replays what the lost stream missed at once, and a room
// message for a room the session is not in is dropped. A stream that is
// not resumed forgets the lost rooms and joins afresh.
func (s *session) resumeRooms() {
	s.b.rooms.mu.Lock()
	lost := s.b.rooms.lost
	s.b.rooms.lost = nil
	s.b.rooms.mu.Unlock()
	if !s.resumed || len(lost) == 0 {
		return
	}
	s.muc.mu.Lock()
	defer s.muc.mu.Unlock()
	if s.muc.rooms == nil {
		s.muc.rooms = make(map[string]*mucRoom)
	}
	for key, r := range lost {
		if _, ok := s.muc.rooms[key]; !ok {
			s.muc.rooms[key] = r
		}
	}
}

// startRooms joins the rooms the bookmarks ask for and those devices
// joined before, then keeps checking that the account is still in them.
// It runs once a stream is set up.
func (s *session) startRooms(ctx context.Context) {
	marks, err := s.fetchBookmarks(ctx)
	if err != nil && ctx.Err() == nil {
		s.log.Warn("reading the bookmarks", "err", err)
	}
	for _, bm := range marks {
		if !bm.autojoin {
			knownRooms.add(bm.room.String())
			continue
		}
		if !s.b.rooms.want(bm.room.String(), roomWant{nick: bm.nick, password: bm.password}) {
			s.log.Warn("too many rooms; bookmark not joined", "room", bm.room, "max", maxRooms)
		}
	}
	s.joinWanted(ctx)
	go s.selfPing(ctx, selfPingInterval)
}

// joinWanted joins every wanted room the session is not in.
func (s *session) joinWanted(ctx context.Context) {
	for room, rw := range s.b.rooms.all() {
		addr, err := jid.Parse(room)
		if err != nil {
			continue
		}
		s.joinRoom(ctx, addr, rw, nil)
	}
}

// onRoomPresence takes presences from rooms: occupants coming, going and
// changing, and the answer to a join. It reports false for presences
// that are not about a room the session is in, which go on to the
// contacts' presence.
func (s *session) onRoomPresence(p *stanzaPresence) bool {
	from, err := jid.Parse(p.From)
	if err != nil || p.From == "" {
		return false
	}
	key := from.Bare().String()
	r := s.muc.get(key)
	if r == nil {
		// A room's presence after the session left it (or a late one
		// from a refused join) means nothing any more.
		return p.MUCUser != nil
	}
	nick := from.Resourcepart()
	if p.Type == "error" {
		s.onJoinError(key, r, p.Error)
		return true
	}
	if nick == "" || (p.Type != "" && p.Type != "unavailable") {
		return true
	}
	x := p.MUCUser
	it := x.item()
	self := x.has(statusSelf)
	var events []core.Event
	s.muc.mu.Lock()
	if r.leaving && !self {
		s.muc.mu.Unlock()
		return true
	}
	member := core.Member{Nick: nick, Role: memberRole(it)}
	if real, err := jid.Parse(it.JID); err == nil && it.JID != "" {
		member.Addr = real.Bare().String()
	}
	if p.Type == "unavailable" {
		events = s.occupantLeft(key, r, member, self, x)
	} else {
		events = s.occupantHere(key, r, member, self)
	}
	s.muc.mu.Unlock()
	s.deliver(events...)
	return true
}

// occupantHere handles an available occupant presence; s.muc.mu is held.
func (s *session) occupantHere(key string, r *mucRoom, m core.Member, self bool) []core.Event {
	old, known := r.members[m.Nick]
	if !known && len(r.members) >= maxOccupants && !self {
		return nil
	}
	if m.Addr == "" && known {
		// Only some presences carry the real address (a moderator's
		// view of a semi-anonymous room): keep what the first said.
		m.Addr = old.Addr
	}
	r.members[m.Nick] = m
	if self {
		r.nick = m.Nick
	}
	switch {
	case self && !r.joined:
		// The account's own presence comes last (XEP-0045 §7.2.3): the
		// member list is complete.
		r.joined, r.tries = true, 0
		r.finish(nil)
		list := make([]core.Member, 0, len(r.members))
		for _, mm := range r.members {
			list = append(list, mm)
		}
		// The gap ends where the live messages start, so its start is
		// taken now, before any of them moves it.
		go s.fillRoomGap(s.ctx, r.addr, s.b.rooms.seenOf(key))
		return []core.Event{
			core.MembershipEvent{Room: key, Change: core.MemberJoined, Member: m, Self: true},
			core.RoomMembersEvent{Room: key, Members: list},
		}
	case !r.joined:
		return nil // part of the list before the account's own presence
	case !known:
		return []core.Event{core.MembershipEvent{Room: key, Change: core.MemberJoined, Member: m, Self: self}}
	case old != m:
		return []core.Event{core.MembershipEvent{Room: key, Change: core.MemberUpdated, Member: m, Self: self}}
	}
	return nil
}

// occupantLeft handles an unavailable occupant presence: a nick change,
// someone leaving, or the account leaving or being removed. s.muc.mu is
// held.
func (s *session) occupantLeft(key string, r *mucRoom, m core.Member, self bool, x *mucUserX) []core.Event {
	if old, ok := r.members[m.Nick]; ok {
		m.Role = old.Role
		if m.Addr == "" {
			m.Addr = old.Addr
		}
	}
	// What the nick wrote can no longer be corrected under it (roomids.go).
	r.senders.forget(m.Nick)
	if x.has(statusNewNick) && x.item().Nick != "" {
		renamed := m
		renamed.Nick = x.item().Nick
		delete(r.members, m.Nick)
		r.members[renamed.Nick] = renamed
		if self {
			r.nick = renamed.Nick
		}
		if !r.joined {
			return nil
		}
		return []core.Event{core.MembershipEvent{Room: key, Change: core.MemberUpdated, Member: renamed, Self: self, PreviousNick: m.Nick}}
	}
	_, known := r.members[m.Nick]
	delete(r.members, m.Nick)
	if !self {
		if !r.joined || !known {
			return nil
		}
		return []core.Event{core.MembershipEvent{Room: key, Change: core.MemberLeft, Member: m}}
	}
	// The account is out: parted, kicked, banned, or the room went away.
	delete(s.muc.rooms, key)
	wasJoined := r.joined
	r.release(core.Permanent(errors.New("the room removed the account as it joined")))
	switch {
	case r.leaving, x.has(statusBanned), x.has(statusKicked), x.has(statusAffRemove), x.has(statusMembers), x != nil && x.Destroy != nil:
		// Not rejoined until a device or a bookmark asks again.
		s.b.rooms.unwant(key)
		if !r.leaving {
			s.log.Info("removed from a room", "room", key, "codes", x.Statuses)
		}
	default:
		// A room shutting down (332) or a reason not given: the
		// self-ping rejoins it.
		s.log.Info("out of a room; rejoining it later", "room", key)
	}
	if !wasJoined {
		return nil
	}
	return []core.Event{core.MembershipEvent{Room: key, Change: core.MemberLeft, Member: m, Self: true}}
}

// errNickInUse is what a join ends with when every nick tried clashed.
var errNickInUse = errors.New("the nick is taken in the room")

// onJoinError handles a room's error presence: a nick clash is retried
// with a suffixed nick, anything else fails the join.
func (s *session) onJoinError(key string, r *mucRoom, se *stanza.Error) {
	s.muc.mu.Lock()
	if r.joined {
		// An error about a presence sent while in the room (a status
		// update) does not take the account out of it.
		s.muc.mu.Unlock()
		return
	}
	var cond stanza.Condition
	if se != nil {
		cond = se.Condition
	}
	if cond == stanza.Conflict && r.tries < maxNickTries {
		r.tries++
		r.nick = r.base + strings.Repeat("_", r.tries)
		nick, password := r.nick, r.want.password
		s.muc.mu.Unlock()
		s.log.Info("nick taken in a room; trying another", "room", key, "nick", nick)
		if err := s.sendJoin(s.ctx, r.addr, nick, password); err != nil {
			s.dropRoom(key, r, err)
		}
		return
	}
	s.muc.mu.Unlock()
	err := joinRefusal(cond, se)
	s.log.Info("room join refused", "room", key, "err", err)
	if core.IsPermanent(err) {
		// Not asked again on every self-ping; a bookmark asks again on
		// the next connect, a device when it joins.
		s.b.rooms.unwant(key)
	}
	s.dropRoom(key, r, err)
}

// joinRefusal is why a room refused the account, in words a device shows.
func joinRefusal(cond stanza.Condition, se *stanza.Error) error {
	var why string
	switch cond {
	case stanza.NotAuthorized:
		why = "the room needs a password, and the one given is wrong or missing"
	case stanza.Forbidden:
		why = "the account is banned from the room"
	case stanza.RegistrationRequired:
		why = "the room is for members only"
	case stanza.ItemNotFound:
		why = "the room does not exist, and cannot be created"
	case stanza.NotAllowed:
		why = "the room cannot be created"
	case stanza.ServiceUnavailable:
		why = "the room is full"
	case stanza.Conflict:
		return core.Permanent(errNickInUse)
	case stanza.RemoteServerNotFound, stanza.RemoteServerTimeout:
		return fmt.Errorf("the room's server cannot be reached (%s)", cond)
	default:
		why = "the room refused the join"
	}
	if se != nil && se.Text[""] != "" {
		why += ": " + se.Text[""]
	} else if cond != "" {
		why += " (" + string(cond) + ")"
	}
	return core.Permanent(errors.New(why))
}

// onRoomMessage takes messages from rooms: groupchat messages and
// subjects, the room's own notices, archive results of a room's gap fill
// and errors about messages sent to a room. It reports false for what is
// not about a room the session is in, which goes on as a 1:1 message;
// an occupant's private message goes on too, and is filed under the
// occupant's full address (directRemote).
func (s *session) onRoomMessage(m *stanzaMessage) bool {
	if m.From == "" {
		return false // from the account itself: carbons, its archive
	}
	from, err := jid.Parse(m.From)
	if err != nil {
		return false
	}
	if inv := invitation(from, m, time.Now()); inv != nil {
		s.deliver(core.MessageEvent{Message: inv})
		return true
	}
	key := from.Bare().String()
	r := s.muc.get(key)
	if r == nil {
		// A groupchat message from a room the session is not in is
		// stale (sent before a part took effect): nothing to store.
		return m.Type == "groupchat" || m.Result != nil && isRoom(from)
	}
	switch {
	case m.Result != nil:
		s.onRoomArchived(key, r, m)
	case m.Type == "error":
		s.onRoomError(r, m)
	case m.Type == "groupchat":
		s.deliverRoom(s.roomEvents(key, r, from.Resourcepart(), m, "", time.Time{}, true))
	case from.Resourcepart() == "":
		// The room itself writing to the account (not groupchat): a
		// notice in the room.
		s.deliverRoom(s.roomEvents(key, r, "", m, "", time.Time{}, true))
	default:
		return false
	}
	return true
}

// invitation turns an invitation to a room into what the IRC bridge
// stores for one: a KindInvite message from the inviter, in the direct
// conversation with the inviter, whose body is the room (and the reason
// given). Filed as a 1:1 message from the room's address, it would make
// the room a direct conversation. Nil for anything else.
func invitation(from jid.JID, m *stanzaMessage, now time.Time) *core.Message {
	var room, inviter, reason string
	switch {
	case m.MUCUser != nil && m.MUCUser.Invite != nil && m.Type != "error" && m.Type != "groupchat":
		room, inviter, reason = from.Bare().String(), m.MUCUser.Invite.From, m.MUCUser.Invite.Reason
	case m.Conference != nil && m.Type != "error" && m.Type != "groupchat":
		room, inviter, reason = m.Conference.JID, from.String(), m.Conference.Reason
	default:
		return nil
	}
	addr, err := roomAddress(room)
	who, werr := jid.Parse(inviter)
	if err != nil || werr != nil || inviter == "" {
		return nil
	}
	knownRooms.add(addr.String())
	body := addr.String()
	if reason = strings.TrimSpace(reason); reason != "" {
		body += " " + reason
	}
	if len(body) > maxBody {
		body = strings.ToValidUTF8(body[:maxBody], "")
	}
	who = who.Bare()
	msg := &core.Message{Kind: core.KindInvite, Body: body, Direction: core.Incoming, Time: now,
		Peer:   core.Peer{Kind: core.Direct, Remote: who.String()},
		Sender: core.Address{Addr: who.String(), Name: who.Localpart()}}
	if stamp := parseStamp(m.Delay); !stamp.IsZero() && stamp.Before(now) {
		msg.Time = stamp
	}
	switch {
	case m.OriginID != nil && m.OriginID.ID != "":
		msg.OriginID = m.OriginID.ID
	case m.ID != "":
		msg.OriginID = m.ID
	}
	return msg
}

// onRoomError resolves the send a room refused.
func (s *session) onRoomError(r *mucRoom, m *stanzaMessage) {
	s.muc.mu.Lock()
	defer s.muc.mu.Unlock()
	ch, ok := r.echoes[m.ID]
	if !ok {
		return
	}
	delete(r.echoes, m.ID)
	why := "the room refused the message"
	if m.Error != nil {
		why += ": " + m.Error.Error()
	}
	ch <- core.Permanent(errors.New(why))
}

// roomEvents turns a room's message into what the Hub stores and shows:
// a message, or a topic. nick is the sender's; "" for the room itself.
// live is false for an archived copy, which is never an echo to resolve.
func (s *session) roomEvents(key string, r *mucRoom, nick string, m *stanzaMessage, archiveID string, when time.Time, live bool) []core.Event {
	now := time.Now()
	if when.IsZero() {
		when = parseStamp(m.Delay)
	}
	if when.IsZero() || when.After(now.Add(time.Minute)) {
		when = now
	}
	body := m.body()
	if m.Subject != nil && body == "" {
		if !live {
			return nil // an old subject from the archive is not the current one
		}
		topic := *m.Subject
		if len(topic) > maxBody {
			topic = strings.ToValidUTF8(topic[:maxBody], "")
		}
		return []core.Event{core.TopicEvent{Room: key, Topic: topic, SetBy: nick, At: when}}
	}
	if body == "" && (!m.reaction() || nick == "") {
		return nil // chat states, markers: not stored; the room itself does not react
	}
	s.muc.mu.Lock()
	ours := nick != "" && nick == r.nick
	if ours && m.OriginID != nil {
		r.own.add(roomStanzaID(r.addr, m, archiveID), m.OriginID.ID)
	}
	if live && ours {
		id := ""
		if m.OriginID != nil {
			id = m.OriginID.ID
		}
		if ch, ok := r.echoes[id]; ok && id != "" {
			// The room reflecting what Send wrote: the Hub stored it
			// already, and records this id on it.
			if !m.reaction() {
				r.senders.add(nick, id, m.ID, id)
			}
			delete(r.echoes, id)
			s.muc.mu.Unlock()
			ch <- nil
			return nil
		}
	}
	msg := &core.Message{Kind: core.KindChat, Body: body, Direction: core.Incoming, Time: when,
		Peer: core.Peer{Kind: core.Room, Remote: key}, Sender: core.Address{Addr: nick, Name: nick}}
	switch {
	case nick == "":
		msg.Kind = core.KindNotice
	case ours:
		msg.Direction = core.Outgoing
	}
	if rest, ok := strings.CutPrefix(body, "/me "); ok && nick != "" {
		msg.Kind, msg.Body = core.KindAction, rest
	}
	msg.OriginID = roomMessageID(r.addr, m, ours, archiveID)
	// Replies, reactions and links as in a 1:1 chat. A reply or reaction
	// names its message by the room's stanza-id, which is what other
	// occupants' messages are stored by; the account's own are stored by
	// their origin-id, and translated (roomids.go).
	m.apply(msg) // receipts.go
	if origin, ok := r.own.originOf[msg.ReplyTo.OriginID]; ok {
		msg.ReplyTo.OriginID = origin
	}
	// A correction names the original by its sender's own id, which the
	// store does not know another occupant's message by: it is resolved
	// only for a message seen live from the same occupant (senderIDs),
	// and otherwise kept as the new text it is. The archive cannot tell
	// whether a nick changed hands, so its copies are not resolved.
	if live && nick != "" && msg.Kind != core.KindReaction {
		stored := msg.OriginID
		if ref := m.correction(); !ref.IsZero() {
			if orig, ok := r.senders.lookup(nick, ref.OriginID); ok {
				msg.CorrectionOf, stored = core.MessageRef{OriginID: orig}, orig
			}
		}
		var originID string
		if m.OriginID != nil {
			originID = m.OriginID.ID
		}
		r.senders.add(nick, stored, m.ID, originID)
	}
	s.muc.mu.Unlock()
	return []core.Event{core.MessageEvent{Message: msg}}
}

// roomMessageID is the id the store deduplicates a room's message by,
// the same for the live copy and the archived one: the account's own
// messages by their origin-id, which Send returned and the Hub recorded;
// everyone else's by the id the room stamped (XEP-0359 stanza-id, which
// is the archive's result id), since an occupant's own ids are theirs to
// choose and could shadow someone else's.
func roomMessageID(room jid.JID, m *stanzaMessage, ours bool, archiveID string) string {
	if ours && m.OriginID != nil && m.OriginID.ID != "" {
		return m.OriginID.ID
	}
	if id := roomStanzaID(room, m, archiveID); id != "" {
		return id
	}
	if m.OriginID != nil && m.OriginID.ID != "" {
		return m.OriginID.ID
	}
	return m.ID
}

// roomStanzaID is the id the room stamped on its message (XEP-0359
// stanza-id by the room, which is the archive's result id); "" when it
// stamped none.
func roomStanzaID(room jid.JID, m *stanzaMessage, archiveID string) string {
	if archiveID != "" {
		return archiveID
	}
	for _, sid := range m.StanzaIDs {
		if by, err := jid.Parse(sid.By); err == nil && by.Equal(room) && sid.ID != "" {
			return sid.ID
		}
	}
	return ""
}

// onRoomArchived collects one result of the room's archive query under
// way; results for no query are dropped.
func (s *session) onRoomArchived(key string, r *mucRoom, m *stanzaMessage) {
	res := m.Result
	f := res.Forwarded.Message
	if f == nil || f.Type != "groupchat" {
		return
	}
	s.muc.mu.Lock()
	query := r.mamQuery
	s.muc.mu.Unlock()
	if query == "" || res.QueryID != query {
		return
	}
	from, err := jid.Parse(f.From)
	if err != nil || !from.Bare().Equal(r.addr) {
		return
	}
	events := s.roomEvents(key, r, from.Resourcepart(), f, res.ID, parseStamp(res.Forwarded.Delay), false)
	s.muc.mu.Lock()
	if r.mamQuery == query && len(r.mamPage) < 2*mamPageSize {
		r.mamPage = append(r.mamPage, events...)
	}
	s.muc.mu.Unlock()
}

// mamFin is the answer to an archive query: its <fin/>, which mellium
// decodes as the iq's payload.
type mamFin struct {
	Complete string `xml:"complete,attr"`
	Last     string `xml:"http://jabber.org/protocol/rsm set>last"`
}

// fillRoomGap reads the room's archive from its newest stored message on,
// as fillGap does for the account's. Copies of stored messages carry the
// same id (roomMessageID) and the store drops them.
func (s *session) fillRoomGap(ctx context.Context, room jid.JID, start time.Time) {
	key := room.String()
	if start.IsZero() {
		start = time.Now().Add(-initialFill)
	}
	start = start.Add(-gapFillSlack)
	after := ""
	// Bounded by messages, as fillGap is, and by pages too: a page may
	// hold nothing the bridge keeps (subjects) and still not be the last.
	for read, pages := 0, 0; read < maxFill && pages < maxFillPages; pages++ {
		r := s.muc.get(key)
		if r == nil || ctx.Err() != nil {
			return
		}
		query := randomID()
		s.muc.mu.Lock()
		r.mamQuery, r.mamPage = query, nil
		s.muc.mu.Unlock()
		var res mamFin
		qctx, cancel := context.WithTimeout(ctx, iqTimeout)
		err := s.xs.UnmarshalIQElement(qctx, mamQuery(query, start, after), stanza.IQ{Type: stanza.SetIQ, To: room}, &res)
		cancel()
		s.bounded.boundary()
		s.muc.mu.Lock()
		page := r.mamPage
		r.mamQuery, r.mamPage = "", nil
		s.muc.mu.Unlock()
		if err != nil {
			if ctx.Err() == nil {
				// A room without an archive: the live messages are all
				// there is.
				s.log.Info("reading the room's archive", "room", key, "err", err)
			}
			return
		}
		metricArchived.Add(float64(len(page)))
		s.deliverRoom(page)
		if res.Complete == "true" || res.Last == "" || len(page) == 0 && res.Last == after {
			return
		}
		read += len(page)
		after = res.Last
	}
	s.log.Warn("room archive gap fill stopped at its limit", "room", key, "messages", maxFill, "pages", maxFillPages)
}

// deliverRoom hands a room's events to the Hub and moves the room's gap
// fill start past the messages among them.
func (s *session) deliverRoom(events []core.Event) {
	s.deliver(events...)
	for _, e := range events {
		if me, ok := e.(core.MessageEvent); ok && me.Message.Peer.Kind == core.Room && me.Message.OriginID != "" {
			s.b.rooms.noteSeen(me.Message.Peer.Remote, me.Message.Time)
		}
	}
}

// sendRoom writes m to its room as a groupchat message with an origin-id
// and waits for the room to reflect it, which is when it went out to the
// occupants; a refusal is permanent. A room the account is still joining
// is waited for.
func (s *session) sendRoom(ctx context.Context, addr jid.JID, m *core.Message) (string, error) {
	key := addr.String()
	if _, ok := s.b.rooms.get(key); !ok && s.muc.get(key) == nil {
		return "", core.Permanent(fmt.Errorf("not in the room %s: join it first", key))
	}
	r, err := s.awaitJoined(ctx, addr)
	if err != nil {
		return "", err
	}
	id := randomID()
	echo := make(chan error, 1)
	s.muc.mu.Lock()
	if r.echoes == nil {
		r.echoes = make(map[string]chan error)
	}
	if len(r.echoes) >= maxEchoesWait {
		s.muc.mu.Unlock()
		return "", errors.New("too many messages waiting for the room to reflect them")
	}
	r.echoes[id] = echo
	s.muc.mu.Unlock()
	forget := func() {
		s.muc.mu.Lock()
		delete(r.echoes, id)
		s.muc.mu.Unlock()
	}
	var msg xml.TokenReader
	if m.Kind == core.KindReaction {
		target, _ := s.roomRef(ctx, r, m.ReplyTo)
		if target == "" {
			forget()
			return "", core.Permanent(errors.New("xmpp: the message reacted to has no id the room knows"))
		}
		msg = reactionMessage(id, addr, stanza.GroupChatMessage, target, m.Reactions())
	} else {
		replyTo, author := s.roomRef(ctx, r, m.ReplyTo)
		// A correction names the original by the id its stanza had, which
		// for what the bridge sent is the origin-id it is stored by.
		correctionOf := s.b.networkRef(ctx, m.CorrectionOf) // receipts.go
		msg = outgoingMessage(id, addr, stanza.GroupChatMessage, m, referenceExtras(m, correctionOf, author, replyTo)...)
	}
	sctx, cancel := context.WithTimeout(ctx, iqTimeout)
	err = s.xs.Send(sctx, msg)
	cancel()
	if err != nil {
		forget()
		return "", fmt.Errorf("sending to %s: %w", key, err)
	}
	metricSent.Inc()
	t := time.NewTimer(roomEchoTimeout)
	defer t.Stop()
	select {
	case err := <-echo:
		if err != nil {
			return "", err
		}
	case <-t.C:
		// Sent, but not reflected yet: a late echo carries this id, which
		// the Hub records, so the store drops it.
		forget()
	case <-ctx.Done():
		forget()
	}
	return id, nil
}

// roomRef is the id the room knows the message ref points at by, ""
// when it has none, and the occupant address of its author ("" when not
// known), as a reply or a reaction in a room names them: other
// occupants' messages are stored by the room's stanza-id already, the
// account's own by their origin-id, whose stanza-id the room's echo
// told (roomIDs).
func (s *session) roomRef(ctx context.Context, r *mucRoom, ref core.MessageRef) (id, author string) {
	id = s.b.networkRef(ctx, ref) // receipts.go
	if id == "" {
		return "", ""
	}
	nick, ours := "", false
	if mr, ok := s.b.env.History.(core.MessageReader); ok && ref.ID != 0 {
		if stored, err := mr.Message(ctx, s.b.env.User.ID, ref.ID); err == nil {
			nick, ours = stored.Sender.Addr, stored.Direction == core.Outgoing
		}
	}
	s.muc.mu.Lock()
	if stanzaID, ok := r.own.stanzaOf[id]; ok {
		id = stanzaID
	}
	if ours {
		nick = r.nick
	}
	s.muc.mu.Unlock()
	if occupant, err := r.addr.WithResource(nick); err == nil && nick != "" {
		author = occupant.String()
	}
	return id, author
}

// awaitJoined returns the room once the session is in it, joining it if
// it is wanted but not joined; it waits at most iqTimeout.
func (s *session) awaitJoined(ctx context.Context, addr jid.JID) (*mucRoom, error) {
	key := addr.String()
	s.muc.mu.Lock()
	r := s.muc.rooms[key]
	if r != nil && r.joined {
		s.muc.mu.Unlock()
		return r, nil
	}
	s.muc.mu.Unlock()
	wait := make(chan error, 1)
	rw, _ := s.b.rooms.get(key)
	s.joinRoom(ctx, addr, rw, wait)
	ctx, cancel := context.WithTimeout(ctx, iqTimeout)
	defer cancel()
	select {
	case err := <-wait:
		if err != nil {
			return nil, err
		}
	case <-ctx.Done():
		return nil, fmt.Errorf("joining %s: %w", key, core.ErrNotConnected)
	}
	if r := s.muc.get(key); r != nil && r.joined {
		return r, nil
	}
	return nil, fmt.Errorf("joining %s: %w", key, core.ErrNotConnected)
}

// leaveRoom parts the room; the room's answer ends the membership.
func (s *session) leaveRoom(ctx context.Context, addr jid.JID, reason string) error {
	key := addr.String()
	s.muc.mu.Lock()
	r := s.muc.rooms[key]
	if r == nil {
		s.muc.mu.Unlock()
		return nil
	}
	r.leaving = true
	nick := r.nick
	s.muc.mu.Unlock()
	to, err := addr.WithResource(nick)
	if err != nil {
		return err
	}
	var payload xml.TokenReader
	if reason != "" {
		payload = textElement("status", reason)
	}
	ctx, cancel := context.WithTimeout(ctx, iqTimeout)
	defer cancel()
	return s.xs.Send(ctx, stanza.Presence{To: to, Type: stanza.UnavailablePresence}.Wrap(payload))
}

// selfPing asks every joined room now and then whether the account is
// still an occupant (XEP-0410), rejoins those that say no, and joins
// wanted rooms the session is not in (a room that shut down, a join
// that timed out).
func (s *session) selfPing(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.muc.mu.Lock()
		type target struct {
			key string
			to  jid.JID
		}
		var targets []target
		for key, r := range s.muc.rooms {
			if r.joined && !r.leaving {
				if to, err := r.addr.WithResource(r.nick); err == nil {
					targets = append(targets, target{key, to})
				}
			}
		}
		s.muc.mu.Unlock()
		for _, tg := range targets {
			if ctx.Err() != nil {
				return
			}
			if s.stillJoined(ctx, tg.to) {
				continue
			}
			s.log.Info("no longer in a room (self-ping); rejoining", "room", tg.key)
			if r := s.muc.get(tg.key); r != nil {
				s.dropRoom(tg.key, r, nil)
			}
		}
		s.joinWanted(ctx)
	}
}

// stillJoined pings the account's own occupant address: only the room
// answers it, and it says not-acceptable (or item-not-found) when the
// account is not in. Silence or trouble reaching the room are not
// taken for a drop; the server keepalive looks after the stream.
func (s *session) stillJoined(ctx context.Context, occupant jid.JID) bool {
	pctx, cancel := context.WithTimeout(ctx, iqTimeout)
	defer cancel()
	ping := xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Space: nsPing, Local: "ping"}})
	err := s.xs.UnmarshalIQElement(pctx, ping, stanza.IQ{Type: stanza.GetIQ, To: occupant}, nil)
	s.bounded.boundary()
	var se stanza.Error
	if err == nil || !errors.As(err, &se) {
		return true
	}
	switch se.Condition {
	case stanza.NotAcceptable, stanza.ItemNotFound, stanza.BadRequest:
		return false
	}
	return true
}

var (
	_ core.RoomJoiner  = (*Bridge)(nil)
	_ core.RoomReactor = (*Bridge)(nil)
)

// ReactsInRooms: a group chat carries reactions (XEP-0444), naming the
// message by the room's stanza-id (sendRoom).
func (*Bridge) ReactsInRooms() {}

// JoinRoom joins a room a device asked for, and keeps it among the rooms
// every reconnect joins. It returns once the room let the account in or
// refused it; while the account is offline it only remembers the room.
func (b *Bridge) JoinRoom(ctx context.Context, room, key string) error {
	addr, err := roomAddress(room)
	if err != nil {
		return core.Permanent(err)
	}
	name := addr.String()
	_, wanted := b.rooms.get(name)
	if !b.rooms.want(name, roomWant{password: key}) {
		return core.Permanent(fmt.Errorf("the account is in %d rooms already, the most it may be in", maxRooms))
	}
	knownRooms.add(name)
	s := b.cur.Load()
	if s == nil {
		return nil
	}
	rw, _ := b.rooms.get(name)
	wait := make(chan error, 1)
	s.joinRoom(ctx, addr, rw, wait)
	select {
	case err = <-wait:
	case <-ctx.Done():
		return nil // joined when the room answers
	}
	if err != nil && !wanted && core.IsPermanent(err) {
		// Refused: a room a device asked for is not retried on every
		// reconnect.
		b.rooms.unwant(name)
	}
	return err
}

// wantSavedRooms adds the rooms devices joined before the daemon
// restarted to the rooms every connect joins.
func (b *Bridge) wantSavedRooms() {
	for _, r := range b.env.Rooms {
		addr, err := roomAddress(r.Room)
		if err != nil {
			b.log.Warn("a saved room is not a room address; not joined", "room", r.Room, "err", err)
			continue
		}
		if !b.rooms.want(addr.String(), roomWant{password: r.Key}) {
			b.log.Warn("too many rooms; saved room not joined", "room", r.Room, "max", maxRooms)
			continue
		}
		knownRooms.add(addr.String())
	}
}

// LeaveRoom parts a room and stops joining it.
func (b *Bridge) LeaveRoom(ctx context.Context, room, reason string) error {
	addr, err := roomAddress(room)
	if err != nil {
		return core.Permanent(err)
	}
	b.rooms.unwant(addr.String())
	if s := b.cur.Load(); s != nil && s.muc.get(addr.String()) != nil {
		return s.leaveRoom(ctx, addr, reason)
	}
	// Not in it on the network: the devices still need to hear it is
	// gone, in case a membership survived a disconnect.
	return b.env.Inbound.Receive(ctx, core.MembershipEvent{Room: addr.String(), Change: core.MemberLeft, Self: true})
}

// roomAddress reads a room name from a device: a bare address with a
// local part.
func roomAddress(room string) (jid.JID, error) {
	j, err := jid.Parse(strings.TrimSpace(room))
	switch {
	case err != nil:
		return jid.JID{}, fmt.Errorf("%q is not an XMPP room address: %w", room, err)
	case j.Localpart() == "" || j.Resourcepart() != "":
		return jid.JID{}, fmt.Errorf("%q is not an XMPP room address (want room@service)", room)
	}
	return j, nil
}

// sendRoom sends a message to a room; see session.sendRoom.
func (b *Bridge) sendRoom(ctx context.Context, m *core.Message) (string, error) {
	addr, err := roomAddress(m.Peer.Remote)
	if err != nil {
		return "", core.Permanent(err)
	}
	s := b.cur.Load()
	if s == nil {
		return "", core.ErrNotConnected
	}
	return s.sendRoom(ctx, addr, m)
}

// peerRemote files a direct conversation with the address addr, whose
// bare form is bare: see directRemote.
func peerRemote(addr string, bare jid.JID) string {
	if j, err := jid.Parse(addr); err == nil {
		return directRemote(j)
	}
	return bare.String()
}

// directTarget is where a direct message to addr goes: an occupant of a
// room by its full address, anyone else by the bare one.
func directTarget(addr jid.JID) jid.JID {
	if addr.Resourcepart() != "" && isRoom(addr.Bare()) {
		return addr
	}
	return addr.Bare()
}
