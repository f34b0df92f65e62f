package xmpp

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"strings"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/roster"
	"mellium.im/xmpp/stanza"

	"github.com/switchboard/switchboard/core"
)

// The roster (RFC 6121 §2) both ways: the account's contact list reaches
// the Hub as a core.ContactsEvent on every (re)connect and a
// core.ContactEvent for each roster push; a device's change goes to the
// server as a roster set, whose push then reaches every device. Presence
// subscription requests and answers pass through as
// core.SubscriptionEvents one way and presence stanzas the other.

const nsRoster = "jabber:iq:roster"

// Bounds on what one roster item may make the Hub keep.
const (
	maxGroups     = 16
	maxNameLength = 1024
)

// rosterItem is an <item/> of a roster result or push. mellium's
// roster.Item has no "ask", which says a request of the user waits.
type rosterItem struct {
	JID          string   `xml:"jid,attr"`
	Name         string   `xml:"name,attr"`
	Subscription string   `xml:"subscription,attr"`
	Ask          string   `xml:"ask,attr"`
	Groups       []string `xml:"group"`
}

type rosterQuery struct {
	Ver   string       `xml:"ver,attr"`
	Items []rosterItem `xml:"item"`
}

// contact maps an item to the model; removed is set for a push that
// removes it, ok is false for an item whose JID does not parse.
func (it rosterItem) contact() (c core.Contact, removed, ok bool) {
	j, err := jid.Parse(it.JID)
	if err != nil {
		return core.Contact{}, false, false
	}
	c = core.Contact{Addr: j.Bare().String(), Name: cut(it.Name, maxNameLength), Asked: it.Ask == "subscribe"}
	switch it.Subscription {
	case "remove":
		return c, true, true
	case "to":
		c.Subscription = core.SubTo
	case "from":
		c.Subscription = core.SubFrom
	case "both":
		c.Subscription = core.SubBoth
	default:
		c.Subscription = core.SubNone
	}
	for _, g := range it.Groups {
		if len(c.Groups) == maxGroups {
			break
		}
		if g = cut(strings.TrimSpace(g), maxNameLength); g != "" {
			c.Groups = append(c.Groups, g)
		}
	}
	return c, false, true
}

// cut shortens s to at most n bytes on a rune boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

// fetchRoster reads the account's contacts and hands the Hub the whole
// list, then announces each as offline: their presence follows once ours
// is sent.
func (s *session) fetchRoster(ctx context.Context) error {
	rctx, cancel := context.WithTimeout(ctx, iqTimeout)
	defer cancel()
	var res struct {
		rosterQuery // mellium decodes the iq's payload, not the iq
	}
	err := s.xs.UnmarshalIQElement(rctx, xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Space: nsRoster, Local: "query"}}),
		stanza.IQ{Type: stanza.GetIQ}, &res)
	s.bounded.boundary()
	if err != nil {
		return err
	}
	list := core.ContactsEvent{}
	events := []core.Event{nil}
	for _, it := range res.Items {
		if len(list.Contacts) == maxContacts {
			s.log.Warn("roster cut at its bound", "contacts", maxContacts)
			break
		}
		c, removed, ok := it.contact()
		if !ok || removed {
			continue
		}
		list.Contacts = append(list.Contacts, c)
		events = append(events, core.PresenceEvent{Contact: c.Addr, Status: core.Status{Show: core.ShowOffline}})
	}
	events[0] = list
	return s.b.env.Inbound.Receive(ctx, events...)
}

// onRosterPush reads a roster push from the account's server (start is
// its <query/>) and hands each item on as a contact change.
func (s *session) onRosterPush(t xml.TokenReader, start *xml.StartElement) {
	var q rosterQuery
	if err := decodeStanza(start, t, &q); err != nil {
		s.log.Debug("unreadable roster push dropped", "err", err)
		return
	}
	var events []core.Event
	for _, it := range q.Items {
		if c, removed, ok := it.contact(); ok {
			events = append(events, core.ContactEvent{Contact: c, Removed: removed})
		}
	}
	s.deliver(events...)
}

// onSubscription hands a subscription request or answer to the Hub; it
// reports false for presence that is not about subscriptions.
func (s *session) onSubscription(p *stanzaPresence) bool {
	kind := core.SubscriptionKind(p.Type)
	switch kind {
	case core.SubscribeRequest, core.SubscribeApproved, core.Unsubscribed, core.UnsubscribeNotice:
	default:
		return false
	}
	from, ok := bareOf(p.From)
	if !ok || p.From == "" || from.Equal(s.self.Bare()) {
		return true
	}
	e := core.SubscriptionEvent{Contact: from.String(), Kind: kind}
	if len(p.Statuses) > 0 {
		e.Text = cut(p.Statuses[0], maxNameLength)
	}
	s.deliver(e)
	return true
}

var _ core.ContactManager = (*Bridge)(nil)

// contactTarget parses addr and finds the current session.
func (b *Bridge) contactTarget(addr string) (*session, jid.JID, error) {
	j, err := jid.Parse(addr)
	if err != nil || j.Localpart() == "" && j.Domainpart() == "" {
		return nil, jid.JID{}, core.Permanent(fmt.Errorf("xmpp: %q is not an XMPP address", addr))
	}
	s := b.cur.Load()
	if s == nil {
		return nil, jid.JID{}, core.ErrNotConnected
	}
	return s, j.Bare(), nil
}

// SetContact adds the contact to the account's roster or changes its
// name and groups; the server's push tells every device.
func (b *Bridge) SetContact(ctx context.Context, c core.Contact) error {
	s, j, err := b.contactTarget(c.Addr)
	if err != nil {
		return err
	}
	if len(c.Groups) > maxGroups {
		return core.Permanent(errors.New("xmpp: too many groups"))
	}
	ctx, cancel := context.WithTimeout(ctx, iqTimeout)
	defer cancel()
	return roster.Set(ctx, s.xs, roster.Item{JID: j, Name: c.Name, Group: c.Groups})
}

// RemoveContact removes addr from the account's roster, which also ends
// both presence subscriptions (RFC 6121 §2.5.2).
func (b *Bridge) RemoveContact(ctx context.Context, addr string) error {
	s, j, err := b.contactTarget(addr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, iqTimeout)
	defer cancel()
	return roster.Delete(ctx, s.xs, j)
}

// Subscribe asks addr for its presence (RFC 6121 §3.1.1).
func (b *Bridge) Subscribe(ctx context.Context, addr string) error {
	return b.sendSubscription(ctx, addr, stanza.SubscribePresence)
}

// AnswerSubscription approves or refuses addr's subscription request.
func (b *Bridge) AnswerSubscription(ctx context.Context, addr string, approve bool) error {
	if approve {
		return b.sendSubscription(ctx, addr, stanza.SubscribedPresence)
	}
	return b.sendSubscription(ctx, addr, stanza.UnsubscribedPresence)
}

func (b *Bridge) sendSubscription(ctx context.Context, addr string, typ stanza.PresenceType) error {
	s, j, err := b.contactTarget(addr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, iqTimeout)
	defer cancel()
	return s.xs.Send(ctx, stanza.Presence{To: j, Type: typ}.Wrap(nil))
}
