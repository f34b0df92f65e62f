package xmpp

import (
	"context"
	"strings"

	"github.com/switchboard/switchboard/core"
)

// Bookmarks list the channels the user's networks are in, so a client
// that autojoins its bookmarks (Conversations, Dino, Gajim, Monal) shows
// every channel on a fresh device without being told. They are merged
// into what the client itself stored, in each form clients read:
// XEP-0402 (one PEP item per room), XEP-0048 in PEP and in private XML
// storage (one <storage/> with every room). A bookmark the client stored
// for a room wins over the generated one; removing the bookmark of a
// channel the network is in brings it back until the channel is parted.

const (
	nsBookmarks       = "urn:xmpp:bookmarks:1"
	nsBookmarksLegacy = "storage:bookmarks"
)

// roomBookmark is a channel a network of the user is in.
type roomBookmark struct{ jid, name, nick string }

func (s *session) roomBookmarks(ctx context.Context) []roomBookmark {
	var out []roomBookmark
	for _, r := range s.srv.hub.Rooms(s.user.ID) {
		nw, ok := s.nets.get(ctx, r.Network)
		if !ok {
			continue
		}
		out = append(out, roomBookmark{jid: peerJID(nw, r.Room, s.srv.domain), name: r.Room + " (" + nw.Name + ")", nick: r.Self})
	}
	return out
}

// isBookmarkNode reports whether node is one the port adds rooms to.
func isBookmarkNode(node string) bool { return node == nsBookmarks || node == nsBookmarksLegacy }

// withRoomBookmarks adds the user's channels to what a bookmark node
// holds. ids, if any, limit the answer to those items, as the request did.
func (s *session) withRoomBookmarks(ctx context.Context, node string, items []core.PEPItem, ids []string) []core.PEPItem {
	rooms := s.roomBookmarks(ctx)
	if len(rooms) == 0 {
		return items
	}
	switch node {
	case nsBookmarks:
		have := make(map[string]bool, len(items))
		for _, it := range items {
			have[it.ID] = true
		}
		for _, r := range rooms {
			if have[r.jid] || (len(ids) > 0 && !containsString(ids, r.jid)) {
				continue
			}
			c := el(nsBookmarks, "conference", "autojoin", "true", "name", r.name)
			if r.nick != "" {
				c.add(el(nsBookmarks, "nick").withText(r.nick))
			}
			items = append(items, core.PEPItem{ID: r.jid, Payload: serialize(c)})
		}
	case nsBookmarksLegacy:
		if len(ids) > 0 && !containsString(ids, "current") {
			return items
		}
		storage := el(nsBookmarksLegacy, "storage")
		if len(items) > 0 {
			if stored, err := parseStored(items[0].Payload); err == nil && stored.Name.Local == "storage" {
				storage = stored
			}
		}
		addLegacyRooms(storage, rooms)
		current := core.PEPItem{ID: "current", Payload: serialize(storage)}
		if len(items) > 0 {
			items[0] = current
		} else {
			items = []core.PEPItem{current}
		}
	}
	return items
}

// addLegacyRooms adds a <conference/> for each room storage lacks.
func addLegacyRooms(storage *element, rooms []roomBookmark) {
	have := make(map[string]bool)
	for _, c := range storage.Children {
		if c.Name.Local == "conference" {
			have[strings.ToLower(c.attr("jid"))] = true
		}
	}
	for _, r := range rooms {
		if have[strings.ToLower(r.jid)] {
			continue
		}
		c := el(nsBookmarksLegacy, "conference", "jid", r.jid, "autojoin", "true", "name", r.name)
		if r.nick != "" {
			c.add(el(nsBookmarksLegacy, "nick").withText(r.nick))
		}
		storage.add(c)
	}
}
