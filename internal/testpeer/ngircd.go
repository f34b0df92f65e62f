package testpeer

import (
	"errors"
	"testing"

	"github.com/switchboard/switchboard/internal/ngircd"
)

// StartNgircd runs Debian's ngircd in the foreground on a free loopback
// port, without TLS, and returns its address once it accepts connections.
// It skips the test when ngircd is not installed (.ci/run installs it),
// kills the server when the test ends, and prints the tail of its console
// log when the test failed. Tests that need TLS, restarts or other servers
// have the fuller harness in bridges/irc.
func StartNgircd(t testing.TB) string {
	t.Helper()
	s, err := ngircd.Start(ngircd.Options{Dir: t.TempDir()})
	if errors.Is(err, ngircd.ErrNotInstalled) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("ngircd log (tail):\n%s", s.Log())
		}
	})
	return s.Addr
}
