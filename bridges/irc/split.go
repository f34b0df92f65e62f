package irc

import (
	"strings"

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
