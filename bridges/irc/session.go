package irc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/ergochat/irc-go/ircmsg"
	"github.com/ergochat/irc-go/ircutils"

	"github.com/switchboard/switchboard/core"
)

// wantedCaps are the IRCv3 capabilities the bridge asks for when offered.
var wantedCaps = []string{
	"server-time", "message-tags", "echo-message", "batch", "labeled-response",
	"away-notify", "account-notify", "account-tag", "extended-join", "multi-prefix",
	"userhost-in-names", "chghost", "setname", "invite-notify", "cap-notify", "sasl",
	"draft/chathistory", "chathistory", "draft/event-playback",
}

// maxPending bounds the events read from the server but not yet handed
// to the Hub; past it the session stops reading, and TCP pushes back.
const maxPending = 1024

// session is one registered (or registering) connection. Its run
// goroutine owns everything not under mu; Send and the status and typing
// calls come from the Hub's sender goroutine and use only what mu guards
// and the conn, whose writes are safe to share.
type session struct {
	b   *Bridge
	c   *conn
	cfg *config
	log *slog.Logger

	// Owned by run.
	capsLS     map[string]string
	capsWanted int // REQs not yet answered
	saslDone   bool
	nickIdx    int
	registered bool
	ready      bool
	channels   map[string]*channel
	batches    map[string]*batch
	pending    []core.Event
	serverErr  error // the reason an ERROR line or ban numeric gave
	gap        gapState

	// deliverc hands batches of events to the deliver goroutine.
	deliverc chan []core.Event

	mu       sync.Mutex
	is       isupport
	nick     string
	userHost string // our own user@host as others see it, once known
	caps     map[string]bool
	waiting  []*pendingSend
	labelSeq uint64
	// joinedc has a channel per channel the bridge is to be in, closed
	// when our JOIN of it comes back, or when the server refuses it
	// (joinFailed then says why): sends to it wait for that.
	joinedc    map[string]chan struct{}
	joinFailed map[string]string
	// sentIDs are the msgids of the continuation lines of messages this
	// bridge sent: only the first line's id is stored with the message,
	// so a history replay must not bring the others back as new ones.
	sentIDs map[string]time.Time

	// awayApplied is the AWAY text last put on this connection, "" for
	// none; Bridge.statusMu guards it.
	awayApplied string
}

func newSession(b *Bridge, c *conn) *session {
	return &session{
		b: b, c: c, cfg: b.cfg, log: b.log,
		capsLS:     make(map[string]string),
		channels:   make(map[string]*channel),
		batches:    make(map[string]*batch),
		deliverc:   make(chan []core.Event),
		is:         defaultISupport(),
		caps:       make(map[string]bool),
		sentIDs:    make(map[string]time.Time),
		gap:        newGapState(),
		joinedc:    make(map[string]chan struct{}),
		joinFailed: make(map[string]string),
	}
}

func (s *session) close() {
	s.b.cur.CompareAndSwap(s, nil)
	s.c.close()
	s.mu.Lock()
	for _, p := range s.waiting {
		p.giveUp()
	}
	s.waiting = nil
	s.mu.Unlock()
}

// flushTimeout bounds how long an ending session waits for the Hub to
// take the events it read; a store stuck longer costs those events.
var flushTimeout = 10 * time.Second

// run registers and then serves the connection until it fails or ctx ends.
func (s *session) run(ctx context.Context) (registered bool, err error) {
	// The deliverer outlives ctx: what was read before a shutdown is
	// still stored. finish bounds how long it may take.
	dctx, stopDeliver := context.WithCancel(context.WithoutCancel(ctx))
	defer stopDeliver()
	delivered := make(chan struct{})
	go func() {
		defer close(delivered)
		s.deliverLoop(dctx)
	}()
	defer func() { s.finish(ctx.Err() != nil, dctx, stopDeliver, delivered) }()

	if err := s.startRegistration(); err != nil {
		return false, err
	}
	regTimer := time.NewTimer(registerTimeout)
	defer regTimer.Stop()
	regain := time.NewTicker(nickRegainInterval)
	defer regain.Stop()

	for {
		in := s.c.lines
		if len(s.pending) >= maxPending {
			in = nil // let the deliverer catch up before reading more
		}
		var out chan []core.Event
		if len(s.pending) > 0 {
			out = s.deliverc
		}
		select {
		case <-ctx.Done():
			_ = s.c.write("QUIT :Switchboard is shutting down")
			return s.registered, ctx.Err()
		case msg, ok := <-in:
			if !ok {
				return s.registered, s.endError()
			}
			if err := s.handle(msg); err != nil {
				return s.registered, err
			}
		case out <- s.pending:
			s.pending = nil
		case <-regTimer.C:
			if !s.ready {
				return s.registered, fmt.Errorf("registration did not finish within %s", registerTimeout)
			}
		case <-regain.C:
			s.regainNick()
			s.expireSends()
		case <-s.gap.timer.C:
			s.historyTimedOut()
		}
	}
}

// finish hands on whatever the session read before it ends: a dropped
// connection must not drop the lines before it. After a failure the lines
// the reader had already taken from the server are handled too; at
// shutdown, which closes the link on purpose, they are left (the gap
// fill brings them back where the server keeps history). The Hub gets
// flushTimeout to take the events, whether or not ctx ended.
func (s *session) finish(shutdown bool, dctx context.Context, stopDeliver context.CancelFunc, delivered <-chan struct{}) {
	if !shutdown && s.ready {
		s.drainLines()
	}
	s.saveOpenGaps()
	deadline := time.AfterFunc(flushTimeout, stopDeliver)
	defer deadline.Stop()
	if len(s.pending) > 0 {
		select {
		case s.deliverc <- s.pending:
			s.pending = nil
		case <-dctx.Done():
			s.log.Warn("events not stored: the store did not take them in time", "events", len(s.pending), "waited", flushTimeout)
		}
	}
	close(s.deliverc)
	<-delivered
}

// drainLines handles the lines the reader had parsed but the session had
// not handled when it failed. The connection is closed first, so nothing
// is written and the reader stops; what it queued stays readable.
func (s *session) drainLines() {
	s.c.close()
	for msg := range s.c.lines {
		_ = s.handle(msg)
	}
}

// endError says why the connection ended: the server's ERROR if it gave
// one, else the read error.
func (s *session) endError() error {
	if s.serverErr != nil {
		return s.serverErr
	}
	if s.c.err != nil {
		return fmt.Errorf("connection to %s lost: %w", s.cfg.addr, s.c.err)
	}
	return fmt.Errorf("connection to %s closed by the server", s.cfg.addr)
}

// deliverLoop hands batches of events to the Hub. A failing store is
// retried with backoff while the session stops reading, so nothing read
// from the server is lost; ctx ends only when finish gives up waiting.
func (s *session) deliverLoop(ctx context.Context) {
	for batch := range s.deliverc {
		for attempt := 1; ; attempt++ {
			err := s.b.env.Inbound.Receive(ctx, batch...)
			if err == nil {
				metricEvents.Add(float64(len(batch)))
				break
			}
			if ctx.Err() != nil || errors.Is(err, core.ErrHubClosed) {
				s.log.Warn("events not stored: the session ended first", "events", len(batch), "err", err)
				break
			}
			wait := min(time.Duration(attempt)*time.Second, 30*time.Second)
			s.log.Error("storing events from IRC; retrying", "err", err, "events", len(batch), "in", wait)
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
		}
	}
}

func (s *session) emit(events ...core.Event) { s.pending = append(s.pending, events...) }

func (s *session) fold(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.is.casemap(name)
}

func (s *session) isSelf(nick string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.is.casemap(nick) == s.is.casemap(s.nick)
}

func (s *session) hasCap(c string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.caps[c]
}

// --- registration ---

func (s *session) startRegistration() error {
	if err := s.c.write("CAP LS 302"); err != nil {
		return err
	}
	if s.cfg.password != "" {
		if err := s.c.writeMsg(ircmsg.MakeMessage(nil, "", "PASS", s.cfg.password)); err != nil {
			return err
		}
	}
	s.setNick(s.cfg.nicks[0])
	if err := s.c.writeMsg(ircmsg.MakeMessage(nil, "", "NICK", s.cfg.nicks[0])); err != nil {
		return err
	}
	return s.c.writeMsg(ircmsg.MakeMessage(nil, "", "USER", s.cfg.username, "0", "*", s.cfg.realname))
}

// joinSignalLocked returns the channel closed once we are in the folded channel.
func (s *session) joinSignalLocked(folded string) chan struct{} {
	c, ok := s.joinedc[folded]
	if !ok {
		c = make(chan struct{})
		s.joinedc[folded] = c
	}
	return c
}

func (s *session) markJoined(folded string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.joinFailed, folded)
	closeOnce(s.joinSignalLocked(folded))
}

// joinRefused records that the server will not let the bridge into a
// channel it wants (full, invite only, banned, bad key...), so sends to it
// fail at once rather than wait for a JOIN that will not come. The
// channel stays wanted: the next reconnect tries again. A refusal naming
// a channel the bridge is in changes nothing; some servers send these
// numerics for other commands.
func (s *session) joinRefused(name, reason string) {
	s.log.Warn("cannot join channel", "channel", name, "reason", reason)
	key := s.fold(name)
	if s.channels[key] != nil {
		return
	}
	if _, ok := s.wantedChannel(key); !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.joinFailed[key] = reason
	closeOnce(s.joinSignalLocked(key))
}

func closeOnce(c chan struct{}) {
	select {
	case <-c:
	default:
		close(c)
	}
}

// wantedChannel finds the channel of Bridge.joined that folds to key
// under this server's casemapping, and returns the name joined keys it by.
func (s *session) wantedChannel(key string) (string, bool) {
	s.mu.Lock()
	fold := s.is.casemap
	s.mu.Unlock()
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	if _, ok := s.b.joined[key]; ok {
		return key, true
	}
	for name := range s.b.joined {
		if fold(name) == key {
			return name, true
		}
	}
	return "", false
}

// unwantChannel removes from Bridge.joined every name that folds to key:
// the bridge left the channel, however it was spelled.
func (s *session) unwantChannel(key string) {
	s.mu.Lock()
	fold := s.is.casemap
	s.mu.Unlock()
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	for name := range s.b.joined {
		if fold(name) == key {
			delete(s.b.joined, name)
		}
	}
}

func (s *session) setNick(n string) {
	s.mu.Lock()
	s.nick = n
	s.mu.Unlock()
}

func (s *session) currentNick() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nick
}

// handleCap follows CAP LS, ACK, NAK, NEW and DEL.
func (s *session) handleCap(msg ircmsg.Message) error {
	if len(msg.Params) < 3 {
		return nil
	}
	sub := msg.Params[1]
	args := msg.Params[2:]
	switch sub {
	case "LS":
		more := len(args) > 1 && args[0] == "*"
		for _, tok := range strings.Fields(args[len(args)-1]) {
			k, v, _ := strings.Cut(tok, "=")
			s.capsLS[k] = v
		}
		if more {
			return nil
		}
		s.requestCaps(s.capsLS)
		if s.capsWanted == 0 {
			return s.capsSettled()
		}
	case "NEW":
		offered := make(map[string]string)
		for _, tok := range strings.Fields(args[len(args)-1]) {
			k, v, _ := strings.Cut(tok, "=")
			s.capsLS[k] = v
			offered[k] = v
		}
		s.requestCaps(offered)
	case "DEL":
		s.mu.Lock()
		for _, c := range strings.Fields(args[len(args)-1]) {
			delete(s.caps, c)
			delete(s.capsLS, c)
		}
		s.mu.Unlock()
	case "ACK", "NAK":
		caps := strings.Fields(args[len(args)-1])
		if sub == "ACK" {
			s.mu.Lock()
			for _, c := range caps {
				if strings.HasPrefix(c, "-") {
					delete(s.caps, c[1:])
				} else {
					s.caps[c] = true
				}
			}
			s.mu.Unlock()
		} else if len(caps) > 1 {
			// A REQ is refused as a whole: ask for each capability on
			// its own, so one the server will not grant does not cost
			// the others, sasl among them.
			for _, c := range caps {
				s.capsWanted++
				_ = s.c.writeMsg(ircmsg.MakeMessage(nil, "", "CAP", "REQ", c))
			}
		}
		if s.capsWanted > 0 {
			s.capsWanted--
			if s.capsWanted == 0 && !s.registered {
				return s.capsSettled()
			}
		}
	}
	return nil
}

// requestCaps asks for the wanted ones among offered, in REQ lines short
// enough for any server (a REQ is accepted or refused as a whole).
func (s *session) requestCaps(offered map[string]string) {
	var line []string
	n := 0
	flush := func() {
		if len(line) > 0 {
			s.capsWanted++
			_ = s.c.writeMsg(ircmsg.MakeMessage(nil, "", "CAP", "REQ", strings.Join(line, " ")))
			line, n = nil, 0
		}
	}
	for _, c := range wantedCaps {
		if _, ok := offered[c]; !ok {
			continue
		}
		if c == "sasl" && (s.cfg.sasl == "" || s.registered) {
			continue
		}
		if n+len(c) > 300 {
			flush()
		}
		line = append(line, c)
		n += len(c) + 1
	}
	flush()
}

// capsSettled runs when every REQ was answered: authenticate, or end
// negotiation.
func (s *session) capsSettled() error {
	if s.cfg.sasl != "" && !s.saslDone {
		if !s.hasCap("sasl") {
			// InspIRCd withdraws sasl while its services are down.
			return classified(failThrottled, "the server does not offer SASL, which this network is set to use; its services may be down")
		}
		if mechs, ok := s.capsLS["sasl"]; ok && mechs != "" && !containsFold(strings.Split(mechs, ","), s.cfg.sasl) {
			return classified(failPermanent, "the server offers SASL %s, not %s", mechs, s.cfg.sasl)
		}
		return s.c.writeMsg(ircmsg.MakeMessage(nil, "", "AUTHENTICATE", s.cfg.sasl))
	}
	return s.c.write("CAP END")
}

func (s *session) handleAuthenticate(msg ircmsg.Message) error {
	if len(msg.Params) < 1 || msg.Params[0] != "+" {
		return nil
	}
	var payload []byte
	switch s.cfg.sasl {
	case "PLAIN":
		payload = []byte(s.cfg.saslUser + "\x00" + s.cfg.saslUser + "\x00" + s.cfg.saslPass)
	case "EXTERNAL":
		payload = nil // the client certificate speaks for us
	}
	for _, chunk := range ircutils.EncodeSASLResponse(payload) {
		if err := s.c.writeMsg(ircmsg.MakeMessage(nil, "", "AUTHENTICATE", chunk)); err != nil {
			return err
		}
	}
	return nil
}

// handleNickUnavailable moves to the next nick while registering.
func (s *session) handleNickUnavailable(msg ircmsg.Message) error {
	if s.registered {
		return nil // a regain attempt failed; the ticker tries again
	}
	s.nickIdx++
	next := ""
	if s.nickIdx < len(s.cfg.nicks) {
		next = s.cfg.nicks[s.nickIdx]
	} else {
		// Out of configured nicks: add digits rather than give up.
		base := s.cfg.nicks[0]
		if len(base) > 6 {
			base = base[:6]
		}
		next = fmt.Sprintf("%s%03d", base, rand.IntN(1000))
	}
	s.setNick(next)
	return s.c.writeMsg(ircmsg.MakeMessage(nil, "", "NICK", next))
}

func (s *session) regainNick() {
	if s.ready && !s.isSelf(s.cfg.nicks[0]) {
		_ = s.c.writeMsg(ircmsg.MakeMessage(nil, "", "NICK", s.cfg.nicks[0]))
	}
}

// onWelcome runs at RPL_WELCOME.
func (s *session) onWelcome(msg ircmsg.Message) {
	s.registered = true
	if len(msg.Params) > 0 {
		s.setNick(msg.Params[0])
	}
}

// onReady runs at the end of the MOTD: the connection is usable.
func (s *session) onReady() {
	if s.ready {
		return
	}
	s.ready = true
	s.b.cur.Store(s)
	s.b.mu.Lock()
	var joins []channelJoin
	for _, ch := range s.b.joined {
		joins = append(joins, ch)
	}
	s.b.mu.Unlock()
	s.b.statusMu.Lock()
	if err := s.applyStatusLocked(); err != nil {
		s.log.Warn("setting away status", "err", err)
	}
	s.b.statusMu.Unlock()
	// Before the JOINs: our own JOIN and every line after it move
	// lastSeen, and the gap to fill is the one before them.
	s.startGapFill(joins)
	s.joinAll(joins)
	s.fetchTargets()
	s.b.report().Gauge(core.StateConnected) // the event goes with the batch below
	s.emit(core.NetworkStateEvent{State: core.StateConnected, At: time.Now()})
	s.log.Info("IRC connected", "nick", s.currentNick(), "caps", s.capList())
}

func (s *session) capList() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, c := range wantedCaps {
		if s.caps[c] {
			out = append(out, c)
		}
	}
	return strings.Join(out, " ")
}

// joinAll joins channels in as few lines as fit, keyed ones first since
// keys pair with channels by position.
func (s *session) joinAll(chans []channelJoin) {
	var keyed, open []channelJoin
	for _, c := range chans {
		if c.key != "" {
			keyed = append(keyed, c)
		} else {
			open = append(open, c)
		}
	}
	all := append(keyed, open...)
	for len(all) > 0 {
		var names, keys []string
		n := 0
		for len(all) > 0 && (n == 0 || n+len(all[0].name)+len(all[0].key)+2 < 400) {
			names = append(names, all[0].name)
			if all[0].key != "" {
				keys = append(keys, all[0].key)
			}
			n += len(all[0].name) + len(all[0].key) + 2
			all = all[1:]
		}
		params := []string{strings.Join(names, ",")}
		if len(keys) > 0 {
			params = append(params, strings.Join(keys, ","))
		}
		_ = s.c.writeMsg(ircmsg.MakeMessage(nil, "", "JOIN", params...))
	}
}

// applyStatusLocked puts the user's status (Bridge.status) on this
// connection unless it is there already; Bridge.statusMu is held, so
// the last status set is the last one written.
func (s *session) applyStatusLocked() error {
	text := s.awayText(s.b.status)
	if text == s.awayApplied {
		return nil
	}
	var err error
	if text == "" {
		err = s.c.write("AWAY")
	} else {
		err = s.c.writeMsg(ircmsg.MakeMessage(nil, "", "AWAY", text))
	}
	if err == nil {
		s.awayApplied = text
	}
	return err
}

// awayText is the AWAY text for st, "" for back. IRC has only away or
// not: available and chat are back, everything else is away with the
// status text. A new connection starts back, so "" is sent only to undo
// an AWAY.
func (s *session) awayText(st core.Status) string {
	if st.Show >= core.ShowAvailable {
		return ""
	}
	text := st.Text
	if text == "" {
		text = s.cfg.awayMessage
	}
	if text == "" {
		text = "Away"
	}
	return text
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(strings.TrimSpace(x), s) {
			return true
		}
	}
	return false
}

// maxSASLFailures is how many SASL attempts in a row may fail before the
// credentials are taken to be wrong. One failure is not proof: services
// that are restarting or lagging behind the server fail logins too.
const maxSASLFailures = 3

// saslFailure is the error for 902, 904 and 905: throttled until the
// attempts fail maxSASLFailures times in a row, then permanent, since
// retrying wrong credentials cannot mend them and hammers the services.
func (s *session) saslFailure(msg ircmsg.Message) error {
	text := msg.Command
	if len(msg.Params) > 0 {
		text = msg.Params[len(msg.Params)-1]
	}
	n := int(s.b.saslFailures.Add(1))
	if n >= maxSASLFailures {
		return classified(failPermanent, "SASL authentication failed (%s): %s (%d attempts in a row)", msg.Command, text, n)
	}
	return classified(failThrottled, "SASL authentication failed (%s): %s (attempt %d of %d)", msg.Command, text, n, maxSASLFailures)
}

var errClosing = errors.New("server closed the link")
