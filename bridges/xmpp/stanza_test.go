package xmpp

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"github.com/switchboard/switchboard/core"
)

var (
	testSelf = jid.MustParse("alice@example.net/switchboard")
	testNow  = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
)

func parseMessage(t testing.TB, s string) *stanzaMessage {
	t.Helper()
	var m stanzaMessage
	if err := xml.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return &m
}

// TestClassify covers what each kind of message stanza becomes, and the
// forgeries the bridge must refuse: carbons and archive results that do
// not come from the account itself (mellium hands the account's own bare
// JID over as an empty from), and results of a query not under way.
func TestClassify(t *testing.T) {
	const fwd = `<forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='2025-12-31T23:00:00Z'/>`
	tests := []struct {
		name, xml string
		want      *core.Message // nil: dropped
		archived  bool
	}{
		{"live chat", `<message from='Bob@Example.ORG/phone' type='chat' id='m1'><body>hi</body></message>`,
			&core.Message{Direction: core.Incoming, Peer: core.Peer{Kind: core.Direct, Remote: "bob@example.org"}, Sender: core.Address{Addr: "bob@example.org", Name: "bob"}, OriginID: "m1", Kind: core.KindChat, Body: "hi", Time: testNow}, false},
		{"origin-id wins over id", `<message from='bob@example.org/phone' id='m1'><body>x</body><origin-id xmlns='urn:xmpp:sid:0' id='o1'/><stanza-id xmlns='urn:xmpp:sid:0' by='alice@example.net' id='s1'/></message>`,
			&core.Message{Direction: core.Incoming, Peer: core.Peer{Kind: core.Direct, Remote: "bob@example.org"}, Sender: core.Address{Addr: "bob@example.org", Name: "bob"}, OriginID: "o1", Kind: core.KindChat, Body: "x", Time: testNow}, false},
		{"stanza-id only from our server", `<message from='bob@example.org/phone'><body>x</body><stanza-id xmlns='urn:xmpp:sid:0' by='bob@example.org' id='forged'/><stanza-id xmlns='urn:xmpp:sid:0' by='alice@example.net' id='s1'/></message>`,
			&core.Message{Direction: core.Incoming, Peer: core.Peer{Kind: core.Direct, Remote: "bob@example.org"}, Sender: core.Address{Addr: "bob@example.org", Name: "bob"}, OriginID: "s1", Kind: core.KindChat, Body: "x", Time: testNow}, false},
		{"action", `<message from='bob@example.org/phone' id='m2'><body>/me waves</body></message>`,
			&core.Message{Direction: core.Incoming, Peer: core.Peer{Kind: core.Direct, Remote: "bob@example.org"}, Sender: core.Address{Addr: "bob@example.org", Name: "bob"}, OriginID: "m2", Kind: core.KindAction, Body: "waves", Time: testNow}, false},
		{"groupchat is not 1:1", `<message from='room@muc.example.org/bob' type='groupchat' id='g'><body>x</body></message>`, nil, false},
		{"error", `<message from='bob@example.org' type='error' id='e'><body>x</body></message>`, nil, false},
		{"chat state alone", `<message from='bob@example.org/phone' type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>`, nil, false},
		{"sent carbon", `<message type='chat'><sent xmlns='urn:xmpp:carbons:2'>` + fwd + `<message from='alice@example.net/phone' to='bob@example.org' type='chat' id='c1'><body>from phone</body></message></forwarded></sent></message>`,
			&core.Message{Direction: core.Outgoing, Peer: core.Peer{Kind: core.Direct, Remote: "bob@example.org"}, Sender: core.Address{Addr: "alice@example.net"}, OriginID: "c1", Kind: core.KindChat, Body: "from phone", Time: time.Date(2025, 12, 31, 23, 0, 0, 0, time.UTC)}, false},
		{"received carbon", `<message><received xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'><message from='bob@example.org/x' to='alice@example.net/phone' type='chat' id='c2'><body>to phone</body></message></forwarded></received></message>`,
			&core.Message{Direction: core.Incoming, Peer: core.Peer{Kind: core.Direct, Remote: "bob@example.org"}, Sender: core.Address{Addr: "bob@example.org", Name: "bob"}, OriginID: "c2", Kind: core.KindChat, Body: "to phone", Time: testNow}, false},
		{"carbon forged by a contact", `<message from='mallory@example.org/x'><sent xmlns='urn:xmpp:carbons:2'>` + fwd + `<message from='alice@example.net/phone' to='bob@example.org' id='f'><body>forged</body></message></forwarded></sent></message>`, nil, false},
		{"archive result", `<message><result xmlns='urn:xmpp:mam:2' queryid='q1' id='arch1'>` + fwd + `<message from='bob@example.org/x' to='alice@example.net' type='chat'><body>old</body></message></forwarded></result></message>`,
			&core.Message{Direction: core.Incoming, Peer: core.Peer{Kind: core.Direct, Remote: "bob@example.org"}, Sender: core.Address{Addr: "bob@example.org", Name: "bob"}, OriginID: "arch1", Kind: core.KindChat, Body: "old", Time: time.Date(2025, 12, 31, 23, 0, 0, 0, time.UTC)}, true},
		{"archive result of another query", `<message><result xmlns='urn:xmpp:mam:2' queryid='other' id='a'>` + fwd + `<message from='bob@example.org/x'><body>old</body></message></forwarded></result></message>`, nil, false},
		{"archive result from a contact", `<message from='bob@example.org/x'><result xmlns='urn:xmpp:mam:2' queryid='q1' id='a'>` + fwd + `<message from='bob@example.org/x'><body>old</body></message></forwarded></result></message>`, nil, false},
		{"own message live", `<message from='alice@example.net/phone' to='bob@example.org'><body>x</body></message>`, nil, false},
		{"future stamp capped", `<message from='bob@example.org/phone' id='m3'><body>later</body><delay xmlns='urn:xmpp:delay' stamp='2099-01-01T00:00:00Z'/></message>`,
			&core.Message{Direction: core.Incoming, Peer: core.Peer{Kind: core.Direct, Remote: "bob@example.org"}, Sender: core.Address{Addr: "bob@example.org", Name: "bob"}, OriginID: "m3", Kind: core.KindChat, Body: "later", Time: testNow.Add(time.Minute)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, archived := classify(testSelf, parseMessage(t, tt.xml), "q1", testNow)
			if tt.want == nil {
				if got != nil {
					t.Fatalf("want it dropped, got %+v", got)
				}
				return
			}
			if got == nil {
				t.Fatal("dropped")
			}
			if archived != tt.archived || got.Direction != tt.want.Direction || got.Peer != tt.want.Peer || got.Sender != tt.want.Sender ||
				got.OriginID != tt.want.OriginID || got.Kind != tt.want.Kind || got.Body != tt.want.Body || !got.Time.Equal(tt.want.Time) {
				t.Fatalf("got %+v (archived %v)\nwant %+v (archived %v)", got, archived, tt.want, tt.archived)
			}
		})
	}
}

func TestBodyIsBounded(t *testing.T) {
	m := parseMessage(t, `<message from='bob@example.org/x' id='big'><body>`+strings.Repeat("é", maxBody)+`</body></message>`)
	got, _ := classify(testSelf, m, "", testNow)
	if got == nil || len(got.Body) > maxBody || !strings.HasPrefix(got.Body, "éé") {
		t.Fatalf("body of %d bytes kept as %d", 2*maxBody, len(got.Body))
	}
}

func TestShowOf(t *testing.T) {
	tests := []struct {
		xml  string
		want core.Status
		ok   bool
	}{
		{`<presence from='bob@example.org/a'/>`, core.Status{Show: core.ShowAvailable}, true},
		{`<presence from='bob@example.org/a'><show>dnd</show><status>busy</status></presence>`, core.Status{Show: core.ShowDND, Text: "busy"}, true},
		{`<presence from='bob@example.org/a' type='unavailable'/>`, core.Status{Show: core.ShowOffline}, true},
		{`<presence from='bob@example.org' type='subscribe'/>`, core.Status{}, false},
	}
	for _, tt := range tests {
		var p stanzaPresence
		if err := xml.Unmarshal([]byte(tt.xml), &p); err != nil {
			t.Fatal(err)
		}
		got, ok := showOf(&p)
		if ok != tt.ok || (ok && got != tt.want) {
			t.Errorf("%s: got %+v %v, want %+v %v", tt.xml, got, ok, tt.want, tt.ok)
		}
	}
}

// encode writes a token stream as bytes, as the session would.
func encode(t testing.TB, r xml.TokenReader) []byte {
	t.Helper()
	var buf bytes.Buffer
	e := xml.NewEncoder(&buf)
	for {
		tok, err := r.Token()
		if tok != nil {
			if err := e.EncodeToken(tok); err != nil {
				t.Fatal(err)
			}
		}
		if err != nil {
			break
		}
	}
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// FuzzIncoming feeds arbitrary stanzas to the parsing the session does.
// Whatever becomes a message must satisfy the store, name a canonical
// bare JID as its peer, and survive a round trip: sent to the contact as
// the bridge sends it and read back as the contact's reply, it is the
// same text and kind.
func FuzzIncoming(f *testing.F) {
	for _, s := range []string{
		`<message from='bob@example.org/phone' type='chat' id='m1'><body>hi</body></message>`,
		`<message from='bob@example.org/phone' id='m2'><body>/me waves</body><origin-id xmlns='urn:xmpp:sid:0' id='o'/></message>`,
		`<message><sent xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'><message from='alice@example.net/p' to='Bob@example.org' id='c'><body>x</body></message></forwarded></sent></message>`,
		`<message><result xmlns='urn:xmpp:mam:2' queryid='q1' id='a'><forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='2020-01-01T00:00:00Z'/><message from='bob@example.org/x'><body> spaced&#xD;\n</body></message></forwarded></result></message>`,
		`<presence from='bob@example.org/a'><show>away</show><status>lunch</status></presence>`,
		`<message from='room@conference.example.org/bob' type='chat' id='pm'><body>psst</body><x xmlns='http://jabber.org/protocol/muc#user'/></message>`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var start xml.StartElement
		d := xml.NewDecoder(bytes.NewReader(data))
		for {
			tok, err := d.Token()
			if err != nil {
				return
			}
			if s, ok := tok.(xml.StartElement); ok {
				start = s
				break
			}
		}
		switch start.Name.Local {
		case "presence":
			var p stanzaPresence
			if d.DecodeElement(&p, &start) != nil {
				return
			}
			if st, ok := showOf(&p); ok && (st.Show > core.ShowChat || len(st.Text) > 1024) {
				t.Fatalf("presence became %+v", st)
			}
			return
		case "message":
		default:
			return
		}
		var m stanzaMessage
		if d.DecodeElement(&m, &start) != nil {
			return
		}
		msg, _ := classify(testSelf, &m, "q1", testNow)
		if msg == nil {
			return
		}
		msg.User, msg.Network = 1, 1
		if err := msg.Validate(); err != nil {
			t.Fatalf("%+v: %v", msg, err)
		}
		if len(msg.Body) > maxBody {
			t.Fatalf("body of %d bytes", len(msg.Body))
		}
		peer, err := jid.Parse(msg.Peer.Remote)
		// A room occupant's private messages are filed under its full
		// address (directRemote); everyone else under a bare one.
		occupant := peer.Resourcepart() != "" && isRoom(peer.Bare())
		if err != nil || peer.String() != msg.Peer.Remote || !peer.Equal(peer.Bare()) && !occupant || parsePeer(msg.Peer.Remote) != msg.Peer {
			t.Fatalf("peer %q is not a canonical bare JID nor a room occupant (%v)", msg.Peer.Remote, err)
		}
		if msg.Peer.Remote == testSelf.Domainpart() {
			return // the server itself cannot be written back to as a contact
		}
		// Round trip: what the bridge would send, read back as the
		// contact's reply.
		out := encode(t, outgoingMessage("rt", peer, stanza.ChatMessage, msg))
		var back stanzaMessage
		if err := xml.Unmarshal(out, &back); err != nil {
			t.Fatalf("own stanza %s does not parse: %v", out, err)
		}
		back.From = msg.Peer.Remote + "/r"
		if occupant {
			back.From = msg.Peer.Remote
		}
		again, _ := classify(testSelf, &back, "", testNow)
		if again == nil || again.Body != msg.Body || again.Kind != msg.Kind || again.Peer != msg.Peer || again.OriginID != "rt" {
			t.Fatalf("round trip of %+v through %s gave %+v", msg, out, again)
		}
	})
}
