package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/switchboard/switchboard/history"
)

// The tests in this file run the real binary, built once.
var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// binary builds the switchboard command for the tests that run it.
func binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		if binDir, buildErr = os.MkdirTemp("", "switchboard-test-"); buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "switchboard")
		// No VCS stamp: the build must not depend on git being installed.
		out, err := exec.Command("go", "build", "-tags", "sqlite_fts5", "-buildvcs=false", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// daemon is a running "switchboard serve".
type daemon struct {
	t       testing.TB
	cmd     *exec.Cmd
	stdout  bytes.Buffer // read only once exited is closed
	serving chan string  // the HTTPS address, once logged
	xmpp    []string     // the XMPP addresses: STARTTLS, direct TLS
	exited  chan struct{}
	waitErr error

	mu  sync.Mutex
	log []string
}

var servingAddr = regexp.MustCompile(`\bmsg=serving\b.* https=(\S+) xmpp=(\S+)`)

// startDaemon runs serve on dataDir with the HTTPS port on a free port of
// 127.0.0.1 and waits until it serves.
func startDaemon(t testing.TB, dataDir string) (*daemon, string) {
	t.Helper()
	return startDaemonWith(t, "--data-dir", dataDir, "--http-addr", "127.0.0.1:0")
}

// startDaemonWith runs serve with args and the XMPP ports on free ports of
// 127.0.0.1, and waits until it serves.
func startDaemonWith(t testing.TB, args ...string) (*daemon, string) {
	t.Helper()
	d := &daemon{t: t, serving: make(chan string, 1), exited: make(chan struct{})}
	d.cmd = exec.Command(binary(t), append(append([]string{"serve"}, args...),
		"--xmpp-addr", "127.0.0.1:0", "--xmpp-tls-addr", "127.0.0.1:0")...)
	d.cmd.Stdout = &d.stdout
	stderr, err := d.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			d.mu.Lock()
			d.log = append(d.log, line)
			d.mu.Unlock()
			if m := servingAddr.FindStringSubmatch(line); m != nil {
				d.mu.Lock()
				d.xmpp = strings.Split(m[2], ",")
				d.mu.Unlock()
				select {
				case d.serving <- m[1]:
				default:
				}
			}
		}
		// The pipe is read to its end before Wait closes it.
		d.waitErr = d.cmd.Wait()
		close(d.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-d.exited:
		default:
			d.cmd.Process.Kill()
			<-d.exited
		}
	})
	select {
	case addr := <-d.serving:
		return d, addr
	case <-d.exited:
		t.Fatalf("serve exited before serving (%v); log:\n%s", d.waitErr, d.logText())
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not log msg=serving within 30 s; log:\n%s", d.logText())
	}
	return nil, ""
}

func (d *daemon) logText() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return strings.Join(d.log, "\n")
}

// stop sends SIGTERM and checks the daemon exits cleanly within 10 s, its
// last word being "stopped", having logged no warning or error but those
// containing one of expected. It returns what it printed on stdout.
func (d *daemon) stop(expected ...string) string {
	d.t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		d.t.Fatal(err)
	}
	select {
	case <-d.exited:
	case <-time.After(10 * time.Second):
		d.t.Fatalf("serve still runs 10 s after SIGTERM; log:\n%s", d.logText())
	}
	if d.waitErr != nil {
		d.t.Fatalf("serve exited with %v after SIGTERM; log:\n%s", d.waitErr, d.logText())
	}
	d.mu.Lock()
	last := d.log[len(d.log)-1]
	d.mu.Unlock()
	if !strings.Contains(last, "msg=stopped") {
		d.t.Errorf("serve's last log line is %q, want msg=stopped; log:\n%s", last, d.logText())
	}
	log := d.logText()
	for _, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, "level=ERROR") && !strings.Contains(line, "level=WARN") {
			continue
		}
		if !slices.ContainsFunc(expected, func(e string) bool { return strings.Contains(line, e) }) {
			d.t.Errorf("serve logged problems:\n%s", log)
			break
		}
	}
	return d.stdout.String()
}

// healthz checks GET /healthz over TLS, trusting only the daemon's
// self-signed certificate for the name localhost.
func healthz(t testing.TB, addr string, certPEM []byte) {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(certPEM) {
		t.Fatal("tls/cert.pem holds no certificate")
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	resp, err := client.Get("https://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || body.Status != "ok" || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /healthz: %s, %s, %+v", resp.Status, resp.Header.Get("Content-Type"), body)
	}
}

func checkMode(t testing.TB, path string, want fs.FileMode) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != want {
		t.Errorf("%s has mode %v, want %v", path, got, want)
	}
}

func TestServe(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data") // serve creates it
	d, addr := startDaemon(t, dir)

	certFile, keyFile := filepath.Join(dir, "tls", "cert.pem"), filepath.Join(dir, "tls", "key.pem")
	cert, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	healthz(t, addr, cert)

	// History and key are the owner's alone, SQLite's side files included.
	checkMode(t, dir, 0o700)
	checkMode(t, filepath.Join(dir, "tls"), 0o700)
	checkMode(t, keyFile, 0o600)
	checkMode(t, filepath.Join(dir, "switchboard.db"), 0o600)
	for _, side := range []string{"-wal", "-shm"} {
		if _, err := os.Stat(filepath.Join(dir, "switchboard.db"+side)); err == nil {
			checkMode(t, filepath.Join(dir, "switchboard.db"+side), 0o600)
		}
	}

	// Admin commands work while the daemon runs.
	out, _, err := runIn(t, dir, "pw\n", "user", "add", "alice", "--password-stdin")
	if err != nil || out != "created user alice@localhost\n" {
		t.Fatalf("user add while serving: %q, %v", out, err)
	}
	// The new user logs in on the XMPP port at once (direct TLS).
	d.mu.Lock()
	xmppAddrs := d.xmpp
	d.mu.Unlock()
	if len(xmppAddrs) != 2 {
		t.Fatalf("serve logged XMPP addresses %v, want STARTTLS and direct TLS", xmppAddrs)
	}
	if got := xmppPlainLogin(t, xmppAddrs[1], "alice", "pw"); !strings.Contains(got, "<success") {
		t.Errorf("alice's XMPP login answered %q", got)
	}
	if got := xmppPlainLogin(t, xmppAddrs[1], "alice", "wrong"); !strings.Contains(got, "<not-authorized") {
		t.Errorf("a wrong XMPP password answered %q", got)
	}
	// And over XMPP on WebSocket, on the HTTPS port.
	if got := websocketPlainLogin(t, addr, "alice", "pw"); !strings.Contains(got, "<success") {
		t.Errorf("alice's XMPP login over WebSocket answered %q", got)
	}
	out, _, err = runIn(t, dir, "", "user", "list")
	if err != nil || !regexp.MustCompile(`(?m)^admin +true +forever `).MatchString(out) ||
		!regexp.MustCompile(`(?m)^alice +false +forever `).MatchString(out) {
		t.Fatalf("user list while serving: %q, %v", out, err)
	}

	// File uploads are served on the HTTPS port, under the public
	// address derived from the port the daemon listens on.
	var missing map[string]any
	api := newAPIClient(t, addr, dir)
	api.do("GET", "/upload/aaaaaaaaaaaaaaaaaaaaaaaaaa/x.png", nil, http.StatusNotFound, &missing)
	if missing["detail"] != "no such upload" {
		t.Errorf("an unknown upload answered %v", missing)
	}
	if _, err := os.Stat(filepath.Join(dir, "uploads")); err != nil {
		t.Errorf("the upload directory: %v", err)
	}
	checkMode(t, filepath.Join(dir, "uploads"), 0o700)

	// Guesses count on every port together: bob's account, locked by
	// five wrong passwords over the HTTP API, refuses his right one on
	// the XMPP port.
	if _, _, err := runIn(t, dir, "bobpw\n", "user", "add", "bob", "--password-stdin"); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		api.do("POST", "/api/v1/tokens", map[string]string{"username": "bob", "password": "guess"}, http.StatusUnauthorized, nil)
	}
	if got := xmppPlainLogin(t, xmppAddrs[1], "bob", "bobpw"); strings.Contains(got, "<success") {
		t.Errorf("bob's account, locked over HTTP, still logs in over XMPP: %q", got)
	}

	stdout := d.stop()
	m := regexp.MustCompile(`^Created the first user: admin@localhost\nPassword \(shown only this once\): (\S+)\n$`).
		FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("first start printed %q", stdout)
	}
	st, err := history.Open(context.Background(), filepath.Join(dir, "switchboard.db"),
		history.Options{Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	for user, pw := range map[string]string{"admin": m[1], "alice": "pw"} {
		if u, err := st.CheckPassword(context.Background(), user, pw); err != nil || u.Admin != (user == "admin") {
			t.Errorf("%s does not log in with %q: %+v, %v", user, pw, u, err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	// A second start keeps the users and the certificate.
	d, addr = startDaemon(t, dir)
	healthz(t, addr, cert)
	if stdout := d.stop(); stdout != "" {
		t.Errorf("second start printed %q", stdout)
	}
	for file, was := range map[string][]byte{certFile: cert, keyFile: key} {
		if now, err := os.ReadFile(file); err != nil || !bytes.Equal(now, was) {
			t.Errorf("%s changed on the second start (%v)", file, err)
		}
	}
}

// xmppPlainLogin opens a direct TLS stream and tries SASL PLAIN, returning
// what the server answered to <auth/>.
func xmppPlainLogin(t testing.TB, addr, user, password string) string {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "<?xml version='1.0'?><stream:stream to='localhost' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>")
	r := bufio.NewReader(c)
	readUntil := func(end string) string {
		var b strings.Builder
		for !strings.Contains(b.String(), end) {
			ch, err := r.ReadByte()
			if err != nil {
				t.Fatalf("reading the XMPP stream after %q: %v", b.String(), err)
			}
			b.WriteByte(ch)
		}
		return b.String()
	}
	readUntil("</stream:features>")
	fmt.Fprintf(c, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>%s</auth>",
		base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+password)))
	return readUntil("</")
}

// websocketPlainLogin opens an XMPP stream over WebSocket (RFC 7395) on
// the HTTPS address and tries SASL PLAIN, returning the answer to <auth/>.
func websocketPlainLogin(t testing.TB, addr, user, password string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	c, _, err := websocket.Dial(ctx, "wss://"+addr+"/xmpp-websocket", &websocket.DialOptions{Subprotocols: []string{"xmpp"}, HTTPClient: client})
	if err != nil {
		t.Fatalf("dialing XMPP over WebSocket: %v", err)
	}
	defer c.CloseNow()
	send := func(s string) {
		if err := c.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	next := func() string {
		_, msg, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("reading XMPP over WebSocket: %v", err)
		}
		return string(msg)
	}
	send("<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>")
	if o := next(); !strings.HasPrefix(o, "<open ") {
		t.Fatalf("the server opened with %q", o)
	}
	if f := next(); !strings.Contains(f, "<mechanism>PLAIN</mechanism>") {
		t.Fatalf("features %q", f)
	}
	send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" +
		base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+password)) + "</auth>")
	return next()
}

// serveFails runs serve, which must exit with status 1 printing exactly
// want on stderr and nothing on stdout.
func serveFails(t *testing.T, want string, args ...string) {
	t.Helper()
	cmd := exec.Command(binary(t), append([]string{"serve"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("serve %s: got %v, want exit status 1; stderr %q", strings.Join(args, " "), err, stderr.String())
	}
	if stderr.String() != want || stdout.Len() != 0 {
		t.Fatalf("serve %s printed\nstdout %q\nstderr %q\nwant stderr %q", strings.Join(args, " "), stdout.String(), stderr.String(), want)
	}
}

func TestServeRefusesBadConfig(t *testing.T) {
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "data")
	file := filepath.Join(tmp, "switchboard.toml")
	conf := "domain = \"example.org\"\n\n[http]\nadr = \"127.0.0.1:0\"\n"
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	serveFails(t, "switchboard: "+file+`:4: unknown key "http.adr"`+"\n", "--config", file, "--data-dir", dir)
	serveFails(t, `switchboard: http.addr: "nonsense" is not HOST:PORT`+"\n", "--http-addr", "nonsense", "--data-dir", dir)
	// A refused start creates nothing.
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a refused start created %s (%v)", dir, err)
	}
}
