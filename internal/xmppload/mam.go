package xmppload

import (
	"strconv"
	"strings"
)

const (
	nsMAM      = "urn:xmpp:mam:2"
	nsRSM      = "http://jabber.org/protocol/rsm"
	nsForms    = "jabber:x:data"
	nsFulltext = "urn:xmpp:fulltext:0"
)

// MAMQuery is one page request to an archive (XEP-0313).
type MAMQuery struct {
	// To is the archive: "" for the user's own, a room's address for the
	// room's.
	To string
	// With and Fulltext (XEP-0431) filter the archive when not empty.
	With, Fulltext string
	// Max is the page size; After and Before page forwards from an
	// archive id or backwards (Before "" with Backwards set means the
	// newest page).
	Max           int
	After, Before string
	Backwards     bool
}

// MAMPage is what a page query returned.
type MAMPage struct {
	// Results counts the forwarded messages; Bodies holds their bodies.
	Results int
	Bodies  []string
	// First and Last are the page's archive ids, Complete whether the
	// server said no more pages follow in the direction asked.
	First, Last string
	Complete    bool
}

// QueryArchive sends q and collects its page.
func (c *Client) QueryArchive(id string, q MAMQuery) (MAMPage, error) {
	var b strings.Builder
	b.WriteString("<query xmlns='" + nsMAM + "' queryid='" + id + "'><x xmlns='" + nsForms + "' type='submit'>" +
		"<field var='FORM_TYPE' type='hidden'><value>" + nsMAM + "</value></field>")
	field := func(name, value string) {
		if value != "" {
			b.WriteString("<field var='" + xmlEscape(name) + "'><value>" + xmlEscape(value) + "</value></field>")
		}
	}
	field("with", q.With)
	field("{"+nsFulltext+"}fulltext", q.Fulltext)
	b.WriteString("</x><set xmlns='" + nsRSM + "'>")
	if q.Max > 0 {
		b.WriteString("<max>" + strconv.Itoa(q.Max) + "</max>")
	}
	switch {
	case q.After != "":
		b.WriteString("<after>" + xmlEscape(q.After) + "</after>")
	case q.Before != "":
		b.WriteString("<before>" + xmlEscape(q.Before) + "</before>")
	case q.Backwards:
		b.WriteString("<before/>")
	}
	b.WriteString("</set></query>")
	var page MAMPage
	res, err := c.IQ(id, "set", q.To, b.String(), func(e *Element) {
		r := e.Child(nsMAM, "result")
		if e.XMLName.Local != "message" || r == nil || r.Attr("queryid") != id {
			return
		}
		page.Results++
		if fw := r.Child("urn:xmpp:forward:0", "forwarded"); fw != nil {
			page.Bodies = append(page.Bodies, fw.Child(nsClient, "message").Child(nsClient, "body").textOrEmpty())
		}
	})
	if err != nil {
		return page, err
	}
	fin := res.Child(nsMAM, "fin")
	page.Complete = fin.Attr("complete") == "true"
	set := fin.Child(nsRSM, "set")
	page.First, page.Last = set.Child(nsRSM, "first").textOrEmpty(), set.Child(nsRSM, "last").textOrEmpty()
	return page, nil
}

func (e *Element) textOrEmpty() string {
	if e == nil {
		return ""
	}
	return e.Text
}
