package xmpp

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"strings"
)

// element is a parsed XML element: the port reads each top-level stanza
// into one, so handlers can look at any part of it, and writes stanzas
// from them. Namespaces are resolved; xmlns attributes are not kept.
type element struct {
	Name     xml.Name
	Attr     []xml.Attr
	Children []*element
	Text     string // character data, concatenated; mixed content is not kept in order
}

// Limits on what one stanza may hold; past them the stream ends with
// policy-violation.
const (
	maxDepth    = 32
	maxChildren = 4096
)

var errTooDeep = errors.New("stanza nests too deep")

// readElement reads the element that start opened, to its end.
func readElement(d *xml.Decoder, start xml.StartElement) (*element, error) {
	return readElementDepth(d, start, 0)
}

func readElementDepth(d *xml.Decoder, start xml.StartElement, depth int) (*element, error) {
	if depth > maxDepth {
		return nil, errTooDeep
	}
	e := &element{Name: start.Name}
	for _, a := range start.Attr {
		if a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns") {
			continue
		}
		e.Attr = append(e.Attr, a)
	}
	var text strings.Builder
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if len(e.Children) >= maxChildren {
				return nil, fmt.Errorf("stanza has more than %d children", maxChildren)
			}
			c, err := readElementDepth(d, t, depth+1)
			if err != nil {
				return nil, err
			}
			e.Children = append(e.Children, c)
		case xml.CharData:
			text.Write(t)
		case xml.EndElement:
			e.Text = text.String()
			return e, nil
		}
	}
}

// attr returns the value of the attribute with no namespace.
func (e *element) attr(local string) string {
	if e == nil {
		return ""
	}
	for _, a := range e.Attr {
		if a.Name.Local == local && a.Name.Space == "" {
			return a.Value
		}
	}
	return ""
}

func (e *element) setAttr(local, value string) {
	for i, a := range e.Attr {
		if a.Name.Local == local && a.Name.Space == "" {
			if value == "" {
				e.Attr = append(e.Attr[:i], e.Attr[i+1:]...)
			} else {
				e.Attr[i].Value = value
			}
			return
		}
	}
	if value != "" {
		e.Attr = append(e.Attr, xml.Attr{Name: xml.Name{Local: local}, Value: value})
	}
}

// child returns the first child with the name, or nil.
func (e *element) child(space, local string) *element {
	if e == nil {
		return nil
	}
	for _, c := range e.Children {
		if c.Name.Local == local && c.Name.Space == space {
			return c
		}
	}
	return nil
}

// childText is the text of the named child, "" when absent.
func (e *element) childText(space, local string) string {
	if c := e.child(space, local); c != nil {
		return c.Text
	}
	return ""
}

// firstChild is the first child element (an IQ's payload).
func (e *element) firstChild() *element {
	if e == nil || len(e.Children) == 0 {
		return nil
	}
	return e.Children[0]
}

// el builds an element: el(ns, local, "attr", "value", ...).
func el(space, local string, attrs ...string) *element {
	e := &element{Name: xml.Name{Space: space, Local: local}}
	for i := 0; i+1 < len(attrs); i += 2 {
		if attrs[i+1] != "" {
			e.Attr = append(e.Attr, xml.Attr{Name: xml.Name{Local: attrs[i]}, Value: attrs[i+1]})
		}
	}
	return e
}

// add appends children and returns e, for building trees inline.
func (e *element) add(children ...*element) *element {
	for _, c := range children {
		if c != nil {
			e.Children = append(e.Children, c)
		}
	}
	return e
}

func (e *element) withText(s string) *element {
	e.Text = s
	return e
}

const nsXML = "http://www.w3.org/XML/1998/namespace"

// write serializes e, declaring its namespace where it differs from the
// parent's. Text comes before children: stanzas have no mixed content.
func (e *element) write(b *bytes.Buffer, parentNS string) {
	b.WriteByte('<')
	b.WriteString(e.Name.Local)
	if e.Name.Space != parentNS {
		b.WriteString(" xmlns='")
		escapeAttr(b, e.Name.Space)
		b.WriteByte('\'')
	}
	for _, a := range e.Attr {
		b.WriteByte(' ')
		switch a.Name.Space {
		case "":
		case nsXML, "xml":
			b.WriteString("xml:")
		default:
			continue // foreign attributes are not repeated
		}
		b.WriteString(a.Name.Local)
		b.WriteString("='")
		escapeAttr(b, a.Value)
		b.WriteByte('\'')
	}
	if e.Text == "" && len(e.Children) == 0 {
		b.WriteString("/>")
		return
	}
	b.WriteByte('>')
	xml.EscapeText(b, []byte(e.Text))
	for _, c := range e.Children {
		c.write(b, e.Name.Space)
	}
	b.WriteString("</")
	b.WriteString(e.Name.Local)
	b.WriteByte('>')
}

func escapeAttr(b *bytes.Buffer, s string) {
	for len(s) > 0 {
		// Copy the run up to the next byte that needs escaping at once:
		// attribute values (addresses, ids) rarely have any.
		i := strings.IndexAny(s, attrSpecials)
		if i < 0 {
			b.WriteString(s)
			return
		}
		b.WriteString(s[:i])
		switch s[i] {
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '&':
			b.WriteString("&amp;")
		case '\'':
			b.WriteString("&apos;")
		case '"':
			b.WriteString("&quot;")
		case '\n':
			b.WriteString("&#xA;")
		case '\r':
			b.WriteString("&#xD;")
		case '\t':
			b.WriteString("&#x9;")
		}
		s = s[i+1:]
	}
}

// attrSpecials are the bytes escapeAttr replaces.
const attrSpecials = "<>&'\"\n\r\t"

// bytes serializes a top-level stanza in the jabber:client namespace.
func (e *element) bytes() []byte {
	var b bytes.Buffer
	e.write(&b, nsClient)
	return b.Bytes()
}

func (e *element) String() string { return string(e.bytes()) }
