package xmpp

import (
	"testing"
	"time"
)

func TestDeliveryRate(t *testing.T) {
	r := deliveryRate{above: 1000}
	start := time.Unix(1000, 0)
	r.add(0, start) // opens the first window after a long quiet
	at := start
	// feed adds n stanzas every 10 ms for a second and returns the last
	// answer.
	feed := func(n int) bool {
		var busy bool
		for range 100 {
			at = at.Add(10 * time.Millisecond)
			r.add(n, at)
			busy = r.holding()
		}
		return busy
	}
	if feed(5) { // 500 a second
		t.Fatal("busy at half the threshold")
	}
	if !feed(12) { // 1,200 a second
		t.Fatal("not busy above the threshold")
	}
	if !feed(8) { // 800: between three quarters and the threshold
		t.Fatal("busy ended above three quarters of the threshold")
	}
	if feed(7) { // 700
		t.Fatal("still busy below three quarters of the threshold")
	}
	// A long quiet spell: the next window's rate is its count over all of it.
	at = at.Add(time.Hour)
	if r.add(1000, at); r.holding() {
		t.Fatal("busy after an hour's quiet")
	}
	always := deliveryRate{}
	if always.add(1, at); !always.holding() {
		t.Fatal("a zero threshold is busy at any rate")
	}
}
