package xmpp

import (
	"context"
	"encoding/xml"
	"errors"
	"slices"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"mellium.im/xmlstream"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"github.com/switchboard/switchboard/core"
)

// What rides along with a chat message, both ways, as far as the model
// has a place for it:
//
//   - Receipts (XEP-0184): a contact's request is answered once the
//     message is stored, which is when the user's account has it; the
//     bridge asks for receipts on what it sends; the addressee's receipt
//     becomes the message's delivered state on devices (sentMessages).
//   - Chat states (XEP-0085) are core.TypingEvents both ways.
//   - Corrections (XEP-0308) are Message.CorrectionOf, replies (XEP-0461)
//     Message.ReplyTo: by the network id the store resolves; outgoing,
//     the referenced message's network id is read back from the store.
//   - Out-of-band links (XEP-0066) are Message.Attachments.

const (
	nsReceipts   = "urn:xmpp:receipts"
	nsChatStates = "http://jabber.org/protocol/chatstates"
	nsCorrect    = "urn:xmpp:message-correct:0"
	nsReply      = "urn:xmpp:reply:0"
	nsReactions  = "urn:xmpp:reactions:0"
	nsOOB        = "jabber:x:oob"
	nsHints      = "urn:xmpp:hints"
)

// maxAttachments bounds the links kept of one message.
const maxAttachments = 8

var metricReceipts = prometheus.NewCounter(prometheus.CounterOpts{
	Name: "switchboard_xmpp_receipts_received_total",
	Help: "Delivery receipts (XEP-0184) from upstream contacts for messages the bridge sent.",
})

func init() { prometheus.MustRegister(metricReceipts) }

// extensions are the parts of a <message/> this file reads; stanzaMessage
// embeds it.
type extensions struct {
	ReceiptRequest *struct{}    `xml:"urn:xmpp:receipts request"`
	Receipt        *idRef       `xml:"urn:xmpp:receipts received"`
	Replace        *idRef       `xml:"urn:xmpp:message-correct:0 replace"`
	Reply          *replyRef    `xml:"urn:xmpp:reply:0 reply"`
	Links          []oobElement `xml:"jabber:x:oob x"`
	Active         *struct{}    `xml:"http://jabber.org/protocol/chatstates active"`
	Composing      *struct{}    `xml:"http://jabber.org/protocol/chatstates composing"`
	Paused         *struct{}    `xml:"http://jabber.org/protocol/chatstates paused"`
	Inactive       *struct{}    `xml:"http://jabber.org/protocol/chatstates inactive"`
	Gone           *struct{}    `xml:"http://jabber.org/protocol/chatstates gone"`
	// Reactions are the sender's whole set for a message (XEP-0444).
	Reactions *reactionsElement `xml:"urn:xmpp:reactions:0 reactions"`
}

type reactionsElement struct {
	ID    string   `xml:"id,attr"`
	Items []string `xml:"reaction"`
}

// set is the reactions as stored: trimmed, each once, within the limits
// every port keeps.
func (r *reactionsElement) set() []string {
	var out []string
	for _, item := range r.Items {
		item = strings.TrimSpace(item)
		if !core.ValidReaction(item) || slices.Contains(out, item) {
			continue
		}
		if len(out) == core.MaxReactions {
			break
		}
		out = append(out, item)
	}
	return out
}

type idRef struct {
	ID string `xml:"id,attr"`
}

type replyRef struct {
	To string `xml:"to,attr"`
	ID string `xml:"id,attr"`
}

type oobElement struct {
	URL  string `xml:"url"`
	Desc string `xml:"desc"`
}

// chatState is the message's chat state, "" for none.
func (e *extensions) chatState() core.ChatState {
	switch {
	case e.Composing != nil:
		return core.StateComposing
	case e.Paused != nil:
		return core.StatePaused
	case e.Active != nil:
		return core.StateActive
	case e.Inactive != nil:
		return core.StateInactive
	case e.Gone != nil:
		return core.StateGone
	}
	return ""
}

// maxRefLength bounds a network id one message names (the message it
// answers, corrects or reacts to).
const maxRefLength = 256

// reaction says whether the stanza is a reaction set (XEP-0444).
func (e *extensions) reaction() bool { return e.Reactions != nil && e.Reactions.ID != "" }

// apply copies what rides with a message onto msg, in 1:1 chats and
// rooms alike: the message it answers and its links, or, for a
// reaction, the set in place of the body. The set, not a fallback body
// some clients add, is what a reaction says, and it names the message
// by the network's id. Corrections are the caller's (correction): a
// room's cannot be resolved.
func (e *extensions) apply(msg *core.Message) {
	if e.reaction() {
		msg.Kind, msg.Body = core.KindReaction, strings.Join(e.Reactions.set(), "\n")
		msg.ReplyTo, msg.Attachments = core.MessageRef{OriginID: cut(e.Reactions.ID, maxRefLength)}, nil
		return
	}
	if e.Reply != nil && e.Reply.ID != "" {
		msg.ReplyTo = core.MessageRef{OriginID: cut(e.Reply.ID, maxRefLength)}
	}
	for _, l := range e.Links {
		if len(msg.Attachments) == maxAttachments {
			break
		}
		u := strings.TrimSpace(l.URL)
		if u == "" || len(u) > 4096 {
			continue
		}
		msg.Attachments = append(msg.Attachments, core.Attachment{URL: u, Name: cut(l.Desc, maxNameLength)})
	}
}

// correction is the message a correction (XEP-0308) replaces, by the id
// its sender gave it; zero for none, and for a reaction.
func (e *extensions) correction() core.MessageRef {
	if e.Replace == nil || e.Replace.ID == "" || e.reaction() {
		return core.MessageRef{}
	}
	return core.MessageRef{OriginID: cut(e.Replace.ID, maxRefLength)}
}

// onChatMessage takes a 1:1 message stanza: its chat state and receipt,
// then the message itself, whose receipt request is answered once it is
// stored. It runs on the Serve goroutine, so it answers through t.
func (s *session) onChatMessage(t xmlstream.TokenReadEncoder, m *stanzaMessage) error {
	live := m.Result == nil && m.Received == nil && m.Sent == nil && m.Type != "error"
	from, ok := bareOf(m.From)
	if live && ok && m.From != "" && !from.Equal(s.self.Bare()) {
		if st := m.chatState(); st != "" {
			s.deliver(core.TypingEvent{Peer: core.Peer{Kind: core.Direct, Remote: from.String()}, Sender: from.String(), Direction: core.Incoming, State: st})
		}
		if m.Receipt != nil {
			metricReceipts.Inc()
			if id, ok := s.b.sent.take(m.Receipt.ID, from); ok {
				s.deliver(core.DeliveredEvent{Message: id})
			}
		}
	}
	if !s.onMessage(m) || !live || m.ReceiptRequest == nil || m.ID == "" || m.From == "" {
		return nil
	}
	to, err := jid.Parse(m.From)
	if err != nil {
		return nil
	}
	_, err = xmlstream.Copy(t, stanza.Message{To: to, Type: stanza.ChatMessage}.Wrap(
		xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Space: nsReceipts, Local: "received"}, Attr: []xml.Attr{{Name: xml.Name{Local: "id"}, Value: m.ID}}})))
	return err
}

func emptyElement(space, local string, attrs ...string) xml.TokenReader {
	return xmlstream.Wrap(nil, element(space, local, attrs...))
}

func element(space, local string, attrs ...string) xml.StartElement {
	s := xml.StartElement{Name: xml.Name{Space: space, Local: local}}
	for i := 0; i+1 < len(attrs); i += 2 {
		s.Attr = append(s.Attr, xml.Attr{Name: xml.Name{Local: attrs[i]}, Value: attrs[i+1]})
	}
	return s
}

// messageExtras is what goes with an outgoing message: a receipt request,
// the active chat state, and its correction, reply and links. refs are
// the network ids of the messages it corrects and answers ("" for none).
func messageExtras(m *core.Message, to jid.JID, correctionOf, replyTo string) []xml.TokenReader {
	out := []xml.TokenReader{emptyElement(nsReceipts, "request"), emptyElement(nsChatStates, "active")}
	return append(out, referenceExtras(m, correctionOf, to.String(), replyTo)...)
}

// referenceExtras is what an outgoing message says beyond its body, in
// 1:1 chats and rooms alike: the correction of correctionOf, the reply
// to replyTo, written by author (XEP-0461: its full address in a room;
// "" when not known), and the links. correctionOf and replyTo are
// network ids, "" for none.
func referenceExtras(m *core.Message, correctionOf, author, replyTo string) []xml.TokenReader {
	var out []xml.TokenReader
	if correctionOf != "" {
		out = append(out, emptyElement(nsCorrect, "replace", "id", correctionOf))
	}
	if replyTo != "" && author != "" {
		out = append(out, emptyElement(nsReply, "reply", "to", author, "id", replyTo))
	} else if replyTo != "" {
		out = append(out, emptyElement(nsReply, "reply", "id", replyTo))
	}
	for _, a := range m.Attachments {
		parts := []xml.TokenReader{textElement("url", a.URL)}
		if a.Name != "" {
			parts = append(parts, textElement("desc", a.Name))
		}
		out = append(out, xmlstream.Wrap(xmlstream.MultiReader(parts...), element(nsOOB, "x")))
	}
	return out
}

// networkRef is the network id of the message r points at: the id the
// network knows it by, read back from the store when r names a stored
// message. A device's own ids (the port's "xmpp-origin:") mean nothing
// upstream.
func (b *Bridge) networkRef(ctx context.Context, r core.MessageRef) string {
	if r.ID != 0 {
		if mr, ok := b.env.History.(core.MessageReader); ok {
			if m, err := mr.Message(ctx, b.env.User.ID, r.ID); err == nil && m.OriginID != "" && !strings.HasPrefix(m.OriginID, "xmpp-origin:") {
				return m.OriginID
			}
		}
	}
	if r.OriginID != "" && !strings.HasPrefix(r.OriginID, "xmpp-origin:") {
		return r.OriginID
	}
	return ""
}

var _ core.TypingSender = (*Bridge)(nil)

// SendTyping sends the user's chat state to a contact (XEP-0085), with a
// hint that servers need not archive it.
func (b *Bridge) SendTyping(ctx context.Context, e core.TypingEvent) error {
	if e.Peer.Kind != core.Direct {
		return nil // group chat states: left to the group chat code
	}
	to, err := jid.Parse(e.Peer.Remote)
	if err != nil {
		return core.Permanent(errors.New("xmpp: not an XMPP address"))
	}
	s := b.cur.Load()
	if s == nil {
		return core.ErrNotConnected
	}
	switch e.State {
	case core.StateActive, core.StateComposing, core.StatePaused, core.StateInactive, core.StateGone:
	default:
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, iqTimeout)
	defer cancel()
	return s.xs.Send(ctx, stanza.Message{To: directTarget(to), Type: stanza.ChatMessage}.Wrap(xmlstream.MultiReader(
		emptyElement(nsChatStates, string(e.State)), emptyElement(nsHints, "no-store"))))
}

// maxSentRemembered bounds the sent messages a receipt can still name.
const maxSentRemembered = 4096

// sentMessages remembers which stored message each recently sent stanza
// id was, and to whom, so a contact's receipt (XEP-0184) becomes the
// message's delivered state on devices. Only the addressee's receipt
// counts; the oldest are forgotten past maxSentRemembered, and all of
// them when the daemon restarts.
type sentMessages struct {
	mu    sync.Mutex
	byID  map[string]sentMessage
	order []string
}

type sentMessage struct {
	to jid.JID
	id core.MessageID
}

func (r *sentMessages) add(stanzaID string, to jid.JID, id core.MessageID) {
	if id == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byID == nil {
		r.byID = make(map[string]sentMessage)
	}
	r.byID[stanzaID] = sentMessage{to: to, id: id}
	r.order = append(r.order, stanzaID)
	if len(r.order) > maxSentRemembered {
		delete(r.byID, r.order[0])
		r.order = r.order[1:]
	}
}

// take returns the message a receipt from from names, once.
func (r *sentMessages) take(stanzaID string, from jid.JID) (core.MessageID, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, ok := r.byID[stanzaID]
	if !ok || !m.to.Equal(from) {
		return 0, false
	}
	delete(r.byID, stanzaID)
	return m.id, true
}
