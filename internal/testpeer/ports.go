package testpeer

import (
	"testing"

	"github.com/switchboard/switchboard/internal/loopback"
)

// FreeLoopbackPorts returns n distinct ports that were free on 127.0.0.1
// a moment ago, for a server that must be told its ports in a file.
func FreeLoopbackPorts(t testing.TB, n int) []int {
	t.Helper()
	ports, err := loopback.FreePorts(n)
	if err != nil {
		t.Fatal(err)
	}
	return ports
}
