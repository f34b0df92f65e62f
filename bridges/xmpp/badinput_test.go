package xmpp

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/core"
	"github.com/switchboard/switchboard/internal/testpeer"
)

// TestProsodyBadInputKeepsTheAccount: what the bridge does not serve or
// understand, sent by another user through a real server, gets the
// proper error or is dropped, and the account stays connected: an iq of
// an unknown namespace is answered with service-unavailable, messages
// with nothing to store are dropped, and the next message still arrives
// without a reconnect.
func TestProsodyBadInputKeepsTheAccount(t *testing.T) {
	p := testpeer.StartProsody(t, map[string]string{"alice": "pw", "bob": "pw"})
	alice, bob := "alice@"+p.Domain, "bob@"+p.Domain
	s := newStack(t, accountSettings(t, p, "alice", "pw"))
	s.waitState(20*time.Second, core.StateConnected)
	b := dialClient(t, p, "bob", "pw", "laptop")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := b.xs.SendIQ(ctx, xml.NewDecoder(strings.NewReader(fmt.Sprintf(
		`<iq xmlns='jabber:client' type='get' id='q1' to='%s/switchboard'><query xmlns='urn:example:nothing-served'/></iq>`, alice))))
	if err != nil {
		t.Fatal(err)
	}
	var answer struct {
		Type  string `xml:"type,attr"`
		Error struct {
			Type      string `xml:"type,attr"`
			Condition struct {
				XMLName xml.Name
			} `xml:",any"`
		} `xml:"error"`
	}
	err = xml.NewTokenDecoder(resp).Decode(&answer)
	resp.Close()
	if err != nil && err != io.EOF {
		t.Fatal(err)
	}
	if answer.Type != "error" || answer.Error.Condition.XMLName.Local != "service-unavailable" {
		t.Fatalf("the unknown iq was answered %+v, want an error service-unavailable", answer)
	}

	// Messages with nothing the bridge stores: no body, unknown payloads.
	b.raw(`<message xmlns='jabber:client' to='%s' type='chat' id='odd-1'><x xmlns='urn:example:unknown'><deep><deeper/></deep></x></message>`, alice)
	b.raw(`<message xmlns='jabber:client' to='%s' type='headline' id='odd-2'><event xmlns='urn:example:unknown'/></message>`, alice)
	b.message(alice, "after-1", "still here")
	// Up to that message, the account never left the connected state.
	s.waitEvent(10*time.Second, "the message after the odd ones", func(e core.Event) bool {
		if st, ok := e.(core.NetworkStateEvent); ok && st.State != core.StateConnected {
			t.Fatalf("the account went %v", st.State)
		}
		me, ok := e.(core.MessageEvent)
		return ok && me.Message.Body == "still here"
	})
	for _, m := range s.stored(bob) {
		if m.OriginID == "odd-1" || m.OriginID == "odd-2" {
			t.Errorf("stored %+v from a message with nothing to store", m)
		}
	}
}
