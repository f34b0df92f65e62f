package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// fedKeys runs "switchboard fed keys ARGS" on n's data directory and
// returns its lines as id → state.
func fedKeys(t *testing.T, n *fedNode, args ...string) map[string]string {
	t.Helper()
	out, errOut, err := runIn(t, n.dir, "", append([]string{"fed", "keys"}, args...)...)
	if err != nil {
		t.Fatalf("fed keys %v: %v (%s)", args, err, errOut)
	}
	states := make(map[string]string)
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		id, state, _ := strings.Cut(line, "\t")
		states[id] = state
	}
	return states
}

func signer(states map[string]string) string {
	for id, st := range states {
		if st == "signs" {
			return id
		}
	}
	return ""
}

// TestFedKeyRotationRestart rotates a's signing key twice with the CLI
// across restarts of its daemon: messages queued while b was down, then
// signed with the new key, arrive once each and in order; after the
// second rotation b, which cached a's document with the older keys,
// learns the new one and loses nothing.
func TestFedKeyRotationRestart(t *testing.T) {
	nodes := fedNodes(t, "a.test", "b.test")
	a, b := nodes["a.test"], nodes["b.test"]
	a.start(t)
	b.start(t)
	alice := loginAPI(t, a.dir, a.addr, "alice", "pw-a")
	bob := loginAPI(t, b.dir, b.addr, "bob", "pw-b")
	waitFedNetwork(t, alice)
	waitFedNetwork(t, bob)
	k1 := signer(fedKeys(t, a, "list"))
	if k1 == "" {
		t.Fatal("no signing key listed")
	}
	aliceX := dialXMPP(t, a.d.xmpp[0], "alice", "a.test", "pw-a")
	aliceX.send("bob@b.test", "before the rotation")
	want := []string{"in:before the rotation"}
	waitLong(t, "the first message at b", func() bool { return len(conversationWith(t, bob, "alice@a.test")) == 1 })

	// b goes down; three messages wait at a, which rotates its key
	// while stopped and starts again.
	b.d.stop()
	for i := 1; i <= 3; i++ {
		aliceX.send("bob@b.test", fmt.Sprintf("in flight %d", i))
		want = append(want, fmt.Sprintf("in:in flight %d", i))
	}
	// They are stored and queued on a before it stops.
	waitLong(t, "alice's history holds the three", func() bool { return len(conversationWith(t, alice, "bob@b.test")) == 4 })
	waitLong(t, "a retries", func() bool { return strings.Contains(a.d.logText(), "federation delivery failed; will retry") })
	a.d.stop()
	rotated := fedKeys(t, a, "rotate", "--retire-after", "10m")
	k2 := signer(rotated)
	if k2 == "" || k2 == k1 || !strings.HasPrefix(rotated[k1], "published until ") {
		t.Fatalf("rotate: %q (before: %s)", rotated, k1)
	}
	a.start(t)
	b.start(t)
	waitLong(t, "the waiting messages at b", func() bool { return len(conversationWith(t, bob, "alice@a.test")) >= len(want) })

	// b now caches a's document with k1 and k2. A second rotation,
	// with b running: b must fetch the document again for k3.
	time.Sleep(1100 * time.Millisecond) // key ids are to the second
	a.d.stop()
	rotated = fedKeys(t, a, "rotate", "--retire-after", "10m")
	k3 := signer(rotated)
	if k3 == "" || k3 == k2 || !strings.HasPrefix(rotated[k2], "published until ") {
		t.Fatalf("second rotate: %q", rotated)
	}
	a.start(t)
	if list := fedKeys(t, a, "list"); len(list) != 3 || list[k3] != "signs" || !strings.HasPrefix(list[k1], "published until ") {
		t.Errorf("list after the second rotation: %q", list)
	}
	aliceX = dialXMPP(t, a.d.xmpp[0], "alice", "a.test", "pw-a")
	aliceX.send("bob@b.test", "after the second rotation")
	want = append(want, "in:after the second rotation")
	waitLong(t, "the message signed with k3 at b", func() bool { return len(conversationWith(t, bob, "alice@a.test")) >= len(want) })
	time.Sleep(300 * time.Millisecond) // room for a duplicate to show up
	if got := bodiesOf(conversationWith(t, bob, "alice@a.test")); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("bob's history:\n%q\nwant\n%q", got, want)
	}
	if strings.Contains(b.d.logText(), "bad-signature") {
		t.Errorf("b refused a request of a's during the rotation:\n%s", b.d.logText())
	}
	for _, n := range []*fedNode{b, a} {
		n.d.stop()
	}
}
