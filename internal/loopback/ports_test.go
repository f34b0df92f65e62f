package loopback

import (
	"errors"
	"net"
	"strconv"
	"testing"
	"time"
)

// TestFreePorts: the ports are distinct and can be listened on.
func TestFreePorts(t *testing.T) {
	ports, err := FreePorts(3)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if seen[p] || p <= 0 {
			t.Fatalf("ports %v: not distinct and positive", ports)
		}
		seen[p] = true
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			t.Fatalf("port %d is not free: %v", p, err)
		}
		l.Close()
	}
}

// TestRaiseFileLimit: the limit never drops, and a modest raise is granted.
func TestRaiseFileLimit(t *testing.T) {
	before := RaiseFileLimit(0)
	if got := RaiseFileLimit(before + 1); got < before {
		t.Fatalf("the limit dropped from %d to %d", before, got)
	}
}

// TestWaitListening: it returns at once for a listening port, ErrExited
// when the server is gone, and an error after the timeout otherwise.
func TestWaitListening(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := WaitListening(addr, nil, time.Second); err != nil {
		t.Fatal(err)
	}
	l.Close()
	exited := make(chan struct{})
	close(exited)
	if err := WaitListening(addr, exited, time.Second); !errors.Is(err, ErrExited) {
		t.Fatalf("with the server gone: %v, want ErrExited", err)
	}
	if err := WaitListening(addr, nil, 100*time.Millisecond); err == nil || errors.Is(err, ErrExited) {
		t.Fatalf("with nothing listening: %v, want a timeout", err)
	}
}

// TestMachineCPU: the counters move forward and busy never exceeds total.
func TestMachineCPU(t *testing.T) {
	busy0, total0 := MachineCPU()
	deadline := time.Now().Add(50 * time.Millisecond)
	for time.Now().Before(deadline) {
	}
	busy1, total1 := MachineCPU()
	if total0 == 0 || busy1 < busy0 || total1 < total0 || busy1 > total1 {
		t.Fatalf("busy %d → %d, total %d → %d", busy0, busy1, total0, total1)
	}
}
