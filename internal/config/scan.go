package config

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// document is what Load learns about the file beyond the decoded values: the
// line where each key is set, so that errors found after decoding (by
// Validate) can still point into the file.
type document struct {
	lines map[string]int // dotted key -> line of its first appearance
}

// line returns the line of key, or of the closest enclosing table or inline
// table that was written in the file, or 0 when neither appears.
func (d *document) line(key string) int {
	for {
		if n, ok := d.lines[key]; ok {
			return n
		}
		i := strings.LastIndexByte(key, '.')
		if i < 0 {
			return 0
		}
		key = key[:i]
	}
}

// scan walks the document with go-toml's parser to index key lines and to
// check the TOML type of every known key against its Go field.
//
// The checks are done here rather than left to the decoder because go-toml
// hands a non-string value (retention = 30) to Duration.UnmarshalText as raw
// text and returns the refusal without a position, its mismatch messages name
// Go types ("config.HTTPConfig") rather than keys, and its strict mode names
// an unknown key inside an inline table without the table ("x", not "log.x").
// The decoder's strict mode stays on behind this as a second line.
//
// ok is false when the document does not parse; the decoder then reports the
// syntax error with its position.
func scan(data []byte) (doc *document, scanErrs []lineError, ok bool) {
	doc = &document{lines: map[string]int{}}
	var p unstable.Parser
	p.Reset(data)
	s := scanner{p: &p, doc: doc, reported: map[string]bool{}}

	var table []string
	for p.NextExpression() {
		expr := p.Expression()
		switch expr.Kind {
		case unstable.Table, unstable.ArrayTable:
			table = keyParts(expr.Key())
			s.table(table, expr)
		case unstable.KeyValue:
			s.keyValue(table, expr)
		default:
		}
	}
	if p.Error() != nil {
		return nil, nil, false
	}
	return doc, s.errs, true
}

type scanner struct {
	p        *unstable.Parser
	doc      *document
	errs     []lineError
	reported map[string]bool // keys already refused, to say it once
}

// keyValue indexes one key-value under table (recursing into inline tables)
// and checks its type.
func (s *scanner) keyValue(table []string, kv *unstable.Node) {
	path := append(append([]string(nil), table...), keyParts(kv.Key())...)
	s.record(path, kv)

	want, ok := s.walk(path, kv, "key")
	if !ok {
		return
	}
	value := kv.Value()
	exp, accepted := expect(want, value.Kind)
	if !accepted {
		s.fail(kv, strings.Join(path, "."), "expected %s, found %s", exp, s.describe(value))
		return
	}
	if value.Kind == unstable.InlineTable {
		it := value.Children()
		for it.Next() {
			if it.Node().Kind == unstable.KeyValue {
				s.keyValue(path, it.Node())
			}
		}
	}
}

// table indexes a [table] or [[array table]] header and checks that it names
// a table of Config.
func (s *scanner) table(path []string, header *unstable.Node) {
	s.record(path, header)
	want, ok := s.walk(path, header, "table")
	if !ok {
		return
	}
	key := strings.Join(path, ".")
	switch {
	case want.Kind() != reflect.Struct && want.Kind() != reflect.Map:
		exp, _ := expect(want, unstable.Table)
		s.fail(header, key, "expected %s, found a table", exp)
	case header.Kind == unstable.ArrayTable:
		s.fail(header, key, "expected a table, found an array of tables")
	}
}

// walk follows path through Config's toml tags and returns the type of the
// field it names. When the path is unknown, or runs through a value that is
// not a table, walk reports it (as a "key" or a "table", what) and ok is
// false.
func (s *scanner) walk(path []string, n *unstable.Node, what string) (t reflect.Type, ok bool) {
	t = reflect.TypeFor[Config]()
	for i, name := range path {
		if t.Kind() == reflect.Map && t.Key().Kind() == reflect.String {
			t = t.Elem() // any name is a key of the map (federation.peers."b.example")
			continue
		}
		if t.Kind() != reflect.Struct {
			exp, _ := expect(t, unstable.Table)
			s.fail(n, strings.Join(path[:i], "."), "expected %s, found a table", exp)
			return nil, false
		}
		f, found := fieldByTag(t, name)
		if !found {
			key := strings.Join(path, ".")
			s.report(n, key, fmt.Errorf("unknown %s %q", what, key))
			return nil, false
		}
		t = f.Type
	}
	return t, true
}

// fail refuses the value of key.
func (s *scanner) fail(n *unstable.Node, key, format string, args ...any) {
	s.report(n, key, &FieldError{Key: key, Err: fmt.Errorf(format, args...)})
}

// report records err at n's line, unless key or a table holding it was
// already refused: every key under a misspelt [table] is unknown too, and
// saying so for each of them would bury the one line to fix.
func (s *scanner) report(n *unstable.Node, key string, err error) {
	for k := key; ; {
		if s.reported[k] {
			return
		}
		i := strings.LastIndexByte(k, '.')
		if i < 0 {
			break
		}
		k = k[:i]
	}
	s.reported[key] = true
	s.errs = append(s.errs, lineError{line: s.keyLine(n), err: err})
}

// record remembers the first line where path is written.
func (s *scanner) record(path []string, n *unstable.Node) {
	k := strings.Join(path, ".")
	if _, seen := s.doc.lines[k]; !seen {
		s.doc.lines[k] = s.keyLine(n)
	}
}

// keyLine is the line of n's key; key nodes always carry their position,
// unlike table expressions themselves.
func (s *scanner) keyLine(n *unstable.Node) int {
	it := n.Key()
	if !it.Next() {
		return 0
	}
	return s.p.Shape(it.Node().Raw).Start.Line
}

// expect reports what a field of type want holds, in the operator's words,
// and whether a TOML value of kind k can go into it.
func expect(want reflect.Type, k unstable.Kind) (expected string, accepted bool) {
	switch {
	case want == reflect.TypeFor[Duration]():
		return durationHint + " (a quoted string)", k == unstable.String
	case want.Kind() == reflect.String:
		return "a string", k == unstable.String
	case want.Kind() == reflect.Bool:
		return "true or false", k == unstable.Bool
	case want.Kind() == reflect.Int:
		return "an integer", k == unstable.Integer
	case want.Kind() == reflect.Struct, want.Kind() == reflect.Map:
		return "a table", k == unstable.InlineTable || k == unstable.Table
	default:
		// A field type this scanner does not know: let the decoder judge.
		return want.String(), true
	}
}

// describe names a TOML value for an error message, quoting short scalars so
// the operator recognises what they wrote.
func (s *scanner) describe(v *unstable.Node) string {
	var kind string
	switch v.Kind {
	case unstable.String:
		return fmt.Sprintf("string %q", v.Data)
	case unstable.Integer:
		kind = "integer"
	case unstable.Float:
		kind = "float"
	case unstable.Bool:
		kind = "boolean"
	case unstable.Array:
		return "an array"
	case unstable.InlineTable:
		return "a table"
	default:
		kind = "date/time"
	}
	return kind + " " + string(s.p.Raw(v.Raw))
}

func keyParts(it unstable.Iterator) []string {
	var parts []string
	for it.Next() {
		parts = append(parts, string(it.Node().Data))
	}
	return parts
}

func fieldByTag(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if tag, _, _ := strings.Cut(f.Tag.Get("toml"), ","); tag == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}
