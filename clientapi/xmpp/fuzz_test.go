package xmpp

import (
	"context"
	"encoding/xml"
	"io"
	"net"
	"strings"
	"testing"
)

// fuzzSession is a bound session of alice whose stanzas go to a pipe that
// is drained, so handlers can be driven directly.
func fuzzSession(t testing.TB, p *testPort) *session {
	t.Helper()
	client, server := net.Pipe()
	go io.Copy(io.Discard, server)
	t.Cleanup(func() { client.Close(); server.Close() })
	c := newConn(p.srv, client)
	c.user, c.authed = p.user, true
	hs, err := p.hub.Attach(context.Background(), p.user.ID, "fuzz")
	if err != nil {
		t.Fatal(err)
	}
	s := &session{srv: p.srv, user: p.user, bare: "alice@" + testDomain, full: "alice@" + testDomain + "/fuzz", resource: "fuzz",
		hs: hs, nets: newNetworks(p.st, p.hub, p.user.ID), log: testLogger(t), done: make(chan struct{}), wake: make(chan struct{}, 1)}
	s.link = newLink(c, s.wake)
	if err := s.nets.load(context.Background()); err != nil {
		t.Fatal(err)
	}
	go s.pump(context.Background())
	t.Cleanup(s.finish)
	return s
}

// FuzzStanza feeds arbitrary stanzas to a bound session's handlers: none
// may panic, whatever the attributes, payloads or addresses.
func FuzzStanza(f *testing.F) {
	for _, seed := range []string{
		"<message to='bob@libera.example.org' type='chat' id='1'><body>hi</body><request xmlns='urn:xmpp:receipts'/></message>",
		"<message to='#go@libera.example.org' type='groupchat'><body>/me waves</body></message>",
		"<message to='bob@libera.example.org'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>",
		"<message to='x@nowhere'><body>x</body><replace xmlns='urn:xmpp:message-correct:0' id='1'/></message>",
		"<message to='bob@libera.example.org' type='chat' id='r'><reactions xmlns='urn:xmpp:reactions:0' id='0000000000001'><reaction>👍</reaction><reaction/></reactions></message>",
		"<presence><show>dnd</show><status>busy</status></presence>",
		"<presence type='unavailable'/>",
		"<presence to='#go@libera.example.org/alice'/>",
		"<presence to='bob@libera.example.org' type='subscribe'/>",
		"<iq type='get' id='1'><query xmlns='jabber:iq:roster' ver=''/></iq>",
		"<iq type='set' id='2'><query xmlns='jabber:iq:roster'><item jid='x@y'/></query></iq>",
		"<iq type='get' id='3' to='libera.example.org'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>",
		"<iq type='get' id='4' to='example.org'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>",
		"<iq type='get' id='5' to='bob@libera.example.org'><vCard xmlns='vcard-temp'/></iq>",
		"<iq type='set' id='6'><block xmlns='urn:xmpp:blocking'><item jid='@@'/></block></iq>",
		"<iq type='set' id='7'><enable xmlns='urn:xmpp:carbons:2'/></iq>",
		"<iq type='get' id='8'><ping xmlns='urn:xmpp:ping'/></iq>",
		"<iq type='get'><nothing/></iq>",
		// adhoc.go, pep.go
		"<iq type='set' id='10' to='example.org'><command xmlns='http://jabber.org/protocol/commands' node='switchboard:add-network' action='execute'/></iq>",
		"<iq type='set' id='11' to='example.org'><command xmlns='http://jabber.org/protocol/commands' node='switchboard:search' sessionid='x' action='complete'><x xmlns='jabber:x:data' type='submit'><field var='text'><value>\"</value></field></x></command></iq>",
		"<iq type='set' id='12'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='urn:xmpp:bookmarks:1'><item id='a'><conference xmlns='urn:xmpp:bookmarks:1'/></item></publish><publish-options><x xmlns='jabber:x:data' type='submit'><field var='pubsub#max_items'><value>max</value></field></x></publish-options></pubsub></iq>",
		"<iq type='get' id='13'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:bookmarks:1' max_items='1'/></pubsub></iq>",
		"<iq type='set' id='14'><pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><configure node='n'><x xmlns='jabber:x:data' type='submit'/></configure></pubsub></iq>",
		"<iq type='set' id='15'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query></iq>",
		"<iq type='set' id='9'><query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data' type='submit'><field var='with'><value>bob@libera.example.org</value></field></x></query></iq>",
	} {
		f.Add(seed)
	}
	p := startPort(f)
	s := fuzzSession(f, p)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, data string) {
		dec := xml.NewDecoder(strings.NewReader(data))
		dec.Strict = true
		dec.DefaultSpace = nsClient
		for {
			tok, err := dec.Token()
			if err != nil {
				return
			}
			start, ok := tok.(xml.StartElement)
			if !ok {
				continue
			}
			e, err := readElement(dec, start)
			if err != nil {
				return
			}
			s.dispatch(ctx, e)
			_ = e.bytes() // serializing what was parsed must not panic either
			return
		}
	})
}
