package history

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode"

	"github.com/switchboard/switchboard/core"
	"github.com/switchboard/switchboard/history/ftsquery"
)

// Snippet markers: private-use characters that cannot come from the
// tokenizer's output, turned into Highlights and removed from the text.
const (
	markOpen  = "\uE000"
	markClose = "\uE001"
)

// snippetTokens is the number of tokens around the match in a snippet.
const snippetTokens = 24

// Search runs a full-text search over one user's history. Results come
// newest first (core.ByTime, pageable with Before) or by relevance.
// A query the grammar rejects returns a *core.QueryError (which wraps the
// *ftsquery.Error).
func (s *Store) Search(ctx context.Context, q core.SearchQuery) ([]core.SearchResult, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	var err error
	// Within one conversation, phrases are searched as ANDs of their words
	// and words in a fifth of all messages or more are left out of the
	// index lookup, both checked on the text instead (see
	// ftsquery.TranslateVerified): FTS5 then leapfrogs the conversation's
	// short posting list, where a phrase walks every message with its
	// words ("i of" in one conversation at 10M: 14 ms as a phrase, 3 ms as
	// an AND) and a dense word's list is scanned, not skipped. Across conversations the
	// scope is no shorter than the words, and checking on each message's
	// text a phrase that is rare among its words' messages cost more than
	// FTS5's check of positions ("be be" at 1M: 54 ms of CPU).
	var (
		expr    string
		phrases []string
		// nativePhrase: FTS5 checks a phrase's positions itself.
		nativePhrase bool
	)
	if q.Conversation != 0 {
		var denseErr error
		dense := func(word string) bool {
			d, err := s.denseWord(ctx, word)
			if err != nil && denseErr == nil {
				denseErr = err
			}
			return d
		}
		expr, phrases, err = ftsquery.TranslateVerified(q.Text, dense)
		if err == nil && denseErr != nil {
			return nil, denseErr
		}
	} else if expr, err = ftsquery.Translate(q.Text); err == nil {
		_, ps, _ := ftsquery.TranslateVerified(q.Text, nil)
		nativePhrase = len(ps) > 0
	}
	if err != nil {
		var fe *ftsquery.Error
		if errors.As(err, &fe) {
			return nil, &core.QueryError{Offset: fe.Offset, Reason: fe.Reason, Err: fe}
		}
		return nil, fmt.Errorf("translating search query: %w", err)
	}
	scope, err := s.searchScope(ctx, q)
	if err != nil {
		return nil, err
	}
	// The ids the search may return: before the page's cursor and, with a
	// time window, within the ids of the messages sent in it, which
	// bounds the walk of the index instead of filtering every match
	// newer than the window (one day a month back at 1M: p99 121 ms).
	var span idSpan
	if q.Before != 0 {
		if q.Before <= 1 {
			return nil, nil // no id is smaller
		}
		span.newest = q.Before - 1
	}
	if !q.Since.IsZero() || !q.Until.IsZero() {
		w, found, err := s.windowIDs(ctx, q.User, q.Since, q.Until)
		if err != nil {
			return nil, err
		}
		if !found {
			return nil, nil // nothing of the user's was sent in the window
		}
		span = span.within(w)
		if span.empty() {
			return nil, nil
		}
	}
	words := "{body}: (" + expr + ")"
	if phrase := senderPhrase(q.Sender); phrase != "" {
		words += " AND {sender}: " + phrase
	}
	match := "{scope}: " + scope + " AND " + words

	var where strings.Builder
	var args []any
	// Two plans; see fewMatches. With few matches of the words alone, the
	// scope is checked on the messages table instead of in the index.
	// A phrase that FTS5 checks costs a walk over every message with all
	// its words, until enough matches are found: reading up to probeLimit
	// of them first and then the matches in scope walks that way twice
	// when they are few (phrases across conversations at 10M: p99 39 ms
	// with the probe, see swbench store), so such queries go straight to
	// the scoped plan, which walks once and stops at the page's end.
	few := false
	if q.Ranking == core.ByTime && !nativePhrase {
		if few, err = s.fewMatches(ctx, words, span); err != nil {
			return nil, err
		}
	}
	if few {
		args = append(args, words, q.User)
		where.WriteString("messages_fts MATCH ? AND m.user_id = ?")
		switch {
		case q.Conversation != 0:
			where.WriteString(" AND m.conversation_id = ?")
			args = append(args, q.Conversation)
		case q.Network != 0:
			where.WriteString(" AND m.network_id = ?")
			args = append(args, q.Network)
		}
	} else {
		args = append(args, match, q.User)
		where.WriteString("messages_fts MATCH ? AND m.user_id = ?")
	}
	// The phrases the index was asked for as ANDs of their words.
	for _, p := range phrases {
		where.WriteString(" AND " + phraseFunc + "(m.body, ?)")
		args = append(args, p)
	}
	if q.Sender != "" {
		where.WriteString(" AND (m.sender = ? COLLATE NOCASE OR m.sender_name = ? COLLATE NOCASE)")
		args = append(args, q.Sender, q.Sender)
	}
	if !q.Since.IsZero() {
		where.WriteString(" AND m.sent_at >= ?")
		args = append(args, msOf(q.Since))
	}
	if !q.Until.IsZero() {
		where.WriteString(" AND m.sent_at < ?")
		args = append(args, msOf(q.Until))
	}
	// By time, FTS5 hands rows out in rowid order and the LIMIT stops it
	// early. By relevance every match in the window must be ranked first;
	// the body alone counts, scope and sender tokens would only add noise.
	order := "messages_fts.rowid"
	if q.Ranking == core.ByRelevance {
		order = "bm25(messages_fts, 1.0, 0.0, 0.0), messages_fts.rowid"
		floor, err := s.relevanceFloor(ctx, match, span)
		if err != nil {
			return nil, err
		}
		span = span.within(idSpan{oldest: floor})
	}
	args = span.appendWhere(&where, "messages_fts.rowid", args)
	args = append(args, pageLimit(q.Limit))
	rows, err := s.rq.query(ctx, `SELECT `+messageColumns+`,
			snippet(messages_fts, 0, '`+markOpen+`', '`+markClose+`', '…', `+fmt.Sprint(snippetTokens)+`)
		FROM messages_fts
		JOIN messages m ON m.id = -messages_fts.rowid
		JOIN conversations c ON c.id = m.conversation_id
		WHERE `+where.String()+`
		ORDER BY `+order+` LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("searching: %w", err)
	}
	defer rows.Close()
	var out []core.SearchResult
	for rows.Next() {
		var snippet string
		m, err := scanMessage(rows, &snippet)
		if err != nil {
			return nil, fmt.Errorf("searching: %w", err)
		}
		text, marks := highlights(snippet)
		out = append(out, core.SearchResult{Message: m, Snippet: text, Highlights: marks})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("searching: %w", err)
	}
	return out, nil
}

// probeLimit is how many index matches of a query's words alone
// fewMatches reads before it calls them many.
const probeLimit = 1000

// fewMatches reports whether the words (the query without its scope
// token) match fewer than the store's probeLimit messages before the
// given id, in anyone's history.
//
// It chooses between two plans. The index holds the scope (user, network,
// conversation) as tokens, and ANDing one with the words lets FTS5 stop
// after the newest 50 matches in scope: the right plan when the words are
// common. But FTS5 evaluates an AND by leapfrogging its posting lists, and
// a user's token is in a quarter of all messages here (every message on a
// one-user server): each step seeks in that long list. When the words are
// rare together, say "really http" (181 matches in 10M messages), the
// scoped AND walked the whole history in 20 ms where the words alone took
// 1.6 ms; checking the scope of those few on the messages table costs a
// row lookup each. Reading up to probeLimit rowids to find out costs well
// under a millisecond.
func (s *Store) fewMatches(ctx context.Context, words string, span idSpan) (bool, error) {
	var query strings.Builder
	query.WriteString("SELECT count(*) FROM (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?")
	args := span.appendWhere(&query, "rowid", []any{words})
	var n int
	err := s.rq.queryRow(ctx, query.String()+" ORDER BY rowid LIMIT ?)", append(args, s.probeLimit)...).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("searching: %w", err)
	}
	return n < s.probeLimit, nil
}

// A word is dense when at least one in denseShare of the newest messages
// holds it; denseSample of its matches are read to find out.
const (
	denseSample = 200
	denseShare  = 5
)

// denseWord reports whether word is in so many messages that searching its
// posting list costs more than checking the text of the messages the
// query's other terms find (see ftsquery.TranslateVerified). It reads the
// word's denseSample newest matches and counts the messages since the
// oldest of them, up to denseSample×denseShare: at most about 1,200 rows.
func (s *Store) denseWord(ctx context.Context, word string) (bool, error) {
	var oldest int64
	err := s.rq.queryRow(ctx, "SELECT -rowid FROM messages_fts WHERE messages_fts MATCH ? ORDER BY rowid LIMIT 1 OFFSET ?",
		`{body}: "`+word+`"`, denseSample-1).Scan(&oldest)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil // fewer matches than the sample: rare
	}
	if err != nil {
		return false, fmt.Errorf("searching: %w", err)
	}
	var n int
	err = s.rq.queryRow(ctx, "SELECT count(*) FROM (SELECT 1 FROM messages WHERE id >= ? LIMIT ?)",
		oldest, denseSample*denseShare).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("searching: %w", err)
	}
	return n < denseSample*denseShare, nil
}

// relevanceWindow is how many of the newest matches a relevance-ranked
// search scores. Scoring every match of a common word took 1 to 3.6 s at
// 10M messages; in a chat history the best match among the newest few
// thousand is what people look for.
const relevanceWindow = 5000

// relevanceFloor returns the id of the oldest index match inside the
// relevance window, or zero when all matches fit in it. It reads the index
// alone: the sender and time filters apply after it, inside the window.
func (s *Store) relevanceFloor(ctx context.Context, match string, span idSpan) (core.MessageID, error) {
	var query strings.Builder
	query.WriteString("SELECT -rowid FROM messages_fts WHERE messages_fts MATCH ?")
	args := span.appendWhere(&query, "rowid", []any{match})
	var floor core.MessageID
	err := s.rq.queryRow(ctx, query.String()+" ORDER BY rowid LIMIT 1 OFFSET ?",
		append(args, s.relevanceWindow-1)...).Scan(&floor)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("searching: %w", err)
	}
	return floor, nil
}

// idSpan is an inclusive range of message ids; a zero end is unbounded.
type idSpan struct{ oldest, newest core.MessageID }

// within narrows r to the ids also in o.
func (r idSpan) within(o idSpan) idSpan {
	if o.oldest != 0 && o.oldest > r.oldest {
		r.oldest = o.oldest
	}
	if o.newest != 0 && (r.newest == 0 || o.newest < r.newest) {
		r.newest = o.newest
	}
	return r
}

// empty reports whether no id is in r.
func (r idSpan) empty() bool { return r.newest != 0 && r.oldest > r.newest }

// appendWhere adds r to a WHERE clause as bounds on rowid, a column of the
// full-text index, whose rowid is the negated message id (migration 5):
// FTS5 seeks to the first bound and stops at the second.
func (r idSpan) appendWhere(where *strings.Builder, rowid string, args []any) []any {
	if r.newest != 0 {
		where.WriteString(" AND " + rowid + " >= ?")
		args = append(args, -int64(r.newest))
	}
	if r.oldest != 0 {
		where.WriteString(" AND " + rowid + " <= ?")
		args = append(args, -int64(r.oldest))
	}
	return args
}

// windowIDs returns the range of ids of the user's messages sent in
// [since, until) (a zero time is unbounded), from message_hours: a
// superset, found in one short read of the window's hours. found is false
// when no message of the user's was sent in those hours.
func (s *Store) windowIDs(ctx context.Context, user core.UserID, since, until time.Time) (span idSpan, found bool, err error) {
	first, last := int64(math.MinInt64), int64(math.MaxInt64)
	if !since.IsZero() {
		first = hourOf(since.UnixMilli())
	}
	if !until.IsZero() {
		last = hourOf(until.UnixMilli() - 1) // until is exclusive
	}
	var lo, hi sql.NullInt64
	err = s.rq.queryRow(ctx, "SELECT min(min_id), max(max_id) FROM message_hours WHERE user_id = ? AND hour BETWEEN ? AND ?",
		user, first, last).Scan(&lo, &hi)
	if err != nil {
		return span, false, fmt.Errorf("searching: reading the time window's ids: %w", err)
	}
	if !lo.Valid {
		return span, false, nil
	}
	return idSpan{oldest: core.MessageID(lo.Int64), newest: core.MessageID(hi.Int64)}, true, nil
}

// searchScope returns the scope token that limits the search to the
// query's conversation, network or user, after checking the user owns the
// conversation or network: the tokens alone do not carry the user.
func (s *Store) searchScope(ctx context.Context, q core.SearchQuery) (string, error) {
	switch {
	case q.Conversation != 0:
		var owner core.UserID
		err := s.rq.queryRow(ctx, "SELECT user_id FROM conversations WHERE id = ?", q.Conversation).Scan(&owner)
		if err != nil || owner != q.User {
			return "", fmt.Errorf("conversation %d: %w", q.Conversation, ErrNotFound)
		}
		return fmt.Sprintf(`"c%d"`, q.Conversation), nil
	case q.Network != 0:
		var owner core.UserID
		err := s.rq.queryRow(ctx, "SELECT user_id FROM networks WHERE id = ?", q.Network).Scan(&owner)
		if err != nil || owner != q.User {
			return "", fmt.Errorf("network %d: %w", q.Network, ErrNotFound)
		}
		return fmt.Sprintf(`"n%d"`, q.Network), nil
	case q.User == 0:
		return "", errors.New("search: no user")
	}
	return fmt.Sprintf(`"u%d"`, q.User), nil
}

// senderPhrase narrows the index lookup to messages whose sender column has
// the sender's words; the exact comparison happens in SQL after it.
func senderPhrase(sender string) string {
	hasWord := strings.IndexFunc(sender, func(r rune) bool {
		return unicode.IsLetter(r) || unicode.IsDigit(r)
	}) >= 0
	if !hasWord {
		return ""
	}
	return `"` + strings.ReplaceAll(sender, `"`, `""`) + `"`
}

// highlights removes the snippet markers from s and returns where they were.
func highlights(s string) (string, []core.Span) {
	var (
		b     strings.Builder
		spans []core.Span
		open  = -1
	)
	for len(s) > 0 {
		i := strings.IndexAny(s, markOpen+markClose)
		if i < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i])
		if strings.HasPrefix(s[i:], markOpen) {
			open = b.Len()
			s = s[i+len(markOpen):]
			continue
		}
		if open >= 0 && b.Len() > open {
			spans = append(spans, core.Span{Start: open, End: b.Len(), Style: core.Bold})
		}
		open = -1
		s = s[i+len(markClose):]
	}
	return b.String(), spans
}
