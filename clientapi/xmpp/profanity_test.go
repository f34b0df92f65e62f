package xmpp

// This file drives profanity (Debian's console XMPP client) under tmux, as a
// person at a terminal would: keys go in with send-keys, the screen comes
// back with capture-pane. Each client gets its own tmux server (a socket in
// t.TempDir()) and its own HOME, so nothing of the user's is read or
// touched. On failure the last screen and profanity's log are printed.

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// profanityOpts says where profanity connects.
type profanityOpts struct {
	JID, Password string // bare JID
	Host          string // "" means 127.0.0.1
	Port          int
	DirectTLS     bool // "tls legacy" (XEP-0368) instead of STARTTLS
}

// profanityClient is one profanity in a detached tmux session.
type profanityClient struct {
	opts profanityOpts
	tmux string
	sock string
	dir  string
	env  []string
}

// startProfanity starts profanity, not yet connected (see Login). It skips
// the test when profanity or tmux is not installed.
func startProfanity(t testing.TB, opts profanityOpts) *profanityClient {
	t.Helper()
	prof, err := exec.LookPath("profanity")
	if err != nil {
		t.Skip("profanity is not installed (.ci/run installs it from Debian)")
	}
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		t.Skip("tmux is not installed (.ci/run installs it from Debian)")
	}
	if opts.Host == "" {
		opts.Host = "127.0.0.1"
	}
	dir := t.TempDir()
	p := &profanityClient{opts: opts, tmux: tmux, sock: filepath.Join(dir, "tmux.sock"), dir: dir}
	for _, sub := range []string{"config", "data", "cache"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for _, kv := range os.Environ() {
		switch strings.SplitN(kv, "=", 2)[0] {
		case "HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "TMUX", "TERM":
			continue
		}
		p.env = append(p.env, kv)
	}
	p.env = append(p.env, "HOME="+dir, "XDG_CONFIG_HOME="+filepath.Join(dir, "config"),
		"XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_CACHE_HOME="+filepath.Join(dir, "cache"),
		"TERM=xterm-256color")
	p.run(t, "new-session", "-d", "-s", "prof", "-x", "200", "-y", "50",
		prof+" --log DEBUG --logfile "+filepath.Join(dir, "profanity.log"))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("profanity screen:\n%s", p.screen())
			if b, err := os.ReadFile(filepath.Join(dir, "profanity.log")); err == nil {
				if len(b) > 32<<10 {
					b = b[len(b)-32<<10:]
				}
				t.Logf("profanity log (tail):\n%s", b)
			}
		}
		exec.Command(p.tmux, "-S", p.sock, "kill-server").Run()
	})
	p.WaitFor(t, slixWait, "to show complete help")
	return p
}

func (p *profanityClient) run(t testing.TB, args ...string) string {
	t.Helper()
	cmd := exec.Command(p.tmux, append([]string{"-S", p.sock}, args...)...)
	cmd.Env = p.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("tmux %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (p *profanityClient) screen() string {
	out, err := exec.Command(p.tmux, "-S", p.sock, "capture-pane", "-p", "-t", "prof").CombinedOutput()
	if err != nil {
		return "(capture-pane: " + err.Error() + ")"
	}
	return string(out)
}

// Type types line into profanity and presses Enter.
func (p *profanityClient) Type(t testing.TB, line string) {
	t.Helper()
	p.run(t, "send-keys", "-t", "prof", "-l", line)
	p.run(t, "send-keys", "-t", "prof", "Enter")
}

// Screen returns what the terminal shows now.
func (p *profanityClient) Screen(t testing.TB) string {
	t.Helper()
	return p.run(t, "capture-pane", "-p", "-t", "prof")
}

// WaitFor waits until the screen shows want and returns that screen.
func (p *profanityClient) WaitFor(t testing.TB, timeout time.Duration, want string) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := p.Screen(t)
		if strings.Contains(s, want) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("profanity: %q not on screen within %v:\n%s", want, timeout, s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Login connects with /connect, trusting the server's certificate, types
// the password at the prompt and waits until profanity says it is online.
func (p *profanityClient) Login(t testing.TB) {
	t.Helper()
	tlsMode := "trust"
	if p.opts.DirectTLS {
		tlsMode = "legacy"
	}
	p.Type(t, "/connect "+p.opts.JID+" server "+p.opts.Host+" port "+strconv.Itoa(p.opts.Port)+" tls "+tlsMode)
	p.WaitFor(t, slixWait, "password")
	p.Type(t, p.opts.Password)
	p.WaitFor(t, slixWait, "logged in successfully")
}

// Msg opens a chat with to and sends body.
func (p *profanityClient) Msg(t testing.TB, to, body string) {
	t.Helper()
	p.Type(t, "/msg "+to+" "+body)
}

// TestProfanityHarnessAgainstProsody: profanity logs in to Prosody and a
// /msg reaches a slixmpp client.
func TestProfanityHarnessAgainstProsody(t *testing.T) {
	t.Parallel()
	srv := startSlixProsody(t, map[string]string{"alice": "pw", "bob": "pw"})
	bob := startSlix(t, slixOpts{JID: "bob@" + srv.Domain, Password: "pw", Port: srv.Port, Resource: "phone"})
	bob.Expect(t, slixWait, slixEv("session_start"))

	p := startProfanity(t, profanityOpts{JID: "alice@" + srv.Domain, Password: "pw", Port: srv.Port})
	p.Login(t)
	p.Msg(t, "bob@"+srv.Domain, "hello from profanity")
	got := bob.Expect(t, slixWait, slixEv("message", "body", "hello from profanity"))
	if from, _ := got["from"].(string); !strings.HasPrefix(from, "alice@"+srv.Domain+"/") {
		t.Errorf("bob got %v", got)
	}
	bob.Do(t, map[string]any{"cmd": "send", "to": got["from"], "body": "hello from slixmpp", "type": "chat"})
	p.WaitFor(t, slixWait, "hello from slixmpp")
}
