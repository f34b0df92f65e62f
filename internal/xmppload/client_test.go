package xmppload

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/testpeer"
)

// TestAgainstProsody: the client logs in to another server than
// Switchboard (Prosody, as .ci/run installs it), joins a room, sees its
// own message there and reads it back from the room's archive, paging.
// cmd/swbench's TestSmoke runs it against Switchboard.
func TestAgainstProsody(t *testing.T) {
	p := testpeer.StartProsody(t, map[string]string{"alice": "pw-alice"})
	sc, err := NewScram("alice", "pw-alice")
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(p.Port)
	c, err := Device(addr, p.Domain, sc, "load")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	room := "bench@" + p.MUCDomain
	if err := c.JoinRoom(room + "/alice"); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := c.Send("<message type='groupchat' to='" + room + "'><body>line " + strconv.Itoa(i) + "</body></message>"); err != nil {
			t.Fatal(err)
		}
	}
	// The room reflects each message; the third one's reflection means
	// all are archived.
	c.SetDeadline(time.Now().Add(10 * time.Second))
	for {
		e, err := c.Next()
		if err != nil {
			t.Fatal(err)
		}
		if e.XMLName.Local == "message" && e.Child(nsClient, "body").textOrEmpty() == "line 2" {
			break
		}
	}
	c.SetDeadline(time.Time{})
	first, err := c.QueryArchive("q1", MAMQuery{To: room, Max: 2})
	if err != nil {
		t.Fatal(err)
	}
	if first.Results != 2 || strings.Join(first.Bodies, ",") != "line 0,line 1" || first.Complete || first.Last == "" {
		t.Fatalf("first page: %+v", first)
	}
	rest, err := c.QueryArchive("q2", MAMQuery{To: room, Max: 2, After: first.Last})
	if err != nil {
		t.Fatal(err)
	}
	if rest.Results != 1 || rest.Bodies[0] != "line 2" || !rest.Complete {
		t.Fatalf("second page: %+v", rest)
	}
	if err := c.Ping(); err != nil {
		t.Fatal(err)
	}
}
