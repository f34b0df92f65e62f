package xmpp

import (
	"context"
	"fmt"
	"strings"

	"github.com/switchboard/switchboard/core"
)

// XEP-0402 §5 compatibility (#compat, #compat-pep): the XEP-0402 node,
// one item per room, is where bookmarks live; the XEP-0048 forms (one
// <storage/> in private XML storage, or in the storage:bookmarks PEP node)
// are views of it. A client that writes the old form changes the new
// node's items, and one that reads it sees them, so bookmarks saved in
// Gajim on a desktop appear in Conversations on a phone whichever form
// each speaks. The old form's other children (URL bookmarks) are kept as
// the client wrote them.

const (
	nsBookmarksCompat    = nsBookmarks + "#compat"
	nsBookmarksCompatPEP = nsBookmarks + "#compat-pep"
)

// bookmarksNodeConfig is the XEP-0402 node's configuration when a legacy
// write creates it: every item kept, readable by the owner only
// (XEP-0402 §3).
func bookmarksNodeConfig() core.PEPNodeConfig {
	return core.PEPNodeConfig{PersistItems: true, AccessModel: "whitelist", MaxItems: core.PEPMaxItems}
}

// legacyStorage builds the XEP-0048 <storage/>: what the client stored in
// the old form but its conferences, the XEP-0402 items as conferences,
// and the channels the networks are in. stored is the old form as kept
// ("" if none).
func (s *session) legacyStorage(ctx context.Context, st core.PEPStore, stored string) (*element, error) {
	storage := el(nsBookmarksLegacy, "storage")
	if stored != "" {
		if e, err := parseStored(stored); err == nil && e.Name.Local == "storage" {
			kept := e.Children[:0]
			for _, c := range e.Children {
				if c.Name.Local != "conference" {
					kept = append(kept, c)
				}
			}
			e.Children = kept
			storage = e
		}
	}
	items, err := st.PEPItems(ctx, s.user.ID, nsBookmarks, nil, 0)
	if err != nil {
		return nil, fmt.Errorf("reading the bookmarks: %w", err)
	}
	for _, it := range items {
		c, err := parseStored(it.Payload)
		if err != nil || c.Name.Local != "conference" {
			continue
		}
		legacy := el(nsBookmarksLegacy, "conference", "jid", it.ID, "name", c.attr("name"))
		if a := c.attr("autojoin"); a == "true" || a == "1" {
			legacy.setAttr("autojoin", "true")
		}
		if nick := c.childText(nsBookmarks, "nick"); nick != "" {
			legacy.add(el(nsBookmarksLegacy, "nick").withText(nick))
		}
		if pw := c.childText(nsBookmarks, "password"); pw != "" {
			legacy.add(el(nsBookmarksLegacy, "password").withText(pw))
		}
		storage.add(legacy)
	}
	addLegacyRooms(storage, s.roomBookmarks(ctx)) // bookmarks.go
	return storage, nil
}

// syncFromLegacy makes the XEP-0402 node hold the conferences of a
// <storage/> a client wrote: each one published (when it differs), and
// the node's other items retracted. Devices are told of each change.
func (s *session) syncFromLegacy(ctx context.Context, st core.PEPStore, storage *element) error {
	// Room addresses are compared without case, as the networks fold
	// channel names; an item keeps the id it was stored under.
	want := make(map[string]*element)
	jids := make(map[string]string)
	var order []string
	for _, c := range storage.Children {
		if c.Name.Local != "conference" || c.attr("jid") == "" {
			continue
		}
		id := strings.ToLower(c.attr("jid"))
		conf := el(nsBookmarks, "conference", "name", c.attr("name"), "autojoin", "false")
		if a := c.attr("autojoin"); a == "true" || a == "1" {
			conf.setAttr("autojoin", "true")
		}
		if nick := c.childText(nsBookmarksLegacy, "nick"); nick != "" {
			conf.add(el(nsBookmarks, "nick").withText(nick))
		}
		if pw := c.childText(nsBookmarksLegacy, "password"); pw != "" {
			conf.add(el(nsBookmarks, "password").withText(pw))
		}
		if _, dup := want[id]; !dup {
			order = append(order, id)
			jids[id] = c.attr("jid")
		}
		want[id] = conf
	}
	items, err := st.PEPItems(ctx, s.user.ID, nsBookmarks, nil, 0)
	if err != nil {
		return fmt.Errorf("reading the bookmarks: %w", err)
	}
	have := make(map[string]core.PEPItem, len(items))
	for _, it := range items {
		have[strings.ToLower(it.ID)] = it
	}
	c, exists, err := nodeConfig(ctx, st, s.user.ID, nsBookmarks)
	if err != nil {
		return err
	}
	if !exists {
		c = bookmarksNodeConfig()
	}
	for _, id := range order {
		conf := want[id]
		old, ok := have[id]
		itemID := jids[id]
		if ok {
			itemID = old.ID
			if prev, err := parseStored(old.Payload); err == nil && prev.Name.Local == "conference" {
				if confFields(prev) == confFields(conf) {
					continue // the old form says nothing new
				}
				// What only the new form holds stays.
				if ext := prev.child(nsBookmarks, "extensions"); ext != nil {
					conf.add(ext)
				}
			}
		}
		payload := serialize(conf)
		if err := st.PublishPEPItem(ctx, s.user.ID, nsBookmarks, c, core.PEPItem{ID: itemID, Payload: payload}); err != nil {
			return fmt.Errorf("storing bookmark %s: %w", itemID, err)
		}
		s.pepNotify(el(nsPubSubEvent, "items", "node", nsBookmarks).add(el(nsPubSubEvent, "item", "id", itemID).add(conf)))
	}
	for _, it := range items {
		if _, kept := want[strings.ToLower(it.ID)]; kept {
			continue
		}
		if _, err := st.RetractPEPItem(ctx, s.user.ID, nsBookmarks, it.ID); err != nil {
			return fmt.Errorf("removing bookmark %s: %w", it.ID, err)
		}
		s.pepNotify(el(nsPubSubEvent, "items", "node", nsBookmarks).add(el(nsPubSubEvent, "retract", "id", it.ID)))
	}
	return nil
}

// confFields is what both forms of a conference say: name, autojoin,
// nick and password.
func confFields(c *element) [4]string {
	a := c.attr("autojoin")
	return [4]string{c.attr("name"), fmt.Sprint(a == "true" || a == "1"), c.childText(nsBookmarks, "nick"), c.childText(nsBookmarks, "password")}
}

// notifyLegacyBookmarks tells devices that read the old PEP form of a
// change made through the new one.
func (s *session) notifyLegacyBookmarks(ctx context.Context, st core.PEPStore) {
	stored, err := st.PEPItems(ctx, s.user.ID, nsBookmarksLegacy, nil, 1)
	if err != nil {
		if ctx.Err() == nil { // a session or server ending is no fault
			s.log.Warn("reading the old bookmarks for a notification", "err", err)
		}
		return
	}
	var raw string
	if len(stored) > 0 {
		raw = stored[0].Payload
	}
	storage, err := s.legacyStorage(ctx, st, raw)
	if err != nil {
		s.log.Warn("building the old bookmarks for a notification", "err", err)
		return
	}
	s.pepNotify(el(nsPubSubEvent, "items", "node", nsBookmarksLegacy).add(el(nsPubSubEvent, "item", "id", "current").add(storage)))
}
