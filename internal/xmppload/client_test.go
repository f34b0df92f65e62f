package xmppload

import (
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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

// TestParallel: every index runs once with no error; after an error no
// new calls start and the first error is returned.
func TestParallel(t *testing.T) {
	var mu sync.Mutex
	seen := map[int]int{}
	if err := Parallel(100, 7, func(i int) error {
		mu.Lock()
		seen[i]++
		mu.Unlock()
		return nil
	}); err != nil || len(seen) != 100 {
		t.Fatalf("err %v, %d indexes run", err, len(seen))
	}
	for i, n := range seen {
		if n != 1 {
			t.Fatalf("index %d ran %d times", i, n)
		}
	}
	var calls atomic.Int64
	boom := errors.New("boom")
	err := Parallel(1000, 1, func(i int) error {
		calls.Add(1)
		if i == 10 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || calls.Load() != 11 {
		t.Fatalf("err %v after %d calls, want boom after 11", err, calls.Load())
	}
}
