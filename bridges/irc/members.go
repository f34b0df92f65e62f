package irc

import (
	"strings"

	"github.com/switchboard/switchboard/core"
)

// isupport is what the server announced in RPL_ISUPPORT (005) that the
// bridge relies on.
type isupport struct {
	casemap     func(string) string
	chanTypes   string
	prefixModes string // "ov" of PREFIX=(ov)@+
	prefixChars string // "@+"
	// chanModes are the groups A, B and C of CHANMODES: list modes, modes
	// that always take an argument, and modes that take one only when
	// set. They are combined with the prefix modes only when a MODE line
	// is read, since 005 may announce CHANMODES before PREFIX.
	chanModes  [3]string
	statusMsg  string // STATUSMSG: prefixes such as @ in "PRIVMSG @#chan"
	historyMax int    // CHATHISTORY=<n>: the most lines one request returns
}

func defaultISupport() isupport {
	return isupport{
		casemap:     foldRFC1459,
		chanTypes:   "#&",
		prefixModes: "ov",
		prefixChars: "@+",
		// q, a and h too: a server that announces nothing most likely
		// uses them for owner, admin and halfop or for quiet lists, and
		// all of those take an argument.
		chanModes:  [3]string{"beIqah", "k", "l"},
		historyMax: 100,
	}
}

// apply reads one KEY[=VALUE] token of RPL_ISUPPORT.
func (is *isupport) apply(token string) {
	key, value, _ := strings.Cut(token, "=")
	switch key {
	case "CASEMAPPING":
		switch value {
		case "ascii":
			is.casemap = foldASCII
		case "rfc1459-strict":
			is.casemap = foldRFC1459Strict
		case "rfc7613", "rfc8265", "utf8-only":
			// rfc8265 (Ergo's default) supersedes rfc7613; both fold
			// Unicode case.
			is.casemap = strings.ToLower
		default:
			is.casemap = foldRFC1459
		}
	case "CHANTYPES":
		is.chanTypes = value
	case "PREFIX":
		// (ov)@+
		if modes, chars, ok := strings.Cut(strings.TrimPrefix(value, "("), ")"); ok && len(modes) == len(chars) {
			is.prefixModes, is.prefixChars = modes, chars
		}
	case "CHANMODES":
		groups := strings.Split(value, ",")
		if len(groups) >= 3 {
			is.chanModes = [3]string{groups[0], groups[1], groups[2]}
		}
	case "STATUSMSG":
		is.statusMsg = value
	case "CHATHISTORY", "draft/CHATHISTORY":
		if n := atoiOr(value, 0); n > 0 {
			is.historyMax = n
		}
	}
}

func (is *isupport) isChannel(target string) bool {
	return target != "" && strings.IndexByte(is.chanTypes, target[0]) >= 0
}

// stripStatus removes a STATUSMSG prefix: "@#chan" is a message to the
// ops of #chan, which belongs in #chan's conversation.
func (is *isupport) stripStatus(target string) string {
	for target != "" && strings.IndexByte(is.statusMsg, target[0]) >= 0 {
		target = target[1:]
	}
	return target
}

// role maps the highest prefix a member holds to an XEP-0045-like role.
func (is *isupport) role(prefixes string) string {
	if prefixes == "" {
		return ""
	}
	i := strings.IndexByte(is.prefixChars, prefixes[0])
	if i < 0 {
		return ""
	}
	switch is.prefixModes[i] {
	case 'q':
		return "owner"
	case 'a':
		return "admin"
	case 'o':
		return "op"
	case 'h':
		return "halfop"
	case 'v':
		return "voice"
	}
	return string(is.prefixModes[i])
}

func foldASCII(s string) string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
}

// foldRFC1459 also folds []\~ to {}|^, the Scandinavian heritage of IRC;
// the strict variant leaves ~ alone.
func foldRFC1459(s string) string { return foldBrackets(s, true) }

func foldRFC1459Strict(s string) string { return foldBrackets(s, false) }

func foldBrackets(s string, tilde bool) string {
	return strings.Map(func(r rune) rune {
		switch {
		case 'A' <= r && r <= 'Z':
			return r + 'a' - 'A'
		case r == '[':
			return '{'
		case r == ']':
			return '}'
		case r == '\\':
			return '|'
		case r == '~' && tilde:
			return '^'
		}
		return r
	}, s)
}

func atoiOr(s string, def int) int {
	n := 0
	if s == "" || len(s) > 9 {
		return def
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return def
		}
		n = n*10 + int(s[i]-'0')
	}
	return n
}

// channel is a joined channel as the bridge knows it.
type channel struct {
	name    string // as the server spells it
	members map[string]*member
	topic   string
	// joined is set once our own JOIN came back; names is set while a
	// NAMES reply is being read, which replaces the member list.
	joined     bool
	namesFresh map[string]*member
	// fetched is set once the CHATHISTORY gap fill for this join ran.
	fetched bool
}

type member struct {
	nick     string
	prefixes string // "@+" in rank order
	user     string
	host     string
}

func newChannel(name string) *channel {
	return &channel{name: name, members: make(map[string]*member)}
}

func (m *member) coreMember(is *isupport) core.Member {
	addr := m.nick
	if m.user != "" && m.host != "" {
		addr = m.nick + "!" + m.user + "@" + m.host
	}
	return core.Member{Nick: m.nick, Addr: addr, Role: is.role(m.prefixes)}
}

// parseNamesEntry reads one entry of RPL_NAMREPLY: "@+nick!user@host"
// with multi-prefix and userhost-in-names, or just "@nick".
func (is *isupport) parseNamesEntry(entry string) *member {
	i := 0
	for i < len(entry) && strings.IndexByte(is.prefixChars, entry[i]) >= 0 {
		i++
	}
	m := &member{prefixes: is.sortPrefixes(entry[:i])}
	rest := entry[i:]
	nick, uh, _ := strings.Cut(rest, "!")
	m.nick = nick
	m.user, m.host, _ = strings.Cut(uh, "@")
	return m
}

// sortPrefixes orders prefix characters by rank, dropping unknown ones.
func (is *isupport) sortPrefixes(p string) string {
	if len(p) <= 1 {
		return p
	}
	var b strings.Builder
	for i := 0; i < len(is.prefixChars); i++ {
		if strings.IndexByte(p, is.prefixChars[i]) >= 0 {
			b.WriteByte(is.prefixChars[i])
		}
	}
	return b.String()
}

// setPrefix adds or removes the prefix of a prefix mode (o, v, ...).
func (is *isupport) setPrefix(m *member, mode byte, add bool) {
	i := strings.IndexByte(is.prefixModes, mode)
	if i < 0 {
		return
	}
	c := is.prefixChars[i]
	without := strings.ReplaceAll(m.prefixes, string(c), "")
	if add {
		m.prefixes = is.sortPrefixes(without + string(c))
	} else {
		m.prefixes = without
	}
}

// takesArg says whether mode takes an argument when set (add) or unset:
// prefix modes and groups A and B always do, group C only when set.
func (is *isupport) takesArg(mode byte, add bool) bool {
	in := func(set string) bool { return strings.IndexByte(set, mode) >= 0 }
	return in(is.prefixModes) || in(is.chanModes[0]) || in(is.chanModes[1]) || (add && in(is.chanModes[2]))
}

// modeChange is one letter of a MODE line with its argument.
type modeChange struct {
	add  bool
	mode byte
	arg  string
}

// parseModes splits "+ov-k alice bob key" into changes, taking arguments
// as CHANMODES and PREFIX say each mode does.
func (is *isupport) parseModes(modes string, args []string) []modeChange {
	var out []modeChange
	add := true
	for i := 0; i < len(modes); i++ {
		c := modes[i]
		switch c {
		case '+':
			add = true
			continue
		case '-':
			add = false
			continue
		}
		mc := modeChange{add: add, mode: c}
		if is.takesArg(c, add) && len(args) > 0 {
			mc.arg, args = args[0], args[1:]
		}
		out = append(out, mc)
	}
	return out
}
