package testpeer

import (
	"net"
	"testing"
)

// FreeLoopbackPorts returns n distinct ports that were free on 127.0.0.1
// a moment ago, for a server that must be told its ports in a file.
func FreeLoopbackPorts(t testing.TB, n int) []int {
	t.Helper()
	var ports []int
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}
