package xmpp

import (
	"encoding/xml"
	"fmt"
	"strconv"
	"sync/atomic"

	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
)

const nsBind = "urn:ietf:params:xml:ns:xmpp-bind"

// bindSeq numbers bind requests, so each has its own id.
var bindSeq atomic.Uint64

// bindResult is a bind request's answer.
type bindResult struct {
	Type string `xml:"type,attr"`
	ID   string `xml:"id,attr"`
	Bind struct {
		JID string `xml:"jid"`
	} `xml:"urn:ietf:params:xml:ns:xmpp-bind bind"`
	Error struct {
		Conditions []struct {
			XMLName xml.Name
		} `xml:",any"`
	} `xml:"error"`
}

// bindResource binds the resource of the session's address (RFC 6120 §7)
// and takes the address the server answers with. mellium v0.22.0's own
// bind writes an empty <resource/> whatever it is asked (its payload
// writes the JID field where the resource belongs), so the server made
// one up and the `resource` setting did nothing. A resource the server
// refuses as taken (conflict) is left to the server to choose.
func bindResource(session *xmpp.Session) error {
	resource := session.LocalAddr().Resourcepart()
	res, err := bindRequest(session, resource)
	if err == nil && res.Type == "error" && resource != "" && res.condition() == "conflict" {
		res, err = bindRequest(session, "")
	}
	if err != nil {
		return err
	}
	if res.Type != "result" {
		return fmt.Errorf("binding resource %q: the server answered %s (%s)", resource, res.Type, res.condition())
	}
	j, err := jid.Parse(res.Bind.JID)
	if err != nil || j.Resourcepart() == "" {
		return fmt.Errorf("binding resource %q: the server bound %q, not a full address", resource, res.Bind.JID)
	}
	session.UpdateAddr(j)
	return nil
}

func (r bindResult) condition() string {
	for _, c := range r.Error.Conditions {
		if c.XMLName.Local != "text" {
			return c.XMLName.Local
		}
	}
	return "no condition given"
}

func bindRequest(session *xmpp.Session, resource string) (bindResult, error) {
	id := "bind-" + strconv.FormatUint(bindSeq.Add(1), 10)
	iq := xml.StartElement{Name: xml.Name{Space: "jabber:client", Local: "iq"},
		Attr: []xml.Attr{{Name: xml.Name{Local: "type"}, Value: "set"}, {Name: xml.Name{Local: "id"}, Value: id}}}
	bind := xml.StartElement{Name: xml.Name{Space: nsBind, Local: "bind"}}
	toks := []xml.Token{iq, bind}
	if resource != "" {
		r := xml.StartElement{Name: xml.Name{Local: "resource"}}
		toks = append(toks, r, xml.CharData(resource), r.End())
	}
	toks = append(toks, bind.End(), iq.End())
	var res bindResult
	name, err := negotiationExchange(session, &res, toks...) // sm.go
	if err != nil {
		return bindResult{}, fmt.Errorf("binding resource %q: %w", resource, err)
	}
	if name.Local != "iq" || res.ID != id {
		return bindResult{}, fmt.Errorf("binding resource %q: expected the bind answer, got <%s id=%q>", resource, name.Local, res.ID)
	}
	return res, nil
}
