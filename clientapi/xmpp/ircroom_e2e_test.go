package xmpp

// The "tests with real clients" scenario, end to end through real
// software only: ngircd with a plain IRC client (bob) on it, the real IRC
// bridge connected to it as alice, the Hub and the SQLite store, this port,
// slixmpp devices, and the HTTP API over the same store. Nothing is faked,
// so what it proves is what a user of the daemon would see.

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ergochat/irc-go/ircmsg"
	"github.com/ergochat/irc-go/ircreader"

	"github.com/switchboard/switchboard/bridges/irc"
	httpapi "github.com/switchboard/switchboard/clientapi/http"
	"github.com/switchboard/switchboard/core"
	"github.com/switchboard/switchboard/history"
	"github.com/switchboard/switchboard/internal/testpeer"
)

// e2eWait bounds one exchange that crosses ngircd: the bridge's and bob's
// lines may each be held back by ngircd's one-second throttle.
const e2eWait = 20 * time.Second

// ircRig is the daemon's parts wired as cmd/switchboard wires them, with
// one real bridge: for the IRC test, alice has one IRC network, "ircnet",
// on ngircd (xmpproom_e2e_test.go has an XMPP network instead).
type ircRig struct {
	st       *history.Store
	hub      *core.Hub
	user     core.User
	password string
	network  core.Network
	xmppPort int    // STARTTLS
	api      string // the HTTP API's base URL
}

func startIRCRig(t *testing.T, ircAddr string) *ircRig {
	t.Helper()
	// No channels configured: the channel is joined because a device
	// joins the MUC.
	return startRig(t, irc.Kind(), core.Network{Name: "ircnet", Kind: core.KindIRC,
		Settings: core.Settings{"addr": "irc://" + ircAddr, "nick": "alice"}, Enabled: true})
}

// startRig runs the store, the Hub with the bridge kind, the port and
// the HTTP API, for the user alice with the one network nw.
func startRig(t *testing.T, kind core.BridgeKind, nw core.Network) *ircRig {
	t.Helper()
	ctx := context.Background()
	st, err := history.Open(ctx, filepath.Join(t.TempDir(), "sb.db"), history.Options{Log: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	r := &ircRig{st: st, password: "correct horse battery"}
	if r.user, err = st.CreateUser(ctx, "alice", r.password, false); err != nil {
		t.Fatal(err)
	}
	nw.User = r.user.ID
	if r.network, err = st.CreateNetwork(ctx, nw); err != nil {
		t.Fatal(err)
	}
	reg := &core.Registry{}
	reg.Register(kind)
	r.hub = core.NewHub(core.HubConfig{Store: st, History: st, Bridges: reg, Log: testLogger(t)})
	runCtx, cancel := context.WithCancel(ctx)
	hubDone := make(chan struct{})
	go func() {
		defer close(hubDone)
		r.hub.Run(runCtx)
	}()

	cert := selfSigned(t)
	srv := New(Config{Domain: testDomain, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		Store: st, Hub: r.hub, Log: testLogger(t), MaxLoginFailures: 5, LoginLockout: time.Minute, Version: "test"})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.xmppPort = ln.Addr().(*net.TCPAddr).Port
	go srv.Serve(runCtx, ln, false)

	api := httptest.NewServer(httpapi.New(httpapi.Config{Store: st, Hub: r.hub, Log: testLogger(t), Version: "test"}).Handler())
	r.api = api.URL
	t.Cleanup(func() {
		api.Close()
		cancel()
		srv.Wait()
		<-hubDone
		st.Close()
	})
	return r
}

// waitConnected waits until the bridge has registered on the IRC server,
// so a join goes out at once rather than with the reconnect's rejoin.
func (r *ircRig) waitConnected(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(e2eWait)
	for {
		for _, s := range r.hub.NetworkStates(r.user.ID) {
			if s.Network == r.network.ID && s.State == core.StateConnected {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the bridge did not connect within %v: %+v", e2eWait, r.hub.NetworkStates(r.user.ID))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *ircRig) slix(t *testing.T, resource string) *slixClient {
	t.Helper()
	c := startSlix(t, slixOpts{JID: "alice@" + testDomain, Password: r.password, Port: r.xmppPort, Resource: resource})
	c.Expect(t, slixWait, slixEv("session_start"))
	return c
}

// apiGet does an authenticated GET on the HTTP API and decodes the JSON.
func (r *ircRig) apiGet(t *testing.T, token, path string, out any) {
	t.Helper()
	req, _ := http.NewRequest("GET", r.api+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s: %s", path, resp.Status, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, b)
	}
}

func (r *ircRig) apiLogin(t *testing.T) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"username": "alice", "password": r.password})
	resp, err := http.Post(r.api+"/api/v1/tokens", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct{ Token string }
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != 201 || tok.Token == "" {
		t.Fatalf("API login: %s, %v", resp.Status, err)
	}
	return tok.Token
}

// ircPeer is a plain IRC client: someone else on the network. A reader
// goroutine answers PING and queues every other line for expect.
type ircPeer struct {
	nick string
	conn net.Conn
	in   chan ircmsg.Message // closed when the connection ends
	mu   sync.Mutex
	seen []string // the last lines, for failure messages
}

func dialIRCPeer(t *testing.T, addr, nick string) *ircPeer {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	p := &ircPeer{nick: nick, conn: conn, in: make(chan ircmsg.Message, 1000)}
	go p.read()
	t.Cleanup(func() { conn.Close() })
	p.send(t, "NICK "+nick)
	p.send(t, "USER "+nick+" 0 * :"+nick)
	p.expect(t, e2eWait, "001", func(m ircmsg.Message) bool { return m.Command == "001" })
	return p
}

func (p *ircPeer) read() {
	defer close(p.in)
	r := ircreader.NewIRCReader(p.conn)
	for {
		line, err := r.ReadLine()
		if err != nil {
			return
		}
		p.remember("<- " + string(line))
		m, err := ircmsg.ParseLine(string(line))
		if err != nil {
			continue
		}
		if m.Command == "PING" && len(m.Params) > 0 {
			p.write("PONG :" + m.Params[len(m.Params)-1])
			continue
		}
		p.in <- m
	}
}

func (p *ircPeer) remember(line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seen = append(p.seen, line)
	if len(p.seen) > 30 {
		p.seen = p.seen[len(p.seen)-30:]
	}
}

func (p *ircPeer) recent() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return "  " + strings.Join(p.seen, "\n  ")
}

func (p *ircPeer) write(line string) error {
	p.remember("-> " + line)
	p.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := p.conn.Write([]byte(line + "\r\n"))
	return err
}

func (p *ircPeer) send(t *testing.T, line string) {
	t.Helper()
	if err := p.write(line); err != nil {
		t.Fatalf("IRC %s: %v", p.nick, err)
	}
}

// expect returns the first line match accepts, dropping those before it.
func (p *ircPeer) expect(t *testing.T, timeout time.Duration, what string, match func(ircmsg.Message) bool) ircmsg.Message {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case m, ok := <-p.in:
			if !ok {
				t.Fatalf("IRC %s: connection ended waiting for %s; last lines:\n%s", p.nick, what, p.recent())
			}
			if match(m) {
				return m
			}
		case <-timer.C:
			t.Fatalf("IRC %s: no %s within %v; last lines:\n%s", p.nick, what, timeout, p.recent())
		}
	}
}

// none fails the test if a line match accepts arrives within d.
func (p *ircPeer) none(t *testing.T, d time.Duration, what string, match func(ircmsg.Message) bool) {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case m, ok := <-p.in:
			if ok && match(m) {
				t.Fatalf("IRC %s got %s: %v %q", p.nick, what, m.Command, m.Params)
			}
		case <-timer.C:
			return
		}
	}
}

func ircLine(cmd, from string, params ...string) func(ircmsg.Message) bool {
	return func(m ircmsg.Message) bool {
		if m.Command != cmd || (from != "" && m.Nick() != from) || len(m.Params) != len(params) {
			return false
		}
		for i := range params {
			// The target (channel or nick) folds; the text must be exact.
			if m.Params[i] != params[i] && (i > 0 || !strings.EqualFold(m.Params[i], params[i])) {
				return false
			}
		}
		return true
	}
}

// mucUser reads the muc#user parts of a presence's XML as slixmpp printed
// it: the item's role and the status codes.
func mucUser(raw any) (role string, codes []string) {
	s, _ := raw.(string)
	d := xml.NewDecoder(strings.NewReader(s))
	for {
		tok, err := d.Token()
		if err != nil {
			return role, codes
		}
		se, ok := tok.(xml.StartElement)
		if !ok || se.Name.Space != nsMUCUser {
			continue
		}
		for _, a := range se.Attr {
			switch {
			case se.Name.Local == "item" && a.Name.Local == "role":
				role = a.Value
			case se.Name.Local == "status" && a.Name.Local == "code":
				codes = append(codes, a.Value)
			}
		}
	}
}

// joinHistory reads what a join sends after the occupants: the history,
// each message delayed ("from: body"), then the subject, which must be
// subject.
func joinHistory(t *testing.T, c *slixClient, room, subject string) []string {
	t.Helper()
	var history []string
	for {
		m := c.Expect(t, e2eWait, func(ev map[string]any) bool {
			from, _ := ev["from"].(string)
			return ev["event"] == "message" && (from == room || strings.HasPrefix(from, room+"/"))
		})
		if m["subject"] != nil {
			if m["subject"] != subject {
				t.Errorf("the subject on join: %v, want %q", m, subject)
			}
			return history
		}
		if m["delay"] == nil || m["type"] != "groupchat" {
			t.Errorf("history message without a delay: %v", m)
		}
		text := m["body"]
		if rs := m["reactions"]; rs != nil {
			text = fmt.Sprint("reactions ", rs)
		}
		history = append(history, fmt.Sprint(m["from"], ": ", text))
	}
}

// joinRoom sends a MUC join and returns the other occupants' presences
// (nick → role) and the device's own presence event, which XEP-0045
// orders after the others.
func joinRoom(t *testing.T, c *slixClient, room, nick string, history int) (map[string]string, map[string]any) {
	t.Helper()
	c.Do(t, map[string]any{"cmd": "join", "room": room, "nick": nick, "history": history})
	others := map[string]string{}
	for {
		ev := c.Expect(t, e2eWait, func(ev map[string]any) bool {
			from, _ := ev["from"].(string)
			return ev["event"] == "presence" && strings.HasPrefix(from, room+"/")
		})
		if ev["type"] == "error" {
			t.Fatalf("joining %s: %v", room, ev)
		}
		role, codes := mucUser(ev["xml"])
		if containsCode(codes, mucSelf) {
			return others, ev
		}
		others[strings.TrimPrefix(ev["from"].(string), room+"/")] = role
	}
}

// TestIRCRoomEndToEnd: a channel on a real IRC server as a MUC room in
// slixmpp, through the real bridge. Device A joins (the bridge joins the
// channel; bob, a channel operator there, is a moderator; A's own
// presence has 110); bob and A talk both ways; bob's topic change is the
// room's subject; device B joins with history and gets the talk delayed,
// then the subject; a fresh device C finds the room in its bookmarks and
// joins it; A leaves the room and the channel stays joined, B
// still hears bob and A no longer does; B marks bob's direct message
// displayed, which moves the stored read markers, reaches device C as a
// sent carbon, and shows in the HTTP API as read; C retracting the
// channel's bookmark parts it on IRC, and B is told it left.
func TestIRCRoomEndToEnd(t *testing.T) {
	ircAddr := testpeer.StartNgircd(t)
	// bob is in the channel first: he created it, so ngircd made him its
	// operator, and he sees alice's JOIN when the bridge sends it.
	bob := dialIRCPeer(t, ircAddr, "bob")
	bob.send(t, "JOIN #room")
	names := bob.expect(t, e2eWait, "NAMES of #room", func(m ircmsg.Message) bool { return m.Command == "353" })
	if !strings.Contains(names.Params[len(names.Params)-1], "@bob") {
		t.Fatalf("bob is not #room's operator: %q", names.Params)
	}
	bob.expect(t, e2eWait, "end of NAMES", func(m ircmsg.Message) bool { return m.Command == "366" })

	r := startIRCRig(t, ircAddr)
	r.waitConnected(t)
	room := "#room@ircnet." + testDomain
	bobJID := "bob@ircnet." + testDomain

	// 1. A joins: the channel is joined on IRC, bob is a moderator, and
	// A's own presence carries 110.
	a := r.slix(t, "A")
	others, self := joinRoom(t, a, room, "alice", 0)
	bob.expect(t, e2eWait, "alice's JOIN", ircLine("JOIN", "alice", "#room"))
	if others["bob"] != "moderator" || len(others) != 1 {
		t.Errorf("A sees occupants %v, want bob as moderator", others)
	}
	if self["from"] != room+"/alice" {
		t.Errorf("A's own presence from %v", self["from"])
	}
	a.Expect(t, e2eWait, func(ev map[string]any) bool { return ev["event"] == "message" && ev["subject"] != nil })

	// 2. bob → A as groupchat from bob's occupant address; A → bob as a
	// PRIVMSG to the channel.
	bob.send(t, "PRIVMSG #room :hello from IRC")
	got := a.Expect(t, e2eWait, slixEv("message", "body", "hello from IRC"))
	if got["type"] != "groupchat" || got["from"] != room+"/bob" || got["delay"] != nil {
		t.Errorf("bob's line reached A as %v", got)
	}
	a.Do(t, map[string]any{"cmd": "send", "to": room, "type": "groupchat", "body": "hello from XMPP", "id": "a1"})
	bob.expect(t, e2eWait, "alice's PRIVMSG", ircLine("PRIVMSG", "alice", "#room", "hello from XMPP"))
	if echo := a.Expect(t, e2eWait, slixEv("message", "body", "hello from XMPP")); echo["from"] != room+"/alice" || echo["id"] != "a1" {
		t.Errorf("A's own message reflected as %v", echo)
	}

	// 3. bob's TOPIC is the room's subject, set by bob.
	bob.send(t, "TOPIC #room :release on friday")
	subj := a.Expect(t, e2eWait, slixEv("message", "subject", "release on friday"))
	if subj["type"] != "groupchat" || subj["from"] != room+"/bob" || subj["body"] != nil {
		t.Errorf("the topic reached A as %v", subj)
	}

	// 4. B joins asking for history: the two lines, delayed and from
	// their occupants, then the subject, in that order (XEP-0045 §7.2).
	b := r.slix(t, "B")
	others, _ = joinRoom(t, b, room, "alice", 10)
	if others["bob"] != "moderator" {
		t.Errorf("B sees occupants %v", others)
	}
	history := joinHistory(t, b, room, "release on friday")
	if want := []string{room + "/bob: hello from IRC", room + "/alice: hello from XMPP"}; strings.Join(history, "\n") != strings.Join(want, "\n") {
		t.Errorf("B's history on join:\n%s\nwant:\n%s", strings.Join(history, "\n"), strings.Join(want, "\n"))
	}

	// C, a fresh device: its bookmarks (XEP-0402) list the channel for
	// autojoin, and joining it from there works. C enables carbons for
	// step 6, before bob's direct message, so it sees what A and B see.
	c := r.slix(t, "C")
	c.Do(t, map[string]any{"cmd": "iq", "tag": "bookmarks", "xml": "<iq type='get'><pubsub xmlns='" + nsPubSub +
		"'><items node='" + nsBookmarks + "'/></pubsub></iq>"})
	bm := c.Expect(t, slixWait, func(ev map[string]any) bool { return ev["tag"] == "bookmarks" })
	var bookmarks struct {
		Items []struct {
			ID         string `xml:"id,attr"`
			Conference struct {
				Autojoin string `xml:"autojoin,attr"`
				Nick     string `xml:"nick"`
			} `xml:"conference"`
		} `xml:"pubsub>items>item"`
	}
	if s, _ := bm["xml"].(string); bm["event"] != "iq_result" || xml.Unmarshal([]byte(s), &bookmarks) != nil {
		t.Fatalf("C's bookmarks: %v", bm)
	}
	autojoin := false
	for _, it := range bookmarks.Items {
		autojoin = autojoin || (it.ID == room && it.Conference.Autojoin == "true" && it.Conference.Nick == "alice")
	}
	if !autojoin {
		t.Errorf("C's bookmarks lack %s for autojoin as alice: %v", room, bm["xml"])
	}
	if others, _ = joinRoom(t, c, room, "alice", 0); others["bob"] != "moderator" {
		t.Errorf("C autojoining sees occupants %v", others)
	}
	c.Do(t, map[string]any{"cmd": "carbons_enable", "tag": "carbons"})
	c.Expect(t, slixWait, slixEv("iq_result", "tag", "carbons"))

	// 5. A leaves the room: its own unavailable presence comes back, and
	// the channel stays joined on IRC for B.
	a.Do(t, map[string]any{"cmd": "presence", "type": "unavailable", "to": room + "/alice"})
	left := a.Expect(t, e2eWait, slixEv("presence", "from", room+"/alice", "type", "unavailable"))
	if _, codes := mucUser(left["xml"]); !containsCode(codes, mucSelf) {
		t.Errorf("A's leave confirmed without 110: %v", left)
	}
	// A PART (with whatever reason) would be written at once by the
	// bridge; a second covers its trip through ngircd.
	bob.none(t, time.Second, "alice's PART", func(m ircmsg.Message) bool { return m.Command == "PART" && m.Nick() == "alice" })
	bob.send(t, "NAMES #room")
	names = bob.expect(t, e2eWait, "NAMES of #room", func(m ircmsg.Message) bool { return m.Command == "353" })
	if !strings.Contains(" "+names.Params[len(names.Params)-1]+" ", " alice ") {
		t.Errorf("after A left, #room's names are %q: the bridge parted", names.Params)
	}
	// bob's next room line, then a direct message. The Hub hands a user's
	// events to each device in order, so once A has the direct message it
	// would have had the room line before it.
	bob.send(t, "PRIVMSG #room :are you still there?")
	b.Expect(t, e2eWait, slixEv("message", "body", "are you still there?", "from", room+"/bob"))
	bob.send(t, "PRIVMSG alice :just between us")
	aHeardRoom := false
	a.Expect(t, e2eWait, func(ev map[string]any) bool {
		if ev["event"] == "message" && ev["body"] == "are you still there?" {
			aHeardRoom = true
		}
		return ev["event"] == "message" && ev["body"] == "just between us"
	})
	if aHeardRoom {
		t.Error("A left the room but still got its messages")
	}

	// 6. B marks bob's direct message displayed, by the stanza-id the
	// port gave it.
	dm := b.Expect(t, e2eWait, slixEv("message", "body", "just between us"))
	id, _ := dm["stanza_id"].(string)
	if dm["from"] != bobJID || dm["type"] != "chat" || id == "" {
		t.Fatalf("bob's direct message reached B as %v", dm)
	}
	c.Expect(t, e2eWait, slixEv("message", "body", "just between us"))
	b.Do(t, map[string]any{"cmd": "raw", "xml": "<message to='" + bobJID + "' type='chat' id='mk1'><displayed xmlns='" +
		nsChatMarkers + "' id='" + id + "'/></message>"})
	carbon := c.Expect(t, e2eWait, func(ev map[string]any) bool { return ev["event"] == "message" && ev["carbon"] == "sent" })
	if x, _ := carbon["xml"].(string); carbon["to"] != bobJID || !strings.Contains(x, nsChatMarkers) || !strings.Contains(x, id) {
		t.Errorf("C got %v, want the sent carbon of B's displayed marker for %s", carbon, id)
	}

	// The Hub stored the markers before it told C, so they are there now.
	ctx := context.Background()
	convs, err := r.st.Conversations(ctx, r.user.ID)
	if err != nil {
		t.Fatal(err)
	}
	var conv core.ConversationID
	for _, cv := range convs {
		if cv.Network == r.network.ID && cv.Kind == core.Direct && cv.Remote == "bob" {
			conv = cv.ID
		}
	}
	if conv == 0 {
		t.Fatalf("no direct conversation with bob among %+v", convs)
	}
	markers, err := r.st.ReadMarkers(ctx, r.user.ID, conv)
	if err != nil {
		t.Fatal(err)
	}
	byDevice := map[string]string{}
	for _, m := range markers {
		byDevice[m.Device] = m.Upto.String()
	}
	if byDevice[""] != id || byDevice["B"] != id {
		t.Errorf("stored read markers %v, want the user's and B's at %s", byDevice, id)
	}

	// The HTTP API shows the conversation read up to that message.
	token := r.apiLogin(t)
	var list struct {
		Conversations []struct {
			ID   int64 `json:"id"`
			Peer struct {
				Kind   string `json:"kind"`
				Remote string `json:"remote"`
			} `json:"peer"`
			Unread   int    `json:"unread"`
			ReadUpto string `json:"read_upto"`
		} `json:"conversations"`
	}
	r.apiGet(t, token, "/api/v1/conversations", &list)
	found := false
	for _, cv := range list.Conversations {
		if cv.ID == int64(conv) {
			found = true
			if cv.ReadUpto != id || cv.Unread != 0 {
				t.Errorf("the API shows bob's conversation read up to %q with %d unread, want %s and 0", cv.ReadUpto, cv.Unread, id)
			}
		}
	}
	if !found {
		t.Errorf("the API lists no conversation %d: %+v", conv, list.Conversations)
	}

	// 7. C retracts the channel's bookmark: the bridge parts #room on
	// IRC, and B, still in the room, is told it left.
	c.Do(t, map[string]any{"cmd": "iq", "tag": "retract", "xml": "<iq type='set'><pubsub xmlns='" + nsPubSub +
		"'><retract node='" + nsBookmarks + "' notify='true'><item id='" + room + "'/></retract></pubsub></iq>"})
	c.Expect(t, e2eWait, slixEv("iq_result", "tag", "retract"))
	bob.expect(t, e2eWait, "alice's PART", func(m ircmsg.Message) bool { return m.Command == "PART" && m.Nick() == "alice" })
	gone := b.Expect(t, e2eWait, slixEv("presence", "from", room+"/alice", "type", "unavailable"))
	if _, codes := mucUser(gone["xml"]); !containsCode(codes, mucSelf) {
		t.Errorf("B told of the part without 110: %v", gone)
	}
}
