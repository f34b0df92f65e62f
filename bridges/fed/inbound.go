package fed

import (
	"container/heap"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/switchboard/switchboard/bridges/fed/httpsig"
)

// Time window of signatures (docs/federation.md, section 3.3).
const (
	maxSignatureAge = 5 * time.Minute
	maxClockAhead   = 30 * time.Second
)

// bodyTimeout bounds reading a request's body (1 MiB at most).
const bodyTimeout = 30 * time.Second

// Handler serves the discovery document and the federation API; the
// daemon mounts it on its HTTPS listener at WellKnownPath and APIPath.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+WellKnownPath, s.serveDocument)
	mux.HandleFunc("POST "+APIPath+"events", s.serveEvents)
	mux.HandleFunc("POST "+APIPath+"presence", s.servePresence)         // presence.go
	mux.HandleFunc("POST "+APIPath+"rooms/join", s.serveRoomJoin)       // rooms.go
	mux.HandleFunc("POST "+APIPath+"rooms/history", s.serveRoomHistory) // rooms.go
	mux.HandleFunc(APIPath, func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, refuse(http.StatusNotFound, "not-found", "no such federation endpoint"))
	})
	return mux
}

func (s *Service) serveDocument(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "max-age=3600")
	_ = json.NewEncoder(w).Encode(s.document())
}

func (s *Service) serveEvents(w http.ResponseWriter, r *http.Request) {
	origin, body, p := s.authenticate(w, r)
	if p == nil {
		var results []Result
		results, p = s.acceptBatch(r.Context(), origin, body)
		if p == nil {
			for _, r := range results {
				metricInEvents.WithLabelValues(r.Status).Inc()
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(BatchResult{Results: results})
			return
		}
	}
	s.writeRefusal(w, r, origin, p)
}

// writeRefusal logs, counts and answers a refused request.
func (s *Service) writeRefusal(w http.ResponseWriter, r *http.Request, origin string, p *problem) {
	level := s.log.Info
	if p.Status >= 500 {
		level = s.log.Error
	}
	metricRefused.WithLabelValues(strings.TrimPrefix(p.Type, problemBase)).Inc()
	level("refused federation request", "origin", origin, "remote", r.RemoteAddr, "status", p.Status, "type", p.Type, "detail", p.Detail)
	writeProblem(w, p)
}

// authenticate checks everything of section 3.3 and returns the origin
// domain and the body. The signature covers the Content-Digest header, so
// it is verified before anything is charged to the origin or remembered
// of it: a request that merely claims an origin must neither use up that
// peer's rate limit nor add a peer (maxPeers) to the Service. Only then is
// the body read and matched against the signed digest.
func (s *Service) authenticate(w http.ResponseWriter, r *http.Request) (string, []byte, *problem) {
	origin := r.Header.Get("Switchboard-Origin")
	if ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || ct != "application/json" {
		return origin, nil, refuse(http.StatusUnsupportedMediaType, "unsupported-media-type", "want application/json")
	}
	if err := ValidateDomain(origin); err != nil {
		return origin, nil, refuse(http.StatusUnauthorized, "unsigned", "Switchboard-Origin: "+err.Error())
	}
	if r.Header.Get("Signature") == "" || r.Header.Get("Signature-Input") == "" {
		return origin, nil, refuse(http.StatusUnauthorized, "unsigned", "no Signature and Signature-Input")
	}
	p, err := s.lookupPeer(origin)
	if err != nil {
		return origin, nil, refuse(http.StatusForbidden, "unknown-peer", err.Error())
	}
	target, err := url.Parse(s.publicURL + r.URL.RequestURI())
	if err != nil {
		return origin, nil, refuse(http.StatusBadRequest, "malformed", "request URI")
	}
	msg := httpsig.Message{Method: r.Method, URL: target, Header: r.Header}
	sig, err := httpsig.Parse(msg, sigLabel)
	if errors.Is(err, httpsig.ErrNoSignature) {
		return origin, nil, refuse(http.StatusUnauthorized, "unsigned", err.Error())
	}
	if err != nil {
		return origin, nil, refuse(http.StatusUnauthorized, "bad-signature", err.Error())
	}
	withDigest := []string{"@method", "@target-uri", "content-digest", "switchboard-origin"}
	withoutDigest := []string{"@method", "@target-uri", "switchboard-origin"}
	digested := slices.Equal(sig.Components, withDigest)
	if !digested && !slices.Equal(sig.Components, withoutDigest) {
		return origin, nil, refuse(http.StatusUnauthorized, "bad-signature", "covered components must be those of the profile")
	}
	now := s.now()
	created, expires := sig.Params.Created, sig.Params.Expires
	switch {
	case created.IsZero() || expires.IsZero():
		return origin, nil, refuse(http.StatusUnauthorized, "stale", "created and expires are required")
	case created.After(now.Add(maxClockAhead)), now.Sub(created) > maxSignatureAge,
		!expires.After(now), expires.Sub(created) > maxSignatureAge:
		return origin, nil, refuse(http.StatusUnauthorized, "stale", "signature outside its time window")
	}
	key, err := p.key(r.Context(), sig.Params.KeyID)
	if pr := keyProblem(err); pr != nil {
		return origin, nil, pr
	}
	if err := sig.Verify(msg, key); err != nil {
		return origin, nil, refuse(http.StatusUnauthorized, "bad-signature", err.Error())
	}
	// The headers are origin's; from here on the request is charged to it.
	if p, err = s.adopt(p); err != nil {
		return origin, nil, refuse(http.StatusForbidden, "unknown-peer", err.Error())
	}
	if !p.limiter.Allow() {
		pr := refuse(http.StatusTooManyRequests, "rate-limited", "too many requests from "+origin)
		pr.retryAfter = time.Second
		return origin, nil, pr
	}
	s.heardFrom(p) // outbound.go
	// All peers together are bounded too: many domains, each within its
	// own limit, must not together fill the replay cache or the store.
	if !s.inbound.Allow() {
		pr := refuse(http.StatusTooManyRequests, "rate-limited", "too many federation requests from all peers")
		pr.retryAfter = time.Second
		return origin, nil, pr
	}
	// The listener bounds only the headers' time; a body trickled in
	// must not hold the handler (and its share of the peer) for ever.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.bodyTimeout))
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, MaxRequestBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return origin, nil, refuse(http.StatusRequestEntityTooLarge, "too-large", "body over 1 MiB")
		}
		return origin, nil, refuse(http.StatusBadRequest, "malformed", "reading the body: "+err.Error())
	}
	switch {
	case digested:
		// All Content-Digest lines, as the signature covers them all.
		if err := httpsig.CheckContentDigest(strings.Join(r.Header.Values("Content-Digest"), ", "), body); err != nil {
			return origin, nil, refuse(http.StatusUnauthorized, "bad-signature", err.Error())
		}
	case len(body) > 0:
		return origin, nil, refuse(http.StatusUnauthorized, "bad-signature", "a request with a body must cover content-digest")
	}
	switch s.replays.add(sig.Sig, expires, now) {
	case replaySeen:
		return origin, nil, refuse(http.StatusUnauthorized, "replayed", "this signature was seen before")
	case replayFull:
		pr := refuse(http.StatusServiceUnavailable, "busy", "too many requests in the time window")
		pr.retryAfter = 10 * time.Second
		return origin, nil, pr
	}
	return origin, body, nil
}

// keyProblem is the answer to a failed key lookup, nil without error.
func keyProblem(err error) *problem {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errUnknownKey):
		return refuse(http.StatusUnauthorized, "bad-signature", err.Error())
	case errors.Is(err, errDiscoveryBusy):
		pr := refuse(http.StatusServiceUnavailable, "busy", err.Error())
		pr.retryAfter = 5 * time.Second
		return pr
	}
	return refuse(http.StatusForbidden, "unknown-peer", err.Error())
}

// acceptBatch decodes and applies an authenticated batch from origin.
func (s *Service) acceptBatch(ctx context.Context, origin string, body []byte) ([]Result, *problem) {
	b, err := DecodeBatch(body)
	if err != nil {
		return nil, refuse(http.StatusBadRequest, "malformed", err.Error())
	}
	for _, ev := range b.Events {
		from, _ := ParseAddress(ev.From)
		to, _ := ParseAddress(ev.To)
		if from.Domain != origin {
			return nil, refuse(http.StatusForbidden, "wrong-domain", "event "+ev.ID+": "+ev.From+" is not a user of "+origin)
		}
		// A room's home addresses what it fans out to the room itself
		// (section 4.3).
		if to.Domain != s.domain && !(from.IsRoom() && to == from) {
			return nil, refuse(http.StatusForbidden, "wrong-domain", "event "+ev.ID+": "+ev.To+" is not a user of "+s.domain)
		}
	}
	results, err := s.receive(ctx, origin, b.Events)
	if err != nil {
		s.log.Error("storing federation events", "origin", origin, "err", err)
		pr := refuse(http.StatusServiceUnavailable, "busy", "the events could not be stored; retry")
		pr.retryAfter = 5 * time.Second
		return nil, pr
	}
	return results, nil
}

// replayCache remembers the signatures seen within their time window.
// Entries leave as they expire (a heap by expiry), not only once the
// cache is full: a map that grew to max would keep its memory for good,
// and a full one would be scanned whole on every request.
type replayCache struct {
	mu       sync.Mutex
	seen     map[[32]byte]time.Time // signature hash -> expiry
	byExpiry expiryHeap
	max      int
}

type replayVerdict uint8

const (
	replayFresh replayVerdict = iota
	replaySeen
	replayFull
)

func newReplayCache(max int) *replayCache {
	return &replayCache{seen: make(map[[32]byte]time.Time), max: max}
}

func (c *replayCache) add(sig []byte, expires, now time.Time) replayVerdict {
	h := sha256.Sum256(sig)
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.byExpiry) > 0 && !c.byExpiry[0].expires.After(now) {
		e := heap.Pop(&c.byExpiry).(expiring)
		if exp, ok := c.seen[e.hash]; ok && exp.Equal(e.expires) {
			delete(c.seen, e.hash)
		}
	}
	if exp, ok := c.seen[h]; ok && exp.After(now) {
		return replaySeen
	}
	if len(c.seen) >= c.max {
		return replayFull
	}
	c.seen[h] = expires
	heap.Push(&c.byExpiry, expiring{expires: expires, hash: h})
	return replayFresh
}

// expiring is a replay cache entry in the expiry heap.
type expiring struct {
	expires time.Time
	hash    [32]byte
}

type expiryHeap []expiring

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].expires.Before(h[j].expires) }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiring)) }
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
