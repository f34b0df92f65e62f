package history

import (
	"context"
	"errors"
	"fmt"
	"strings"
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
// A query the grammar rejects returns an *ftsquery.Error.
func (s *Store) Search(ctx context.Context, q core.SearchQuery) ([]core.SearchResult, error) {
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	pq, err := ftsquery.Parse(q.Text)
	if err != nil {
		return nil, err
	}
	scope, err := s.searchScope(ctx, q)
	if err != nil {
		return nil, err
	}
	if q.Ranking == core.ByTime {
		drivers, err := s.rareWords(ctx, pq.Required)
		if err != nil {
			return nil, err
		}
		if len(drivers) > 0 {
			return s.searchCandidates(ctx, q, scope, pq.Expr, drivers)
		}
	}
	where, args := searchFilters(q, scope, pq.Expr)
	// By time, FTS5 hands rows out in descending rowid order and the LIMIT
	// stops it early. By relevance every match must be ranked first; the
	// body alone counts, scope and sender tokens would only add noise.
	order := "messages_fts.rowid DESC"
	if q.Ranking == core.ByRelevance {
		order = "bm25(messages_fts, 1.0, 0.0, 0.0), messages_fts.rowid DESC"
	}
	args = append(args, pageLimit(q.Limit))
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+messageColumns+`,
			snippet(messages_fts, 0, '`+markOpen+`', '`+markClose+`', '…', `+fmt.Sprint(snippetTokens)+`)
		FROM messages_fts
		JOIN messages m ON m.id = messages_fts.rowid
		JOIN conversations c ON c.id = m.conversation_id
		WHERE `+where+`
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

// searchFilters returns the WHERE clause and its arguments of a search
// whose body must match expr.
func searchFilters(q core.SearchQuery, scope, expr string) (string, []any) {
	match := "{scope}: " + scope + " AND {body}: (" + expr + ")"
	if phrase := senderPhrase(q.Sender); phrase != "" {
		match += " AND {sender}: " + phrase
	}
	var where strings.Builder
	args := []any{match, q.User}
	where.WriteString("messages_fts MATCH ? AND m.user_id = ?")
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
	if q.Before != 0 {
		where.WriteString(" AND messages_fts.rowid < ?")
		args = append(args, q.Before)
	}
	return where.String(), args
}

// commonWordEntries is how many index entries make a word too common to
// intersect in FTS5. Measured at 10M messages: "c100 AND server" took 1 ms,
// adding "the" (3.5M entries) made it 50 to 90 ms, because FTS5 seeks
// through a long posting list page by page.
const commonWordEntries = 20000

// rareWords returns the required words that are rare enough to find
// candidates by, when the query also requires a common word that FTS5
// should not intersect. It returns none when the plain query is as good:
// no common word, or no rare one.
func (s *Store) rareWords(ctx context.Context, required []string) ([]string, error) {
	if len(required) < 2 {
		return nil, nil
	}
	var rare []string
	for _, w := range required {
		// Counting stops at the cap, so a common word costs no more than
		// reading that many entries. Without a column filter a scope token
		// could count too; that only makes a word look more common.
		var n int
		err := s.rdb.QueryRowContext(ctx,
			"SELECT count(*) FROM (SELECT 1 FROM messages_fts WHERE messages_fts MATCH ? LIMIT ?)",
			w, s.commonWords).Scan(&n)
		if err != nil {
			return nil, fmt.Errorf("searching: %w", err)
		}
		if n < s.commonWords {
			rare = append(rare, w)
		}
	}
	if len(rare) == len(required) {
		return nil, nil
	}
	return rare, nil
}

// candidateChunk is how many candidates are checked at a time.
const candidateChunk = 500

// searchCandidates finds messages that have the rare required words, newest
// first, and keeps those that match the whole query, checked by an FTS5
// table in memory that holds only the candidates.
func (s *Store) searchCandidates(ctx context.Context, q core.SearchQuery, scope, expr string, rare []string) ([]core.SearchResult, error) {
	limit := pageLimit(q.Limit)
	var out []core.SearchResult
	for len(out) < limit {
		where, args := searchFilters(q, scope, strings.Join(rare, " AND "))
		args = append(args, candidateChunk)
		rows, err := s.rdb.QueryContext(ctx, `SELECT `+messageColumns+`
			FROM messages_fts
			JOIN messages m ON m.id = messages_fts.rowid
			JOIN conversations c ON c.id = m.conversation_id
			WHERE `+where+`
			ORDER BY messages_fts.rowid DESC LIMIT ?`, args...)
		if err != nil {
			return nil, fmt.Errorf("searching: %w", err)
		}
		cands, err := collectMessages(rows)
		if err != nil {
			return nil, err
		}
		if len(cands) == 0 {
			break
		}
		matched, err := s.verify(ctx, expr, cands)
		if err != nil {
			return nil, err
		}
		out = append(out, matched...)
		if len(cands) < candidateChunk {
			break
		}
		q.Before = cands[len(cands)-1].ID
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// verify returns the candidates (newest first) whose body matches expr,
// with snippets, using a scratch FTS5 table of the same tokenizer.
func (s *Store) verify(ctx context.Context, expr string, cands []*core.Message) ([]core.SearchResult, error) {
	tx, err := s.vdb.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("searching: %w", err)
	}
	defer tx.Rollback() // the scratch rows go with it
	ins, err := tx.PrepareContext(ctx, "INSERT INTO scratch(rowid, body) VALUES (?, ?)")
	if err != nil {
		return nil, fmt.Errorf("searching: %w", err)
	}
	defer ins.Close()
	// Rowids count down with the candidates, which are newest first.
	for i, m := range cands {
		if _, err := ins.ExecContext(ctx, len(cands)-i, m.Body); err != nil {
			return nil, fmt.Errorf("searching: %w", err)
		}
	}
	rows, err := tx.QueryContext(ctx, `SELECT rowid, snippet(scratch, 0, '`+markOpen+`', '`+markClose+`', '…', `+fmt.Sprint(snippetTokens)+`)
		FROM scratch WHERE scratch MATCH ? ORDER BY rowid DESC`, expr)
	if err != nil {
		return nil, fmt.Errorf("searching: %w", err)
	}
	defer rows.Close()
	var out []core.SearchResult
	for rows.Next() {
		var (
			rowid   int
			snippet string
		)
		if err := rows.Scan(&rowid, &snippet); err != nil {
			return nil, fmt.Errorf("searching: %w", err)
		}
		text, marks := highlights(snippet)
		out = append(out, core.SearchResult{Message: cands[len(cands)-rowid], Snippet: text, Highlights: marks})
	}
	return out, rows.Err()
}

// searchScope returns the scope token that limits the search to the
// query's conversation, network or user, after checking the user owns the
// conversation or network: the tokens alone do not carry the user.
func (s *Store) searchScope(ctx context.Context, q core.SearchQuery) (string, error) {
	switch {
	case q.Conversation != 0:
		var owner core.UserID
		err := s.rdb.QueryRowContext(ctx, "SELECT user_id FROM conversations WHERE id = ?", q.Conversation).Scan(&owner)
		if err != nil || owner != q.User {
			return "", fmt.Errorf("conversation %d: %w", q.Conversation, ErrNotFound)
		}
		return fmt.Sprintf(`"c%d"`, q.Conversation), nil
	case q.Network != 0:
		var owner core.UserID
		err := s.rdb.QueryRowContext(ctx, "SELECT user_id FROM networks WHERE id = ?", q.Network).Scan(&owner)
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
