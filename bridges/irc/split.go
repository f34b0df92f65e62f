package irc

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/switchboard/switchboard/core"
)

// minTextLimit is the least room splitMessage works with. It is far above
// the worst single character with all its codes (4 bytes and 5 toggles), so
// that every piece holds at least one character and the split always ends.
const minTextLimit = 32

// splitMessage turns one outgoing message into the texts to send, each
// rendered as formatIRC would and at most limit bytes with its codes
// (a limit under minTextLimit counts as minTextLimit). It sends one text per
// line of body, dropping \r and lines with nothing to show. Lines of only
// whitespace are dropped too unless no line has more, so that a message of
// spaces is still sent rather than refused. A line too long for limit is cut
// as renderer.piece describes, and each piece reopens the formatting in
// force where it starts, since IRC clients reset it with every message.
func splitMessage(body string, spans []core.Span, limit int) []string {
	limit = max(limit, minTextLimit)
	if body != "" && len(body) <= limit && len(spans) == 0 && strings.IndexAny(body, ircControls) < 0 {
		return []string{body}
	}
	r := renderer{body: body, changes: styleChanges(body, spans)}
	var (
		out                = make([]string, 0, len(body)/limit+1)
		buf                = make([]byte, 0, min(limit, len(body))+16)
		blankFrom, blankTo = -1, -1
	)
	for from := 0; from <= len(body); {
		to := strings.IndexByte(body[from:], '\n')
		if to < 0 {
			to = len(body)
		} else {
			to += from
		}
		switch shows, text := lineContent(body[from:to]); {
		case text:
			out, buf = r.split(out, buf, from, to, limit)
		case shows && blankFrom < 0:
			blankFrom, blankTo = from, to
		}
		from = to + 1
	}
	if len(out) == 0 && blankFrom >= 0 {
		out, _ = r.split(out, buf, blankFrom, blankTo, limit)
	}
	return out
}

// split appends the pieces of body[from:to] to out, reusing buf, which it
// returns grown for the next line.
func (r *renderer) split(out []string, buf []byte, from, to, limit int) ([]string, []byte) {
	for from < to {
		buf, from = r.piece(buf[:0], from, to, limit)
		if len(buf) > 0 {
			out = append(out, string(buf))
		}
	}
	return out, buf
}

// lineContent reports whether line shows anything once its controls are
// removed, and whether that is more than whitespace.
func lineContent(line string) (shows, text bool) {
	for i := range len(line) {
		switch c := line[i]; {
		case c == ' ' || c == '\t':
			shows = true
		case !isIRCControl[c]:
			return true, true
		}
	}
	return shows, false
}

// isWordASCII marks the bytes that stand for themselves, one character
// each, and never start a break.
var isWordASCII = func() (t [256]bool) {
	for c := '!'; c <= '~'; c++ {
		t[c] = true
	}
	return t
}()

// renderer writes parts of body with the codes for its style changes.
type renderer struct {
	body    string
	changes []styleChange
}

// piece appends to dst body[from:to] rendered as one IRC text of at most
// limit bytes, and returns where the next piece starts: to if all of it
// fit. A piece starts with no formatting in force, as every message does,
// so the styles in force at from are opened again. When it must cut, it
// cuts at the last run of spaces after some text, dropping the run, if the
// cut falls in that run or the run starts in the final third of limit:
// earlier, the piece would be wastefully short. Otherwise it cuts before
// the character cluster that did not fit, or, if that would leave less
// than half of limit, before the character. limit must leave room for one
// character and its codes.
func (r *renderer) piece(dst []byte, from, to, limit int) ([]byte, int) {
	base := len(dst)
	k, _ := slices.BinarySearchFunc(r.changes, from+1, func(c styleChange, at int) int { return c.at - at })
	var style, wire core.Style // what the body has at i; what the client has in force
	if k > 0 {
		style = r.changes[k-1].style
	}
	var (
		chars          int  // characters written
		inSpace        bool // inside a run of spaces
		afterZWJ       bool
		spaceLen       = -1 // len(dst) before the last run of spaces, -1 if none
		spaceAt        int
		clusterLen     int // len(dst) before the cluster that i is in
		clusterAt      int
		charsBeforeClu int
	)
	for i := from; i < to; {
		c := r.body[i]
		for k < len(r.changes) && r.changes[k].at <= i {
			style = r.changes[k].style
			k++
		}
		if isIRCControl[c] {
			i++
			continue
		}
		if isWordASCII[c] {
			// Copy at once as much of a stretch of ASCII letters as fits;
			// the letter that does not goes through the cut below.
			n := len(dst)
			dst = appendToggles(dst, wire, style)
			stop := to
			if k < len(r.changes) {
				stop = min(stop, r.changes[k].at)
			}
			if room := limit - (len(dst) - base); room < stop-i {
				stop = i + room
			}
			j := i
			for j < stop && isWordASCII[r.body[j]] {
				j++
			}
			if j > i {
				if j-i > 1 {
					n = len(dst) + j - i - 1
				}
				dst = append(dst, r.body[i:j]...)
				clusterLen, clusterAt, charsBeforeClu = n, j-1, chars+j-i-1
				chars += j - i
				inSpace, afterZWJ, wire, i = false, false, style, j
				continue
			}
			dst = dst[:n]
		}
		ch, size := rune(c), 1
		if c >= utf8.RuneSelf {
			ch, size = utf8.DecodeRuneInString(r.body[i:to])
		}
		space := c == ' ' || c == '\t'
		if space && !inSpace && chars > 0 {
			spaceLen, spaceAt = len(dst), i
		}
		inSpace = space
		if chars == 0 || !extendsCluster(ch, afterZWJ) {
			clusterLen, clusterAt, charsBeforeClu = len(dst), i, chars
		}
		afterZWJ = ch == '\u200d'
		n := len(dst)
		dst = appendToggles(dst, wire, style)
		dst = append(dst, r.body[i:i+size]...)
		if len(dst)-base > limit {
			switch {
			case spaceLen >= 0 && (inSpace || spaceLen-base >= limit-limit/3):
				next := spaceAt
				for next < to && (r.body[next] == ' ' || r.body[next] == '\t' || isIRCControl[r.body[next]]) {
					next++
				}
				return dst[:spaceLen], next
			case charsBeforeClu > 0 && clusterLen-base > limit/2:
				return dst[:clusterLen], clusterAt
			default:
				return dst[:n], i
			}
		}
		wire = style
		chars++
		i += size
	}
	return dst, to
}

// extendsCluster reports whether ch belongs to the character before it, so
// that a cut before it would split what the reader sees as one character.
// It covers combining marks and emoji sequences, not all of UAX #29.
func extendsCluster(ch rune, afterZWJ bool) bool {
	if ch < 0x300 {
		return false
	}
	return afterZWJ || ch == '\u200d' || ('\U0001F3FB' <= ch && ch <= '\U0001F3FF') || unicode.Is(unicode.M, ch)
}
