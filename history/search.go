package history

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
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
	// By relevance, the newest relevanceWindow matches in scope are
	// ranked; see relevanceWindowIDs for when the words alone are.
	var window []int64
	if q.Ranking == core.ByRelevance {
		var wspan idSpan
		window, wspan, err = s.relevanceWindowIDs(ctx, match, words, span)
		if err != nil {
			return nil, err
		}
		if wspan.empty() {
			return nil, nil
		}
		span = wspan
	}
	// The clause on the index (messages_fts) and the one on the messages
	// (m), each with its arguments.
	var index, row strings.Builder
	var indexArgs, rowArgs []any
	index.WriteString("messages_fts MATCH ?")
	row.WriteString("m.user_id = ?")
	rowArgs = append(rowArgs, q.User)
	if few || window != nil {
		indexArgs = append(indexArgs, words)
		switch {
		case q.Conversation != 0:
			row.WriteString(" AND m.conversation_id = ?")
			rowArgs = append(rowArgs, q.Conversation)
		case q.Network != 0:
			row.WriteString(" AND m.network_id = ?")
			rowArgs = append(rowArgs, q.Network)
		}
	} else {
		indexArgs = append(indexArgs, match)
	}
	if window != nil {
		// Unary +: a filter on the index's rows, not a lookup per id.
		index.WriteString(" AND +messages_fts.rowid IN (SELECT value FROM json_each(?))")
		indexArgs = append(indexArgs, jsonInts(window))
	}
	indexArgs = span.appendWhere(&index, "messages_fts.rowid", indexArgs)
	// Filters only the messages' own columns can answer.
	filtered := len(phrases) > 0 || q.Sender != "" || !q.Since.IsZero() || !q.Until.IsZero()
	// The phrases the index was asked for as ANDs of their words.
	for _, p := range phrases {
		row.WriteString(" AND " + phraseFunc + "(m.body, ?)")
		rowArgs = append(rowArgs, p)
	}
	if q.Sender != "" {
		row.WriteString(" AND (m.sender = ? COLLATE NOCASE OR m.sender_name = ? COLLATE NOCASE)")
		rowArgs = append(rowArgs, q.Sender, q.Sender)
	}
	if !q.Since.IsZero() {
		row.WriteString(" AND m.sent_at >= ?")
		rowArgs = append(rowArgs, msOf(q.Since))
	}
	if !q.Until.IsZero() {
		row.WriteString(" AND m.sent_at < ?")
		rowArgs = append(rowArgs, msOf(q.Until))
	}
	where := index.String() + " AND " + row.String()
	args := append(append(indexArgs, rowArgs...), pageLimit(q.Limit))
	if q.Ranking == core.ByRelevance {
		// The index clause alone keeps to the scope, by the scope's
		// token or the window's ids: without the other filters the
		// ranking need not read each match's message.
		if !filtered {
			return s.ranked(ctx, "", index.String(), append(indexArgs, pageLimit(q.Limit)), q.User)
		}
		return s.ranked(ctx, "JOIN messages m ON m.id = -messages_fts.rowid", where, args, q.User)
	}
	// By time, FTS5 hands rows out in rowid order and the LIMIT stops it
	// early.
	return s.searchResults(ctx, where+" ORDER BY messages_fts.rowid LIMIT ?", args)
}

// ranked runs a relevance-ranked search, whose join (of messages as m, or
// none), WHERE clause (on the index as messages_fts) and arguments, the
// MATCH expression first and the limit last, Search built. Every match in
// the window is scored first; the body alone counts, scope and sender
// tokens would only add noise. The rows and snippets are read afterwards
// for the page alone: in the ranking query SQLite computes its whole
// select list for every row it sorts.
func (s *Store) ranked(ctx context.Context, join, where string, args []any, user core.UserID) ([]core.SearchResult, error) {
	rows, err := s.rq.query(ctx, `SELECT messages_fts.rowid FROM messages_fts `+join+`
		WHERE `+where+` ORDER BY bm25(messages_fts, 1.0, 0.0, 0.0), messages_fts.rowid LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("searching: %w", err)
	}
	defer rows.Close()
	var order []int64
	for rows.Next() {
		var rowid int64
		if err := rows.Scan(&rowid); err != nil {
			return nil, fmt.Errorf("searching: %w", err)
		}
		order = append(order, rowid)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("searching: %w", err)
	}
	if len(order) == 0 {
		return nil, nil
	}
	top := slices.Clone(order)
	slices.Sort(top) // newest first, the index's order
	out, err := s.searchResults(ctx, `messages_fts MATCH ? AND m.user_id = ?
		AND +messages_fts.rowid IN (SELECT value FROM json_each(?))
		AND messages_fts.rowid >= ? AND messages_fts.rowid <= ?`,
		[]any{args[0], user, jsonInts(top), top[0], top[len(top)-1]})
	if err != nil {
		return nil, err
	}
	rank := make(map[core.MessageID]int, len(order))
	for i, rowid := range order {
		rank[core.MessageID(-rowid)] = i
	}
	slices.SortFunc(out, func(a, b core.SearchResult) int {
		return cmp.Compare(rank[a.Message.ID], rank[b.Message.ID])
	})
	return out, nil
}

// searchResults reads the messages and snippets of the index rows a
// WHERE clause (and what follows it) picks.
func (s *Store) searchResults(ctx context.Context, where string, args []any) ([]core.SearchResult, error) {
	rows, err := s.rq.query(ctx, `SELECT `+messageColumns+`,
			snippet(messages_fts, 0, '`+markOpen+`', '`+markClose+`', '…', `+fmt.Sprint(snippetTokens)+`)
		FROM messages_fts
		JOIN messages m ON m.id = -messages_fts.rowid
		JOIN conversations c ON c.id = m.conversation_id
		WHERE `+where, args...)
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
	n, err := s.countMatches(ctx, words, span, s.probeLimit)
	return n < s.probeLimit, err
}

// countMatches counts the index matches of expr in span, up to limit.
func (s *Store) countMatches(ctx context.Context, expr string, span idSpan, limit int) (int, error) {
	var query strings.Builder
	query.WriteString("SELECT count(*) FROM (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?")
	args := span.appendWhere(&query, "rowid", []any{expr})
	var n int
	err := s.rq.queryRow(ctx, query.String()+" ORDER BY rowid LIMIT ?)", append(args, limit)...).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("searching: %w", err)
	}
	return n, nil
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

// relevanceSpread bounds, as a multiple of the window, the matches of the
// words alone (everyone's) that the ranking may walk to rank the window.
const relevanceSpread = 4

// relevanceWindowIDs returns the rowids of the newest relevanceWindow
// matches of match (words and scope) in span, newest first, and span
// narrowed to them; an empty span when nothing matches. The sender and
// time filters apply after it, inside the window.
//
// It returns the rowids themselves (else nil) when the ranking query is
// to match the words alone and keep to these rows, which it does when the
// words match at most relevanceSpread times as many rows in the narrowed
// span. The ranking is the same either way: bm25 weighs the scope column
// zero. But to weigh each phrase, bm25 first counts the rows it is in
// across the whole index, and the scope token of a user is in all of the
// user's messages: counting them took 100 of the 110 to 210 ms of a
// ranked search at 10M. A conversation's token is short to count, and its
// window spans many other conversations' matches; a user's spans about
// as many as there are active users.
func (s *Store) relevanceWindowIDs(ctx context.Context, match, words string, span idSpan) ([]int64, idSpan, error) {
	var query strings.Builder
	query.WriteString("SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?")
	args := span.appendWhere(&query, "rowid", []any{match})
	rows, err := s.rq.query(ctx, query.String()+" ORDER BY rowid LIMIT ?", append(args, s.relevanceWindow)...)
	if err != nil {
		return nil, span, fmt.Errorf("searching: %w", err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, span, fmt.Errorf("searching: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, span, fmt.Errorf("searching: %w", err)
	}
	if len(ids) == 0 {
		return nil, idSpan{oldest: 2, newest: 1}, nil
	}
	span = span.within(idSpan{oldest: core.MessageID(-ids[len(ids)-1]), newest: core.MessageID(-ids[0])})
	limit := s.relevanceSpread * len(ids)
	n, err := s.countMatches(ctx, words, span, limit)
	if err != nil || n >= limit {
		return nil, span, err
	}
	return ids, span, nil
}

// jsonInts encodes ids as a JSON array, for json_each.
func jsonInts(ids []int64) string {
	b := make([]byte, 0, len(ids)*20+2)
	b = append(b, '[')
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, id, 10)
	}
	return string(append(b, ']'))
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
	// FTS5 reads its expression as a C string, so a NUL ended the
	// phrase early ("unterminated string"); it separates words, as a
	// space does, and the exact comparison still sees it.
	sender = strings.ReplaceAll(sender, "\x00", " ")
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
