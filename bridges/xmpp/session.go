package xmpp

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/carbons"
	"mellium.im/xmpp/dial"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/ping"
	"mellium.im/xmpp/stanza"

	"github.com/switchboard/switchboard/core"
)

// session is one logged-in stream. Its stanzas are handled one at a time
// on the goroutine running Serve, which alone touches presence; Send and
// SetStatus write from other goroutines through mellium's locked writer.
type session struct {
	b    *Bridge
	xs   *xmpp.Session
	self jid.JID // the bound full JID
	log  *slog.Logger
	ctx  context.Context // the session's life; set by run
	// bounded caps what the server can send in one stanza.
	bounded *boundedConn

	// presence is each contact's available resources, so the status shown
	// is the most available one. Owned by the Serve goroutine.
	presence map[string]map[string]core.Status

	mamMu    sync.Mutex
	mamQuery string       // the queryid of the MAM page being read, "" when none
	mamPage  []core.Event // that page's messages, handed over when its <fin/> arrives

	muc mucState // group chats: muc.go

	// resumed says the stream continues a lost one (sm.go): the server
	// kept the roster, presence and carbons, so setup skips them.
	resumed bool
}

// Bounds on what a server can make the bridge remember.
const (
	maxContacts  = 10000
	maxResources = 32
	mamPageSize  = 250 // asked for; servers cap it (Prosody at 50 by default)
	// maxFill bounds the messages one gap fill reads, whatever the pages
	// the server gives: a limit on pages let a server with small pages
	// (Prosody's 50) cut the fill short.
	maxFill      = 20000
	maxFillPages = 200                // the rooms' gap fill (muc.go) still counts pages
	initialFill  = 7 * 24 * time.Hour // with nothing stored yet, how far back to fill
	gapFillSlack = time.Minute        // overlap for clock differences; duplicates are dropped by the store
)

// connect dials and logs in: TLS (direct or STARTTLS), SASL, bind.
func connect(ctx context.Context, b *Bridge) (*session, error) {
	cfg := b.cfg
	origin, err := cfg.jid.WithResource(cfg.resource)
	if err != nil {
		return nil, &connError{kind: failPermanent, err: err}
	}
	tlsCfg := cfg.tlsConfig()
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	var conn net.Conn
	switch {
	case cfg.addr != "":
		var d net.Dialer
		conn, err = d.DialContext(dctx, "tcp", cfg.addr)
	case cfg.directTLS:
		// Direct TLS found by SRV is dialed here rather than by
		// mellium, whose dialer hands back a connection already in
		// TLS, beneath which the size bound could not go.
		conn, err = dialDirectTLS(dctx, cfg.jid.Domainpart())
	default:
		// SRV lookup of xmpp-client, falling back to the domain itself.
		d := dial.Dialer{NoTLS: true, TLSConfig: tlsCfg}
		conn, err = d.Dial(dctx, "tcp", cfg.jid)
	}
	if err != nil {
		where := cfg.addr
		if where == "" {
			where = cfg.jid.Domainpart()
		}
		return nil, fmt.Errorf("connecting to %s: %w", where, err)
	}
	// The size bound goes beneath TLS, so mellium still sees a *tls.Conn
	// (it needs one to know the stream is secure).
	bounded := &boundedConn{Conn: conn}
	conn = bounded
	if cfg.directTLS {
		tc := tls.Client(conn, tlsCfg)
		if err := tc.HandshakeContext(dctx); err != nil {
			conn.Close()
			return nil, fmt.Errorf("TLS with %s: %w", bounded.RemoteAddr(), err)
		}
		conn = tc
	}
	features := []xmpp.StreamFeature{
		xmpp.SASL("", cfg.password, b.mechanisms()...),
		xmpp.BindResource(),
	}
	if _, ok := conn.(*tls.Conn); !ok {
		features = append([]xmpp.StreamFeature{xmpp.StartTLS(tlsCfg)}, features...)
	}
	lctx, cancel := context.WithTimeout(ctx, loginTimeout)
	defer cancel()
	xs, resumed, err := b.sm.newSession(lctx, origin, conn, features, b.log) // sm.go
	if err != nil {
		conn.Close()
		if isChannelBindingFailure(err) && !b.noChannelBinding.Swap(true) {
			// Retried at once without the PLUS mechanisms (conn.go).
			return nil, fmt.Errorf("logging in as %s: %w; trying again without channel binding", cfg.jid, err)
		}
		if isAuthFailure(err) {
			return nil, &connError{kind: failPermanent, err: fmt.Errorf("logging in as %s: %w", cfg.jid, err)}
		}
		return nil, fmt.Errorf("logging in as %s: %w", cfg.jid, err)
	}
	bounded.boundary()
	bounded.ignoreDeadlines() // conn.go: mellium's per-write deadlines race
	presence := make(map[string]map[string]core.Status)
	if resumed {
		presence = b.takePresence()
	}
	s := &session{
		b: b, xs: xs, self: xs.LocalAddr(), bounded: bounded, resumed: resumed,
		log:      b.log.With("jid", xs.LocalAddr().String()),
		presence: presence,
	}
	s.resumeRooms() // group chats: muc.go; before the replayed stanzas arrive
	return s, nil
}

// isAuthFailure tells a SASL <failure/> from the server (wrong password,
// disabled account) from trouble on the way there. mellium returns it as
// a value of its internal saslerr.Error type, which cannot be named from
// here; its type name is the one stable mark it has.
func isAuthFailure(err error) bool {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if fmt.Sprintf("%T", e) == "saslerr.Error" {
			return true
		}
	}
	return false
}

func (s *session) close() {
	s.xs.Close()
	s.xs.Conn().Close()
}

// run serves the stream until it ends or ctx does. The setup after
// login (roster, carbons, presence, the archive gap fill) and the
// keepalive run beside Serve, since their answers arrive through it.
func (s *session) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.ctx = ctx
	served := make(chan error, 1)
	go func() { served <- s.xs.Serve(xmpp.HandlerFunc(s.handle)) }()
	setupFailed := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := s.setup(ctx); err != nil {
			setupFailed <- err
			return
		}
		s.keepalive(ctx)
	}()
	// The setup must be over before the supervisor reports the loss, or
	// its late "connected" could follow the "disconnected".
	defer wg.Wait()
	defer cancel()
	select {
	case err := <-served:
		if err == nil {
			err = errors.New("the server closed the stream")
		}
		return fmt.Errorf("xmpp stream: %w", err)
	case err := <-setupFailed:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// setup does what every new stream needs before it is "connected": the
// roster, carbons and the user's presence; then it fills the gap since
// the last stored message from the archive.
func (s *session) setup(ctx context.Context) error {
	if s.resumed {
		return s.setupResumed(ctx) // sm.go
	}
	if err := s.fetchRoster(ctx); err != nil {
		return fmt.Errorf("fetching the roster: %w", err)
	}
	cctx, cancel := context.WithTimeout(ctx, iqTimeout)
	err := carbons.Enable(cctx, s.xs)
	cancel()
	s.bounded.boundary()
	if err != nil {
		// Not fatal: the account still works, only messages of the user's
		// other clients go missing until the next gap fill.
		s.log.Warn("enabling message carbons", "err", err)
	}
	if err := s.sendPresence(ctx, s.b.currentStatus()); err != nil {
		return fmt.Errorf("sending presence: %w", err)
	}
	s.b.report().State(ctx, core.StateConnected, "")
	s.fillGapLogged(ctx)
	s.requestAck(ctx) // sm.go: what setup sent need not wait for the next message
	s.startRooms(ctx) // group chats: muc.go
	return nil
}

// fillGapLogged fills the archive gap and notes whether it finished, so
// a resumed stream knows whether one is still open.
func (s *session) fillGapLogged(ctx context.Context) {
	s.b.gapOpen.Store(true)
	if err := s.fillGap(ctx); err != nil {
		if ctx.Err() == nil {
			// The live stream is fine; the gap is asked for again next time.
			s.log.Warn("filling the gap from the archive", "err", err)
		}
		return
	}
	s.b.gapOpen.Store(false)
}

// keepalive pings the server when the stream has been quiet, so a dead
// TCP connection is noticed and replaced.
func (s *session) keepalive(ctx context.Context) {
	t := time.NewTicker(pingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.requestAck(ctx) // sm.go
		pctx, cancel := context.WithTimeout(ctx, iqTimeout)
		// Writes carry no deadline (boundedConn.ignoreDeadlines), so a
		// write stuck on a server that stopped reading would hold the
		// ping up forever; the watchdog ends the connection instead.
		watchdog := time.AfterFunc(2*iqTimeout, func() { s.xs.Conn().Close() })
		err := ping.Send(pctx, s.xs, s.self.Domain())
		watchdog.Stop()
		cancel()
		s.bounded.boundary()
		var se stanza.Error
		if err != nil && !errors.As(err, &se) && ctx.Err() == nil {
			// An error reply still proves the stream alive; silence does not.
			s.log.Warn("server did not answer a ping; reconnecting", "err", err)
			s.xs.Conn().Close()
			return
		}
	}
}

// sendPresence applies the user's status as the account's presence.
func (s *session) sendPresence(ctx context.Context, st core.Status) error {
	ctx, cancel := context.WithTimeout(ctx, iqTimeout)
	defer cancel()
	return s.xs.Send(ctx, stanza.Presence{}.Wrap(xmlstream.MultiReader(statusPayload(st)...)))
}

// statusPayload is the <show/> and <status/> of the user's status.
func statusPayload(st core.Status) []xml.TokenReader {
	var payload []xml.TokenReader
	if show := showText(st.Show); show != "" {
		payload = append(payload, textElement("show", show))
	}
	if st.Text != "" {
		payload = append(payload, textElement("status", st.Text))
	}
	return payload
}

// send writes a chat message to its contact, with an origin-id equal to
// its id (XEP-0359), and returns that id: every later copy of it, from
// the archive or a carbon, carries it, and the store matches them on it.
func (s *session) send(ctx context.Context, to jid.JID, m *core.Message) (string, error) {
	id := randomID()
	ctx, cancel := context.WithTimeout(ctx, iqTimeout)
	defer cancel()
	var st xml.TokenReader
	if m.Kind == core.KindReaction {
		target := s.b.networkRef(ctx, m.ReplyTo) // receipts.go
		if target == "" {
			return "", core.Permanent(errors.New("xmpp: the message reacted to has no id the contact knows"))
		}
		st = reactionMessage(id, to, stanza.ChatMessage, target, m.Reactions())
	} else {
		extras := messageExtras(m, to, s.b.networkRef(ctx, m.CorrectionOf), s.b.networkRef(ctx, m.ReplyTo)) // receipts.go
		st = outgoingMessage(id, to, stanza.ChatMessage, m, extras...)
	}
	if err := s.xs.Send(ctx, st); err != nil {
		return "", fmt.Errorf("sending to %s: %w", to, err)
	}
	metricSent.Inc()
	s.b.sent.add(id, to.Bare(), m.ID) // receipts.go
	s.requestAck(ctx)                 // sm.go
	return id, nil
}

// outgoingMessage is the stanza for m, of type typ (chat, or groupchat
// to a room); /me actions go as XEP-0245 says.
func outgoingMessage(id string, to jid.JID, typ stanza.MessageType, m *core.Message, extras ...xml.TokenReader) xml.TokenReader {
	body := m.Body
	if m.Kind == core.KindAction {
		body = "/me " + body
	}
	if body == "" && len(m.Attachments) > 0 {
		body = m.Attachments[0].URL // XEP-0066: the body carries the link for clients without it
	}
	return stanza.Message{ID: id, To: to, Type: typ}.Wrap(xmlstream.MultiReader(append([]xml.TokenReader{
		textElement("body", body),
		xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Space: nsSID, Local: "origin-id"}, Attr: []xml.Attr{{Name: xml.Name{Local: "id"}, Value: id}}}),
	}, extras...)...))
}

// reactionMessage is the stanza of a reaction set (XEP-0444): the whole
// set for the message target names, with no body, and a hint to archive
// it. In a room (typ groupchat), target is the room's stanza-id.
func reactionMessage(id string, to jid.JID, typ stanza.MessageType, target string, set []string) xml.TokenReader {
	items := make([]xml.TokenReader, 0, len(set))
	for _, r := range set {
		items = append(items, textElement("reaction", r))
	}
	return stanza.Message{ID: id, To: to, Type: typ}.Wrap(xmlstream.MultiReader(
		xmlstream.Wrap(xmlstream.MultiReader(items...), element(nsReactions, "reactions", "id", target)),
		emptyElement(nsHints, "store"),
		xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Space: nsSID, Local: "origin-id"}, Attr: []xml.Attr{{Name: xml.Name{Local: "id"}, Value: id}}}),
	))
}

func textElement(local, text string) xml.TokenReader {
	return xmlstream.Wrap(xmlstream.Token(xml.CharData(text)), xml.StartElement{Name: xml.Name{Local: local}})
}

// randomID is a stanza id no one else will pick.
func randomID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// handle reads one stanza. Nothing it receives ends the stream: what it
// cannot parse is logged and dropped, and an iq it does not serve gets
// mellium's service-unavailable answer.
func (s *session) handle(t xmlstream.TokenReadEncoder, start *xml.StartElement) error {
	s.bounded.boundary()
	defer s.bounded.boundary()
	if start.Name.Space == nsSM {
		return s.onSM(t, start) // sm.go
	}
	metricStanzas.Inc()
	switch start.Name.Local {
	case "message":
		var m stanzaMessage
		if err := decodeStanza(start, t, &m); err != nil {
			s.log.Debug("unreadable message stanza dropped", "err", err)
			return nil
		}
		if s.onRoomMessage(&m) { // group chats: muc.go
			return nil
		}
		return s.onChatMessage(t, &m) // receipts.go
	case "presence":
		var p stanzaPresence
		if err := decodeStanza(start, t, &p); err != nil {
			s.log.Debug("unreadable presence stanza dropped", "err", err)
			return nil
		}
		if s.onRoomPresence(&p) { // group chats: muc.go
			return nil
		}
		s.onPresence(&p)
	case "iq":
		return s.onIQ(t, start)
	}
	return nil
}

// decodeStanza reads a stanza whose start element mellium has already
// taken off r: the decoder must see it too, or the end element does not
// match anything it knows.
func decodeStanza(start *xml.StartElement, r xml.TokenReader, v any) error {
	return xml.NewTokenDecoder(xmlstream.MultiReader(xmlstream.Token(start.Copy()), r)).Decode(v)
}

// onIQ answers the requests a client must answer: a roster push from its
// own server and a ping. The rest get service-unavailable from mellium.
func (s *session) onIQ(t xmlstream.TokenReadEncoder, start *xml.StartElement) error {
	iq, err := stanza.NewIQ(*start)
	if err != nil || (iq.Type != stanza.GetIQ && iq.Type != stanza.SetIQ) {
		return nil
	}
	tok, err := t.Token()
	for err == nil {
		if child, ok := tok.(xml.StartElement); ok {
			switch {
			case child.Name.Space == nsRoster && iq.Type == stanza.SetIQ && iq.From.String() == "":
				s.onRosterPush(t, &child) // roster.go
			case child.Name.Space == "urn:xmpp:ping" && iq.Type == stanza.GetIQ:
			default:
				return nil
			}
			_, err := xmlstream.Copy(t, iq.Result(nil))
			return err
		}
		tok, err = t.Token()
	}
	return nil
}

// classify turns a message stanza into a stored message, or nothing:
// archive results only for the query under way (query, "" for none) and
// carbons only from the account itself, as XEP-0313 and XEP-0280 §11
// require, since anyone can send a stanza that looks like either. from
// is as mellium hands it over: "" when it was the account's bare JID.
func classify(self jid.JID, m *stanzaMessage, query string, now time.Time) (msg *core.Message, archived bool) {
	switch {
	case m.Result != nil:
		if m.From != "" || query == "" || m.Result.QueryID != query || m.Result.Forwarded.Message == nil {
			return nil, false
		}
		f := m.Result.Forwarded
		msg, ok := toMessage(self, f.Message, fromArchive, m.Result.ID, parseStamp(f.Delay), now)
		if !ok {
			return nil, false
		}
		return msg, true
	case m.Received != nil || m.Sent != nil:
		c := m.Received
		if c == nil {
			c = m.Sent
		}
		if m.From != "" || c.Forwarded.Message == nil {
			return nil, false
		}
		msg, ok := toMessage(self, c.Forwarded.Message, fromCarbon, "", parseStamp(c.Forwarded.Delay), now)
		if !ok {
			return nil, false
		}
		return msg, false
	}
	msg, ok := toMessage(self, m, fromLive, "", time.Time{}, now)
	if !ok {
		return nil, false
	}
	return msg, false
}

// onMessage stores a 1:1 message; true for a live one handed to the Hub.
func (s *session) onMessage(m *stanzaMessage) bool {
	s.mamMu.Lock()
	query := s.mamQuery
	s.mamMu.Unlock()
	msg, archived := classify(s.self, m, query, time.Now())
	if msg == nil {
		return false
	}
	if archived {
		s.mamMu.Lock()
		// The query id is checked again: the page may have ended (timed
		// out) between the two looks.
		if s.mamQuery == query && len(s.mamPage) < 2*mamPageSize {
			s.mamPage = append(s.mamPage, core.MessageEvent{Message: msg})
		}
		s.mamMu.Unlock()
		return false
	}
	return s.deliver(core.MessageEvent{Message: msg})
}

// deliver hands events to the Hub and moves the gap fill's start; false
// when the Hub did not take them.
func (s *session) deliver(events ...core.Event) bool {
	if len(events) == 0 {
		return true
	}
	if err := s.b.env.Inbound.Receive(s.ctx, events...); err != nil {
		if s.ctx.Err() == nil {
			s.log.Warn("handing messages to the hub", "err", err)
		}
		return false
	}
	for _, e := range events {
		if me, ok := e.(core.MessageEvent); ok && me.Message.OriginID != "" {
			s.b.noteSeen(me.Message.Time)
		}
	}
	return true
}

func (s *session) onPresence(p *stanzaPresence) {
	if s.onSubscription(p) { // roster.go
		return
	}
	st, ok := showOf(p)
	if !ok || p.From == "" {
		// "" is the account itself (its other clients).
		return
	}
	from, err := jid.Parse(p.From)
	if err != nil || from.Bare().Equal(s.self.Bare()) {
		return
	}
	contact, res := from.Bare().String(), from.Resourcepart()
	resources := s.presence[contact]
	if st.Show == core.ShowOffline {
		delete(resources, res)
		if len(resources) == 0 {
			delete(s.presence, contact)
		}
	} else {
		if resources == nil {
			if len(s.presence) >= maxContacts {
				return
			}
			resources = make(map[string]core.Status)
			s.presence[contact] = resources
		}
		if _, known := resources[res]; known || len(resources) < maxResources {
			resources[res] = st
		}
	}
	best := core.Status{Show: core.ShowOffline}
	if st.Show == core.ShowOffline {
		best.Text = st.Text
	}
	for _, rs := range s.presence[contact] {
		if rs.Show > best.Show {
			best = rs
		}
	}
	s.deliver(core.PresenceEvent{Contact: contact, Status: best})
}

// fillGap reads the account's archive from the newest stored message on,
// page by page, each page stored in one go. Copies of messages already
// stored carry the same network id and are dropped by the store.
func (s *session) fillGap(ctx context.Context) error {
	start := s.b.seen()
	if start.IsZero() {
		start = time.Now().Add(-initialFill)
	}
	start = start.Add(-gapFillSlack)
	after := ""
	for read := 0; read < maxFill; {
		query := randomID()
		s.mamMu.Lock()
		s.mamQuery, s.mamPage = query, nil
		s.mamMu.Unlock()
		// mellium decodes the iq's payload, the <fin/>, not the iq.
		var res struct {
			Fin struct {
				Complete string `xml:"complete,attr"`
				Last     string `xml:"http://jabber.org/protocol/rsm set>last"`
			}
		}
		qctx, cancel := context.WithTimeout(ctx, iqTimeout)
		err := s.xs.UnmarshalIQElement(qctx, mamQuery(query, start, after), stanza.IQ{Type: stanza.SetIQ}, &res.Fin)
		cancel()
		s.bounded.boundary()
		s.mamMu.Lock()
		page := s.mamPage
		s.mamQuery, s.mamPage = "", nil
		s.mamMu.Unlock()
		if err != nil {
			return fmt.Errorf("archive query: %w", err)
		}
		metricArchived.Add(float64(len(page)))
		s.deliver(page...)
		if res.Fin.Complete == "true" || res.Fin.Last == "" || len(page) == 0 {
			return nil
		}
		read += len(page)
		after = res.Fin.Last
	}
	s.log.Warn("archive gap fill stopped at its limit", "messages", maxFill)
	return nil
}

// mamQuery is an XEP-0313 query for everything since start, one RSM
// page after the result id after.
func mamQuery(id string, start time.Time, after string) xml.TokenReader {
	field := func(name, value string, extra ...xml.Attr) xml.TokenReader {
		return xmlstream.Wrap(textElement("value", value),
			xml.StartElement{Name: xml.Name{Local: "field"}, Attr: append([]xml.Attr{{Name: xml.Name{Local: "var"}, Value: name}}, extra...)})
	}
	form := xmlstream.Wrap(xmlstream.MultiReader(
		field("FORM_TYPE", nsMAM, xml.Attr{Name: xml.Name{Local: "type"}, Value: "hidden"}),
		field("start", start.UTC().Format(time.RFC3339)),
	), xml.StartElement{Name: xml.Name{Space: nsForm, Local: "x"}, Attr: []xml.Attr{{Name: xml.Name{Local: "type"}, Value: "submit"}}})
	set := []xml.TokenReader{textElement("max", strconv.Itoa(mamPageSize))}
	if after != "" {
		set = append(set, textElement("after", after))
	}
	return xmlstream.Wrap(xmlstream.MultiReader(
		form,
		xmlstream.Wrap(xmlstream.MultiReader(set...), xml.StartElement{Name: xml.Name{Space: nsRSM, Local: "set"}}),
	), xml.StartElement{Name: xml.Name{Space: nsMAM, Local: "query"}, Attr: []xml.Attr{{Name: xml.Name{Local: "queryid"}, Value: id}}})
}
