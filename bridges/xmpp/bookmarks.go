package xmpp

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"
)

// Bookmarks are where an account keeps its rooms: PEP native bookmarks
// (XEP-0402, one PEP item per room) on current servers, private XML
// storage (XEP-0048 in its XEP-0049 form) on older ones and in older
// clients. Both are read and merged; where both name a room, the native
// one wins. The bridge reads them on every connect and never writes
// them: a room a device joins is the bridge's, not the account's.

const (
	nsPubSub        = "http://jabber.org/protocol/pubsub"
	nsBookmarks2    = "urn:xmpp:bookmarks:1"
	nsPrivate       = "jabber:iq:private"
	nsBookmarksOld  = "storage:bookmarks"
	maxBookmarkText = 1024 // bound on a bookmark's nick and password
)

// bookmark is one room of the account's bookmarks.
type bookmark struct {
	room           jid.JID // bare
	nick, password string
	autojoin       bool
}

type bookmarkConference struct {
	JID      string `xml:"jid,attr"` // XEP-0048 only; XEP-0402 has it as the item id
	Autojoin string `xml:"autojoin,attr"`
	Nick     string `xml:"nick"`
	Password string `xml:"password"`
}

// nativeBookmarks is the answer to the XEP-0402 items request: its
// <pubsub/> (mellium decodes an iq's payload, not the iq).
type nativeBookmarks struct {
	Items struct {
		Item []struct {
			ID         string             `xml:"id,attr"`
			Conference bookmarkConference `xml:"urn:xmpp:bookmarks:1 conference"`
		} `xml:"http://jabber.org/protocol/pubsub item"`
	} `xml:"http://jabber.org/protocol/pubsub items"`
}

// privateBookmarks is the answer to the XEP-0048 private storage
// request: its <query/>.
type privateBookmarks struct {
	Storage struct {
		Conference []bookmarkConference `xml:"storage:bookmarks conference"`
	} `xml:"storage:bookmarks storage"`
}

// fetchBookmarks reads the account's bookmarks in both forms. A form the
// server does not offer, or that holds nothing, is no error.
func (s *session) fetchBookmarks(ctx context.Context) ([]bookmark, error) {
	var native nativeBookmarks
	req := xmlstream.Wrap(
		xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Local: "items"}, Attr: []xml.Attr{{Name: xml.Name{Local: "node"}, Value: nsBookmarks2}}}),
		xml.StartElement{Name: xml.Name{Space: nsPubSub, Local: "pubsub"}})
	qctx, cancel := context.WithTimeout(ctx, iqTimeout)
	errNative := s.xs.UnmarshalIQElement(qctx, req, stanza.IQ{Type: stanza.GetIQ}, &native)
	cancel()
	s.bounded.boundary()

	var private privateBookmarks
	req = xmlstream.Wrap(
		xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Space: nsBookmarksOld, Local: "storage"}}),
		xml.StartElement{Name: xml.Name{Space: nsPrivate, Local: "query"}})
	qctx, cancel = context.WithTimeout(ctx, iqTimeout)
	errPrivate := s.xs.UnmarshalIQElement(qctx, req, stanza.IQ{Type: stanza.GetIQ}, &private)
	cancel()
	s.bounded.boundary()

	var out []bookmark
	seen := make(map[string]bool)
	add := func(addr string, c bookmarkConference) {
		b, ok := parseBookmark(addr, c)
		if !ok || seen[b.room.String()] || len(out) >= maxRooms {
			return
		}
		seen[b.room.String()] = true
		out = append(out, b)
	}
	if errNative == nil {
		for _, it := range native.Items.Item {
			add(it.ID, it.Conference)
		}
	}
	if errPrivate == nil {
		for _, c := range private.Storage.Conference {
			add(c.JID, c)
		}
	}
	if errNative != nil && errPrivate != nil && !isAbsent(errNative) {
		return out, fmt.Errorf("native bookmarks: %w; private bookmarks: %w", errNative, errPrivate)
	}
	return out, nil
}

// isAbsent tells "there are no bookmarks here" (no such node, or a
// server without PEP) from a failure worth a warning.
func isAbsent(err error) bool {
	var se stanza.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Condition {
	case stanza.ItemNotFound, stanza.ServiceUnavailable, stanza.FeatureNotImplemented:
		return true
	}
	return false
}

// parseBookmark checks one bookmark: a room address and sane texts.
func parseBookmark(addr string, c bookmarkConference) (bookmark, bool) {
	room, err := roomAddress(addr)
	if err != nil || len(c.Nick) > maxBookmarkText || len(c.Password) > maxBookmarkText {
		return bookmark{}, false
	}
	b := bookmark{room: room, nick: c.Nick, password: c.Password, autojoin: c.Autojoin == "true" || c.Autojoin == "1"}
	if b.nick != "" {
		if _, err := room.WithResource(b.nick); err != nil {
			b.nick = "" // a nick that cannot be a resource: the default one
		}
	}
	return b, true
}
