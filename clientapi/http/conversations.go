package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/switchboard/switchboard/core"
)

// maxMessageBytes bounds a sent message's body; bridges split long ones
// for their network.
const maxMessageBytes = 16 << 10

// maxIdempotencyKey bounds the Idempotency-Key header.
const maxIdempotencyKey = 255

// apiDevice is the device name the API's sends and read markers carry.
const apiDevice = "http"

// requestSession stands for the caller in Hub calls that need a session
// but do not need it attached: Send and MarkRead use only its user and id.
// A per-request Attach would count as a device connecting and leaving,
// which flips the user's away status on every network each time. Its id
// is zero, so the carbon of a send reaches every session, SSE streams
// included: an API caller has no session of its own to exclude.
func requestSession(a auth) *core.Session {
	return &core.Session{User: a.user.ID, Device: apiDevice}
}

func (s *Server) listConversations(w http.ResponseWriter, r *http.Request, a auth) {
	sums, err := s.store.ConversationSummaries(r.Context(), a.user.ID)
	if err != nil {
		s.writeProblem(w, r, internal(err))
		return
	}
	out := make([]conversationJSON, 0, len(sums))
	for _, c := range sums {
		out = append(out, toConversationJSON(c))
	}
	writeJSON(w, http.StatusOK, map[string]any{"conversations": out})
}

// userConversation finds one of the user's conversations by the path's id.
func (s *Server) userConversation(r *http.Request, a auth) (core.Conversation, *problem) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return core.Conversation{}, badField("id", "id must be a conversation id")
	}
	c, err := s.store.Conversation(r.Context(), a.user.ID, core.ConversationID(id))
	if err != nil {
		return c, s.storeProblem(err, "conversation")
	}
	return c, nil
}

// messageIDParam reads an optional message id from the query.
func messageIDParam(r *http.Request, name string) (core.MessageID, *problem) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, nil
	}
	id, err := core.ParseMessageID(v)
	if err != nil {
		return 0, badField(name, "%s must be a message id: %v", name, err)
	}
	return id, nil
}

// limitParam reads ?limit=, 1 to core.MaxPageLimit, default def.
func limitParam(r *http.Request, def int) (int, *problem) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > core.MaxPageLimit {
		return 0, badField("limit", "limit must be a number from 1 to %d", core.MaxPageLimit)
	}
	return n, nil
}

type messagesPage struct {
	// Messages are oldest first, whichever way the page was asked for.
	Messages []messageJSON `json:"messages"`
	// More says whether messages beyond this page exist in the direction
	// asked for: before the first (paging back) or after the last. For
	// ?around= it is the older side.
	More bool `json:"more"`
	// MoreAfter is set for ?around= only: newer messages exist after the
	// last.
	MoreAfter bool `json:"more_after,omitempty"`
}

// listMessages pages a conversation: ?before=ID for older messages
// (default: the newest), ?after=ID for newer ones, both for a range.
func (s *Server) listMessages(w http.ResponseWriter, r *http.Request, a auth) {
	c, p := s.userConversation(r, a)
	if p != nil {
		s.writeProblem(w, r, p)
		return
	}
	before, p := messageIDParam(r, "before")
	if p != nil {
		s.writeProblem(w, r, p)
		return
	}
	after, p := messageIDParam(r, "after")
	if p != nil {
		s.writeProblem(w, r, p)
		return
	}
	limit, p := limitParam(r, 50)
	if p != nil {
		s.writeProblem(w, r, p)
		return
	}
	around, p := messageIDParam(r, "around")
	if p == nil && around != 0 && (before != 0 || after != 0) {
		p = badField("around", "around goes with neither before nor after")
	}
	if p != nil {
		s.writeProblem(w, r, p)
		return
	}
	if around != 0 {
		s.listAround(w, r, a, c, around, limit)
		return
	}
	q := core.PageQuery{User: a.user.ID, Conversation: c.ID, Before: before, After: after, Limit: limit + 1}
	// With only "after" the client reads forward from a point it has.
	if after != 0 && before == 0 {
		q.Order = core.OldestFirst
	}
	ms, err := s.store.Messages(r.Context(), q)
	if err != nil {
		s.writeProblem(w, r, s.storeProblem(err, "conversation"))
		return
	}
	more := len(ms) > limit
	if more {
		ms = ms[:limit]
	}
	if q.Order == core.NewestFirst {
		for i, j := 0, len(ms)-1; i < j; i, j = i+1, j-1 {
			ms[i], ms[j] = ms[j], ms[i]
		}
	}
	writeJSON(w, http.StatusOK, messagesPage{Messages: toMessagesJSON(ms), More: more})
}

// listAround answers ?around=ID: the page that holds that message with
// about as many older messages as newer ones, which is what opening a
// search result shows. Two store reads, each one more than it keeps to
// learn whether that side goes on.
func (s *Server) listAround(w http.ResponseWriter, r *http.Request, a auth, c core.Conversation, around core.MessageID, limit int) {
	older := limit / 2
	newer := limit - older // the message itself is the first of these
	ctx := r.Context()
	before, err := s.store.Messages(ctx, core.PageQuery{User: a.user.ID, Conversation: c.ID, Before: around, Limit: older + 1})
	if err != nil {
		s.writeProblem(w, r, s.storeProblem(err, "conversation"))
		return
	}
	from, err := s.store.Messages(ctx, core.PageQuery{User: a.user.ID, Conversation: c.ID, After: around - 1,
		Order: core.OldestFirst, Limit: newer + 1})
	if err != nil {
		s.writeProblem(w, r, s.storeProblem(err, "conversation"))
		return
	}
	page := messagesPage{More: len(before) > older, MoreAfter: len(from) > newer}
	before = before[:min(len(before), older)]
	from = from[:min(len(from), newer)]
	ms := make([]*core.Message, 0, len(before)+len(from))
	for i := len(before) - 1; i >= 0; i-- { // the store gave them newest first
		ms = append(ms, before[i])
	}
	page.Messages = toMessagesJSON(append(ms, from...))
	writeJSON(w, http.StatusOK, page)
}

type sendRequest struct {
	Body string `json:"body"`
	// Kind is "chat" (default), "action" (/me) or "reaction" (Body is
	// the whole set, one a line, for the message ReplyTo names).
	Kind         core.MessageKind `json:"kind,omitempty"`
	ReplyTo      string           `json:"reply_to,omitempty"`
	CorrectionOf string           `json:"correction_of,omitempty"`
}

// sendMessage stores a message and hands it to its network through the
// Hub. With an Idempotency-Key header a retry never sends twice: the key
// becomes the message's origin id, which the store keeps unique per
// conversation in the same transaction that stores the message, and a
// record per user and key returns the first answer to a retry.
func (s *Server) sendMessage(w http.ResponseWriter, r *http.Request, a auth) {
	var req sendRequest
	if p := readJSON(w, r, &req); p != nil {
		s.writeProblem(w, r, p)
		return
	}
	key, p := idempotencyKey(r)
	if p != nil {
		s.writeProblem(w, r, p)
		return
	}
	c, p := s.userConversation(r, a)
	if p != nil {
		s.writeProblem(w, r, p)
		return
	}
	s.send(w, r, a, c, req, key)
}

// idempotencyKey reads the Idempotency-Key header: absent is "", present
// it must be 1 to maxIdempotencyKey characters.
func idempotencyKey(r *http.Request) (string, *problem) {
	key := r.Header.Get("Idempotency-Key")
	if len(key) > maxIdempotencyKey || (key == "" && r.Header.Values("Idempotency-Key") != nil) {
		return "", badField("Idempotency-Key", "Idempotency-Key must be 1 to %d characters", maxIdempotencyKey)
	}
	return key, nil
}

// sendToRequest starts or continues a conversation with an address.
type sendToRequest struct {
	To string `json:"to"`
	sendRequest
}

// sendToAddress is sendMessage for a network and an address typed on the
// device (bob@example.org on the fed network, a nick on IRC): the
// conversation is found, or made, by the network's reading of the name.
func (s *Server) sendToAddress(w http.ResponseWriter, r *http.Request, a auth) {
	var req sendToRequest
	if p := readJSON(w, r, &req); p != nil {
		s.writeProblem(w, r, p)
		return
	}
	key, p := idempotencyKey(r)
	if p != nil {
		s.writeProblem(w, r, p)
		return
	}
	n, p := s.userNetwork(r, a)
	if p != nil {
		s.writeProblem(w, r, p)
		return
	}
	to := strings.TrimSpace(req.To)
	if to == "" || len(to) > 255 || !utf8.ValidString(to) || strings.ContainsAny(to, "\r\n\x00") {
		s.writeProblem(w, r, badField("to", "to must be an address on the network, 1 to 255 characters on one line"))
		return
	}
	c := core.Conversation{User: a.user.ID, Network: n.ID, Peer: s.hub.ParsePeer(n.Kind, to)}
	// The fingerprint of a keyed request names the network and address,
	// since there may be no conversation id yet.
	b, _ := json.Marshal(struct {
		N  core.NetworkID
		To string
		R  sendRequest
	}{n.ID, c.Peer.Remote, req.sendRequest})
	h := sha256.Sum256(b)
	s.sendKeyed(w, r, a, c, req.sendRequest, key, h[:])
}

// send stores m for c and answers the request.
func (s *Server) send(w http.ResponseWriter, r *http.Request, a auth, c core.Conversation, req sendRequest, key string) {
	s.sendKeyed(w, r, a, c, req, key, requestFingerprint(c.ID, req))
}

func (s *Server) sendKeyed(w http.ResponseWriter, r *http.Request, a auth, c core.Conversation, req sendRequest, key string, fp []byte) {
	m, p := s.messageOf(r.Context(), a, c, req)
	if p != nil {
		s.writeProblem(w, r, p)
		return
	}
	ctx := r.Context()
	var fingerprint []byte
	if key != "" {
		fingerprint = fp
		rec, err := s.store.Idempotency(ctx, a.user.ID, key)
		switch {
		case err == nil:
			s.replay(w, r, a, rec, fingerprint)
			return
		case !s.cfg.Errors.NotFound(err):
			s.writeProblem(w, r, internal(err))
			return
		}
		m.OriginID = idempotencyOrigin(key)
	}
	nets, err := s.store.Networks(ctx, a.user.ID)
	if err != nil {
		s.writeProblem(w, r, internal(err))
		return
	}
	for _, n := range nets {
		if n.ID == c.Network && !n.Enabled {
			s.writeProblem(w, r, newProblem(http.StatusConflict, "the conversation's network "+strconv.Quote(n.Name)+" is disabled"))
			return
		}
	}
	stored, err := s.hub.Send(ctx, requestSession(a), m)
	if errors.Is(err, core.ErrCannotReact) {
		p := newProblem(http.StatusConflict, err.Error())
		p.Field = "kind"
		s.writeProblem(w, r, p)
		return
	}
	if err != nil {
		s.writeProblem(w, r, internal(err))
		return
	}
	if key != "" {
		rec, err := s.store.PutIdempotency(ctx, core.IdempotencyRecord{User: a.user.ID, Key: key, Fingerprint: fingerprint, Message: stored.ID})
		if err != nil {
			s.writeProblem(w, r, internal(err))
			return
		}
		if rec.Message != stored.ID {
			// A concurrent request with the same key won the record.
			s.replay(w, r, a, rec, fingerprint)
			return
		}
	}
	// The stored copy, read back: a duplicate send gets the first
	// message as it was stored, not this request's fields.
	out, err := s.store.Message(ctx, a.user.ID, stored.ID)
	if err != nil {
		s.writeProblem(w, r, internal(err))
		return
	}
	writeJSON(w, http.StatusCreated, toMessageJSON(out))
}

// replay answers a retried request with the first one's message.
func (s *Server) replay(w http.ResponseWriter, r *http.Request, a auth, rec core.IdempotencyRecord, fingerprint []byte) {
	if string(rec.Fingerprint) != string(fingerprint) {
		p := newProblem(http.StatusUnprocessableEntity, "this Idempotency-Key was used for a different request")
		p.Field = "Idempotency-Key"
		s.writeProblem(w, r, p)
		return
	}
	m, err := s.store.Message(r.Context(), a.user.ID, rec.Message)
	if err != nil {
		s.writeProblem(w, r, s.storeProblem(err, "the first request's message (pruned?)"))
		return
	}
	w.Header().Set("Idempotent-Replayed", "true")
	writeJSON(w, http.StatusCreated, toMessageJSON(m))
}

// idempotencyOrigin is the origin id a keyed send stores: hashed, so any
// key fits, and prefixed, so no network's own ids can collide with it.
func idempotencyOrigin(key string) string {
	h := sha256.Sum256([]byte(key))
	return "http-idem:" + hex.EncodeToString(h[:16])
}

// requestFingerprint identifies what a keyed request asked for.
func requestFingerprint(c core.ConversationID, req sendRequest) []byte {
	b, _ := json.Marshal(struct {
		C core.ConversationID
		R sendRequest
	}{c, req})
	h := sha256.Sum256(b)
	return h[:]
}

// messageOf checks a send request and builds its message.
func (s *Server) messageOf(ctx context.Context, a auth, c core.Conversation, req sendRequest) (*core.Message, *problem) {
	switch {
	case req.Kind == core.KindReaction:
		if p := checkReactions(req); p != nil {
			return nil, p
		}
	case strings.TrimSpace(req.Body) == "":
		return nil, badField("body", "body is empty")
	case len(req.Body) > maxMessageBytes:
		return nil, badField("body", "body is longer than %d bytes", maxMessageBytes)
	case !utf8.ValidString(req.Body):
		return nil, badField("body", "body is not UTF-8")
	}
	m := &core.Message{Network: c.Network, Conversation: c.ID, Peer: c.Peer, Kind: core.KindChat, Body: req.Body}
	switch req.Kind {
	case "", core.KindChat:
	case core.KindAction, core.KindReaction:
		m.Kind = req.Kind
	default:
		return nil, badField("kind", `kind must be "chat", "action" or "reaction"`)
	}
	for _, ref := range []struct {
		field, id string
		dst       *core.MessageRef
	}{{"reply_to", req.ReplyTo, &m.ReplyTo}, {"correction_of", req.CorrectionOf, &m.CorrectionOf}} {
		if ref.id == "" {
			continue
		}
		id, err := core.ParseMessageID(ref.id)
		if err != nil {
			return nil, badField(ref.field, "%s must be a message id: %v", ref.field, err)
		}
		target, err := s.store.Message(ctx, a.user.ID, id)
		if s.cfg.Errors.NotFound(err) || (err == nil && target.Conversation != c.ID) {
			return nil, badField(ref.field, "%s is not a message of this conversation", ref.field)
		}
		if err != nil {
			return nil, internal(err)
		}
		*ref.dst = core.MessageRef{ID: target.ID, OriginID: target.OriginID}
	}
	return m, nil
}

// checkReactions checks a reaction: the message it reacts to, and the
// whole set, one reaction a line (none withdraws them).
func checkReactions(req sendRequest) *problem {
	if req.ReplyTo == "" {
		return badField("reply_to", "a reaction names the message it reacts to in reply_to")
	}
	if req.Body == "" {
		return nil
	}
	set := strings.Split(req.Body, "\n")
	if len(set) > core.MaxReactions {
		return badField("body", "at most %d reactions, one a line", core.MaxReactions)
	}
	for i, r := range set {
		if !core.ValidReaction(r) || slices.Contains(set[:i], r) {
			return badField("body", "each reaction is 1 to %d bytes of UTF-8, one a line, none twice", core.MaxReactionBytes)
		}
	}
	return nil
}

type markRequest struct {
	Upto string `json:"upto"`
}

// markRead sets the user's read position in a conversation; the Hub shows
// it on every device.
func (s *Server) markRead(w http.ResponseWriter, r *http.Request, a auth) {
	var req markRequest
	if p := readJSON(w, r, &req); p != nil {
		s.writeProblem(w, r, p)
		return
	}
	c, p := s.userConversation(r, a)
	if p != nil {
		s.writeProblem(w, r, p)
		return
	}
	id, err := core.ParseMessageID(req.Upto)
	if err != nil {
		s.writeProblem(w, r, badField("upto", "upto must be a message id: %v", err))
		return
	}
	m, err := s.store.Message(r.Context(), a.user.ID, id)
	if s.cfg.Errors.NotFound(err) || (err == nil && m.Conversation != c.ID) {
		s.writeProblem(w, r, badField("upto", "upto is not a message of this conversation"))
		return
	}
	if err != nil {
		s.writeProblem(w, r, internal(err))
		return
	}
	// Device "": the user's own position, the one every device shows.
	if err := s.hub.MarkRead(r.Context(), requestSession(a), core.ReadMarker{Conversation: c.ID, Upto: id}); err != nil {
		s.writeProblem(w, r, s.storeProblem(err, "conversation"))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
