package xmpp

// This file drives a real XMPP client, slixmpp (Debian's python3-slixmpp),
// from Go tests: testdata/slixclient.py reads JSON commands on stdin and
// writes JSON events on stdout, one object a line. startSlix runs it under
// /usr/bin/python3 (the only interpreter Debian installs slixmpp for) and
// kills it when the test ends; its stderr (slixmpp's DEBUG log, every stanza
// sent and received) is kept and printed when the test fails.
//
// Commands (any command may carry "tag", echoed in the events answering it;
// those events also carry "cmd"):
//
//	{"cmd":"send","to":J,"body":S,"type":"chat"|"groupchat"|"normal","id":S,"thread":S}
//	{"cmd":"roster"}                      -> roster
//	{"cmd":"mam","to":J,"with":J,"start":T,"end":T,"before":S,"after":S,"max":N,
//	 "fulltext":S,"flip":bool}            -> mam_result or iq_error
//	    XEP-0313 urn:xmpp:mam:2 with RSM; "before":"" asks for the last page;
//	    "fulltext" is the XEP-0431 field {urn:xmpp:fulltext:0}fulltext; "to"
//	    queries another archive (a MUC).
//	{"cmd":"carbons_enable"}, {"cmd":"carbons_disable"} -> iq_result or iq_error
//	{"cmd":"presence","show":S,"status":S,"type":S,"to":J,"priority":N}
//	{"cmd":"join","room":J,"nick":S,"history":N}   MUC join presence
//	{"cmd":"iq","xml":"<iq type='get' to='...'>...</iq>"} -> iq_result or iq_error
//	    an element without xmlns is put in jabber:client; an id is added if missing
//	{"cmd":"ping","to":J}                 -> iq_result or iq_error (XEP-0199)
//	{"cmd":"csi","state":"active"|"inactive"}   needs CSI
//	{"cmd":"raw","xml":S}                 bytes written on the stream as they are
//	{"cmd":"drop"}                        abort the TCP connection: no </stream>,
//	    no TLS close_notify; with SM the client then reconnects at once and
//	    resumes (resumed) or, failing that, binds anew (sm_failed, session_start)
//	{"cmd":"quit"}                        close the stream, wait up to 2 s, exit
//
// Events:
//
//	connected, session_start {jid}, resumed, disconnected {reason}, exit
//	auth_failed {condition, text}         the client exits after it
//	stream_error {condition, text}, connection_failed {text}
//	sm_enabled {id, resume}, sm_failed {condition}, csi_enabled
//	message {from, to, type, body, id, subject, thread, stanza_id, stanza_id_by,
//	         origin_id, delay, carbon: "sent"|"received"|null, carbon_from,
//	         error_condition, error_text (type error only), xml}
//	    for a carbon, the fields are the forwarded message's and carbon_from
//	    is the wrapper's from
//	presence {from, to, type ("available" when absent), show, status, priority,
//	          error_condition, error_text, xml}
//	roster {items: [{jid, name, groups, subscription, ask}], ver}
//	mam_result {messages: [{archive_id, stamp, from, to, type, body, id,
//	            stanza_id, ..., result_from}], first, first_index, last, count,
//	            complete, queryid}
//	mam_message {...}                     a MAM result for no query of ours
//	iq_result {id, xml}, iq_error {id, condition, text, xml}
//	    condition "timeout" when no answer came within 30 s
//	error {text}                          a command failed in the client
//
// JSON numbers arrive in Go as float64.
//
// slixmpp holds stanzas sent while it has no session (after a drop without
// SM, or before session_start) until the next session starts, so an iq
// command then answers only with iq_error "timeout" after 30 s.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/testpeer"
)

// slixPython is the interpreter Debian's python3-slixmpp is installed for;
// a python3 earlier on PATH (pyenv) cannot import it.
const slixPython = "/usr/bin/python3"

// slixWait is a generous time for one exchange on loopback.
const slixWait = 15 * time.Second

// slixOpts says how one slixmpp client connects.
type slixOpts struct {
	JID, Password string // bare JID: user@domain
	Host          string // "" means 127.0.0.1
	Port          int
	DirectTLS     bool     // TLS from the first byte (XEP-0368); otherwise STARTTLS, required
	Resource      string   // "" lets the server choose
	SM            bool     // XEP-0198 with resumption
	CSI           bool     // XEP-0352 (the csi command)
	NoPresence    bool     // no initial presence after session start
	Env           []string // added to the environment, e.g. SSL_CERT_FILE for HTTPS
}

// slixClient is one running slixclient.py.
type slixClient struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{} // closed when stdout ends

	writeMu sync.Mutex

	mu     sync.Mutex
	queue  []map[string]any
	eof    bool
	wake   chan struct{} // cap 1: something was queued, or eof
	stderr slixTail
	seen   []string // the last events Expect skipped or returned

	closeOnce sync.Once
}

var (
	slixCheckOnce sync.Once
	slixCheckErr  error
)

// startSlix starts a client and returns at once; wait for session_start (or
// auth_failed) with Expect. It skips the test when /usr/bin/python3 cannot
// import slixmpp.
func startSlix(t testing.TB, opts slixOpts) *slixClient {
	t.Helper()
	slixCheckOnce.Do(func() {
		out, err := exec.Command(slixPython, "-c", "import slixmpp").CombinedOutput()
		if err != nil {
			slixCheckErr = fmt.Errorf("%v: %s", err, bytes.TrimSpace(out))
		}
	})
	if slixCheckErr != nil {
		t.Skipf("%s cannot import slixmpp (.ci/run installs python3-slixmpp): %v", slixPython, slixCheckErr)
	}
	script, err := filepath.Abs(filepath.Join("testdata", "slixclient.py"))
	if err != nil {
		t.Fatal(err)
	}
	host := opts.Host
	if host == "" {
		host = "127.0.0.1"
	}
	args := []string{"-u", script,
		"--jid", opts.JID, "--password", opts.Password,
		"--host", host, "--port", strconv.Itoa(opts.Port), "--tls", "starttls"}
	if opts.DirectTLS {
		args[len(args)-1] = "direct"
	}
	if opts.Resource != "" {
		args = append(args, "--resource", opts.Resource)
	}
	if opts.SM {
		args = append(args, "--sm")
	}
	if opts.CSI {
		args = append(args, "--csi")
	}
	if opts.NoPresence {
		args = append(args, "--no-presence")
	}

	name := opts.JID
	if opts.Resource != "" {
		name += "/" + opts.Resource
	}
	c := &slixClient{
		name: name,
		done: make(chan struct{}),
		wake: make(chan struct{}, 1),
	}
	c.cmd = exec.Command(slixPython, args...)
	c.cmd.Env = append(slixEnv(), opts.Env...)
	c.cmd.Stderr = &c.stderr
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start slixclient: %v", err)
	}
	go c.read(stdout)
	t.Cleanup(func() {
		c.Close()
		if t.Failed() {
			t.Logf("slixclient %s stderr (tail):\n%s", c.name, c.stderr.String())
		}
	})
	return c
}

// slixEnv is the environment without what would point /usr/bin/python3 at
// another installation's modules.
func slixEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PYTHONPATH=") || strings.HasPrefix(kv, "PYTHONHOME=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1")
}

func (c *slixClient) read(stdout io.Reader) {
	defer close(c.done)
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64*1024), 16<<20)
	for sc.Scan() {
		var ev map[string]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			ev = map[string]any{"event": "unparsed", "line": sc.Text()}
		}
		c.mu.Lock()
		c.queue = append(c.queue, ev)
		c.mu.Unlock()
		c.poke()
	}
	c.mu.Lock()
	c.eof = true
	c.mu.Unlock()
	c.poke()
}

func (c *slixClient) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Do sends one command. It fails the test when the client is gone.
func (c *slixClient) Do(t testing.TB, cmd map[string]any) {
	t.Helper()
	line, err := json.Marshal(cmd)
	if err != nil {
		t.Fatalf("slixclient %s: %v", c.name, err)
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if _, err := c.stdin.Write(append(line, '\n')); err != nil {
		t.Fatalf("slixclient %s: send %s: %v\nstderr (tail):\n%s", c.name, line, err, c.stderr.String())
	}
}

// Expect returns the first event that match accepts, dropping the ones
// before it. It fails the test (from the test's goroutine only) when none
// comes within timeout or the client exits first, showing the last events
// seen and the client's stderr.
func (c *slixClient) Expect(t testing.TB, timeout time.Duration, match func(ev map[string]any) bool) map[string]any {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		c.mu.Lock()
		for len(c.queue) > 0 {
			ev := c.queue[0]
			c.queue = c.queue[1:]
			c.remember(ev)
			if match(ev) {
				c.mu.Unlock()
				return ev
			}
		}
		eof := c.eof
		c.mu.Unlock()
		if eof {
			t.Fatalf("slixclient %s exited before the expected event; last events:\n%s\nstderr (tail):\n%s",
				c.name, c.recent(), c.stderr.String())
		}
		select {
		case <-c.wake:
		case <-timer.C:
			t.Fatalf("slixclient %s: no expected event within %v; last events:\n%s\nstderr (tail):\n%s",
				c.name, timeout, c.recent(), c.stderr.String())
		}
	}
}

// remember keeps the last 30 events for failure messages; c.mu is held.
func (c *slixClient) remember(ev map[string]any) {
	b, _ := json.Marshal(ev)
	if len(b) > 2000 {
		b = append(b[:2000:2000], "…"...)
	}
	c.seen = append(c.seen, string(b))
	if len(c.seen) > 30 {
		c.seen = c.seen[len(c.seen)-30:]
	}
}

func (c *slixClient) recent() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.seen) == 0 {
		return "  (none)"
	}
	return "  " + strings.Join(c.seen, "\n  ")
}

// Close kills the client (no </stream>: use Do quit for a clean end) and
// waits for it. It is safe to call more than once.
func (c *slixClient) Close() {
	c.closeOnce.Do(func() {
		c.stdin.Close()
		if c.cmd.Process != nil {
			c.cmd.Process.Kill()
		}
		c.cmd.Wait()
		<-c.done
	})
}

// slixEv matches an event by name and, pairwise in kv, fields that must
// equal the given values (compared as fmt.Sprint, so numbers may be given as
// ints and null as nil).
func slixEv(name string, kv ...any) func(map[string]any) bool {
	if len(kv)%2 != 0 {
		panic("slixEv: odd number of key/value arguments")
	}
	return func(ev map[string]any) bool {
		if ev["event"] != name {
			return false
		}
		for i := 0; i < len(kv); i += 2 {
			if fmt.Sprint(ev[kv[i].(string)]) != fmt.Sprint(kv[i+1]) {
				return false
			}
		}
		return true
	}
}

// slixList is v as a JSON array, nil when it is none.
func slixList(v any) []any {
	l, _ := v.([]any)
	return l
}

// slixTail keeps the last 128 KiB written to it.
type slixTail struct {
	mu  sync.Mutex
	buf []byte
}

const slixTailMax = 128 << 10

func (b *slixTail) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > slixTailMax {
		b.buf = append([]byte(nil), b.buf[len(b.buf)-slixTailMax:]...)
	}
	return len(p), nil
}

func (b *slixTail) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// --- A known-good server for the harness's own test ---

// slixProsody is the shared test Prosody (see testpeer.StartProsody):
// domain localhost, STARTTLS on Port, direct TLS on TLSPort, carbons, MAM,
// SM with resumption, CSI, ping.
type slixProsody = testpeer.Prosody

func startSlixProsody(t testing.TB, users map[string]string) *slixProsody {
	t.Helper()
	return testpeer.StartProsody(t, users)
}

// TestSlixHarnessAgainstProsody proves the driver against a known-good
// server: STARTTLS and direct TLS logins, a refused password, carbons, MAM
// with RSM, raw iqs, ping, roster, CSI, and a dropped connection resumed
// with XEP-0198 that gets a message sent while it was away.
func TestSlixHarnessAgainstProsody(t *testing.T) {
	t.Parallel()
	srv := startSlixProsody(t, map[string]string{"alice": "pw", "bob": "pw"})
	alice := "alice@" + srv.Domain
	bob := "bob@" + srv.Domain

	a := startSlix(t, slixOpts{JID: alice, Password: "pw", Port: srv.Port, Resource: "A"})
	b := startSlix(t, slixOpts{JID: alice, Password: "pw", Port: srv.TLSPort, DirectTLS: true,
		Resource: "B", SM: true, CSI: true})
	bb := startSlix(t, slixOpts{JID: bob, Password: "pw", Port: srv.Port, Resource: "phone"})
	bad := startSlix(t, slixOpts{JID: alice, Password: "wrong", Port: srv.Port, Resource: "X"})

	a.Expect(t, slixWait, slixEv("session_start", "jid", alice+"/A"))
	b.Expect(t, slixWait, slixEv("sm_enabled", "resume", true))
	b.Expect(t, slixWait, slixEv("csi_enabled"))
	bb.Expect(t, slixWait, slixEv("session_start"))
	fail := bad.Expect(t, slixWait, slixEv("auth_failed"))
	if fail["condition"] != "not-authorized" {
		t.Errorf("wrong password: condition %v, want not-authorized", fail["condition"])
	}
	bad.Expect(t, slixWait, slixEv("exit"))

	// Carbons: B sees what A sends to bob as a sent carbon.
	b.Do(t, map[string]any{"cmd": "carbons_enable", "tag": "c"})
	b.Expect(t, slixWait, slixEv("iq_result", "cmd", "carbons_enable", "tag", "c"))
	a.Do(t, map[string]any{"cmd": "send", "to": bob, "body": "hello bob", "type": "chat", "id": "m1"})
	got := bb.Expect(t, slixWait, slixEv("message", "body", "hello bob"))
	if got["from"] != alice+"/A" || got["id"] != "m1" || got["carbon"] != nil {
		t.Errorf("bob got %v", got)
	}
	if got["stanza_id"] == nil || got["stanza_id_by"] != bob {
		t.Errorf("bob's copy lacks a stanza-id by %s: %v", bob, got)
	}
	carbon := b.Expect(t, slixWait, slixEv("message", "body", "hello bob"))
	if carbon["carbon"] != "sent" || carbon["to"] != bob || carbon["carbon_from"] != alice {
		t.Errorf("B got %v, want a sent carbon from %s", carbon, alice)
	}

	// MAM: the message is in alice's archive; RSM pages.
	bb.Do(t, map[string]any{"cmd": "send", "to": alice, "body": "hi alice", "type": "chat"})
	b.Expect(t, slixWait, slixEv("message", "body", "hi alice"))
	b.Do(t, map[string]any{"cmd": "mam", "with": bob})
	res := b.Expect(t, slixWait, slixEv("mam_result"))
	msgs, _ := res["messages"].([]any)
	if len(msgs) != 2 || res["complete"] != true {
		t.Fatalf("MAM with bob: %v", res)
	}
	if m := msgs[0].(map[string]any); m["body"] != "hello bob" || m["archive_id"] == nil || m["stamp"] == nil {
		t.Errorf("MAM first message: %v", m)
	}
	b.Do(t, map[string]any{"cmd": "mam", "with": bob, "max": 1, "before": "", "tag": "last"})
	res = b.Expect(t, slixWait, slixEv("mam_result", "tag", "last"))
	msgs, _ = res["messages"].([]any)
	// Prosody 0.12 sends no <count/>: RSM makes it optional.
	if len(msgs) != 1 || msgs[0].(map[string]any)["body"] != "hi alice" || res["complete"] != false ||
		res["first"] != res["last"] {
		t.Errorf("MAM last page of 1: %v", res)
	}
	b.Do(t, map[string]any{"cmd": "mam", "with": bob, "max": 1, "before": res["first"]})
	res = b.Expect(t, slixWait, slixEv("mam_result"))
	if msgs, _ = res["messages"].([]any); len(msgs) != 1 || msgs[0].(map[string]any)["body"] != "hello bob" {
		t.Errorf("MAM page before: %v", res)
	}

	// Prosody 0.12 knows no XEP-0431 field; whatever it answers, the
	// command must come back answered.
	b.Do(t, map[string]any{"cmd": "mam", "fulltext": "hello", "tag": "ft"})
	ft := b.Expect(t, slixWait, func(ev map[string]any) bool {
		return ev["tag"] == "ft" && (ev["event"] == "mam_result" || ev["event"] == "iq_error")
	})
	t.Logf("MAM fulltext on Prosody: %s, %d messages, condition %v", ft["event"], len(slixList(ft["messages"])), ft["condition"])

	// Raw iq, ping, roster, CSI, raw bytes.
	b.Do(t, map[string]any{"cmd": "iq", "xml": "<iq type='get' to='" + srv.Domain +
		"'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>"})
	info := b.Expect(t, slixWait, slixEv("iq_result", "cmd", "iq"))
	if xml, _ := info["xml"].(string); !strings.Contains(xml, "urn:xmpp:ping") {
		t.Errorf("server disco#info: %v", info)
	}
	b.Do(t, map[string]any{"cmd": "iq", "xml": "<iq type='get' to='" + srv.Domain +
		"'><query xmlns='urn:example:nothing'/></iq>"})
	b.Expect(t, slixWait, slixEv("iq_error", "cmd", "iq", "condition", "service-unavailable"))
	b.Do(t, map[string]any{"cmd": "ping", "to": srv.Domain})
	b.Expect(t, slixWait, slixEv("iq_result", "cmd", "ping"))
	b.Do(t, map[string]any{"cmd": "roster"})
	if r := b.Expect(t, slixWait, slixEv("roster")); r["items"] == nil {
		t.Errorf("roster: %v", r)
	}
	b.Do(t, map[string]any{"cmd": "csi", "state": "inactive"})
	b.Do(t, map[string]any{"cmd": "csi", "state": "active"})
	b.Do(t, map[string]any{"cmd": "raw", "xml": "<message to='" + bob + "' type='chat'><body>raw hi</body></message>"})
	bb.Expect(t, slixWait, slixEv("message", "body", "raw hi", "from", alice+"/B"))
	b.Do(t, map[string]any{"cmd": "nonsense", "tag": 7})
	b.Expect(t, slixWait, slixEv("error", "tag", 7))

	// Stream resumption: B's TCP connection dies; A writes to B meanwhile;
	// B comes back on the same session and gets it.
	b.Do(t, map[string]any{"cmd": "drop"})
	b.Expect(t, slixWait, slixEv("disconnected"))
	a.Do(t, map[string]any{"cmd": "send", "to": alice + "/B", "body": "while you were away", "type": "chat"})
	b.Expect(t, slixWait, func(ev map[string]any) bool {
		if ev["event"] == "session_start" || ev["event"] == "sm_failed" {
			t.Fatalf("B did not resume: %v", ev)
		}
		return ev["event"] == "resumed"
	})
	b.Expect(t, slixWait, slixEv("message", "body", "while you were away", "from", alice+"/A"))
	b.Do(t, map[string]any{"cmd": "ping", "to": srv.Domain})
	b.Expect(t, slixWait, slixEv("iq_result", "cmd", "ping"))

	b.Do(t, map[string]any{"cmd": "quit"})
	b.Expect(t, slixWait, slixEv("disconnected"))
	b.Expect(t, slixWait, slixEv("exit"))
}
