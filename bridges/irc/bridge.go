package irc

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard/switchboard/bridges/supervise"
	"github.com/switchboard/switchboard/core"
)

// Kind registers the IRC bridge with a core.Registry.
func Kind() core.BridgeKind {
	return core.BridgeKind{
		Kind:             core.KindIRC,
		New:              New,
		ValidateSettings: ValidateSettings,
		ParsePeer:        parsePeer,
	}
}

// parsePeer reads a nick or channel typed on a device. Only ASCII letters
// are folded, the folding every IRC case mapping shares: under rfc1459,
// []\~ fold too, but on an ascii server they are other characters, and
// sending to a different nick is worse than a second conversation with
// the same one. The session folds with the server's own mapping.
func parsePeer(remote string) core.Peer {
	p := core.Peer{Kind: core.Direct, Remote: foldASCII(remote)}
	if remote != "" && strings.IndexByte("#&+!", remote[0]) >= 0 {
		p.Kind = core.Room
	}
	return p
}

// Bridge keeps one IRC network of one user connected. Run owns the
// connection; Send, SetStatus and SendTyping reach whichever session is
// current.
type Bridge struct {
	env core.BridgeEnv
	cfg *config
	log *slog.Logger

	cur atomic.Pointer[session]

	// saslFailures counts the SASL attempts that failed in a row, across
	// reconnects; see session.saslFailure.
	saslFailures atomic.Int32

	// statusMu serializes putting the user's status on the network, so
	// the AWAY lines of SetStatus and of a (re)connect cannot overtake
	// each other. It guards status and every session's awayApplied.
	statusMu sync.Mutex
	status   core.Status // the user's status, applied on every (re)connect

	mu sync.Mutex
	// joined is every channel the bridge should be in: the configured
	// ones plus those joined since, minus those parted or kicked from.
	// It survives reconnects, so a drop rejoins everything. It is keyed
	// by the name as configured or joined, not folded: how names fold is
	// the server's to say (CASEMAPPING), and each session folds them its
	// way when it looks one up (session.wantedChannel).
	joined map[string]channelJoin
	// lastSeen is the newest message time per conversation (folded
	// target), where the CHATHISTORY gap fill starts; see noteSeen.
	lastSeen map[string]time.Time
	// targetsFrom, when set, is where the next CHATHISTORY TARGETS must
	// start: an earlier session ended before the private conversations
	// it was to fill were filled.
	targetsFrom time.Time
}

// New builds the bridge for one network; it does not connect until Run.
func New(env core.BridgeEnv) (core.Bridge, error) {
	cfg, err := parseConfig(env.Network.Settings)
	if err != nil {
		return nil, err
	}
	log := env.Log
	if log == nil {
		log = slog.Default()
	}
	b := &Bridge{
		env: env, cfg: cfg, log: log,
		status:   core.Status{Show: core.ShowAvailable},
		joined:   make(map[string]channelJoin),
		lastSeen: make(map[string]time.Time),
	}
	return b, nil
}

// failure classifies why a connection ended, which decides how long the
// supervisor waits before the next attempt.
type failure uint8

const (
	failTemporary failure = iota // network trouble, server restart: retry soon
	failThrottled                // "reconnecting too fast", connection limits: wait longer
	failBanned                   // K-line, G-line, 465: wait much longer
	failPermanent                // bad credentials or pin: stop and tell the user
)

var failureNames = [...]string{"temporary", "throttled", "banned", "permanent"}

func (f failure) String() string { return failureNames[f] }

// connError is a classified reason a session ended.
type connError struct {
	kind failure
	err  error
}

func (e *connError) Error() string { return e.err.Error() }
func (e *connError) Unwrap() error { return e.err }

func classified(kind failure, format string, args ...any) error {
	return &connError{kind: kind, err: fmt.Errorf(format, args...)}
}

func classOf(err error) failure {
	var ce *connError
	if errors.As(err, &ce) {
		return ce.kind
	}
	if errors.Is(err, errPinMismatch) {
		return failPermanent
	}
	return failTemporary
}

// classifyServerError reads the text of an ERROR line or a ban numeric.
func classifyServerError(text string) failure {
	t := strings.ToLower(text)
	for _, w := range []string{"k-lined", "g-lined", "z-lined", "d-lined", "banned", "you are not welcome", "(k-line", "(g-line", "akill"} {
		if strings.Contains(t, w) {
			return failBanned
		}
	}
	for _, w := range []string{"throttl", "too fast", "too many", "excess flood", "flood", "connection limit", "try again later", "reconnecting too"} {
		if strings.Contains(t, w) {
			return failThrottled
		}
	}
	return failTemporary
}

// backoff is the wait before attempt n (1-based) after a failure of kind:
// exponential, capped, with ±25% jitter so many bridges restarted together
// do not reconnect in step.
func backoff(kind failure, n int) time.Duration { return supervise.Backoff(kind.policy(), n) }

// policy is how a kind of failure is retried: throttling and bans call
// for much longer waits than a dropped link.
func (f failure) policy() supervise.Policy {
	switch f {
	case failThrottled:
		return supervise.Policy{Base: 60 * backoffUnit, Max: 1800 * backoffUnit}
	case failBanned:
		return supervise.Policy{Base: 1800 * backoffUnit, Max: 21600 * backoffUnit}
	}
	return supervise.Policy{Base: 2 * backoffUnit, Max: 300 * backoffUnit}
}

// backoffUnit scales every backoff; tests shrink it.
var backoffUnit = time.Second

// report tells the user's devices and the metrics the connection state.
func (b *Bridge) report() supervise.Reporter {
	return supervise.Reporter{Kind: core.KindIRC, Network: b.env.Network.ID, Inbound: b.env.Inbound, Log: b.log}
}

// Run keeps the network connected until ctx ends. Every failure is
// classified and retried with backoff; only permanent ones end Run.
func (b *Bridge) Run(ctx context.Context) error {
	b.loadLastSeen(ctx)
	for _, ch := range b.cfg.channels {
		b.joined[ch.name] = ch
	}
	b.wantSavedRooms()
	return supervise.Loop{
		Name:    "IRC",
		Session: b.runSession,
		Classify: func(err error) supervise.Failure {
			k := classOf(err)
			return supervise.Failure{Class: k.String(), Permanent: k == failPermanent, Retry: k.policy()}
		},
		Report: b.report(),
		Log:    b.log,
	}.Run(ctx)
}

// runSession dials, registers and serves one connection until it ends.
// registered says whether it got as far as RPL_WELCOME.
func (b *Bridge) runSession(ctx context.Context) (registered bool, err error) {
	nc, err := dial(ctx, b.cfg)
	if err != nil {
		if errors.Is(err, errPinMismatch) {
			return false, err
		}
		var cv *tls.CertificateVerificationError
		if errors.As(err, &cv) {
			// Unlike a pin mismatch this can mend itself: an expired
			// certificate gets renewed, a missing intermediate gets
			// added. So it is retried, but rarely, and the state says
			// what is wrong and how the user can trust it meanwhile.
			return false, &connError{kind: failBanned, err: fmt.Errorf("%w (to trust this server anyway, set tls-fingerprint)", err)}
		}
		return false, fmt.Errorf("connecting to %s: %w", b.cfg.addr, err)
	}
	s := newSession(b, newConn(nc, b.cfg, b.log))
	defer s.close()
	return s.run(ctx)
}

// Send writes m to the network; see session.send.
func (b *Bridge) Send(ctx context.Context, m *core.Message) (string, error) {
	s := b.cur.Load()
	if s == nil {
		return "", core.ErrNotConnected
	}
	return s.send(ctx, m)
}

// SetStatus marks the user away on the network, or back. The status is
// remembered and applied again after every reconnect.
func (b *Bridge) SetStatus(ctx context.Context, st core.Status) error {
	b.statusMu.Lock()
	defer b.statusMu.Unlock()
	b.status = st
	if s := b.cur.Load(); s != nil {
		return s.applyStatusLocked()
	}
	return nil
}

// SendTyping sends an IRCv3 +typing client tag where the server carries
// them; typing is dropped rather than delayed when the flood limit is busy.
func (b *Bridge) SendTyping(ctx context.Context, e core.TypingEvent) error {
	if s := b.cur.Load(); s != nil {
		s.sendTyping(e)
	}
	return nil
}

// loadLastSeen reads the newest stored message time of each of the
// network's conversations, where the CHATHISTORY gap fill starts after a
// restart.
func (b *Bridge) loadLastSeen(ctx context.Context) {
	h := b.env.History
	if h == nil {
		return
	}
	convs, err := h.Conversations(ctx, b.env.User.ID)
	if err != nil {
		b.log.Warn("reading conversations for the history gap fill", "err", err)
		return
	}
	for _, c := range convs {
		if c.Network != b.env.Network.ID {
			continue
		}
		page, err := h.Messages(ctx, core.PageQuery{User: b.env.User.ID, Conversation: c.ID, Order: core.NewestFirst, Limit: 20})
		if err != nil {
			b.log.Warn("reading the newest message for the history gap fill", "conversation", c.Remote, "err", err)
			continue
		}
		// Only lines with a network id carried the server's time (see
		// newMessage); a local clock must not move the gap's start.
		for _, m := range page {
			if m.OriginID != "" {
				b.noteSeen(c.Remote, m.Time)
				break
			}
		}
	}
}

// maxLastSeen bounds lastSeen, which gains an entry for every nick that
// sends the user a private message.
const maxLastSeen = 10000

// noteSeen moves the gap start of conversation conv (folded) to t, if t
// is newer.
func (b *Bridge) noteSeen(conv string, t time.Time) {
	// A server clock far ahead must not move the gap start past lines
	// still to come: they would never be asked for.
	if limit := time.Now().Add(time.Minute); t.After(limit) {
		t = limit
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	old, ok := b.lastSeen[conv]
	if ok && !t.After(old) {
		return
	}
	b.lastSeen[conv] = t
	if !ok && len(b.lastSeen) > maxLastSeen {
		b.trimLastSeenLocked()
	}
}

// trimLastSeenLocked forgets the conversations seen longest ago, down to
// nine tenths of maxLastSeen, so a stream of new nicks costs one sort per
// thousand of them rather than a scan each. A forgotten conversation
// loses only its gap fill: the next reconnect asks for its latest lines.
func (b *Bridge) trimLastSeenLocked() {
	type seen struct {
		conv string
		at   time.Time
	}
	all := make([]seen, 0, len(b.lastSeen))
	for c, t := range b.lastSeen {
		all = append(all, seen{c, t})
	}
	slices.SortFunc(all, func(x, y seen) int { return x.at.Compare(y.at) })
	for _, e := range all[:len(all)-maxLastSeen*9/10] {
		delete(b.lastSeen, e.conv)
	}
}
