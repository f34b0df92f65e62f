package ftsquery

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

const (
	maxQueryBytes = 1024
	maxTerms      = 64
	// FTS5's expression parser has a fixed stack of 100 entries, and every
	// level of the form `x AND (` holds three of them, so about 32 levels
	// overflow it. 16 leaves room for the caller's `{body}: (...)` wrapper
	// and the other filters it joins to the expression.
	maxDepth = 16
)

// Reasons reported in Error.Reason.
const (
	reasonNoWords     = "query has no searchable words"
	reasonAllExcluded = "a query needs at least one word that is not excluded"
)

// Error is returned for a query that cannot be translated. Offset is the
// byte offset in the query of the thing that is wrong; Reason says what it
// is, in words fit to show the user.
type Error struct {
	Offset int
	Reason string
}

func (e *Error) Error() string {
	return fmt.Sprintf("search query: %s at offset %d", e.Reason, e.Offset)
}

// Translate parses a user's search query and returns an FTS5 expression
// that matches the same messages. The expression is valid on its own and
// inside parentheses, such as `{body}: (<expr>)`. Every error is an *Error.
func Translate(q string) (string, error) {
	e, err := parse(q)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	e.write(&b, true)
	return b.String(), nil
}

func parse(q string) (*expr, error) {
	if len(q) > maxQueryBytes {
		return nil, &Error{Offset: maxQueryBytes, Reason: fmt.Sprintf("query is longer than %d bytes", maxQueryBytes)}
	}
	toks, err := lex(q)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	n, err := p.query()
	if err != nil {
		return nil, err
	}
	e, neg, negOff := lower(n)
	switch {
	case e == nil:
		return nil, &Error{Offset: 0, Reason: reasonNoWords}
	case neg:
		return nil, &Error{Offset: negOff, Reason: reasonAllExcluded}
	}
	if deep := tooDeep(e, 0); deep != nil {
		return nil, &Error{Offset: deep.off, Reason: fmt.Sprintf("query is nested more than %d levels deep", maxDepth)}
	}
	return e, nil
}

// TranslateVerified is Translate, except that the terms the whole query
// requires (at the top level and not negated) may be left for the caller
// to check against the text, returned in checks as lower-case ASCII words
// separated by spaces, each to be found as consecutive words:
//
//   - a phrase (quoted, or a word that FTS5 splits, such as "don't") is
//     written as the AND of its words, and checked;
//   - a word, alone or in such a phrase, for which dense reports true is
//     left out of the expression, and checked, as long as some term stays
//     in the expression.
//
// Why: FTS5 evaluates a phrase inside an AND by walking every message that
// has all its words, checking positions, without regard to the AND's
// other operands: "i of" within one conversation of 10M messages took
// 14 ms as a phrase and 3 ms as an AND of its words (swbench store), since
// the AND leapfrogs the conversation's short posting list. And it ANDs by
// seeking in every posting list, scanning a leaf page from its start for
// each seek: "the failing" within one conversation spent 44 ms of CPU in
// the list of "the", which is in most messages and so filters nothing.
//
// Only ASCII terms without a prefix are left to the caller, who splits and
// folds the text in Go, which agrees with FTS5's unicode61 tokenizer on
// ASCII. dense may be nil.
func TranslateVerified(q string, dense func(word string) bool) (match string, checks []string, err error) {
	e, err := parse(q)
	if err != nil {
		return "", nil, err
	}
	must := e
	if e.op == opNot {
		must = e.kids[0]
	}
	var terms []*expr
	switch must.op {
	case opTerm:
		terms = []*expr{must}
	case opAnd:
		terms = must.kids
	}
	var (
		kept    []*expr
		dropped *expr // the first word left out, put back if nothing stays
	)
	for _, t := range terms {
		if t.op != opTerm || t.prefix || !isASCII(t.text) {
			kept = append(kept, t)
			continue
		}
		words := asciiWords(t.text)
		switch {
		case len(words) >= 2:
			checks = append(checks, strings.Join(words, " "))
			for _, w := range words {
				word := &expr{op: opTerm, off: t.off, text: w}
				if dense != nil && dense(w) {
					if dropped == nil {
						dropped = word
					}
					continue
				}
				kept = append(kept, word)
			}
		case len(words) == 1 && dense != nil && dense(words[0]):
			checks = append(checks, words[0])
			if dropped == nil {
				dropped = t
			}
		default:
			kept = append(kept, t)
		}
	}
	if len(kept) == 0 {
		if dropped == nil { // no top-level terms: nothing was rewritten
			kept = []*expr{must}
		} else {
			kept = []*expr{dropped}
		}
	}
	if len(terms) > 0 {
		must = join(opAnd, must.off, kept)
	}
	if e.op == opNot {
		e = &expr{op: opNot, off: e.off, kids: []*expr{must, e.kids[1]}}
	} else {
		e = must
	}
	var b strings.Builder
	e.write(&b, true)
	return b.String(), checks, nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// asciiWords splits ASCII text as unicode61 does: letters and digits make
// words, everything else separates them; case is folded.
func asciiWords(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !('a' <= r && r <= 'z' || '0' <= r && r <= '9')
	})
}

// ---- lexer ----

type tokKind int

const (
	tEOF tokKind = iota
	tTerm
	tAnd
	tOr
	tNot
	tLParen
	tRParen
	tNegGroup // a "-" directly before "("
)

type token struct {
	kind   tokKind
	off    int
	text   string // tTerm: the word or the phrase between its quotes
	prefix bool   // tTerm: followed by "*"
	neg    bool   // tTerm: preceded by "-"
}

func (t token) String() string {
	switch t.kind {
	case tAnd:
		return "AND"
	case tOr:
		return "OR"
	case tNot:
		return "NOT"
	}
	return fmt.Sprintf("token %d", t.kind)
}

// isSpace also treats control characters as spaces: the tokenizer drops
// them anyway, and a NUL would end FTS5's reading of the expression early.
func isSpace(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }

// endsWord reports whether r ends a bare word.
func endsWord(r rune) bool { return isSpace(r) || r == '(' || r == ')' || r == '"' }

func lex(q string) ([]token, error) {
	if !utf8.ValidString(q) {
		for i, r := range q {
			if r == utf8.RuneError {
				if _, size := utf8.DecodeRuneInString(q[i:]); size == 1 {
					return nil, &Error{Offset: i, Reason: "invalid UTF-8"}
				}
			}
		}
	}
	var toks []token
	terms := 0
	for i := 0; i < len(q); {
		r, size := utf8.DecodeRuneInString(q[i:])
		switch {
		case isSpace(r):
			i += size
			continue
		case r == '(':
			toks = append(toks, token{kind: tLParen, off: i})
			i++
			continue
		case r == ')':
			toks = append(toks, token{kind: tRParen, off: i})
			i++
			continue
		}

		start := i
		neg := false
		if r == '-' && negationAllowed(q, i) && i+1 < len(q) {
			next, _ := utf8.DecodeRuneInString(q[i+1:])
			switch {
			case next == '(':
				toks = append(toks, token{kind: tNegGroup, off: i})
				i++
				continue
			case !isSpace(next) && next != ')':
				neg = true
				i++
			}
		}

		terms++
		if terms > maxTerms {
			return nil, &Error{Offset: start, Reason: fmt.Sprintf("query has more than %d terms", maxTerms)}
		}
		t := token{kind: tTerm, off: start, neg: neg}
		if q[i] == '"' {
			end := strings.IndexByte(q[i+1:], '"')
			if end < 0 {
				return nil, &Error{Offset: i, Reason: "unclosed quote"}
			}
			t.text = q[i+1 : i+1+end]
			i += end + 2
			for i < len(q) && q[i] == '*' {
				t.prefix = true
				i++
			}
		} else {
			j := i
			for j < len(q) {
				r, size := utf8.DecodeRuneInString(q[j:])
				if endsWord(r) {
					break
				}
				j += size
			}
			word := q[i:j]
			i = j
			if kind := operator(word); kind != tTerm && !neg {
				terms--
				toks = append(toks, token{kind: kind, off: start})
				continue
			}
			t.text = strings.TrimRight(word, "*")
			t.prefix = len(t.text) < len(word)
		}
		toks = append(toks, t)
	}
	return append(toks, token{kind: tEOF, off: len(q)}), nil
}

// operator returns the operator that word is, or tTerm. Only the uppercase
// spelling counts, so "and" and "or" in ordinary text stay words.
func operator(word string) tokKind {
	switch word {
	case "AND":
		return tAnd
	case "OR":
		return tOr
	case "NOT":
		return tNot
	}
	return tTerm
}

// negationAllowed reports whether a "-" at q[i] starts a term rather than
// sitting inside one, as in "e-mail" or `"a"-b`.
func negationAllowed(q string, i int) bool {
	if i == 0 {
		return true
	}
	prev, _ := utf8.DecodeLastRuneInString(q[:i])
	return isSpace(prev) || prev == '('
}

// ---- parser: tokens to the user's query as a tree ----

type nodeKind int

const (
	nTerm nodeKind = iota
	nAnd
	nOr
	nNot // unary
)

type node struct {
	kind   nodeKind
	off    int
	text   string // nTerm
	prefix bool   // nTerm
	kids   []*node
}

type parser struct {
	toks []token
	pos  int
}

func (p *parser) peek() token { return p.toks[p.pos] }
func (p *parser) next() token { t := p.toks[p.pos]; p.pos++; return t }

func startsUnary(t token) bool {
	switch t.kind {
	case tTerm, tNot, tLParen, tNegGroup:
		return true
	}
	return false
}

func (p *parser) query() (*node, error) {
	if p.peek().kind == tEOF {
		return nil, &Error{Offset: 0, Reason: reasonNoWords}
	}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	// or() stops only at the end or at a ")" that no group opened.
	if t := p.peek(); t.kind != tEOF {
		return nil, &Error{Offset: t.off, Reason: "unmatched closing parenthesis"}
	}
	return n, nil
}

func (p *parser) or() (*node, error) {
	first, err := p.and()
	if err != nil {
		return nil, err
	}
	kids := []*node{first}
	for p.peek().kind == tOr {
		op := p.next()
		if !startsUnary(p.peek()) {
			return nil, missingAfter(op)
		}
		n, err := p.and()
		if err != nil {
			return nil, err
		}
		kids = append(kids, n)
	}
	if len(kids) == 1 {
		return first, nil
	}
	return &node{kind: nOr, off: first.off, kids: kids}, nil
}

func (p *parser) and() (*node, error) {
	first, err := p.unary()
	if err != nil {
		return nil, err
	}
	kids := []*node{first}
	for {
		if t := p.peek(); t.kind == tAnd {
			p.next()
			if !startsUnary(p.peek()) {
				return nil, missingAfter(t)
			}
		} else if !startsUnary(t) {
			break
		}
		n, err := p.unary()
		if err != nil {
			return nil, err
		}
		kids = append(kids, n)
	}
	if len(kids) == 1 {
		return first, nil
	}
	return &node{kind: nAnd, off: first.off, kids: kids}, nil
}

func (p *parser) unary() (*node, error) {
	t := p.peek()
	switch t.kind {
	case tTerm:
		p.next()
		n := &node{kind: nTerm, off: t.off, text: t.text, prefix: t.prefix}
		if t.neg {
			n = &node{kind: nNot, off: t.off, kids: []*node{n}}
		}
		return n, nil
	case tNot:
		p.next()
		if !startsUnary(p.peek()) {
			return nil, missingAfter(t)
		}
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &node{kind: nNot, off: t.off, kids: []*node{x}}, nil
	case tNegGroup:
		p.next()
		x, err := p.group()
		if err != nil {
			return nil, err
		}
		return &node{kind: nNot, off: t.off, kids: []*node{x}}, nil
	case tLParen:
		return p.group()
	case tAnd, tOr:
		return nil, &Error{Offset: t.off, Reason: t.String() + " without a word before it"}
	case tRParen:
		return nil, &Error{Offset: t.off, Reason: "unmatched closing parenthesis"}
	}
	// Callers check startsUnary first; query() and group() handle tEOF.
	panic(fmt.Sprintf("ftsquery: unary at %v", t))
}

func (p *parser) group() (*node, error) {
	open := p.next()
	switch p.peek().kind {
	case tRParen:
		return nil, &Error{Offset: open.off, Reason: "empty parentheses"}
	case tEOF:
		return nil, &Error{Offset: open.off, Reason: "unclosed parenthesis"}
	}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.next().kind != tRParen {
		return nil, &Error{Offset: open.off, Reason: "unclosed parenthesis"}
	}
	if n.kind == nAnd || n.kind == nOr {
		n.off = open.off
	}
	return n, nil
}

func missingAfter(op token) error {
	return &Error{Offset: op.off, Reason: op.String() + " without a word after it"}
}

// ---- lowering: the user's tree to FTS5's ----

type exprOp int

const (
	opTerm exprOp = iota
	opAnd
	opOr
	opNot // binary: kids[0] NOT kids[1]
)

type expr struct {
	op     exprOp
	off    int // where in the query the node came from, for errors
	text   string
	prefix bool
	kids   []*expr
}

// lower turns n into an FTS5 expression. FTS5 can only subtract ("x NOT
// y"), never complement, so the result may be negative: it then stands for
// every message that does NOT match e, and the parent must find something
// to subtract it from. negOff is where the negation came from. A nil e
// means n had no searchable words and is left out, as if never typed.
func lower(n *node) (e *expr, neg bool, negOff int) {
	switch n.kind {
	case nTerm:
		if !searchable(n.text) {
			return nil, false, 0
		}
		return &expr{op: opTerm, off: n.off, text: n.text, prefix: n.prefix}, false, 0
	case nNot:
		e, neg, negOff := lower(n.kids[0])
		if e == nil {
			return nil, false, 0
		}
		if !neg {
			negOff = n.off
		}
		return e, !neg, negOff
	}

	var pos, negs []*expr
	negOff = -1
	for _, k := range n.kids {
		e, neg, off := lower(k)
		switch {
		case e == nil:
		case neg:
			negs = append(negs, e)
			if negOff < 0 {
				negOff = off
			}
		default:
			pos = append(pos, e)
		}
	}
	if len(pos)+len(negs) == 0 {
		return nil, false, 0
	}
	if n.kind == nAnd {
		// a AND NOT n1 AND NOT n2 = a NOT (n1 OR n2);
		// NOT n1 AND NOT n2 = NOT (n1 OR n2).
		if len(pos) == 0 {
			return join(opOr, n.off, negs), true, negOff
		}
		e = join(opAnd, n.off, pos)
		if len(negs) > 0 {
			e = &expr{op: opNot, off: n.off, kids: []*expr{e, join(opOr, n.off, negs)}}
		}
		return e, false, 0
	}
	// p OR NOT n1 OR NOT n2 = NOT ((n1 AND n2) NOT p).
	if len(negs) == 0 {
		return join(opOr, n.off, pos), false, 0
	}
	e = join(opAnd, n.off, negs)
	if len(pos) > 0 {
		e = &expr{op: opNot, off: n.off, kids: []*expr{e, join(opOr, n.off, pos)}}
	}
	return e, true, negOff
}

// join builds an AND or OR of kids, splicing in kids of the same operator
// so that associativity does not cost parenthesis depth.
func join(op exprOp, off int, kids []*expr) *expr {
	if len(kids) == 1 {
		return kids[0]
	}
	e := &expr{op: op, off: off}
	for _, k := range kids {
		if k.op == op {
			e.kids = append(e.kids, k.kids...)
		} else {
			e.kids = append(e.kids, k)
		}
	}
	return e
}

// searchable reports whether the unicode61 tokenizer would find a token in
// s: it keeps letters, numbers and private-use characters (categories "L*
// N* Co") and splits on everything else. Go's Unicode tables are newer than
// SQLite's; a character they disagree on at worst yields an empty FTS5
// phrase, which matches nothing but is not an error.
func searchable(s string) bool {
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.Is(unicode.Co, r) {
			return true
		}
	}
	return false
}

// tooDeep returns the first compound node that write would put inside more
// than maxDepth parentheses, or nil.
func tooDeep(e *expr, level int) *expr {
	if e.op == opTerm {
		return nil
	}
	if level > maxDepth {
		return e
	}
	for _, k := range e.kids {
		if d := tooDeep(k, level+1); d != nil {
			return d
		}
	}
	return nil
}

// ---- printer ----

// write prints e with every compound operand in parentheses, so FTS5's own
// precedence never decides anything; top omits the outermost pair.
func (e *expr) write(b *strings.Builder, top bool) {
	if e.op == opTerm {
		b.WriteString(quote(e.text))
		if e.prefix {
			b.WriteByte('*')
		}
		return
	}
	sep := map[exprOp]string{opAnd: " AND ", opOr: " OR ", opNot: " NOT "}[e.op]
	if !top {
		b.WriteByte('(')
	}
	for i, k := range e.kids {
		if i > 0 {
			b.WriteString(sep)
		}
		k.write(b, false)
	}
	if !top {
		b.WriteByte(')')
	}
}

// quote makes s an FTS5 string. The lexer never lets a '"' into a term, but
// doubling it keeps the printer safe on its own.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`""`)
		case isSpace(r):
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
