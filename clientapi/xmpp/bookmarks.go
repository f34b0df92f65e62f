package xmpp

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/switchboard/switchboard/core"
)

// Bookmarks list the channels the user's networks are in, so a client
// that autojoins its bookmarks (Conversations, Dino, Gajim, Monal) shows
// every channel on a fresh device without being told. They are merged
// into what the client itself stored, in each form clients read:
// XEP-0402 (one PEP item per room), XEP-0048 in PEP and in private XML
// storage (one <storage/> with every room). A bookmark the client stored
// for a room wins over the generated one.
//
// Bookmarks are also how a client parts a channel for every device: one
// device leaving the MUC leaves only its own view, but retracting a
// channel's XEP-0402 bookmark, or publishing it with autojoin off (what
// Conversations and Gajim do when the user leaves a group chat), parts
// the channel on the network. The older XEP-0048 forms only list rooms:
// clients rewrite the whole <storage/> there, and a room missing from a
// rewrite is too weak a sign to part a channel on.

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
// The old form's one item is built from the new form's (bookmarks_compat.go).
func (s *session) withRoomBookmarks(ctx context.Context, st core.PEPStore, node string, items []core.PEPItem, ids []string) ([]core.PEPItem, error) {
	switch node {
	case nsBookmarks:
		rooms := s.roomBookmarks(ctx)
		have := make(map[string]bool, len(items))
		for _, it := range items {
			have[strings.ToLower(it.ID)] = true // room addresses compare without case, as in the sync
		}
		for _, r := range rooms {
			if have[strings.ToLower(r.jid)] || (len(ids) > 0 && !containsString(ids, r.jid)) {
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
			return items, nil
		}
		var stored string
		if len(items) > 0 {
			stored = items[0].Payload
		}
		storage, err := s.legacyStorage(ctx, st, stored)
		if err != nil {
			return nil, err
		}
		items = []core.PEPItem{{ID: "current", Payload: serialize(storage)}}
	}
	return items, nil
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

// partTimeout bounds how long a bookmark change waits for the network to
// take the part.
const partTimeout = 10 * time.Second

// partBookmarkedRoom parts the channel a XEP-0402 bookmark id names, if
// one of the user's networks is in it; left is false when none is.
func (s *session) partBookmarkedRoom(ctx context.Context, id string) (left bool, err error) {
	r, ok := s.nets.resolve(ctx, id, s.srv.domain)
	if !ok || r.peer.Kind != core.Room || r.resource != "" {
		return false, nil
	}
	if _, in := s.srv.hub.Room(s.user.ID, r.network.ID, r.peer.Remote); !in {
		return false, nil
	}
	pctx, cancel := context.WithTimeout(ctx, partTimeout)
	defer cancel()
	if err := s.srv.hub.LeaveRoom(pctx, s.user.ID, r.network.ID, r.peer.Remote, ""); err != nil {
		return false, fmt.Errorf("parting %s: %w", id, err)
	}
	s.log.Info("channel parted: its bookmark was removed or its autojoin turned off", "room", id)
	return true, nil
}

// autojoinOff reports whether a published XEP-0402 conference says not
// to join the room.
func autojoinOff(conference *element) bool {
	a := conference.attr("autojoin")
	return conference.Name.Local == "conference" && a != "true" && a != "1"
}
