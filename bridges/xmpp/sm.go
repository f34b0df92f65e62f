package xmpp

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"

	"github.com/switchboard/switchboard/core"
)

// Stream management (XEP-0198) on the upstream link, with resumption.
// mellium v0.22.0 has no support for it, so it is done here, around
// mellium rather than inside it:
//
//   - Counting: mellium copies every byte it reads and writes to the
//     stream config's TeeIn and TeeOut. A small scanner on each copy
//     finds where top-level elements end, so stanzas (message, presence,
//     iq) are counted as the server counts them, including the iq results
//     mellium consumes itself and never hands to the session's handler.
//     The outgoing copy also keeps the bytes of each stanza the server has
//     not acknowledged, to send again verbatim.
//   - Negotiation: the bind feature is wrapped. When the server offers
//     stream management and the previous stream can be resumed, it sends
//     <resume/> instead of binding; on <resumed/> the stanzas the server
//     did not get are written again and the session is ready with the old
//     address, roster, presence and subscriptions intact on the server.
//     Otherwise (first connect, or <failed/>) it binds and sends
//     <enable resume='true'/>, and the unacknowledged messages of the lost
//     stream are sent again on the new one; the archive gap fill brings
//     what came in meanwhile.
//   - Acks: the server's <r/> is answered from the Serve goroutine; after
//     sending, the session asks for an ack while stanzas wait for one, and
//     the server's <a/> drops them from the queue.
//
// The state outlives a connection (resuming is continuing on a new one),
// so it hangs off the Bridge; it forgets the stream when the bridge stops.

const nsSM = "urn:xmpp:sm:3"

// Bounds on what waits for an acknowledgement. A server that stops
// acking would otherwise grow the queue forever; past the bounds the
// oldest stanzas are dropped and the stream is no longer resumed, since
// a resumption could not replay them.
const (
	smMaxUnacked      = 1000
	smMaxUnackedBytes = 2 << 20
)

var (
	metricSMEnabled = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "switchboard_xmpp_sm_enabled_total",
		Help: "Upstream XMPP streams on which stream management (XEP-0198) was enabled.",
	})
	metricSMResumed = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "switchboard_xmpp_sm_resumed_total",
		Help: "Upstream XMPP streams resumed after a lost connection.",
	})
	metricSMResumeFailed = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "switchboard_xmpp_sm_resume_failed_total",
		Help: "Resumptions the upstream server refused; a fresh session and the archive gap fill followed.",
	})
	metricSMResent = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "switchboard_xmpp_sm_resent_total",
		Help: "Unacknowledged stanzas sent again after a lost connection.",
	})
)

func init() {
	prometheus.MustRegister(metricSMEnabled, metricSMResumed, metricSMResumeFailed, metricSMResent)
}

// streamMgmt is one account's stream management state.
type streamMgmt struct {
	mu    sync.Mutex
	id    string  // the resumption id; "" when there is nothing to resume
	bound jid.JID // the full JID of the stream to resume
	inH   uint32  // stanzas received since <enabled/>
	// atR is inH as each of the server's <r/> was read, oldest first:
	// the stanzas before an <r/> in the stream are the ones handled by
	// the time it is answered (Serve takes elements in order), whereas
	// inH may already count stanzas read ahead but not yet stored, which
	// an <a/> must not acknowledge (a resumed stream would not resend
	// them).
	atR   []uint32
	lastR uint32 // the last count answered
	outH  uint32 // stanzas sent since <enable/>
	acked uint32 // the server's last h
	// unacked are the serialized stanzas the server has not acknowledged,
	// oldest first: stanza number acked+1 is unacked[0].
	unacked      [][]byte
	unackedBytes int
	on           bool // the current stream counts
	askedAck     bool // an <r/> is out
	resumed      bool // the last negotiation resumed; taken by takeResumed
}

// smTap is one connection's copy of one direction.
type smTap struct {
	m        *streamMgmt
	out      bool
	counting bool // guarded by m.mu
	scan     xmlScanner
}

func (t *smTap) Write(p []byte) (int, error) {
	t.scan.feed(p, t.element)
	return len(p), nil
}

func isStanza(local string) bool { return local == "message" || local == "presence" || local == "iq" }

// element is called for every top-level element that ends, in stream
// order; raw is its bytes on the outgoing side, nil on the incoming.
func (t *smTap) element(local string, raw []byte) {
	m := t.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if !t.out {
		switch {
		case local == "enabled":
			t.counting, m.inH, m.atR, m.lastR = true, 0, nil, 0
		case local == "resumed":
			t.counting, m.atR, m.lastR = true, nil, m.inH
		case t.counting && isStanza(local):
			m.inH++
		case t.counting && local == "r" && len(m.atR) < maxPendingR:
			m.atR = append(m.atR, m.inH)
		}
		return
	}
	switch {
	case local == "enable":
		t.counting, m.outH, m.acked, m.unacked, m.unackedBytes = true, 0, 0, nil, 0
	case t.counting && isStanza(local):
		m.outH++
		m.unacked = append(m.unacked, append([]byte(nil), raw...))
		m.unackedBytes += len(raw)
		for len(m.unacked) > smMaxUnacked || m.unackedBytes > smMaxUnackedBytes {
			// The server does not ack: keep memory bounded, and give up
			// resuming, which could no longer replay what was dropped.
			m.unackedBytes -= len(m.unacked[0])
			m.unacked[0] = nil
			m.unacked = m.unacked[1:]
			m.acked++
			m.id = ""
		}
	}
}

// ackLocked drops what the server's h acknowledges.
func (m *streamMgmt) ackLocked(h uint32) {
	n := int(h - m.acked) // modulo 2^32, as XEP-0198 §4 counts
	if n < 0 || n > len(m.unacked) {
		n = len(m.unacked) // a server that claims more than was sent
	}
	for i := range n {
		m.unackedBytes -= len(m.unacked[i])
		m.unacked[i] = nil
	}
	m.unacked = m.unacked[n:]
	if len(m.unacked) == 0 {
		m.unacked = nil // let the backing array go
	}
	// Equal to h unless the server claimed more than was sent.
	m.acked = m.outH - uint32(len(m.unacked))
}

func (m *streamMgmt) ack(h uint32) {
	m.mu.Lock()
	m.ackLocked(h)
	m.askedAck = false
	m.mu.Unlock()
}

// received is the count to send in <resume/>: the old stream's Serve
// has ended, so every stanza it read was handled.
func (m *streamMgmt) received() uint32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.inH
}

// maxPendingR bounds the <r/> read ahead of their answers; an <r/> past
// it is answered with the last count answered, which acknowledges less
// than was handled, never more.
const maxPendingR = 64

// answerR is the count to send in <a/> for the oldest <r/> not yet
// answered: the stanzas that came before it.
func (m *streamMgmt) answerR() uint32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.atR) > 0 {
		m.lastR, m.atR = m.atR[0], m.atR[1:]
	}
	return m.lastR
}

// needAck reports whether stanzas wait for an ack and none was asked for
// yet; it marks one as asked.
func (m *streamMgmt) needAck() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.on || m.askedAck || len(m.unacked) == 0 {
		return false
	}
	m.askedAck = true
	return true
}

func (m *streamMgmt) takeResumed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.resumed
	m.resumed = false
	return r
}

// forget drops the stream: nothing is resumed after a clean close.
func (m *streamMgmt) forget() {
	m.mu.Lock()
	m.id, m.on, m.unacked, m.unackedBytes = "", false, nil, 0
	m.mu.Unlock()
}

// lost is called when a connection ends: the next stream has to resume
// or enable before anything counts again.
func (m *streamMgmt) lost() {
	m.mu.Lock()
	m.on, m.askedAck, m.atR = false, false, nil
	m.mu.Unlock()
}

// newSession negotiates a client stream on conn as
// xmpp.NewClientSession does, with the stream management taps and the
// bind feature wrapped; resumed says the stream continues the last one.
func (m *streamMgmt) newSession(ctx context.Context, origin jid.JID, conn net.Conn, features []xmpp.StreamFeature, log *slog.Logger) (xs *xmpp.Session, resumed bool, err error) {
	in, out := &smTap{m: m}, &smTap{m: m, out: true}
	out.scan.capture = true
	bindName := xmpp.BindResource().Name
	fs := make([]xmpp.StreamFeature, len(features))
	for i, f := range features {
		if f.Name == bindName {
			f = m.bindOrResume(f, out, log)
		}
		fs[i] = f
	}
	neg := xmpp.NewNegotiator(func(*xmpp.Session, *xmpp.StreamConfig) xmpp.StreamConfig {
		return xmpp.StreamConfig{Features: fs, TeeIn: in, TeeOut: out}
	})
	xs, err = xmpp.NewSession(ctx, origin.Domain(), origin, conn, 0, neg)
	return xs, m.takeResumed(), err
}

// bindOrResume resumes the last stream where the server offers it, and
// binds otherwise, enabling stream management after the bind.
func (m *streamMgmt) bindOrResume(bind xmpp.StreamFeature, out *smTap, log *slog.Logger) xmpp.StreamFeature {
	f := bind
	f.Negotiate = func(ctx context.Context, session *xmpp.Session, data any) (xmpp.SessionState, io.ReadWriter, error) {
		_, offered := session.Feature(nsSM) // set for every feature the server lists
		if offered {
			ok, err := m.resume(session, out)
			if err != nil {
				return 0, nil, err
			}
			if ok {
				return xmpp.Ready, nil, nil
			}
		}
		if err := bindResource(session); err != nil { // bind.go, not mellium's
			return 0, nil, err
		}
		mask, rw := xmpp.Ready, io.ReadWriter(nil)
		// What the lost stream did not get acknowledged: its chat
		// messages go again (the server may have had them, and the
		// receivers and the store match copies by id); its iqs and
		// presences are asked again by the new session's setup anyway.
		// Group chat messages do not: a room would reflect and archive a
		// second copy under a new id.
		m.mu.Lock()
		var again [][]byte
		for _, raw := range m.unacked {
			if isMessage(raw) && !isGroupchat(raw) {
				again = append(again, raw)
			}
		}
		m.id, m.unacked, m.unackedBytes = "", nil, 0
		m.mu.Unlock()
		if offered {
			if err := m.enable(session, out); err != nil {
				log.Warn("enabling stream management", "err", err)
			}
		}
		if err := writeRaw(session, again); err != nil {
			return mask, rw, err
		}
		return mask, rw, nil
	}
	return f
}

func isMessage(raw []byte) bool { return len(raw) > 8 && string(raw[:8]) == "<message" }

// isGroupchat looks for type="groupchat" in the stanza's start tag.
func isGroupchat(raw []byte) bool {
	end := bytes.IndexByte(raw, '>')
	if end < 0 {
		end = len(raw)
	}
	tag := raw[:end]
	return bytes.Contains(tag, []byte(`type="groupchat"`)) || bytes.Contains(tag, []byte(`type='groupchat'`))
}

// writeRaw sends stanzas as they were serialized before.
func writeRaw(session *xmpp.Session, stanzas [][]byte) error {
	for _, raw := range stanzas {
		if _, err := session.Conn().Write(raw); err != nil {
			return fmt.Errorf("sending again: %w", err)
		}
	}
	metricSMResent.Add(float64(len(stanzas)))
	return nil
}

// smAnswer is <enabled/>, <resumed/> or <failed/>.
type smAnswer struct {
	XMLName xml.Name
	ID      string `xml:"id,attr"`
	Resume  string `xml:"resume,attr"`
	H       string `xml:"h,attr"`
}

// exchange sends a stream management request and reads the answer.
func exchange(session *xmpp.Session, req xml.StartElement) (smAnswer, error) {
	var a smAnswer
	if _, err := negotiationExchange(session, &a, req, req.End()); err != nil {
		return smAnswer{}, err
	}
	if a.XMLName.Space != nsSM {
		return smAnswer{}, fmt.Errorf("expected a stream management answer, got <%s xmlns=%q>", a.XMLName.Local, a.XMLName.Space)
	}
	return a, nil
}

// negotiationExchange writes toks and decodes the next element the
// server sends into answer, returning that element's name: a request and
// its answer while the stream is negotiated, before Serve reads it
// (stream management here, the bind in bind.go).
func negotiationExchange(session *xmpp.Session, answer any, toks ...xml.Token) (xml.Name, error) {
	w := session.TokenWriter()
	var err error
	for _, t := range toks {
		if err == nil {
			err = w.EncodeToken(t)
		}
	}
	if err == nil {
		err = w.Flush()
	}
	w.Close()
	if err != nil {
		return xml.Name{}, err
	}
	r := session.TokenReader()
	defer r.Close()
	d := xml.NewTokenDecoder(r)
	for {
		tok, err := d.Token()
		if err != nil {
			return xml.Name{}, err
		}
		if start, ok := tok.(xml.StartElement); ok {
			return start.Name, d.DecodeElement(answer, &start)
		}
	}
}

func smStart(local string, attrs ...string) xml.StartElement {
	s := xml.StartElement{Name: xml.Name{Space: nsSM, Local: local}}
	for i := 0; i+1 < len(attrs); i += 2 {
		s.Attr = append(s.Attr, xml.Attr{Name: xml.Name{Local: attrs[i]}, Value: attrs[i+1]})
	}
	return s
}

// resume asks to continue the last stream; false when there is none or
// the server refused (then the caller binds afresh).
func (m *streamMgmt) resume(session *xmpp.Session, out *smTap) (bool, error) {
	m.mu.Lock()
	id, h, bound := m.id, m.inH, m.bound
	m.mu.Unlock()
	if id == "" {
		return false, nil
	}
	a, err := exchange(session, smStart("resume", "h", strconv.FormatUint(uint64(h), 10), "previd", id))
	if err != nil {
		return false, fmt.Errorf("resuming the stream: %w", err)
	}
	if a.XMLName.Local != "resumed" {
		metricSMResumeFailed.Inc()
		m.mu.Lock()
		m.id = ""
		m.mu.Unlock()
		return false, nil
	}
	acked, err := strconv.ParseUint(a.H, 10, 32)
	if err != nil {
		return false, fmt.Errorf("resumed with h=%q: %w", a.H, err)
	}
	m.mu.Lock()
	m.ackLocked(uint32(acked))
	again := m.unacked
	m.unacked, m.unackedBytes, m.outH = nil, 0, m.acked
	out.counting, m.on, m.askedAck, m.resumed = true, true, false, true
	m.mu.Unlock()
	session.UpdateAddr(bound)
	metricSMResumed.Inc()
	// Written again through the tap, so they wait for an ack anew.
	return true, writeRaw(session, again)
}

// enable turns stream management on for a freshly bound stream.
func (m *streamMgmt) enable(session *xmpp.Session, out *smTap) error {
	a, err := exchange(session, smStart("enable", "resume", "true"))
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if a.XMLName.Local != "enabled" {
		out.counting, m.on = false, false
		return errors.New("the server refused stream management")
	}
	metricSMEnabled.Inc()
	m.on, m.askedAck, m.bound = true, false, session.LocalAddr()
	if a.Resume == "true" || a.Resume == "1" {
		m.id = a.ID
	}
	return nil
}

// onSM answers the server's <r/> and takes its <a/>.
func (s *session) onSM(t xmlstream.TokenReadEncoder, start *xml.StartElement) error {
	switch start.Name.Local {
	case "r":
		a := smStart("a", "h", strconv.FormatUint(uint64(s.b.sm.answerR()), 10))
		_, err := xmlstream.Copy(t, xmlstream.Wrap(nil, a))
		return err
	case "a":
		for _, at := range start.Attr {
			if at.Name.Local == "h" {
				if h, err := strconv.ParseUint(at.Value, 10, 32); err == nil {
					s.b.sm.ack(uint32(h))
				}
			}
		}
	}
	return nil
}

// requestAck asks the server to acknowledge what waits, if anything does
// and no request is out yet.
func (s *session) requestAck(ctx context.Context) {
	if !s.b.sm.needAck() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, iqTimeout)
	defer cancel()
	if err := s.xs.Send(ctx, xmlstream.Wrap(nil, smStart("r"))); err != nil && ctx.Err() == nil {
		s.log.Debug("asking for a stream management ack", "err", err)
	}
}

// xmlScanner finds where the top-level elements of an XML stream end
// (the stanzas and nonzas beneath <stream:stream>), from the bytes in
// any chunking, without building them: a few states and a depth. A new
// stream header (after STARTTLS or SASL) starts over. With capture set it
// keeps each element's bytes for the callback.
type xmlScanner struct {
	capture bool

	state    uint8 // scanText, scanTag, scanQuote
	quote    byte
	depth    int  // 1 inside <stream:stream>, 2 inside a stanza
	collect  bool // the bytes belong to a top-level element
	buf      []byte
	name     [64]byte // the start of the current tag
	nameLen  int
	lastByte byte   // the last non-space byte of the tag, '/' for <x/>
	topLocal string // the local name of the top-level element in progress
}

const (
	scanText uint8 = iota
	scanTag
	scanQuote
)

func (s *xmlScanner) feed(p []byte, emit func(local string, raw []byte)) {
	for _, c := range p {
		closed := false // c ends a tag (a '>' in text does not)
		switch s.state {
		case scanText:
			if c == '<' {
				s.state, s.nameLen, s.lastByte = scanTag, 0, 0
				if s.depth <= 1 {
					s.collect = s.capture
					s.buf = s.buf[:0]
				}
			}
		case scanTag:
			switch c {
			case '"', '\'':
				s.state, s.quote = scanQuote, c
			case '>':
				s.state, closed = scanText, true
			default:
				if s.nameLen < len(s.name) {
					s.name[s.nameLen] = c
					s.nameLen++
				}
				if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
					s.lastByte = c
				}
			}
		case scanQuote:
			if c == s.quote {
				s.state = scanTag
			}
		}
		if s.collect {
			s.buf = append(s.buf, c)
		}
		if closed {
			s.endTag(emit)
		}
	}
}

// endTag acts on the tag that just closed; s.name holds what followed
// its '<'.
func (s *xmlScanner) endTag(emit func(string, []byte)) {
	tag := s.name[:s.nameLen]
	if len(tag) == 0 || tag[0] == '?' || tag[0] == '!' {
		if s.depth <= 1 {
			s.collect = false
		}
		return
	}
	end := tag[0] == '/'
	if end {
		tag = tag[1:]
	}
	qname := tag
	for i, c := range tag {
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '/' {
			qname = tag[:i]
			break
		}
	}
	local := qname
	for i, c := range qname {
		if c == ':' {
			local = qname[i+1:]
		}
	}
	isStream := string(local) == "stream" && len(qname) > len(local) // stream:stream
	switch {
	case end && isStream && s.depth <= 1:
		s.depth, s.collect = 0, false
	case end:
		s.depth--
		if s.depth == 1 {
			emit(s.topLocal, s.raw())
		}
		if s.depth < 1 {
			s.depth = 1 // an end tag of nothing: a broken peer; stay level
		}
	case isStream && s.depth <= 1:
		s.depth, s.collect = 1, false // a stream header, first or after a restart
	case s.depth <= 1:
		s.topLocal = string(local)
		if s.lastByte == '/' {
			emit(s.topLocal, s.raw())
			s.collect = false
		} else {
			s.depth = 2
		}
	case s.lastByte != '/':
		s.depth++
	}
}

func (s *xmlScanner) raw() []byte {
	if !s.capture {
		return nil
	}
	b := s.buf
	s.collect = false
	return b
}

// keepPresence remembers a lost stream's contact presence: a resumed
// stream gets no presence again, the server having sent it before.
func (b *Bridge) keepPresence(p map[string]map[string]core.Status) {
	b.mu.Lock()
	b.lastPresence = p
	b.mu.Unlock()
}

func (b *Bridge) takePresence() map[string]map[string]core.Status {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.lastPresence
	b.lastPresence = nil
	if p == nil {
		p = make(map[string]map[string]core.Status)
	}
	return p
}

// setupResumed is setup for a resumed stream: the server kept the
// roster, carbons, presence and subscriptions, and sends again what the
// lost connection did not deliver. The user's status may have changed
// meanwhile, group chats are joined again (a join of a room the account
// is in is answered with its occupants), and the archive is read only if
// the last gap fill did not finish.
func (s *session) setupResumed(ctx context.Context) error {
	if err := s.sendPresence(ctx, s.b.currentStatus()); err != nil {
		return fmt.Errorf("sending presence: %w", err)
	}
	s.b.report().State(ctx, core.StateConnected, "")
	if s.b.gapOpen.Load() {
		s.fillGapLogged(ctx)
	}
	s.startRooms(ctx) // group chats: muc.go
	s.requestAck(ctx)
	return nil
}
