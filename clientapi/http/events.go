package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/switchboard/switchboard/core"
)

// SSE timing: a comment every heartbeatInterval keeps proxies from closing
// an idle stream and notices a revoked token; a write that takes longer
// than writeTimeout drops a client that stopped reading. The client waits
// retryMillis before it reconnects.
const (
	heartbeatInterval = 25 * time.Second
	writeTimeout      = 10 * time.Second
	retryMillis       = 2000
	replayPage        = 500
)

// errSessionClosed says the Hub closed the session: dropped as slow, or
// the Hub stopped.
var errSessionClosed = errors.New("session closed by the hub")

// nextEvent is the only place that reads a Hub session's queue, so a
// change of core.Session's queue API is a change here alone. It waits
// until an event comes, the session closes (errSessionClosed) or ctx
// ends (ctx.Err()).
func nextEvent(ctx context.Context, s *core.Session) (core.Event, error) {
	e, err := s.Next(ctx)
	switch {
	case err == nil:
		return e, nil
	case ctx.Err() != nil:
		return nil, ctx.Err()
	}
	return nil, fmt.Errorf("%w: %w", errSessionClosed, err)
}

// events streams the user's events as Server-Sent Events.
//
// Stored events (messages, corrections) carry an SSE id, the message's
// server id. A client that reconnects with Last-Event-ID (or
// ?last_event_id=) first gets every stored message after that id, read
// from the store, then the live ones; a live message at or below the last
// one replayed is skipped, so the join point neither loses nor repeats a
// message. Read markers are stored state: those changed since the time of
// that id are sent again (a marker may come twice; applying it twice is
// harmless).
//
// Ephemeral events carry no id and are never replayed: presence, own
// status, typing, network state (the current state of each network is
// sent on every connect instead), room membership and topic, and send
// failures. The "ready" event marks the end of the replay; its id lets a
// client that saw no message yet resume from the moment it connected.
func (s *Server) events(w http.ResponseWriter, r *http.Request, a auth) {
	lastID, p := lastEventID(r)
	if p != nil {
		s.writeProblem(w, r, p)
		return
	}
	ctx := r.Context()
	// Taken before attaching: any message this stream does not carry
	// live was stored before it, so it has a smaller id.
	connected := core.MessageIDAt(s.now()) - 1
	sess, err := s.hub.Attach(ctx, a.user.ID, "http-sse")
	if err != nil {
		s.writeProblem(w, r, internal(err))
		return
	}
	defer sess.Detach()
	metricSessions.WithLabelValues("http").Inc()
	defer metricSessions.WithLabelValues("http").Dec()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	sw := &sseWriter{w: w, rc: http.NewResponseController(w)}
	sw.buf.WriteString(fmt.Sprintf("retry: %d\n\n", retryMillis))
	for _, st := range s.hub.NetworkStates(a.user.ID) {
		sw.event("", st)
	}
	lastSent := connected
	if lastID != 0 {
		if lastSent, err = s.replayStored(ctx, sw, a.user.ID, lastID); err != nil {
			s.log.Warn("SSE replay", "user", a.user.Name, "err", err)
			return
		}
	}
	sw.raw("ready", idString(lastSent), []byte("{}"))
	if err := sw.flush(); err != nil {
		return
	}
	s.live(ctx, sw, sess, a, lastSent)
}

func lastEventID(r *http.Request) (core.MessageID, *problem) {
	field, v := "Last-Event-ID", r.Header.Get("Last-Event-ID")
	if v == "" {
		// EventSource sets the header on its own reconnects only; a page
		// that reconnects by hand passes the id in the query.
		field, v = "last_event_id", r.URL.Query().Get("last_event_id")
	}
	if v == "" {
		return 0, nil
	}
	id, err := core.ParseMessageID(v)
	if err != nil {
		return 0, badField(field, "%s must be an event id this server sent: %v", field, err)
	}
	return id, nil
}

// replayStored writes what was stored after lastID and returns the id of the
// newest message written (lastID if none).
func (s *Server) replayStored(ctx context.Context, sw *sseWriter, user core.UserID, lastID core.MessageID) (core.MessageID, error) {
	markers, err := s.store.ReadMarkersSince(ctx, user, lastID.Time())
	if err != nil {
		return 0, err
	}
	for _, m := range markers {
		sw.event("", core.ReadMarkerEvent{ReadMarker: m})
	}
	// Page by page: a far-behind client streams in bounded memory. If the
	// live queue overflows meanwhile the Hub drops the session, the
	// stream ends, and the client resumes from what it got.
	after := lastID
	for {
		page, err := s.store.UserMessages(ctx, core.UserPageQuery{User: user, After: after, Order: core.OldestFirst, Limit: replayPage})
		if err != nil {
			return 0, err
		}
		for _, m := range page {
			sw.event(m.ID.String(), core.MessageEvent{Message: m})
			after = m.ID
		}
		if err := sw.flush(); err != nil {
			return 0, err
		}
		if len(page) < replayPage {
			return after, nil
		}
	}
}

// live relays the session's events until the client goes, the session is
// dropped, or the token is revoked.
func (s *Server) live(ctx context.Context, sw *sseWriter, sess *core.Session, a auth, lastSent core.MessageID) {
	for {
		beat, cancel := context.WithTimeout(ctx, s.heartbeat)
		for {
			e, err := nextEvent(beat, sess)
			if err != nil {
				cancel()
				if errors.Is(err, errSessionClosed) {
					// Dropped as slow or shutting down: the client
					// reconnects and resumes from its last id.
					sw.raw("reconnect", "", []byte(`{"reason":"the stream fell behind or the server is stopping"}`))
					_ = sw.flush()
					return
				}
				break
			}
			if me, ok := e.(core.MessageEvent); ok {
				if me.Message.ID <= lastSent {
					continue // already replayed
				}
				lastSent = me.Message.ID
				sw.event(me.Message.ID.String(), e)
			} else {
				sw.event("", e)
			}
			if err := sw.flush(); err != nil {
				cancel()
				return
			}
		}
		if ctx.Err() != nil {
			return
		}
		// Heartbeat: also the moment a revoked or expired token ends the
		// stream.
		t, err := s.store.TokenByHash(ctx, a.token.Hash)
		if err != nil || !s.now().Before(t.Expires) {
			sw.raw("unauthorized", "", []byte(`{"reason":"the token was revoked or has expired"}`))
			_ = sw.flush()
			return
		}
		sw.buf.WriteString(": keep-alive\n\n")
		if err := sw.flush(); err != nil {
			return
		}
	}
}

// sseWriter buffers events and writes them with a deadline.
type sseWriter struct {
	w   http.ResponseWriter
	rc  *http.ResponseController
	buf bytes.Buffer
}

// event encodes e; events of no kind the API knows are skipped.
func (sw *sseWriter) event(id string, e core.Event) {
	name, v := eventJSON(e)
	if name == "" {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	sw.raw(name, id, b)
}

// raw queues one event. data must hold no newline (json.Marshal's output
// holds none).
func (sw *sseWriter) raw(name, id string, data []byte) {
	sw.buf.WriteString("event: ")
	sw.buf.WriteString(name)
	sw.buf.WriteByte('\n')
	if id != "" {
		sw.buf.WriteString("id: ")
		sw.buf.WriteString(id)
		sw.buf.WriteByte('\n')
	}
	sw.buf.WriteString("data: ")
	sw.buf.Write(data)
	sw.buf.WriteString("\n\n")
}

func (sw *sseWriter) flush() error {
	if sw.buf.Len() == 0 {
		return nil
	}
	_ = sw.rc.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err := sw.w.Write(sw.buf.Bytes())
	sw.buf.Reset()
	if err == nil {
		err = sw.rc.Flush()
	}
	return err
}
