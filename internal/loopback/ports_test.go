package loopback

import (
	"net"
	"strconv"
	"testing"
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
