package testpeer

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/loopback"
	"github.com/switchboard/switchboard/internal/selfsigned"
)

// Ejabberd is Debian's ejabberd (23.01) on loopback as a second XMPP
// server to test against: domain localhost, STARTTLS (required) on Port
// with a self-signed certificate, roster, carbons, MAM, stream management
// and ping, everything in Mnesia in a temporary directory.
//
// It runs as the test's user without ejabberdctl (which wants to switch
// to the ejabberd account): erl starts the ejabberd application from
// Debian's code directory with the test's config, undistributed (no
// node name, so no epmd daemon is left behind), and registers the
// accounts with an -eval after the application started.
type Ejabberd struct {
	Domain   string
	Port     int
	CertFile string

	cmd    *exec.Cmd
	exited chan struct{}
	log    loopback.Tail
}

// ejabberdEbin is where Debian keeps ejabberd's own modules; its
// dependencies are Erlang libraries on the default code path.
const ejabberdEbin = "/usr/lib/x86_64-linux-gnu/ejabberd-23.01-1/ebin"

// StartEjabberd runs a throwaway ejabberd with the accounts it is given
// (user → password). It skips the test when ejabberd is not installed
// (.ci/run installs it), kills the server when the test ends and prints
// the tail of its log when the test failed.
func StartEjabberd(t testing.TB, users map[string]string) *Ejabberd {
	t.Helper()
	erl, err := exec.LookPath("erl")
	if _, statErr := os.Stat(ejabberdEbin); err != nil || statErr != nil {
		t.Skip("ejabberd is not installed (.ci/run installs it from Debian)")
	}
	dir := t.TempDir()
	e := &Ejabberd{Domain: "localhost", Port: FreeLoopbackPorts(t, 1)[0], CertFile: filepath.Join(dir, "cert.pem")}
	keyFile := filepath.Join(dir, "key.pem")
	if _, err := selfsigned.LoadOrCreate(e.CertFile, keyFile, e.Domain); err != nil {
		t.Fatal(err)
	}
	// ejabberd wants the certificate and its key in one file.
	cert, err1 := os.ReadFile(e.CertFile)
	key, err2 := os.ReadFile(keyFile)
	both := filepath.Join(dir, "both.pem")
	if err := firstErr(err1, err2, os.WriteFile(both, append(cert, key...), 0o600)); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "ejabberd.yml")
	cfg := fmt.Sprintf(`hosts: [%[1]q]
loglevel: warning
certfiles: [%[2]q]
listen:
  - port: %[3]d
    ip: "127.0.0.1"
    module: ejabberd_c2s
    starttls_required: true
auth_method: internal
auth_password_format: plain
acl:
  local:
    user_regexp: ""
access_rules:
  local:
    allow: local
  c2s:
    allow: all
modules:
  mod_roster: {}
  mod_carboncopy: {}
  mod_mam:
    default: always
    db_type: mnesia
  mod_stream_mgmt: {}
  mod_ping: {}
  mod_disco: {}
`, e.Domain, both, e.Port)
	if err := os.WriteFile(conf, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var register []string
	for user, pw := range users {
		register = append(register, fmt.Sprintf("{ok, _} = {ejabberd_auth:try_register(<<%q>>, <<%q>>, <<%q>>), %q}", user, e.Domain, pw, user))
	}
	eval := strings.Join(append(register, fmt.Sprintf("io:format(%q)", accountsReady+"~n")), ", ")
	e.cmd = exec.Command(erl, "-noinput", "-pa", ejabberdEbin,
		"-mnesia", "dir", strconv.Quote(filepath.Join(dir, "db")),
		"-ejabberd", "config", strconv.Quote(conf), "log_path", strconv.Quote(filepath.Join(dir, "ejabberd.log")),
		"-s", "ejabberd", "-eval", eval)
	e.cmd.Dir = dir
	e.cmd.Env = append(os.Environ(), "HOME="+dir) // erl writes its cookie there
	e.cmd.Stdout, e.cmd.Stderr = &e.log, &e.log
	// erl is a script that execs the VM; its own group lets Stop end it
	// and whatever it started, and the VM dies with the test binary.
	e.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := e.cmd.Start(); err != nil {
		t.Fatalf("start ejabberd: %v", err)
	}
	e.exited = make(chan struct{})
	go func() { e.cmd.Wait(); close(e.exited) }()
	t.Cleanup(func() {
		e.stop()
		if t.Failed() {
			t.Logf("ejabberd log (tail):\n%s", e.log.String())
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(e.Port)), time.Second)
		if err == nil {
			conn.Close()
			break
		}
		select {
		case <-e.exited:
			t.Fatalf("ejabberd exited at start: %v\n%s", e.cmd.ProcessState, e.log.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("ejabberd did not listen on %d: %v\n%s", e.Port, err, e.log.String())
		}
	}
	waitRegistered(t, e)
	return e
}

// waitRegistered waits until the -eval that registers the accounts has
// printed its marker; a failed registration ends the VM with a badmatch
// naming the user.
func waitRegistered(t testing.TB, e *Ejabberd) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for !strings.Contains(e.log.String(), accountsReady) {
		select {
		case <-e.exited:
			t.Fatalf("ejabberd stopped while registering accounts:\n%s", e.log.String())
		case <-deadline:
			t.Fatalf("ejabberd did not register the accounts:\n%s", e.log.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

const accountsReady = "switchboard-accounts-ready"

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func (e *Ejabberd) stop() {
	if e.cmd == nil || e.cmd.Process == nil {
		return
	}
	syscall.Kill(-e.cmd.Process.Pid, syscall.SIGKILL) // the group Start made
	<-e.exited
}

// Fingerprint is the tls-fingerprint setting that pins the server's
// self-signed certificate.
func (e *Ejabberd) Fingerprint(t testing.TB) string {
	t.Helper()
	return certFingerprint(t, e.CertFile)
}

// certFingerprint is the SHA-256 of the certificate in a PEM file, in
// hex, as the XMPP bridge's tls-fingerprint setting takes it.
func certFingerprint(t testing.TB, file string) string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("no PEM block in %s", file)
	}
	sum := sha256.Sum256(block.Bytes)
	return hex.EncodeToString(sum[:])
}
