package xmpp

import (
	"testing"
	"time"
)

// TestSessionsGauge: the port counts bound sessions for the daemon's
// metrics, and a session that ends is counted out.
func TestSessionsGauge(t *testing.T) {
	p := startPort(t)
	a := loginRaw(t, p, "a")
	loginRaw(t, p, "b")
	if n := p.sessions.n.Load(); n != 2 {
		t.Fatalf("two bound sessions counted as %d", n)
	}
	a.send("</stream:stream>")
	deadline := time.Now().Add(10 * time.Second)
	for p.sessions.n.Load() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("after one stream closed the gauge says %d, want 1", p.sessions.n.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
