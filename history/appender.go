package history

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync/atomic"
	"time"

	"github.com/switchboard/switchboard/core"
)

// appendRequest is one caller's writes waiting for the appender.
type appendRequest struct {
	writes   []core.Write
	backdate bool
	done     chan error
}

// AppendStats counts the appender's work since Open.
type AppendStats struct {
	Commits  int64 // transactions committed
	Messages int64 // writes in them, duplicates included
}

// appendCounters counts the appender's commits and their messages, and
// the background checkpoints that copied anything (checkpoint.go).
type appendCounters struct{ commits, messages, checkpoints atomic.Int64 }

// AppendStats reports how many commits served how many writes: their ratio
// is the group commit's batch size.
func (s *Store) AppendStats() AppendStats {
	return AppendStats{Commits: s.stats.commits.Load(), Messages: s.stats.messages.Load()}
}

// maxBatchWrites caps one group commit; past it the next batch starts.
const maxBatchWrites = 4096

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("store closed")

// Append stores messages durably; see core.MessageStore. Concurrent calls
// share one transaction and one fsync.
func (s *Store) Append(ctx context.Context, writes []core.Write) error {
	return s.append(ctx, writes, false)
}

// Import appends messages of an imported history: their ids are taken
// from each message's own time, so they sort among the messages of that
// time instead of after everything stored so far.
func (s *Store) Import(ctx context.Context, writes []core.Write) error {
	return s.append(ctx, writes, true)
}

func (s *Store) append(ctx context.Context, writes []core.Write, backdate bool) error {
	for i := range writes {
		if err := writes[i].Message.Validate(); err != nil {
			return err
		}
	}
	req := &appendRequest{writes: writes, backdate: backdate, done: make(chan error, 1)}
	// The read lock keeps Close from stopping the appender between the
	// closed check and the send, which would strand the request.
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		return ErrClosed
	}
	select {
	case s.appendc <- req:
	case <-ctx.Done():
		s.closeMu.RUnlock()
		return ctx.Err()
	}
	s.closeMu.RUnlock()
	// Once queued, the request is committed or fails within the appender's
	// own timeout; waiting for it keeps the caller from reading writes the
	// appender is still filling in.
	return <-req.done
}

// appender is the one goroutine that writes messages. Each round it takes
// every request already waiting, commits them in one transaction, and
// answers them all.
func (s *Store) appender() {
	defer s.appenderW.Done()
	var batch []*appendRequest
	lastBatch := 0 // requests in the previous commit
	for {
		batch = batch[:0]
		select {
		case req := <-s.appendc:
			batch = append(batch, req)
		case <-s.closing:
			// Commit what is still queued, then stop.
			for {
				select {
				case req := <-s.appendc:
					s.commitBatch([]*appendRequest{req})
				default:
					return
				}
			}
		}
		n := len(batch[0].writes)
		// Callers answered by the last commit are about to send their
		// next request; yielding once lets them, so that under load each
		// commit serves many callers (as PostgreSQL's commit_delay does),
		// while a lone caller loses no more than a scheduler round.
		yielded := false
	drain:
		for n < maxBatchWrites {
			select {
			case req := <-s.appendc:
				batch = append(batch, req)
				n += len(req.writes)
			default:
				if yielded || lastBatch < 2 {
					break drain
				}
				yielded = true
				runtime.Gosched()
			}
		}
		lastBatch = len(batch)
		s.commitBatch(batch)
	}
}

// commitBatch commits batch in one transaction. If that fails, each request
// is retried alone, so one bad request cannot fail the others.
func (s *Store) commitBatch(batch []*appendRequest) {
	err := s.commit(batch)
	if err == nil || len(batch) == 1 {
		for _, req := range batch {
			req.done <- err
		}
		return
	}
	for _, req := range batch {
		req.done <- s.commit([]*appendRequest{req})
	}
}

func (s *Store) commit(batch []*appendRequest) (err error) {
	// A context that cannot be cancelled: go-sqlite3 watches a cancellable
	// one with a goroutine per statement, which cost a fifth of the CPU of
	// ingest. busy_timeout bounds a write stuck behind another process.
	ctx := context.Background()
	tx, err := s.adb.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("storing messages: %w", err)
	}
	lastID := s.lastID
	// insert fills in ids and conversations; a rolled back attempt must
	// leave the writes as they came, since they may be tried again alone.
	type filled struct {
		id   core.MessageID
		conv core.ConversationID
	}
	var before []filled
	for _, req := range batch {
		for _, w := range req.writes {
			before = append(before, filled{w.Message.ID, w.Message.Conversation})
		}
	}
	defer func() {
		if err != nil {
			tx.Rollback()
			i := 0
			for _, req := range batch {
				for j := range req.writes {
					m := req.writes[j].Message
					m.ID, m.Conversation = before[i].id, before[i].conv
					req.writes[j].Duplicate = false
					i++
				}
			}
			// The cache may hold conversations created by the rolled
			// back transaction, and lastID ids that were not used.
			s.resetCache()
			s.lastID = lastID
		}
	}()
	if err := s.syncWithOthers(ctx, tx); err != nil {
		return err
	}
	now := s.now()
	st := appendStmts{
		insert:   tx.StmtContext(ctx, s.stmts.insert),
		dup:      tx.StmtContext(ctx, s.stmts.dup),
		outbound: tx.StmtContext(ctx, s.stmts.outbound),
		index:    tx.StmtContext(ctx, s.stmts.index),
		hours:    tx.StmtContext(ctx, s.stmts.hours),
	}
	var added []*core.Message
	for _, req := range batch {
		for i := range req.writes {
			if err := s.insert(ctx, tx, st, &req.writes[i], req.backdate, now); err != nil {
				return err
			}
			if !req.writes[i].Duplicate {
				added = append(added, req.writes[i].Message)
			}
		}
	}
	if err := indexMessages(ctx, st.index, added); err != nil {
		return err
	}
	if err := widenHours(ctx, st.hours, added); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing messages: %w", err)
	}
	s.stats.commits.Add(1)
	for _, req := range batch {
		s.stats.messages.Add(int64(len(req.writes)))
	}
	return nil
}

// syncWithOthers notices commits of other connections (the admin CLI,
// retention) since the appender's last transaction: they may have added
// messages or removed conversations the cache holds.
func (s *Store) syncWithOthers(ctx context.Context, tx *sql.Tx) error {
	var v int64
	if err := tx.QueryRowContext(ctx, "PRAGMA data_version").Scan(&v); err != nil {
		return fmt.Errorf("reading data version: %w", err)
	}
	if v == s.dataVersion && s.lastID != 0 {
		return nil
	}
	s.dataVersion = v
	s.resetCache()
	var max sql.NullInt64
	if err := tx.QueryRowContext(ctx, "SELECT max(id) FROM messages").Scan(&max); err != nil {
		return fmt.Errorf("reading last message id: %w", err)
	}
	if core.MessageID(max.Int64) > s.lastID {
		s.lastID = core.MessageID(max.Int64)
	}
	return nil
}

func (s *Store) resetCache() {
	clear(s.convs)
	clear(s.convByID)
}

type convKey struct {
	network core.NetworkID
	remote  string
}

type convInfo struct {
	id      core.ConversationID
	user    core.UserID
	network core.NetworkID
	peer    core.Peer
}

// conversation resolves m's conversation, creating it on first use, and
// checks that it belongs to m's user and network.
func (s *Store) conversation(ctx context.Context, tx *sql.Tx, m *core.Message, now time.Time) (convInfo, error) {
	if m.Conversation != 0 {
		c, ok := s.convByID[m.Conversation]
		if !ok {
			err := tx.QueryRowContext(ctx,
				"SELECT user_id, network_id, kind, remote FROM conversations WHERE id = ?", m.Conversation).
				Scan(&c.user, &c.network, &c.peer.Kind, &c.peer.Remote)
			if errors.Is(err, sql.ErrNoRows) || (err == nil && c.user != m.User) {
				return convInfo{}, fmt.Errorf("conversation %d: %w", m.Conversation, ErrNotFound)
			}
			if err != nil {
				return convInfo{}, fmt.Errorf("loading conversation %d: %w", m.Conversation, err)
			}
			c.id = m.Conversation
			s.cacheConv(c)
		}
		if c.user != m.User {
			return convInfo{}, fmt.Errorf("conversation %d: %w", m.Conversation, ErrNotFound)
		}
		return c, nil
	}
	key := convKey{m.Network, m.Peer.Remote}
	if c, ok := s.convs[key]; ok && c.user == m.User {
		return c, nil
	}
	c := convInfo{user: m.User, network: m.Network, peer: m.Peer}
	if c.peer.Kind == "" {
		c.peer.Kind = core.Direct
	}
	err := tx.QueryRowContext(ctx,
		"SELECT id, user_id, kind FROM conversations WHERE network_id = ? AND remote = ?", m.Network, m.Peer.Remote).
		Scan(&c.id, &c.user, &c.peer.Kind)
	if errors.Is(err, sql.ErrNoRows) {
		// Insert only through the user's own network: the SELECT yields
		// no row for another user's network id.
		err = tx.QueryRowContext(ctx, `
			INSERT INTO conversations (user_id, network_id, kind, remote, created_at)
			SELECT user_id, id, ?, ?, ? FROM networks WHERE id = ? AND user_id = ?
			RETURNING id`,
			c.peer.Kind, m.Peer.Remote, msOf(now), m.Network, m.User).Scan(&c.id)
		if errors.Is(err, sql.ErrNoRows) {
			return convInfo{}, fmt.Errorf("network %d of user %d: %w", m.Network, m.User, ErrNotFound)
		}
	}
	if err != nil {
		return convInfo{}, fmt.Errorf("resolving conversation %q: %w", m.Peer.Remote, err)
	}
	if c.user != m.User {
		return convInfo{}, fmt.Errorf("network %d of user %d: %w", m.Network, m.User, ErrNotFound)
	}
	s.cacheConv(c)
	return c, nil
}

func (s *Store) cacheConv(c convInfo) {
	s.convs[convKey{c.network, c.peer.Remote}] = c
	s.convByID[c.id] = c
}

// appendStmts are the appender's statements, prepared once on its
// connection, since preparing the insert with its triggers for every
// message cost more than running it.
type appendStmts struct {
	insert, dup, outbound, index, hours *sql.Stmt
}

const (
	insertMessageSQL = `
		INSERT INTO messages (id, conversation_id, user_id, network_id, origin_id, direction,
			sender, sender_name, sent_at, kind, body, spans,
			reply_to_id, reply_to_origin, correction_of_id, correction_of_origin, attachments)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	findOriginSQL    = "SELECT id FROM messages WHERE conversation_id = ? AND origin_id = ?"
	queueOutboundSQL = "INSERT INTO outbound (network_id, message_id, created_at) VALUES (?, ?, ?)"
	// The columns are those of the messages_fts_content view.
	indexMessageSQL = "INSERT INTO messages_fts(rowid, body, sender, scope) VALUES (?, ?, ?, ?)"
	// Widens one user's hour in message_hours (migration 6).
	widenHourSQL = `
		INSERT INTO message_hours (user_id, hour, min_id, max_id) VALUES (?, ?, ?, ?)
		ON CONFLICT (user_id, hour) DO UPDATE SET
			min_id = min(min_id, excluded.min_id), max_id = max(max_id, excluded.max_id)`
)

func (s *Store) prepareAppend() (appendStmts, error) {
	var st appendStmts
	for _, p := range []struct {
		stmt **sql.Stmt
		sql  string
	}{{&st.insert, insertMessageSQL}, {&st.dup, findOriginSQL}, {&st.outbound, queueOutboundSQL}, {&st.index, indexMessageSQL}, {&st.hours, widenHourSQL}} {
		var err error
		if *p.stmt, err = s.adb.Prepare(p.sql); err != nil {
			return st, fmt.Errorf("preparing the appender: %w", err)
		}
	}
	return st, nil
}

func (s *Store) insert(ctx context.Context, tx *sql.Tx, st appendStmts, w *core.Write, backdate bool, now time.Time) error {
	m := w.Message
	c, err := s.conversation(ctx, tx, m, now)
	if err != nil {
		return err
	}
	m.Conversation, m.Network, m.Peer = c.id, c.network, c.peer
	if m.OriginID != "" {
		var id core.MessageID
		err := st.dup.QueryRowContext(ctx, c.id, m.OriginID).Scan(&id)
		if err == nil {
			m.ID, w.Duplicate = id, true
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("checking for a duplicate: %w", err)
		}
	}
	if err := resolveRef(ctx, st.dup, c.id, &m.ReplyTo); err != nil {
		return err
	}
	if err := resolveCorrection(ctx, tx, c.id, m.Direction, &m.CorrectionOf); err != nil {
		return err
	}
	if backdate {
		m.ID, err = s.backdatedID(ctx, tx, m.Time, now)
		if err != nil {
			return err
		}
	} else {
		m.ID = core.NextMessageID(s.lastID, now)
		s.lastID = m.ID
	}
	spans, attachments, err := encodeExtras(m)
	if err != nil {
		return err
	}
	_, err = st.insert.ExecContext(ctx,
		m.ID, c.id, m.User, c.network, nullString(m.OriginID), m.Direction,
		m.Sender.Addr, m.Sender.Name, msOf(m.Time), string(m.Kind), m.Body, spans,
		nullID(m.ReplyTo.ID), nullString(m.ReplyTo.OriginID),
		nullID(m.CorrectionOf.ID), nullString(m.CorrectionOf.OriginID), attachments)
	if err != nil {
		return fmt.Errorf("inserting message: %w", err)
	}
	if w.Outbound {
		_, err = st.outbound.ExecContext(ctx, c.network, m.ID, msOf(now))
		if err != nil {
			return fmt.Errorf("queueing message for its network: %w", err)
		}
	}
	return nil
}

// indexMessages adds a commit's messages to the full-text index. The index
// is keyed by the negated id (see migration 5), and FTS5 writes out a
// segment whenever a rowid is not larger than the one before it in the
// transaction, so the newest message goes first: one segment per commit
// instead of one per message.
func indexMessages(ctx context.Context, index *sql.Stmt, msgs []*core.Message) error {
	// Live ids ascend in batch order; imported ones need not.
	slices.SortFunc(msgs, func(a, b *core.Message) int { return cmp.Compare(b.ID, a.ID) })
	for _, m := range msgs {
		_, err := index.ExecContext(ctx, -int64(m.ID), m.Body, m.Sender.Addr+" "+m.Sender.Name,
			fmt.Sprintf("u%d n%d c%d", m.User, m.Network, m.Conversation))
		if err != nil {
			return fmt.Errorf("indexing message %s: %w", m.ID, err)
		}
	}
	return nil
}

// hourKey is one user's hour of sent_at in message_hours.
type hourKey struct {
	user core.UserID
	hour int64
}

// hourOf is the message_hours bucket of a sent_at in Unix milliseconds:
// Go's division truncates toward zero as SQLite's does in migration 6.
func hourOf(sentAtMS int64) int64 { return sentAtMS / 3_600_000 }

// widenHours records a commit's messages in message_hours: one row per
// user and hour they were sent in, usually one for a whole commit.
func widenHours(ctx context.Context, hours *sql.Stmt, msgs []*core.Message) error {
	type idRange struct{ lo, hi core.MessageID }
	ranges := make(map[hourKey]idRange)
	for _, m := range msgs {
		k := hourKey{m.User, hourOf(msOf(m.Time))}
		r, ok := ranges[k]
		if !ok {
			r = idRange{m.ID, m.ID}
		}
		r.lo, r.hi = min(r.lo, m.ID), max(r.hi, m.ID)
		ranges[k] = r
	}
	for k, r := range ranges {
		if _, err := hours.ExecContext(ctx, k.user, k.hour, r.lo, r.hi); err != nil {
			return fmt.Errorf("recording the hours of messages: %w", err)
		}
	}
	return nil
}

// resolveRef fills in the server id of a reference given by origin id.
func resolveRef(ctx context.Context, findOrigin *sql.Stmt, conv core.ConversationID, r *core.MessageRef) error {
	if r.ID != 0 || r.OriginID == "" {
		return nil
	}
	err := findOrigin.QueryRowContext(ctx, conv, r.OriginID).Scan(&r.ID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil // the referenced message is not in the history
	}
	if err != nil {
		return fmt.Errorf("resolving message reference: %w", err)
	}
	return nil
}

// resolveCorrection is resolveRef for a correction, which can only be of
// a message of its own direction (the contact's by the contact, the
// user's by the user): a peer that knows the origin id of one of the
// user's messages must not have its "correction" shown as an edit of the
// user's words. Corrections by origin id are rare; no prepared statement.
func resolveCorrection(ctx context.Context, tx *sql.Tx, conv core.ConversationID, dir core.Direction, r *core.MessageRef) error {
	if r.ID != 0 || r.OriginID == "" {
		return nil
	}
	err := tx.QueryRowContext(ctx, findOriginSQL+" AND direction = ?", conv, r.OriginID, dir).Scan(&r.ID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil // no such message of this direction in the history
	}
	if err != nil {
		return fmt.Errorf("resolving a correction: %w", err)
	}
	return nil
}

// backdatedID finds a free id at time t (never later than now).
func (s *Store) backdatedID(ctx context.Context, tx *sql.Tx, t, now time.Time) (core.MessageID, error) {
	if t.After(now) {
		t = now
	}
	lo := core.MessageIDAt(t)
	hi := core.MessageIDAt(t.Add(time.Millisecond))
	var max sql.NullInt64
	if err := tx.QueryRowContext(ctx,
		"SELECT max(id) FROM messages WHERE id >= ? AND id < ?", lo, hi).Scan(&max); err != nil {
		return 0, fmt.Errorf("finding a free id: %w", err)
	}
	if !max.Valid {
		return lo, nil
	}
	if id := core.MessageID(max.Int64) + 1; id < hi {
		return id, nil
	}
	return 0, fmt.Errorf("more than 65536 imported messages at %s", t.Format(time.RFC3339Nano))
}

func encodeExtras(m *core.Message) (spans, attachments sql.NullString, err error) {
	if len(m.Spans) > 0 {
		b, err := json.Marshal(spansJSON(m.Spans))
		if err != nil {
			return spans, attachments, err
		}
		spans = sql.NullString{String: string(b), Valid: true}
	}
	if len(m.Attachments) > 0 {
		b, err := json.Marshal(attachmentsJSON(m.Attachments))
		if err != nil {
			return spans, attachments, err
		}
		attachments = sql.NullString{String: string(b), Valid: true}
	}
	return spans, attachments, nil
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

func nullID(id core.MessageID) sql.NullInt64 { return sql.NullInt64{Int64: int64(id), Valid: id != 0} }
