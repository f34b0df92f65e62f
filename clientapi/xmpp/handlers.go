package xmpp

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/switchboard/switchboard/core"
)

// Namespaces of the stanza payloads the port understands.
const (
	nsRoster     = "jabber:iq:roster"
	nsVersion    = "jabber:iq:version"
	nsPing       = "urn:xmpp:ping"
	nsDiscoInfo  = "http://jabber.org/protocol/disco#info"
	nsDiscoItems = "http://jabber.org/protocol/disco#items"
	nsCarbons    = "urn:xmpp:carbons:2"
	nsForward    = "urn:xmpp:forward:0"
	nsSID        = "urn:xmpp:sid:0"
	nsDelay      = "urn:xmpp:delay"
	nsChatStates = "http://jabber.org/protocol/chatstates"
	nsReceipts   = "urn:xmpp:receipts"
	nsVCard      = "vcard-temp"
	nsHints      = "urn:xmpp:hints"
	nsReply      = "urn:xmpp:reply:0"
	nsOOB        = "jabber:x:oob"
	nsCorrect    = "urn:xmpp:message-correct:0"
	nsReactions  = "urn:xmpp:reactions:0"
	nsConference = "jabber:x:conference"
)

// iqResult is the empty result of iq.
func iqResult(iq *element) *element {
	return el(nsClient, "iq", "type", "result", "id", iq.attr("id"), "to", iq.attr("from"), "from", iq.attr("to"))
}

// stanzaError is an <error/> of RFC 6120 §8.3.
func stanzaError(typ, condition, text string) *element {
	e := el(nsClient, "error", "type", typ).add(el(nsStanzas, condition))
	if text != "" {
		e.add(el(nsStanzas, "text").withText(text))
	}
	return e
}

func iqError(iq *element, typ, condition, text string) *element {
	return el(nsClient, "iq", "type", "error", "id", iq.attr("id"), "to", iq.attr("from"), "from", iq.attr("to")).
		add(stanzaError(typ, condition, text))
}

// bounce answers a message or presence with an error of the same kind.
func bounce(st *element, typ, condition, text string) *element {
	return el(nsClient, st.Name.Local, "type", "error", "id", st.attr("id"), "to", st.attr("from"), "from", st.attr("to")).
		add(stanzaError(typ, condition, text))
}

// --- messages from the client ---

// handleMessage sends a chat message to its network through the Hub. The
// store is written before the reply: a receipt request is answered once
// the message is durable and queued for the network.
func (s *session) handleMessage(ctx context.Context, m *element) {
	typ := m.attr("type")
	if typ == "error" {
		return
	}
	to := m.attr("to")
	if s.routeToOwn(m, to) {
		return
	}
	r, ok := s.nets.resolve(ctx, to, s.srv.domain)
	if !ok {
		if to != "" && to != s.bare && to != s.srv.domain {
			s.send(bounce(m, "cancel", "item-not-found", "no such network contact or room"))
		}
		return
	}
	if s.isBlocked(ctx, to) {
		refusal := bounce(m, "cancel", "not-acceptable", "you blocked this address")
		refusal.child(nsClient, "error").add(el(nsBlockingErrors, "blocked"))
		s.send(refusal)
		return
	}
	if r.peer.Kind == core.Room && r.resource == "" && s.handleRoomInvites(ctx, m, r) { // mucinvite.go
		return
	}
	if s.handleDirectInvite(ctx, m, r) { // mucinvite.go
		return
	}
	reactions := m.child(nsReactions, "reactions")
	body, hasBody := m.child(nsClient, "body"), m.child(nsClient, "body") != nil
	if !hasBody && reactions == nil {
		s.handleMarker(ctx, m, r)
		s.handleChatState(ctx, m, r)
		return
	}
	peer := r.peer
	if r.peer.Kind == core.Room {
		switch {
		case r.resource != "" && typ != "groupchat":
			// A private message to an occupant is a direct message: to
			// the occupant's own address where the network gives
			// occupants one (XMPP: room@service/nick), else to that
			// nick on the network (IRC); answers come from it.
			peer = s.nets.parsePeer(r.network.Kind, r.peer.Remote+"/"+r.resource)
			if peer.Kind != core.Direct {
				peer = s.nets.parsePeer(r.network.Kind, r.resource)
			}
			if peer.Kind != core.Direct {
				s.send(bounce(m, "modify", "bad-request", "not an occupant's nick"))
				return
			}
		case !s.muc.joined(peerJID(r.network, r.peer.Remote, s.srv.domain)):
			s.send(bounce(m, "modify", "not-acceptable", "join the room before writing to it"))
			return
		}
	}
	var cm *core.Message
	if reactions != nil {
		// XEP-0444 reactions take the place of the body some clients
		// add for others as a fallback.
		var err error
		if cm, err = reactionMessage(reactions); err != nil {
			s.send(bounce(m, "modify", "bad-request", err.Error()))
			return
		}
		cm.Network, cm.Peer = r.network.ID, peer
	} else {
		cm = &core.Message{Network: r.network.ID, Peer: peer, Kind: core.KindChat, Body: body.Text}
		if rest, ok := strings.CutPrefix(cm.Body, "/me "); ok {
			cm.Kind, cm.Body = core.KindAction, rest
		}
	}
	if oid := m.child(nsSID, "origin-id"); oid != nil && oid.attr("id") != "" {
		cm.OriginID = "xmpp-origin:" + oid.attr("id")
	} else if m.attr("id") != "" {
		// Clients that send no origin-id refer to their messages by id.
		cm.OriginID = "xmpp-origin:" + m.attr("id")
	}
	// A correction (XEP-0308) points at the client's id of the message it
	// replaces; networks without corrections get the new text as a message.
	if r := m.child(nsCorrect, "replace"); r != nil && r.attr("id") != "" {
		cm.CorrectionOf = core.MessageRef{OriginID: "xmpp-origin:" + r.attr("id")}
	}
	if cm.Kind != core.KindReaction {
		cm.ReplyTo, cm.Attachments = replyAndLinks(m)
	}
	if strings.TrimSpace(cm.Body) == "" && cm.Kind != core.KindReaction {
		s.send(bounce(m, "modify", "bad-request", "empty message"))
		return
	}
	// XEP-0280 §6: the sending server copies no message with <private/>
	// to the user's other devices; the <no-copy/> hint clients add is for
	// the recipient's server, so it is not required here.
	cm.NoCopies = m.child(nsCarbons, "private") != nil
	stored, err := s.srv.hub.Send(ctx, s.hs, cm)
	if errors.Is(err, core.ErrCannotReact) {
		// A reaction in a room of a network that carries none.
		s.send(bounce(m, "cancel", "feature-not-implemented", err.Error()))
		return
	}
	if err != nil {
		s.log.Warn("storing a sent message", "err", err)
		s.send(bounce(m, "wait", "internal-server-error", "the message could not be stored"))
		return
	}
	if m.child(nsReceipts, "request") != nil && m.attr("id") != "" {
		s.send(el(nsClient, "message", "from", to, "to", s.full, "id", "r-"+stored.ID.String()).
			add(el(nsReceipts, "received", "id", m.attr("id"))))
	}
}

func (s *session) handleChatState(ctx context.Context, m *element, r resolved) {
	states := map[string]core.ChatState{
		"composing": core.StateComposing, "paused": core.StatePaused, "active": core.StateActive,
		"inactive": core.StateInactive, "gone": core.StateGone,
	}
	for _, c := range m.Children {
		if c.Name.Space != nsChatStates {
			continue
		}
		if st, ok := states[c.Name.Local]; ok {
			_ = s.srv.hub.Typing(ctx, s.hs, core.TypingEvent{Network: r.network.ID, Peer: r.peer, State: st})
		}
	}
}

// routeToOwn delivers a stanza addressed to another resource of the
// user's own account (RFC 6121 §8.5): an iq to that resource only, and
// service-unavailable if it is not online; a message to it, or to every
// other device when the resource is unknown or the address bare. It
// reports whether st was such a stanza.
func (s *session) routeToOwn(st *element, to string) bool {
	bare, resource, _ := strings.Cut(to, "/")
	if !strings.EqualFold(bare, s.bare) || (resource == "" && st.Name.Local == "iq") || to == s.full {
		return false
	}
	var targets []*session
	for _, other := range s.srv.userSessions(s.user.ID) {
		if other != s && (resource == "" || other.resource == resource) {
			targets = append(targets, other)
		}
	}
	if len(targets) == 0 && st.Name.Local == "message" && resource != "" {
		for _, other := range s.srv.userSessions(s.user.ID) {
			if other != s {
				targets = append(targets, other)
			}
		}
	}
	if len(targets) == 0 {
		if st.Name.Local == "iq" && (st.attr("type") == "get" || st.attr("type") == "set") {
			s.send(iqError(st, "cancel", "service-unavailable", ""))
		}
		return true
	}
	for _, other := range targets {
		other.send(st)
	}
	return true
}

// --- presence from the client ---

// handlePresence applies the device's own availability; the Hub combines
// every device's into the user's status on the networks.
func (s *session) handlePresence(ctx context.Context, p *element) {
	if to := p.attr("to"); to != "" && to != s.bare {
		if r, ok := s.nets.resolve(ctx, to, s.srv.domain); ok && r.peer.Kind == core.Room {
			s.handleRoomPresence(ctx, p, r)
			return
		}
		if r, ok := s.nets.resolve(ctx, to, s.srv.domain); ok && s.handleSubscriptionPresence(ctx, p, r) { // roster.go
			return
		}
		// Elsewhere subscriptions are implied (every contact is "both").
		switch p.attr("type") {
		case "subscribe":
			s.send(el(nsClient, "presence", "from", to, "to", s.bare, "type", "subscribed"))
		case "", "unavailable":
			if _, ok := s.nets.resolve(ctx, to, s.srv.domain); !ok {
				s.send(bounce(p, "cancel", "item-not-found", ""))
			}
		}
		return
	}
	st := core.Status{Show: core.ShowAvailable, Text: p.childText(nsClient, "status")}
	switch p.attr("type") {
	case "":
		if show, ok := map[string]core.Show{"away": core.ShowAway, "xa": core.ShowXA, "dnd": core.ShowDND, "chat": core.ShowChat}[p.childText(nsClient, "show")]; ok {
			st.Show = show
		}
		first := !s.available.Swap(true)
		if first {
			s.sendInitialPresences()
			s.sendPendingSubscriptions(ctx)
			s.sendContactPresences(ctx) // roster.go
		}
	case "unavailable":
		s.available.Store(false)
		s.leaveAllRooms()
		st.Show = core.ShowOffline
	default:
		return
	}
	s.shareOwnPresence(p)
	if err := s.srv.hub.SetStatus(ctx, s.hs, st); err != nil {
		s.log.Warn("applying status", "err", err)
	}
}

// shareOwnPresence shows the device's presence p (from its full JID) to
// each of the user's available devices, itself included, and on its
// first available presence shows it theirs: a user is subscribed to
// their own presence (RFC 6121 §4.2.2, §4.4.2), which is how a client
// lists the user's other devices and learns it is online.
//
// Only a device that became available while the user had at most
// maxDevicesSharingPresence devices shares it: n devices showing each
// other their presence cost n² stanzas, and a thousand sessions of one
// user (a room's fan-out benchmark, a bot) would queue a million. Its
// own echo every device gets.
func (s *session) shareOwnPresence(p *element) {
	own := *p
	own.Attr = slices.Clone(p.Attr)
	own.setAttr("to", "")
	own.setAttr("from", s.full)
	devices := s.srv.userSessions(s.user.ID)
	s.mu.Lock()
	first := s.ownPresence == nil
	if first {
		s.sharesPresence = len(devices) <= maxDevicesSharingPresence
	}
	if own.attr("type") == "unavailable" {
		s.ownPresence, first = nil, false
	} else {
		s.ownPresence = &own
	}
	shares := s.sharesPresence
	s.mu.Unlock()
	if own.attr("type") != "unavailable" {
		s.send(addressedCopy(&own, s.full))
	}
	if !shares {
		return
	}
	for _, other := range devices {
		if other == s || !other.available.Load() {
			continue
		}
		other.send(addressedCopy(&own, other.full))
		if first {
			if theirs := other.sharedPresence(); theirs != nil {
				s.send(addressedCopy(theirs, s.full))
			}
		}
	}
}

// maxDevicesSharingPresence bounds the devices of one user that are
// shown each other's presence (shareOwnPresence); a variable for tests.
var maxDevicesSharingPresence = 64

// sharedPresence is the presence the device made available and shows
// the user's other devices; nil while it is not available or shares it
// with none.
func (s *session) sharedPresence() *element {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.sharesPresence {
		return nil
	}
	return s.ownPresence
}

// goneUnavailable tells the user's other devices that this one, which had
// shown them its presence, is gone without saying so (its session ended).
func (s *session) goneUnavailable() {
	if s.sharedPresence() == nil {
		return
	}
	s.mu.Lock()
	s.ownPresence = nil
	s.mu.Unlock()
	gone := el(nsClient, "presence", "from", s.full, "type", "unavailable")
	for _, other := range s.srv.userSessions(s.user.ID) {
		if other != s && other.available.Load() {
			other.send(addressedCopy(gone, other.full))
		}
	}
}

// addressedCopy is e to another recipient; its children are shared.
func addressedCopy(e *element, to string) *element {
	c := *e
	c.Attr = slices.Clone(e.Attr)
	c.setAttr("to", to)
	return &c
}

// invitationStanza shows an invitation of the user to a room, which the
// bridges store from the inviter with the room's name (and any reason)
// as its body, as a direct invitation (XEP-0249) to the room's address
// on this port, so a client offers to join it; the body says the same
// for clients without it.
func (s *session) invitationStanza(nw core.Network, m *core.Message) *element {
	room, reason, _ := strings.Cut(m.Body, " ")
	if room == "" {
		return nil
	}
	roomJID := peerJID(nw, room, s.srv.domain)
	inviter := m.Sender.Name
	if inviter == "" {
		inviter = m.Sender.Addr
	}
	text := inviter + " invites you to " + roomJID
	if reason = strings.TrimSpace(reason); reason != "" {
		text += ": " + reason
	}
	st := el(nsClient, "message", "to", s.full, "id", m.ID.String(), "from", peerJID(nw, m.Peer.Remote, s.srv.domain))
	x := el(nsConference, "x", "jid", roomJID)
	if reason != "" {
		x.setAttr("reason", reason)
	}
	return st.add(el(nsClient, "body").withText(text), x, el(nsSID, "stanza-id", "id", m.ID.String(), "by", s.bare))
}

// sendInitialPresences shows each network's connection state as the
// presence of its sub-domain, as transports do.
func (s *session) sendInitialPresences() {
	for _, st := range s.srv.hub.NetworkStates(s.user.ID) {
		s.deliverNetworkState(st)
	}
}

// --- IQs ---

func (s *session) handleIQ(ctx context.Context, iq *element) {
	typ := iq.attr("type")
	if s.routeToOwn(iq, iq.attr("to")) {
		return
	}
	if typ == "result" || typ == "error" {
		return
	}
	payload := iq.firstChild()
	if (typ != "get" && typ != "set") || payload == nil || iq.attr("id") == "" {
		s.send(iqError(iq, "modify", "bad-request", "an iq get or set needs an id and one payload"))
		return
	}
	if s.answerIQ(ctx, iq, payload) {
		return
	}
	s.send(iqError(iq, "cancel", "service-unavailable", ""))
}

// answerIQ answers the IQs the port knows; false leaves the iq to the
// service-unavailable reply.
func (s *session) answerIQ(ctx context.Context, iq, payload *element) bool {
	typ, to := iq.attr("type"), iq.attr("to")
	toServer := to == "" || to == s.bare || to == s.srv.domain
	switch payload.Name.Space + " " + payload.Name.Local {
	case nsPing + " ping":
		if s.answerSelfPing(ctx, iq) { // muc.go
			return true
		}
		s.send(iqResult(iq))
	case nsSession + " session":
		s.send(iqResult(iq))
	case nsRoster + " query":
		if !toServer {
			return false
		}
		s.handleRoster(ctx, iq, payload)
	case nsCarbons + " enable", nsCarbons + " disable":
		if typ != "set" || !toServer {
			return false
		}
		s.carbons.Store(payload.Name.Local == "enable")
		s.send(iqResult(iq))
	case nsUpload + " request":
		if typ != "get" || (to != "" && to != s.srv.domain) || s.srv.uploads == nil {
			return false
		}
		s.handleUploadRequest(ctx, iq, payload) // upload.go
	case nsVersion + " query":
		if typ != "get" || (to != "" && to != s.srv.domain) {
			return false
		}
		s.send(iqResult(iq).add(el(nsVersion, "query").add(
			el(nsVersion, "name").withText("Switchboard"),
			el(nsVersion, "version").withText(s.srv.version))))
	case nsDiscoInfo + " query":
		if typ != "get" {
			return false
		}
		s.handleDiscoInfo(ctx, iq, payload)
	case nsDiscoItems + " query":
		if typ != "get" {
			return false
		}
		s.handleDiscoItems(ctx, iq, payload)
	case nsVCard + " vCard":
		s.handleVCard(ctx, iq, payload) // disco.go
	case nsMAM + " query", nsMAM + " metadata":
		s.handleMAM(ctx, iq, payload)
	case nsBlocking + " blocklist", nsBlocking + " block", nsBlocking + " unblock":
		if !toServer {
			return false
		}
		s.handleBlocking(ctx, iq, payload)
	case nsCommands + " command": // adhoc.go
		s.handleCommand(ctx, iq, payload)
	case nsPubSub + " pubsub", nsPubSubOwner + " pubsub": // pep.go
		if !s.ownAccount(iq) {
			return false
		}
		s.handlePubSub(ctx, iq, payload)
	case nsPrivate + " query": // pep.go
		s.handlePrivate(ctx, iq, payload)
	default:
		return false
	}
	return true
}

// --- events from the Hub ---

// deliver turns one Hub event into stanzas for this device.
func (s *session) deliver(ctx context.Context, e core.Event) {
	switch e := e.(type) {
	case core.MessageEvent:
		s.deliverMessage(ctx, e)
	case core.TypingEvent:
		if e.Direction != core.Incoming || e.Peer.Kind != core.Direct {
			return
		}
		nw, ok := s.nets.get(ctx, e.Network)
		if !ok || s.isBlocked(ctx, peerJID(nw, e.Peer.Remote, s.srv.domain)) {
			return
		}
		state := map[core.ChatState]string{core.StateComposing: "composing", core.StatePaused: "paused",
			core.StateActive: "active", core.StateInactive: "inactive", core.StateGone: "gone"}[e.State]
		if state == "" {
			return
		}
		s.send(el(nsClient, "message", "from", peerJID(nw, e.Peer.Remote, s.srv.domain), "to", s.full, "type", "chat").
			add(el(nsChatStates, state), el(nsHints, "no-store")))
	case core.PeerReadEvent:
		s.deliverPeerRead(ctx, e) // markers.go
	case core.PresenceEvent:
		nw, ok := s.nets.get(ctx, e.Network)
		if !ok {
			return
		}
		from := peerJID(nw, s.nets.remoteOf(nw, e.Contact), s.srv.domain)
		if s.isBlocked(ctx, from) {
			return
		}
		s.send(presenceOf(from, s.full, e.Status))
	case core.NetworkStateEvent:
		s.deliverNetworkState(e)
	case core.ContactsEvent, core.ContactEvent:
		s.refreshRoster(ctx) // roster.go
	case core.SubscriptionEvent:
		s.deliverSubscription(ctx, e)
	case core.RoomMembersEvent, core.MembershipEvent, core.TopicEvent:
		s.deliverRoom(ctx, e)
	case core.ReadMarkerEvent:
		s.deliverReadMarker(ctx, e)
	case core.DeliveredEvent, core.SendFailedEvent:
		s.deliverOutcome(ctx, e) // outcome.go
	}
}

func presenceOf(from, to string, st core.Status) *element {
	p := el(nsClient, "presence", "from", from, "to", to)
	switch st.Show {
	case core.ShowOffline:
		p.setAttr("type", "unavailable")
	case core.ShowAway:
		p.add(el(nsClient, "show").withText("away"))
	case core.ShowXA:
		p.add(el(nsClient, "show").withText("xa"))
	case core.ShowDND:
		p.add(el(nsClient, "show").withText("dnd"))
	case core.ShowChat:
		p.add(el(nsClient, "show").withText("chat"))
	}
	if st.Text != "" {
		p.add(el(nsClient, "status").withText(st.Text))
	}
	return p
}

func (s *session) deliverNetworkState(e core.NetworkStateEvent) {
	nw, ok := s.nets.get(context.Background(), e.Network)
	if !ok {
		return
	}
	st := core.Status{Show: core.ShowAvailable, Text: string(e.State)}
	switch e.State {
	case core.StateConnected:
	case core.StateConnecting:
		st.Show = core.ShowAway
	default:
		st.Show = core.ShowXA
		if e.Err != "" {
			st.Text = string(e.State) + ": " + e.Err
		}
	}
	s.send(presenceOf(networkDomain(nw, s.srv.domain), s.full, st))
}

// deliverMessage sends a stored message: a contact's message as it is, the
// user's own from another device or client as a carbon (XEP-0280), each
// with its archive id (XEP-0359).
func (s *session) deliverMessage(ctx context.Context, e core.MessageEvent) {
	m := e.Message
	s.pushRoster(ctx, m)
	if e.From == s.hs.ID && m.Peer.Kind != core.Room {
		return // this device sent it; rooms reflect, chats do not
	}
	nw, ok := s.nets.get(ctx, m.Network)
	if !ok {
		return
	}
	if m.Direction == core.Incoming && len(s.srv.blockedSet(ctx, s.user.ID)) > 0 &&
		(s.isBlocked(ctx, peerJID(nw, m.Peer.Remote, s.srv.domain)) ||
			s.isBlocked(ctx, peerJID(nw, s.nets.remoteOf(nw, m.Sender.Addr), s.srv.domain))) {
		return // the archive keeps it; the devices do not show it
	}
	if m.Peer.Kind == core.Room {
		s.deliverRoomMessage(nw, m)
		return
	}
	st := s.messageStanza(nw, m)
	if st == nil {
		return
	}
	if m.Direction == core.Outgoing && m.Peer.Kind == core.Direct {
		if !s.carbons.Load() || (m.NoCopies && e.From != 0) {
			return
		}
		st.setAttr("from", s.bare)
		s.send(el(nsClient, "message", "from", s.bare, "to", s.full, "type", "chat").
			add(el(nsCarbons, "sent").add(el(nsForward, "forwarded").add(st))))
		return
	}
	s.send(st)
}

// messageStanza renders a stored message addressed to this device, or nil
// for kinds this part of the port does not show (room events come with
// the rooms).
func (s *session) messageStanza(nw core.Network, m *core.Message) *element {
	body := renderStyling(m.Body, m.Spans)
	switch m.Kind {
	case core.KindChat, core.KindNotice:
	case core.KindAction:
		body = "/me " + body
	case core.KindInvite:
		if m.Peer.Kind != core.Room {
			return s.invitationStanza(nw, m)
		}
		// Someone else invited to a room the user is in (IRC's
		// invite-notify): a line from the inviter.
		body = "/me invited " + m.Body
	case core.KindReaction:
		if m.ReplyTo.ID == 0 {
			return nil // reacts to a message this user's archive lacks
		}
	default:
		return nil
	}
	peer := peerJID(nw, m.Peer.Remote, s.srv.domain)
	st := el(nsClient, "message", "to", s.full, "id", m.ID.String())
	if m.Peer.Kind == core.Room {
		st.setAttr("type", "groupchat")
		st.setAttr("from", peer+"/"+m.Sender.Addr)
	} else {
		st.setAttr("type", "chat")
		st.setAttr("from", peer)
		if m.Direction == core.Outgoing {
			st.setAttr("from", s.full)
			st.setAttr("to", peer)
		}
	}
	if m.Kind == core.KindReaction {
		// XEP-0444: the set replaces what the sender had, naming the
		// message by the id devices know it by. No body: a client
		// without reactions shows nothing rather than a stray emoji.
		target := m.ReplyTo.ID.String()
		if reader, ok := s.srv.store.(core.MessageReader); ok {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			target = s.deviceID(ctx, reader, m.ReplyTo.ID) // markers.go
			cancel()
		}
		rx := el(nsReactions, "reactions", "id", target)
		for _, r := range m.Reactions() {
			rx.add(el(nsReactions, "reaction").withText(r))
		}
		st.add(rx, el(nsHints, "store"))
	} else {
		st.add(el(nsClient, "body").withText(body))
	}
	// XEP-0359: the id is the archive's, and a room's archive is the
	// room's own (MAM on the room address), so clients match live room
	// messages with the room's archive, replies and MDS by it.
	by := s.bare
	if m.Peer.Kind == core.Room {
		by = peer
	}
	st.add(el(nsSID, "stanza-id", "id", m.ID.String(), "by", by))
	if m.CorrectionOf.ID != 0 {
		st.add(el(nsCorrect, "replace", "id", m.CorrectionOf.ID.String()))
	}
	// XEP-0461: a reply names the message it answers by the id devices
	// know it by, which is the archive's.
	if m.ReplyTo.ID != 0 && m.Kind != core.KindReaction {
		st.add(el(nsReply, "reply", "id", m.ReplyTo.ID.String()))
	}
	// XEP-0066: files shared by address, which clients show inline.
	for _, a := range m.Attachments {
		x := el(nsOOB, "x").add(el(nsOOB, "url").withText(a.URL))
		if a.Name != "" {
			x.add(el(nsOOB, "desc").withText(a.Name))
		}
		st.add(x)
	}
	if time.Since(m.Time) > 10*time.Second {
		st.add(el(nsDelay, "delay", "from", s.srv.domain, "stamp", m.Time.UTC().Format("2006-01-02T15:04:05.000Z")))
	}
	return st
}

// reactionMessage reads a device's reactions (XEP-0444): the whole set
// it now has for the message the id names (none withdraws them), by
// the id the device knows it by, as for a reply.
func reactionMessage(rx *element) (*core.Message, error) {
	id := rx.attr("id")
	if id == "" {
		return nil, errors.New("reactions name no message")
	}
	m := &core.Message{Kind: core.KindReaction, ReplyTo: messageRef(id)}
	var set []string
	for _, c := range rx.Children {
		if c.Name.Space != nsReactions || c.Name.Local != "reaction" {
			continue
		}
		r := strings.TrimSpace(c.Text)
		switch {
		case r == "" || slices.Contains(set, r):
			continue
		case !core.ValidReaction(r):
			return nil, fmt.Errorf("a reaction is at most %d bytes of text on one line", core.MaxReactionBytes)
		case len(set) == core.MaxReactions:
			return nil, fmt.Errorf("at most %d reactions to one message", core.MaxReactions)
		}
		set = append(set, r)
	}
	m.Body = strings.Join(set, "\n")
	return m, nil
}

// messageRef reads a device's reference to a message: the archive's id
// for what it received, its own for what it sent.
func messageRef(id string) core.MessageRef {
	if sid, err := core.ParseMessageID(id); err == nil {
		return core.MessageRef{ID: sid}
	}
	return core.MessageRef{OriginID: "xmpp-origin:" + id}
}

// replyAndLinks reads a device's reply (XEP-0461) and the files it
// shares by address (XEP-0066). A reply names a message by the id the
// device knows: the archive's for what it received, its own for what
// it sent.
func replyAndLinks(m *element) (core.MessageRef, []core.Attachment) {
	var ref core.MessageRef
	if r := m.child(nsReply, "reply"); r != nil && r.attr("id") != "" {
		ref = messageRef(r.attr("id"))
	}
	var links []core.Attachment
	for _, x := range m.Children {
		if x.Name.Space != nsOOB || x.Name.Local != "x" || len(links) == maxLinks {
			continue
		}
		u := strings.TrimSpace(x.childText(nsOOB, "url"))
		if !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") || len(u) > 2048 {
			continue // a link devices could not open, or a data blob
		}
		links = append(links, core.Attachment{URL: u, Name: x.childText(nsOOB, "desc")})
	}
	return ref, links
}

// maxLinks bounds the files one message shares.
const maxLinks = 16
