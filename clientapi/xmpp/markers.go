package xmpp

import (
	"context"
	"strings"

	"github.com/switchboard/switchboard/core"
)

const nsChatMarkers = "urn:xmpp:chat-markers:0"

// handleMarker applies a chat marker (XEP-0333) a device sent with no
// body: "displayed" (or "acknowledged", which implies it) moves this
// device's read position and the user's in that conversation, and the
// Hub shows the user's on every other device and the HTTP API. It
// reports whether m carried a marker. Markers stay on Switchboard: IRC
// has no read receipts to pass them on to.
func (s *session) handleMarker(ctx context.Context, m *element, r resolved) bool {
	var mk *element
	for _, name := range []string{"displayed", "acknowledged"} {
		if mk = m.child(nsChatMarkers, name); mk != nil {
			break
		}
	}
	if mk == nil {
		return false
	}
	id, err := core.ParseMessageID(mk.attr("id"))
	if err != nil {
		// Not an archive id the port gave out (a client marking a
		// message by its own id): there is no position to move to.
		return true
	}
	conv, ok := s.conversationOfPeer(ctx, r.network.ID, r.peer)
	if !ok {
		return true
	}
	for _, device := range []string{s.resource, ""} {
		if err := s.srv.hub.MarkRead(ctx, s.hs, core.ReadMarker{Conversation: conv.ID, Device: device, Upto: id}); err != nil {
			s.log.Warn("storing a read marker", "err", err)
			return true
		}
	}
	return true
}

// conversationOfPeer finds the stored conversation with peer.
func (s *session) conversationOfPeer(ctx context.Context, network core.NetworkID, peer core.Peer) (core.Conversation, bool) {
	convs, err := s.srv.store.Conversations(ctx, s.user.ID)
	if err != nil {
		s.log.Warn("listing conversations", "err", err)
		return core.Conversation{}, false
	}
	for _, c := range convs {
		if c.Network == network && c.Kind == peer.Kind && c.Remote == peer.Remote {
			return c, true
		}
	}
	return core.Conversation{}, false
}

func (s *session) conversationByID(ctx context.Context, id core.ConversationID) (core.Conversation, bool) {
	convs, err := s.srv.store.Conversations(ctx, s.user.ID)
	if err != nil {
		s.log.Warn("listing conversations", "err", err)
		return core.Conversation{}, false
	}
	for _, c := range convs {
		if c.ID == id {
			return c, true
		}
	}
	return core.Conversation{}, false
}

// deliverReadMarker shows this device that the user read a conversation
// up to a message on another device (or in the web page): as the sent
// carbon of a displayed marker, which is how XEP-0333 clients learn it
// from each other. Per-device positions are the Hub's record only.
func (s *session) deliverReadMarker(ctx context.Context, e core.ReadMarkerEvent) {
	if e.Device != "" || e.From == s.hs.ID {
		return
	}
	s.notifyMDS(ctx, e) // mds.go
	if !s.carbons.Load() {
		return
	}
	conv, ok := s.conversationByID(ctx, e.Conversation)
	if !ok || conv.Kind != core.Direct {
		return // rooms' go by MDS alone: carbons carry no groupchat
	}
	nw, ok := s.nets.get(ctx, conv.Network)
	if !ok {
		return
	}
	peer := peerJID(nw, conv.Remote, s.srv.domain)
	marker := el(nsClient, "message", "from", s.bare, "to", peer, "type", "chat").
		add(el(nsChatMarkers, "displayed", "id", e.Upto.String()), el(nsHints, "store"))
	s.send(el(nsClient, "message", "from", s.bare, "to", s.full, "type", "chat").
		add(el(nsCarbons, "sent").add(el(nsForward, "forwarded").add(marker))))
}

// deliverPeerRead shows that a contact read the conversation up to one of
// the user's messages (a federated read receipt) as the contact's
// displayed marker (XEP-0333), naming the message by the id the device
// knows it by: its own stanza id when it sent it, else the archive's.
func (s *session) deliverPeerRead(ctx context.Context, e core.PeerReadEvent) {
	reader, ok := s.srv.store.(core.MessageReader)
	if !ok || e.Peer.Kind != core.Direct {
		return
	}
	nw, ok := s.nets.get(ctx, e.Network)
	if !ok {
		return
	}
	peer := peerJID(nw, e.Peer.Remote, s.srv.domain)
	if s.isBlocked(ctx, peer) {
		return
	}
	s.send(el(nsClient, "message", "from", peer, "to", s.full, "type", "chat").
		add(el(nsChatMarkers, "displayed", "id", s.deviceID(ctx, reader, e.Upto)), el(nsHints, "no-store")))
}

// deviceID is the id the user's devices know a stored message by: the
// client's own stanza id for a message a client sent, else the
// archive's.
func (s *session) deviceID(ctx context.Context, reader core.MessageReader, id core.MessageID) string {
	if m, err := reader.Message(ctx, s.user.ID, id); err == nil {
		if clientID, ok := strings.CutPrefix(m.OriginID, "xmpp-origin:"); ok && clientID != "" && m.Direction == core.Outgoing {
			return clientID
		}
	}
	return id.String()
}
