package ngircd

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/switchboard/switchboard/internal/loopback"
)

// ErrNotInstalled is returned by Start when no ngircd binary is found.
var ErrNotInstalled = errors.New("ngircd is not installed (.ci/run installs it from Debian)")

// Options adjust the server's configuration.
type Options struct {
	// Dir holds the configuration and pid file; it must exist.
	Dir string
	// MaxConnectionsIP bounds the connections from one address, and every
	// client comes from 127.0.0.1; zero means 100.
	MaxConnectionsIP int
	// NoPenalty turns off the flood protection that holds a client to
	// about three lines a second (MaxPenaltyTime = 0), for load clients.
	NoPenalty bool
}

// Server is a running ngircd.
type Server struct {
	// Addr is the plain (no TLS) client port, HOST:PORT on 127.0.0.1.
	Addr   string
	cmd    *exec.Cmd
	exited chan struct{}
	log    *loopback.Tail
}

// Binary finds ngircd, which Debian puts in /usr/sbin (not always on
// PATH).
func Binary() (string, error) {
	if p, err := exec.LookPath("ngircd"); err == nil {
		return p, nil
	}
	if fi, err := os.Stat("/usr/sbin/ngircd"); err == nil && !fi.IsDir() {
		return "/usr/sbin/ngircd", nil
	}
	return "", ErrNotInstalled
}

// Start runs ngircd without TLS on a free loopback port and returns once
// it accepts connections.
func Start(o Options) (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	ports, err := loopback.FreePorts(1)
	if err != nil {
		return nil, err
	}
	if o.MaxConnectionsIP == 0 {
		o.MaxConnectionsIP = 100
	}
	penalty := -1 // ngircd's default: no limit
	if o.NoPenalty {
		penalty = 0
	}
	conf := filepath.Join(o.Dir, "ngircd.conf")
	err = os.WriteFile(conf, []byte(fmt.Sprintf(`[Global]
	Name = irc.testpeer.test
	Info = switchboard test server
	AdminInfo1 = switchboard tests
	AdminInfo2 = loopback
	AdminEMail = admin@example.test
	Listen = 127.0.0.1
	Ports = %d
	PidFile = %s
[Limits]
	MaxConnectionsIP = %d
	MaxJoins = 100
	MaxPenaltyTime = %d
[Options]
	DNS = no
	Ident = no
	PAM = no
`, ports[0], filepath.Join(o.Dir, "ngircd.pid"), o.MaxConnectionsIP, penalty)), 0o600)
	if err != nil {
		return nil, fmt.Errorf("writing ngircd's configuration: %w", err)
	}
	s := &Server{log: &loopback.Tail{}, exited: make(chan struct{})}
	// -n: stay in the foreground and log to the console.
	s.cmd = exec.Command(bin, "-n", "-f", conf)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	// Take the server down with us if the starting process dies.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting ngircd: %w", err)
	}
	go func() { s.cmd.Wait(); close(s.exited) }()
	s.Addr = net.JoinHostPort("127.0.0.1", fmt.Sprint(ports[0]))
	switch err := loopback.WaitListening(s.Addr, s.exited, 10*time.Second); {
	case errors.Is(err, loopback.ErrExited):
		return nil, fmt.Errorf("ngircd exited at start: %v\n%s", s.cmd.ProcessState, s.log.String())
	case err != nil:
		s.Stop()
		return nil, fmt.Errorf("ngircd: %w\n%s", err, s.log.String())
	}
	return s, nil
}

// Stop kills the server and waits for it to exit.
func (s *Server) Stop() {
	s.cmd.Process.Kill()
	<-s.exited
}

// Log is the tail of the server's console log.
func (s *Server) Log() string { return s.log.String() }
