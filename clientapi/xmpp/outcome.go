package xmpp

import (
	"context"
	"strings"

	"github.com/switchboard/switchboard/core"
)

// The fate of a message sent from a device, once its network knows it
// (federation: the recipient's server stored it, or refused it, or it
// grew too old). The device named the message by its stanza id, which the
// store keeps as the origin id "xmpp-origin:ID"; messages sent by other
// ports or without an id have none a client would recognise, and get
// nothing.
//
//	delivered: <message from=peer><received xmlns=urn:xmpp:chat-markers:0 id=ID/></message>
//	failed:    <message type=error from=peer id=ID><error type=cancel><recipient-unavailable/>…
func (s *session) deliverOutcome(ctx context.Context, e core.Event) {
	reader, ok := s.srv.store.(core.MessageReader)
	if !ok {
		return
	}
	var id core.MessageID
	switch e := e.(type) {
	case core.DeliveredEvent:
		id = e.Message
	case core.SendFailedEvent:
		id = e.Message
	}
	m, err := reader.Message(ctx, s.user.ID, id)
	if err != nil || m.Direction != core.Outgoing {
		return
	}
	clientID, ok := strings.CutPrefix(m.OriginID, "xmpp-origin:")
	if !ok || clientID == "" {
		return
	}
	nw, ok := s.nets.get(ctx, m.Network)
	if !ok {
		return
	}
	peer := peerJID(nw, m.Peer.Remote, s.srv.domain)
	switch e := e.(type) {
	case core.DeliveredEvent:
		s.send(el(nsClient, "message", "from", peer, "to", s.full, "type", "chat").
			add(el(nsChatMarkers, "received", "id", clientID), el(nsHints, "no-store")))
	case core.SendFailedEvent:
		s.send(el(nsClient, "message", "type", "error", "id", clientID, "from", peer, "to", s.full).
			add(stanzaError("cancel", "recipient-unavailable", e.Reason)))
	}
}
