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
	// when our JOIN of it comes back: sends to it wait for that.
	joinedc map[string]chan struct{}
	// sentIDs are the msgids of the continuation lines of messages this
	// bridge sent: only the first line's id is stored with the message,
	// so a history replay must not bring the others back as new ones.
	sentIDs map[string]time.Time
}

func newSession(b *Bridge, c *conn) *session {
	return &session{
		b: b, c: c, cfg: b.cfg, log: b.log,
		capsLS:   make(map[string]string),
		channels: make(map[string]*channel),
		batches:  make(map[string]*batch),
		deliverc: make(chan []core.Event),
		is:       defaultISupport(),
		caps:     make(map[string]bool),
		sentIDs:  make(map[string]time.Time),
		joinedc:  make(map[string]chan struct{}),
	}
}

func (s *session) close() {
	s.b.cur.CompareAndSwap(s, nil)
	s.c.close()
	s.mu.Lock()
	for _, p := range s.waiting {
		p.fail()
	}
	s.waiting = nil
	s.mu.Unlock()
}

// run registers and then serves the connection until it fails or ctx ends.
func (s *session) run(ctx context.Context) (registered bool, err error) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.deliverLoop(ctx)
	}()
	defer func() {
		// Whatever was read is handed on before the session ends: a
		// dropped connection must not drop the lines before it.
		if len(s.pending) > 0 {
			select {
			case s.deliverc <- s.pending:
			case <-ctx.Done():
			}
		}
		close(s.deliverc)
		wg.Wait()
	}()

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
		}
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
// from the server is lost.
func (s *session) deliverLoop(ctx context.Context) {
	for batch := range s.deliverc {
		for attempt := 1; ; attempt++ {
			err := s.b.env.Inbound.Receive(ctx, batch...)
			if err == nil {
				metricEvents.Add(float64(len(batch)))
				break
			}
			if ctx.Err() != nil {
				s.log.Warn("events not stored: shutting down", "events", len(batch))
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
	c := s.joinSignalLocked(folded)
	select {
	case <-c:
	default:
		close(c)
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
		if sub == "ACK" {
			s.mu.Lock()
			for _, c := range strings.Fields(args[len(args)-1]) {
				if strings.HasPrefix(c, "-") {
					delete(s.caps, c[1:])
				} else {
					s.caps[c] = true
				}
			}
			s.mu.Unlock()
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
	st := s.b.status
	var joins []channelJoin
	for _, ch := range s.b.joined {
		joins = append(joins, ch)
	}
	s.b.mu.Unlock()
	if err := s.applyStatus(st); err != nil {
		s.log.Warn("setting away status", "err", err)
	}
	s.joinAll(joins)
	s.fetchTargets()
	setStateMetric(s.b.env.Network.ID, core.StateConnected)
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

// applyStatus sets or clears AWAY. IRC has only away or not: available
// and chat are back, everything else is away with the status text.
func (s *session) applyStatus(st core.Status) error {
	if st.Show >= core.ShowAvailable {
		return s.c.write("AWAY")
	}
	text := st.Text
	if text == "" {
		text = s.cfg.awayMessage
	}
	if text == "" {
		text = "Away"
	}
	return s.c.writeMsg(ircmsg.MakeMessage(nil, "", "AWAY", text))
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(strings.TrimSpace(x), s) {
			return true
		}
	}
	return false
}

// saslFailure is the error for 902, 904, 905 and 908: the credentials or
// mechanism are wrong, which retrying cannot mend.
func saslFailure(msg ircmsg.Message) error {
	text := msg.Command
	if len(msg.Params) > 0 {
		text = msg.Params[len(msg.Params)-1]
	}
	return classified(failPermanent, "SASL authentication failed (%s): %s", msg.Command, text)
}

var errClosing = errors.New("server closed the link")
