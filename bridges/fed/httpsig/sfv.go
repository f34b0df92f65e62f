package httpsig

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// A subset of Structured Field Values (RFC 8941): dictionaries whose
// members are items or inner lists, with parameters; bare items are
// integers, strings, tokens, byte sequences and booleans (no decimals).

type itemKind uint8

const (
	kindInteger itemKind = iota + 1
	kindString
	kindToken
	kindBytes
	kindBool
)

type bareItem struct {
	kind    itemKind
	integer int64
	str     string // string or token
	bytes   []byte
	boolean bool
}

type param struct {
	key string
	val bareItem
}

type item struct {
	bareItem
	params []param
}

// member is a dictionary value: an item, or an inner list (list != nil).
type member struct {
	item   bareItem
	list   []item
	params []param
}

// maxSFLen bounds what is parsed at all: headers are bounded by the HTTP
// server already, this keeps the parser's work small regardless.
const maxSFLen = 16 << 10

type sfParser struct {
	s string
	i int
}

func parseDictionary(s string) (map[string]member, error) {
	if len(s) > maxSFLen {
		return nil, errors.New("field too long")
	}
	p := &sfParser{s: s}
	out := make(map[string]member)
	p.skip(" \t")
	if p.i == len(p.s) {
		return out, nil
	}
	for {
		key, err := p.key()
		if err != nil {
			return nil, err
		}
		var m member
		if p.peek() == '=' {
			p.i++
			if p.peek() == '(' {
				m.list, err = p.innerList()
			} else {
				m.item, err = p.bareItem()
			}
			if err != nil {
				return nil, fmt.Errorf("member %q: %w", key, err)
			}
		} else {
			m.item = bareItem{kind: kindBool, boolean: true}
		}
		if m.params, err = p.params(); err != nil {
			return nil, fmt.Errorf("member %q: %w", key, err)
		}
		out[key] = m // a later duplicate overrides, as RFC 8941 says
		p.skip(" \t")
		if p.i == len(p.s) {
			return out, nil
		}
		if p.peek() != ',' {
			return nil, fmt.Errorf("at %d: want ','", p.i)
		}
		p.i++
		p.skip(" \t")
		if p.i == len(p.s) {
			return nil, errors.New("trailing ','")
		}
	}
}

func (p *sfParser) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *sfParser) skip(chars string) {
	for p.i < len(p.s) && strings.IndexByte(chars, p.s[p.i]) >= 0 {
		p.i++
	}
}

func (p *sfParser) key() (string, error) {
	start := p.i
	c := p.peek()
	if !('a' <= c && c <= 'z' || c == '*') {
		return "", fmt.Errorf("at %d: want a key", p.i)
	}
	for p.i < len(p.s) {
		c := p.s[p.i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("_-.*", c) >= 0) {
			break
		}
		p.i++
	}
	return p.s[start:p.i], nil
}

func (p *sfParser) innerList() ([]item, error) {
	p.i++ // (
	list := []item{}
	for {
		p.skip(" ")
		if p.peek() == ')' {
			p.i++
			return list, nil
		}
		if p.i == len(p.s) {
			return nil, errors.New("unterminated inner list")
		}
		if len(list) > 0 && p.s[p.i-1] != ' ' {
			return nil, fmt.Errorf("at %d: want a space between items", p.i)
		}
		b, err := p.bareItem()
		if err != nil {
			return nil, err
		}
		ps, err := p.params()
		if err != nil {
			return nil, err
		}
		list = append(list, item{bareItem: b, params: ps})
		if c := p.peek(); c != ' ' && c != ')' {
			return nil, fmt.Errorf("at %d: want ' ' or ')'", p.i)
		}
	}
}

func (p *sfParser) params() ([]param, error) {
	var out []param
	for p.peek() == ';' {
		p.i++
		p.skip(" ")
		k, err := p.key()
		if err != nil {
			return nil, err
		}
		v := bareItem{kind: kindBool, boolean: true}
		if p.peek() == '=' {
			p.i++
			if v, err = p.bareItem(); err != nil {
				return nil, fmt.Errorf("parameter %q: %w", k, err)
			}
		}
		out = append(out, param{key: k, val: v})
	}
	return out, nil
}

func (p *sfParser) bareItem() (bareItem, error) {
	c := p.peek()
	switch {
	case c == '-' || '0' <= c && c <= '9':
		start := p.i
		if c == '-' {
			p.i++
		}
		digits := p.i
		for p.i < len(p.s) && '0' <= p.s[p.i] && p.s[p.i] <= '9' {
			p.i++
		}
		if p.i == digits || p.i-digits > 15 || p.peek() == '.' {
			return bareItem{}, fmt.Errorf("at %d: bad integer (decimals are not supported)", start)
		}
		n, err := strconv.ParseInt(p.s[start:p.i], 10, 64)
		if err != nil {
			return bareItem{}, err
		}
		return bareItem{kind: kindInteger, integer: n}, nil
	case c == '"':
		p.i++
		var b strings.Builder
		for p.i < len(p.s) {
			c := p.s[p.i]
			p.i++
			switch {
			case c == '\\':
				if p.i == len(p.s) || (p.s[p.i] != '"' && p.s[p.i] != '\\') {
					return bareItem{}, errors.New("bad escape in string")
				}
				b.WriteByte(p.s[p.i])
				p.i++
			case c == '"':
				return bareItem{kind: kindString, str: b.String()}, nil
			case c < 0x20 || c > 0x7e:
				return bareItem{}, errors.New("non-printable character in string")
			default:
				b.WriteByte(c)
			}
		}
		return bareItem{}, errors.New("unterminated string")
	case c == ':':
		p.i++
		end := strings.IndexByte(p.s[p.i:], ':')
		if end < 0 {
			return bareItem{}, errors.New("unterminated byte sequence")
		}
		raw, err := base64.StdEncoding.DecodeString(p.s[p.i : p.i+end])
		if err != nil {
			return bareItem{}, fmt.Errorf("byte sequence: %w", err)
		}
		p.i += end + 1
		return bareItem{kind: kindBytes, bytes: raw}, nil
	case c == '?':
		p.i++
		switch p.peek() {
		case '0', '1':
			v := p.peek() == '1'
			p.i++
			return bareItem{kind: kindBool, boolean: v}, nil
		}
		return bareItem{}, errors.New("bad boolean")
	case 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '*':
		start := p.i
		for p.i < len(p.s) {
			c := p.s[p.i]
			if c <= 0x20 || c >= 0x7f || strings.IndexByte("\"(),;<=>?@[\\]{}", c) >= 0 {
				break
			}
			p.i++
		}
		return bareItem{kind: kindToken, str: p.s[start:p.i]}, nil
	}
	return bareItem{}, fmt.Errorf("at %d: want an item", p.i)
}

// serializeInnerList writes an inner list with its parameters back in
// canonical form, the @signature-params value.
func serializeInnerList(m member) string {
	var b strings.Builder
	b.WriteByte('(')
	for i, it := range m.list {
		if i > 0 {
			b.WriteByte(' ')
		}
		writeBareItem(&b, it.bareItem)
		writeParams(&b, it.params)
	}
	b.WriteByte(')')
	writeParams(&b, m.params)
	return b.String()
}

func writeParams(b *strings.Builder, ps []param) {
	for _, p := range ps {
		b.WriteString(";" + p.key)
		if p.val.kind == kindBool && p.val.boolean {
			continue
		}
		b.WriteByte('=')
		writeBareItem(b, p.val)
	}
}

func writeBareItem(b *strings.Builder, it bareItem) {
	switch it.kind {
	case kindInteger:
		b.WriteString(strconv.FormatInt(it.integer, 10))
	case kindString:
		b.WriteByte('"')
		b.WriteString(strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(it.str))
		b.WriteByte('"')
	case kindToken:
		b.WriteString(it.str)
	case kindBytes:
		b.WriteString(":" + base64.StdEncoding.EncodeToString(it.bytes) + ":")
	case kindBool:
		if it.boolean {
			b.WriteString("?1")
		} else {
			b.WriteString("?0")
		}
	}
}
