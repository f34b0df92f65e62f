package testpeer

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// StartNgircd runs Debian's ngircd in the foreground on a free loopback
// port, without TLS, and returns its address once it accepts connections.
// It skips the test when ngircd is not installed (.ci/run installs it),
// kills the server when the test ends, and prints the tail of its console
// log when the test failed. Tests that need TLS, restarts or other servers
// have the fuller harness in bridges/irc.
func StartNgircd(t testing.TB) string {
	t.Helper()
	bin := ngircdBinary(t)
	dir := t.TempDir()
	port := FreeLoopbackPorts(t, 1)[0]
	conf := filepath.Join(dir, "ngircd.conf")
	// MaxConnectionsIP: every client of a test comes from 127.0.0.1.
	err := os.WriteFile(conf, []byte(fmt.Sprintf(`[Global]
	Name = irc.testpeer.test
	Info = switchboard test server
	AdminInfo1 = switchboard tests
	AdminInfo2 = loopback
	AdminEMail = admin@example.test
	Listen = 127.0.0.1
	Ports = %d
	PidFile = %s
[Limits]
	MaxConnectionsIP = 100
	MaxJoins = 100
[Options]
	DNS = no
	Ident = no
	PAM = no
`, port, filepath.Join(dir, "ngircd.pid"))), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	log := &tail{}
	// -n: stay in the foreground and log to the console.
	cmd := exec.Command(bin, "-n", "-f", conf)
	cmd.Stdout, cmd.Stderr = log, log
	// Take the server down with us if the test binary dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start ngircd: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("ngircd log (tail):\n%s", log.String())
		}
	})
	addr := net.JoinHostPort("127.0.0.1", fmt.Sprint(port))
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return addr
		}
		select {
		case <-exited:
			t.Fatalf("ngircd exited at start: %v\n%s", cmd.ProcessState, log.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("ngircd did not listen on %s within 10 s: %v\n%s", addr, err, log.String())
		}
	}
}

// ngircdBinary finds ngircd, which Debian puts in /usr/sbin (not always on
// PATH), or skips the test.
func ngircdBinary(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("ngircd"); err == nil {
		return p
	}
	if fi, err := os.Stat("/usr/sbin/ngircd"); err == nil && !fi.IsDir() {
		return "/usr/sbin/ngircd"
	}
	t.Skip("ngircd is not installed (.ci/run installs it from Debian)")
	return ""
}

// tail keeps the last 64 KiB written to it.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

const tailMax = 64 << 10

func (b *tail) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > tailMax {
		b.buf = append([]byte(nil), b.buf[len(b.buf)-tailMax:]...)
	}
	return len(p), nil
}

func (b *tail) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
