package xmpp

import (
	"context"
	"time"

	"github.com/switchboard/switchboard/core"
)

// Displayed-marker synchronization (XEP-0490): clients keep, per
// conversation, the archive id of the last message the user saw, in the
// PEP node urn:xmpp:mds:displayed:0 (item id: the conversation's bare
// JID). The store's read markers are the truth here, shared with chat
// markers (markers.go) and the HTTP API, so: a publish moves the read
// marker; a read marker set anywhere else reaches devices as that node's
// event; and the node's items are read from the read markers, merged
// with what clients published.

const nsMDS = "urn:xmpp:mds:displayed:0"

// applyMDS moves the read markers a published displayed item names.
func (s *session) applyMDS(ctx context.Context, itemID string, payload *element) {
	sid := payload.child(nsSID, "stanza-id")
	if payload.Name.Space != nsMDS || sid == nil {
		return
	}
	upto, err := core.ParseMessageID(sid.attr("id"))
	if err != nil {
		return // not an archive id of this server
	}
	r, ok := s.nets.resolve(ctx, itemID, s.srv.domain)
	if !ok {
		return
	}
	conv, ok := s.conversationOfPeer(ctx, r.network.ID, r.peer)
	if !ok {
		return
	}
	for _, device := range []string{s.resource, ""} {
		if err := s.srv.hub.MarkRead(ctx, s.hs, core.ReadMarker{Conversation: conv.ID, Device: device, Upto: upto}); err != nil {
			s.log.Warn("storing a read marker from MDS", "err", err)
			return
		}
	}
}

// mdsItem renders the user's read position in a conversation as the
// node's item.
func (s *session) mdsItem(ctx context.Context, conv core.Conversation, upto core.MessageID) (string, *element, bool) {
	nw, ok := s.nets.get(ctx, conv.Network)
	if !ok {
		return "", nil, false
	}
	convJID := peerJID(nw, conv.Remote, s.srv.domain)
	by := s.bare // a chat's archive is the user's; a room's is the room's
	if conv.Kind == core.Room {
		by = convJID
	}
	return convJID, el(nsMDS, "displayed").add(el(nsSID, "stanza-id", "by", by, "id", upto.String())), true
}

// notifyMDS shows this device a read position set elsewhere as an event
// of the node, for clients that follow it rather than chat markers.
func (s *session) notifyMDS(ctx context.Context, e core.ReadMarkerEvent) {
	if !s.available.Load() {
		return
	}
	conv, ok := s.conversationByID(ctx, e.Conversation)
	if !ok {
		return
	}
	id, payload, ok := s.mdsItem(ctx, conv, e.Upto)
	if !ok {
		return
	}
	s.send(el(nsClient, "message", "from", s.bare, "to", s.full, "type", "headline", "id", "mds-"+randomID()[:8]).
		add(el(nsPubSubEvent, "event").add(el(nsPubSubEvent, "items", "node", nsMDS).add(el(nsPubSubEvent, "item", "id", id).add(payload)))))
}

// withReadMarkers merges the store's read positions into the node's
// items: one per conversation, the later position winning.
func (s *session) withReadMarkers(ctx context.Context, items []core.PEPItem, ids []string) []core.PEPItem {
	markers, err := s.srv.store.ReadMarkersSince(ctx, s.user.ID, timeZero)
	if err != nil {
		s.log.Warn("reading read markers for MDS", "err", err)
		return items
	}
	index := make(map[string]int, len(items))
	for i, it := range items {
		index[it.ID] = i
	}
	convs := map[core.ConversationID]core.Conversation{}
	if list, err := s.srv.store.Conversations(ctx, s.user.ID); err == nil {
		for _, c := range list {
			convs[c.ID] = c
		}
	}
	for _, m := range markers {
		conv, ok := convs[m.Conversation]
		if m.Device != "" || !ok {
			continue
		}
		id, payload, ok := s.mdsItem(ctx, conv, m.Upto)
		if !ok || (len(ids) > 0 && !containsString(ids, id)) {
			continue
		}
		item := core.PEPItem{ID: id, Payload: serialize(payload)}
		if i, have := index[id]; have {
			if stored, err := parseStored(items[i].Payload); err == nil {
				if sid := stored.child(nsSID, "stanza-id"); sid != nil {
					if was, err := core.ParseMessageID(sid.attr("id")); err == nil && was >= m.Upto {
						continue // the client's own is as new
					}
				}
			}
			items[i] = item
			continue
		}
		index[id] = len(items)
		items = append(items, item)
	}
	return items
}

// timeZero asks for every read marker.
var timeZero time.Time
