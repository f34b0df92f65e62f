package testpeer

import (
	"net"
	"strconv"
	"testing"
)

func TestFreeLoopbackPorts(t *testing.T) {
	ports := FreeLoopbackPorts(t, 3)
	seen := map[int]bool{}
	for _, p := range ports {
		if seen[p] || p <= 0 {
			t.Fatalf("ports %v are not distinct", ports)
		}
		seen[p] = true
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			t.Fatalf("port %d is not free: %v", p, err)
		}
		l.Close()
	}
}
