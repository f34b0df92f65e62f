package xmpp

import (
	"encoding/xml"
	"strings"
	"time"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"github.com/switchboard/switchboard/core"
)

// Namespaces the bridge writes; those it only reads are in the struct
// tags below.
const (
	nsSID  = "urn:xmpp:sid:0" // XEP-0359 origin-id, stanza-id
	nsMAM  = "urn:xmpp:mam:2" // XEP-0313
	nsRSM  = "http://jabber.org/protocol/rsm"
	nsForm = "jabber:x:data"
)

// maxBody bounds the body kept of one message: a hostile or broken server
// cannot make one stanza cost the store more than this.
const maxBody = 64 << 10

// stanzaMessage is the part of a <message/> the bridge understands. Fields
// name their namespace where a foreign element of the same local name
// could otherwise be mistaken for it.
type stanzaMessage struct {
	XMLName   xml.Name
	From      string        `xml:"from,attr"`
	To        string        `xml:"to,attr"`
	ID        string        `xml:"id,attr"`
	Type      string        `xml:"type,attr"`
	Bodies    []string      `xml:"body"`
	OriginID  *sidElement   `xml:"urn:xmpp:sid:0 origin-id"`
	StanzaIDs []sidElement  `xml:"urn:xmpp:sid:0 stanza-id"`
	Delay     *delayElement `xml:"urn:xmpp:delay delay"`
	Received  *carbon       `xml:"urn:xmpp:carbons:2 received"`
	Sent      *carbon       `xml:"urn:xmpp:carbons:2 sent"`
	Result    *mamResult    `xml:"urn:xmpp:mam:2 result"`
	// Group chats (muc.go): a room's subject, why a room refused, and
	// invitations (mediated, and XEP-0249 direct ones).
	Subject    *string       `xml:"subject"`
	Error      *stanza.Error `xml:"error"`
	MUCUser    *mucUserX     `xml:"http://jabber.org/protocol/muc#user x"`
	Conference *directInvite `xml:"jabber:x:conference x"`

	extensions // receipts.go: receipts, chat states, corrections, replies, links
}

type sidElement struct {
	ID string `xml:"id,attr"`
	By string `xml:"by,attr"`
}

type delayElement struct {
	Stamp string `xml:"stamp,attr"`
}

type forwarded struct {
	Delay   *delayElement  `xml:"urn:xmpp:delay delay"`
	Message *stanzaMessage `xml:"message"`
}

type carbon struct {
	Forwarded forwarded `xml:"urn:xmpp:forward:0 forwarded"`
}

type mamResult struct {
	QueryID   string    `xml:"queryid,attr"`
	ID        string    `xml:"id,attr"`
	Forwarded forwarded `xml:"urn:xmpp:forward:0 forwarded"`
}

// stanzaPresence is the part of a <presence/> the bridge understands.
type stanzaPresence struct {
	XMLName  xml.Name
	From     string   `xml:"from,attr"`
	Type     string   `xml:"type,attr"`
	Show     string   `xml:"show"`
	Statuses []string `xml:"status"`
	// Group chats (muc.go): an occupant's presence, a refused join.
	MUCUser *mucUserX     `xml:"http://jabber.org/protocol/muc#user x"`
	Error   *stanza.Error `xml:"error"`
}

// body is the message's text: the first <body/>, since the bridge keeps
// one language, cut at maxBody on a rune boundary.
func (m *stanzaMessage) body() string {
	if len(m.Bodies) == 0 {
		return ""
	}
	b := m.Bodies[0]
	if len(b) > maxBody {
		b = strings.ToValidUTF8(b[:maxBody], "")
	}
	return b
}

// networkID is the id the store deduplicates the message by. It must be
// the same for every copy of one message the bridge can see: live, as a
// carbon from another of the user's clients, and from the archive after
// a reconnect. The sender's origin-id is the only id all three carry
// unchanged; next the stanza's own id, which the archive keeps too. The
// server's stanza-id comes last: a carbon of a sent message lacks it, so
// preferring it would store such a message twice. archiveID is the MAM
// result id, which is the stanza-id.
func (m *stanzaMessage) networkID(self jid.JID, archiveID string) string {
	if m.OriginID != nil && m.OriginID.ID != "" {
		return m.OriginID.ID
	}
	if m.ID != "" {
		return m.ID
	}
	if archiveID != "" {
		return archiveID
	}
	for _, s := range m.StanzaIDs {
		// Only our own server's stanza-id is trustworthy (XEP-0359 §5).
		if b, err := jid.Parse(s.By); err == nil && b.Equal(self.Bare()) && s.ID != "" {
			return s.ID
		}
	}
	return ""
}

// parseStamp reads an XEP-0082 date-time; zero when absent or invalid.
func parseStamp(d *delayElement) time.Time {
	if d == nil {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, d.Stamp)
	if err != nil {
		return time.Time{}
	}
	return t
}

// bareOf parses addr and returns its bare form, the peer of a direct
// conversation; ok is false for an address that does not parse.
func bareOf(addr string) (jid.JID, bool) {
	j, err := jid.Parse(addr)
	if err != nil {
		return jid.JID{}, false
	}
	if _, err := jid.Parse(j.String()); err != nil {
		// mellium reads ".." as the domain "." (a trailing dot
		// dropped), which does not parse again: no address to file a
		// conversation under (FuzzIncoming).
		return jid.JID{}, false
	}
	return j.Bare(), true
}

// origin says where a message stanza came from, which decides whose
// claims about it the bridge believes.
type origin uint8

const (
	fromLive    origin = iota // a message routed to the account
	fromCarbon                // a carbon: a copy of what another client of the account sent or received
	fromArchive               // a MAM result the bridge asked for
)

// toMessage turns a chat message into the model. m is the message itself
// (unwrapped from a carbon or an archive result); when is its time if the
// wrapper said (a forwarded delay), else now. It reports false for what
// is not a 1:1 chat message with a body: errors, headlines, group chat,
// receipts and chat states alone.
func toMessage(self jid.JID, m *stanzaMessage, o origin, archiveID string, when, now time.Time) (*core.Message, bool) {
	switch m.Type {
	case "", "chat", "normal":
	default:
		return nil, false
	}
	body := m.body()
	if body == "" && !m.reaction() {
		return nil, false
	}
	from, okFrom := bareOf(m.From)
	to, okTo := bareOf(m.To)
	if m.From == "" {
		// A live stanza without from is from the account's own server.
		from, okFrom = self.Domain(), true
	}
	if !okFrom {
		return nil, false
	}
	msg := &core.Message{Kind: core.KindChat, Body: body, Direction: core.Incoming}
	if from.Equal(self.Bare()) {
		// The user's own message, sent from another client: only a carbon
		// or the archive can show one.
		if o == fromLive || !okTo || m.To == "" {
			return nil, false
		}
		msg.Direction = core.Outgoing
		msg.Peer = core.Peer{Kind: core.Direct, Remote: peerRemote(m.To, to)}
		msg.Sender = core.Address{Addr: self.Bare().String()}
	} else {
		msg.Peer = core.Peer{Kind: core.Direct, Remote: peerRemote(m.From, from)}
		msg.Sender = core.Address{Addr: msg.Peer.Remote, Name: from.Localpart()}
	}
	if rest, ok := strings.CutPrefix(body, "/me "); ok {
		msg.Kind, msg.Body = core.KindAction, rest
	}
	msg.OriginID = m.networkID(self, archiveID)
	m.apply(msg) // receipts.go
	msg.CorrectionOf = m.correction()
	switch {
	case !when.IsZero():
		msg.Time = when
	case m.Delay != nil && !parseStamp(m.Delay).IsZero():
		msg.Time = parseStamp(m.Delay)
	default:
		msg.Time = now
	}
	// A clock far ahead must not put a message after everything to come.
	if limit := now.Add(time.Minute); msg.Time.After(limit) {
		msg.Time = limit
	}
	return msg, true
}

// showOf maps a presence to a status; ok is false for presence types
// that are not availability (subscriptions, probes, errors).
func showOf(p *stanzaPresence) (core.Status, bool) {
	st := core.Status{}
	if len(p.Statuses) > 0 {
		st.Text = p.Statuses[0]
		if len(st.Text) > 1024 {
			st.Text = strings.ToValidUTF8(st.Text[:1024], "")
		}
	}
	switch p.Type {
	case "unavailable":
		st.Show = core.ShowOffline
		return st, true
	case "":
	default:
		return st, false
	}
	switch p.Show {
	case "away":
		st.Show = core.ShowAway
	case "xa":
		st.Show = core.ShowXA
	case "dnd":
		st.Show = core.ShowDND
	case "chat":
		st.Show = core.ShowChat
	default:
		st.Show = core.ShowAvailable
	}
	return st, true
}

// showText is the <show/> for the user's status. Offline becomes xa, not
// unavailable: an unavailable account gets no messages routed to it, and
// the bouncer must keep receiving while every device is away.
func showText(s core.Show) string {
	switch s {
	case core.ShowAway:
		return "away"
	case core.ShowXA, core.ShowOffline:
		return "xa"
	case core.ShowDND:
		return "dnd"
	case core.ShowChat:
		return "chat"
	}
	return ""
}
