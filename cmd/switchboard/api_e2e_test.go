package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/testpeer"
)

// The end-to-end test of the HTTP API: the real daemon, a real IRC server
// (ngircd), a raw IRC client on it, and the API over TLS.

// ircClient is a raw IRC client, standing for someone on the network.
type ircClient struct {
	t     *testing.T
	c     net.Conn
	lines chan string
}

func dialIRC(t *testing.T, addr, nick string) *ircClient {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ic := &ircClient{t: t, c: c, lines: make(chan string, 1000)}
	go func() {
		defer close(ic.lines)
		sc := bufio.NewScanner(c)
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, "PING ") {
				fmt.Fprintf(c, "PONG %s\r\n", line[5:])
				continue
			}
			ic.lines <- line
		}
	}()
	fmt.Fprintf(c, "NICK %s\r\nUSER %s 0 * :%s\r\n", nick, nick, nick)
	ic.waitFor(" 001 ")
	return ic
}

func (ic *ircClient) send(format string, args ...any) {
	fmt.Fprintf(ic.c, format+"\r\n", args...)
}

func (ic *ircClient) waitFor(sub string) string {
	ic.t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case l, ok := <-ic.lines:
			if !ok {
				ic.t.Fatalf("IRC connection closed waiting for %q", sub)
			}
			if strings.Contains(l, sub) {
				return l
			}
		case <-timeout:
			ic.t.Fatalf("no IRC line with %q within 20 s", sub)
		}
	}
}

// apiClient talks to the daemon's HTTPS port, trusting its certificate.
type apiClient struct {
	t     *testing.T
	base  string
	http  *http.Client
	token string
}

func newAPIClient(t *testing.T, addr, dataDir string) *apiClient {
	t.Helper()
	// The self-signed certificate is for "localhost"; trust it alone.
	pem, err := os.ReadFile(filepath.Join(dataDir, "tls", "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("tls/cert.pem holds no certificate")
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}
	t.Cleanup(tr.CloseIdleConnections)
	return &apiClient{t: t, base: "https://" + addr, http: &http.Client{Transport: tr}}
}

func (a *apiClient) do(method, path string, body any, want int, out any, hdr ...string) {
	a.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, a.base+path, r)
	req.Header.Set("Content-Type", "application/json")
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := a.http.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		a.t.Fatalf("%s %s: %s, want %d: %s", method, path, resp.Status, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			a.t.Fatalf("%s %s: %q: %v", method, path, b, err)
		}
	}
}

type e2eEvent struct{ name, id, data string }

// events opens the SSE stream, resuming after lastID if it is set.
func (a *apiClient) events(lastID string) (<-chan e2eEvent, func()) {
	a.t.Helper()
	req, _ := http.NewRequest("GET", a.base+"/api/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+a.token)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := a.http.Do(req)
	if err != nil || resp.StatusCode != 200 {
		a.t.Fatalf("events: %v %v", resp, err)
	}
	ch := make(chan e2eEvent, 1000)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(resp.Body)
		var ev e2eEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.name != "" {
					ch <- ev
				}
				ev = e2eEvent{}
			case strings.HasPrefix(line, "event: "):
				ev.name = line[7:]
			case strings.HasPrefix(line, "id: "):
				ev.id = line[4:]
			case strings.HasPrefix(line, "data: "):
				ev.data = line[6:]
			}
		}
	}()
	return ch, func() { resp.Body.Close() }
}

type e2eMessage struct {
	ID           string `json:"id"`
	Conversation int64  `json:"conversation"`
	Body         string `json:"body"`
	Direction    string `json:"direction"`
}

// nextMessage returns the next message event's message.
func nextMessage(t *testing.T, ch <-chan e2eEvent) (e2eMessage, string) {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatal("event stream ended")
			}
			if ev.name != "message" {
				continue
			}
			var m e2eMessage
			if err := json.Unmarshal([]byte(ev.data), &m); err != nil {
				t.Fatal(err)
			}
			if m.ID != ev.id {
				t.Fatalf("event id %q for message %q", ev.id, m.ID)
			}
			return m, ev.id
		case <-timeout:
			t.Fatal("no message event within 20 s")
		}
	}
}

func TestAPIEndToEnd(t *testing.T) {
	ircAddr := testpeer.StartNgircd(t)
	dir := filepath.Join(t.TempDir(), "data")
	d, addr := startDaemon(t, dir)
	if out, _, err := runIn(t, dir, "pw\n", "user", "add", "alice", "--password-stdin"); err != nil {
		t.Fatalf("user add: %q %v", out, err)
	}
	api := newAPIClient(t, addr, dir)
	var login struct{ Token string }
	api.do("POST", "/api/v1/tokens", map[string]string{"username": "alice", "password": "pw"}, 201, &login)
	api.token = login.Token

	// Add the IRC network through the API.
	// Bob is in the channel first, so he sees alice join.
	bob := dialIRC(t, ircAddr, "bob")
	bob.send("JOIN #e2e")
	bob.waitFor(" 366 ")
	api.do("POST", "/api/v1/networks", map[string]any{"name": "e2e", "kind": "irc",
		"settings": map[string]string{"addr": "irc://" + ircAddr, "nick": "alice", "join": "#e2e"}}, 201, nil)
	stream, closeStream := api.events("")
	// Bob waits until alice is in the channel, then speaks.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("daemon log:\n%s", d.logText())
		}
	})
	bob.waitFor("JOIN :#e2e")
	bob.send("PRIVMSG #e2e :hello alice")
	m, _ := nextMessage(t, stream)
	for m.Body != "hello alice" {
		m, _ = nextMessage(t, stream)
	}
	conv := m.Conversation

	// Send through the API: stored, on the stream as a carbon, on IRC.
	var sent e2eMessage
	path := fmt.Sprintf("/api/v1/conversations/%d/messages", conv)
	api.do("POST", path, map[string]string{"body": "deploying the flux capacitor"}, 201, &sent, "Idempotency-Key", "e2e-1")
	api.do("POST", path, map[string]string{"body": "deploying the flux capacitor"}, 201, nil, "Idempotency-Key", "e2e-1")
	carbon, last := nextMessage(t, stream)
	if carbon.ID != sent.ID || carbon.Direction != "out" {
		t.Fatalf("carbon %+v, want %+v", carbon, sent)
	}
	bob.waitFor("PRIVMSG #e2e :deploying the flux capacitor")
	closeStream()

	// While the stream is gone, bob says two things.
	bob.send("PRIVMSG #e2e :missed one")
	bob.send("PRIVMSG #e2e :missed two")
	waitFor(t, func() bool {
		var page struct{ Messages []e2eMessage }
		api.do("GET", path+"?limit=2", nil, 200, &page)
		return len(page.Messages) == 2 && page.Messages[1].Body == "missed two"
	})
	resumed, closeResumed := api.events(last)
	defer closeResumed()
	var got []string
	for range 2 {
		m, _ := nextMessage(t, resumed)
		got = append(got, m.Body)
	}
	bob.send("PRIVMSG #e2e :live again")
	m, _ = nextMessage(t, resumed)
	got = append(got, m.Body)
	if fmt.Sprint(got) != "[missed one missed two live again]" {
		t.Fatalf("after resuming: %q", got)
	}
	// The idempotent retry sent nothing twice: one line on IRC, one
	// message stored.
	var page struct{ Messages []e2eMessage }
	api.do("GET", path+"?limit=100", nil, 200, &page)
	n := 0
	for _, m := range page.Messages {
		if m.Body == "deploying the flux capacitor" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("stored the sent message %d times", n)
	}

	var res struct {
		Results []struct {
			Message     e2eMessage
			SnippetHTML string `json:"snippet_html"`
		}
	}
	api.do("GET", "/api/v1/search?q="+url.QueryEscape("flux"), nil, 200, &res)
	if len(res.Results) != 1 || res.Results[0].Message.ID != sent.ID || !strings.Contains(res.Results[0].SnippetHTML, "<mark>flux</mark>") {
		t.Fatalf("search: %+v", res.Results)
	}
	var metrics bytes.Buffer
	resp, err := api.http.Get(api.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(&metrics, resp.Body)
	resp.Body.Close()
	// Four chat lines came in; out counts the send and alice's own join.
	for _, want := range []string{`switchboard_messages_total\{direction="in",kind="irc"\} 4\n`,
		`switchboard_messages_total\{direction="out",kind="irc"\} [1-9]`, `switchboard_sessions\{port="http"\} 1\n`,
		`switchboard_store_seconds_bucket\{op="search"`, `switchboard_http_requests_total\{code="201",route="/api/v1/tokens"\} 1\n`} {
		if !regexp.MustCompile(want).MatchString(metrics.String()) {
			t.Errorf("/metrics lacks %s in:\n%s", want, metrics.String())
		}
	}
	closeResumed()
	d.stop()
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not met within 20 s")
}
