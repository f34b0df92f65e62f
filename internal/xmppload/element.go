package xmppload

import "encoding/xml"

// Element is one XML element as read off the stream, namespaces resolved.
type Element struct {
	XMLName  xml.Name
	Attrs    []xml.Attr `xml:",any,attr"`
	Children []*Element `xml:",any"`
	Text     string     `xml:",chardata"`
}

// Attr returns the attribute local without a namespace, or "".
func (e *Element) Attr(local string) string {
	if e == nil {
		return ""
	}
	for _, a := range e.Attrs {
		if a.Name.Local == local && a.Name.Space == "" {
			return a.Value
		}
	}
	return ""
}

// Child returns the first child named {space}local, or nil.
func (e *Element) Child(space, local string) *Element {
	if e == nil {
		return nil
	}
	for _, c := range e.Children {
		if c.XMLName.Local == local && c.XMLName.Space == space {
			return c
		}
	}
	return nil
}
