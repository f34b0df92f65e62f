package xmpp

import (
	"context"
	"crypto/tls"
	"encoding/xml"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard/switchboard/bridges/irc"
	xmppbridge "github.com/switchboard/switchboard/bridges/xmpp"
	"github.com/switchboard/switchboard/core"
	"github.com/switchboard/switchboard/history"
)

// The daemon's store and Hub are what the ad-hoc commands and PEP find by
// type assertion.
var (
	_ adminStore    = (*history.Store)(nil)
	_ core.PEPStore = (*history.Store)(nil)
	_ networkSyncer = (*core.Hub)(nil)
	_ roomJoiner    = (*joinHub)(nil)
)

// joinHub is the daemon's Hub with joins recorded instead of sent to the
// fake bridge.
type joinHub struct {
	*core.Hub
	joins   chan [2]string // room, key
	joinErr atomic.Pointer[error]
}

func (h *joinHub) JoinRoom(ctx context.Context, user core.UserID, network core.NetworkID, room, key string) error {
	if p := h.joinErr.Load(); p != nil {
		return *p
	}
	h.joins <- [2]string{room, key}
	return nil
}

// testValidateNetwork stands in for the CLI's check (cmd/switchboard's
// validateSettings, which tests of this package cannot import): each
// bridge's own.
func testValidateNetwork(kind core.NetworkKind, s core.Settings) error {
	switch kind {
	case core.KindIRC:
		return irc.ValidateSettings(s)
	case core.KindXMPP:
		return xmppbridge.ValidateSettings(s)
	}
	return fmt.Errorf("--kind %q: want irc, xmpp or fed", kind)
}

type adhocPort struct {
	*testPort
	hub *joinHub
}

const (
	rootPassword = "root password"
	bobPassword  = "bob password"
)

// startAdhocPort is startPort with a second port in front of the same
// store and Hub, configured as the daemon configures it for commands, an
// administrator "root" and a second user "bob".
func startAdhocPort(t *testing.T) *adhocPort {
	t.Helper()
	p := startPort(t)
	ctx := context.Background()
	if _, err := p.st.CreateUser(ctx, "root", rootPassword, true); err != nil {
		t.Fatal(err)
	}
	if _, err := p.st.CreateUser(ctx, "bob", bobPassword, false); err != nil {
		t.Fatal(err)
	}
	h := &joinHub{Hub: p.hub, joins: make(chan [2]string, 10)}
	srv := New(Config{Domain: testDomain, TLSConfig: &tls.Config{Certificates: []tls.Certificate{p.cert}, MinVersion: tls.VersionTLS12},
		Store: p.st, Hub: h, Log: testLogger(t), MaxLoginFailures: 50, LoginLockout: time.Minute, Version: "test",
		ValidateNetwork: testValidateNetwork})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	go srv.Serve(runCtx, ln, false)
	t.Cleanup(func() { cancel(); srv.Wait() })
	p.srv, p.addr = srv, ln.Addr().String()
	waitBridge(t, p)
	return &adhocPort{testPort: p, hub: h}
}

// loginAs logs user in over STARTTLS, binds resource and sends initial
// presence (PEP notifies available devices).
func loginAs(t *testing.T, p *testPort, user, password, resource string) *rawClient {
	t.Helper()
	c := dialRaw(t, p.addr, false)
	c.openStream()
	c.startTLS()
	c.openStream()
	if r := c.authPlain(user, password); r == nil || r.Name.Local != "success" {
		t.Fatalf("login of %s answered %v", user, r)
	}
	c.dec = xml.NewDecoder(c.conn)
	c.openStream()
	c.send("<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>" + resource + "</resource></bind></iq>")
	c.expect("bind result", func(e *element) bool { return e.attr("id") == "b1" && e.attr("type") == "result" })
	c.send("<presence/>")
	return c
}

var iqSeq atomic.Int64

// iq sends an iq and returns its answer.
func (c *rawClient) iq(typ, to, payload string) *element {
	c.t.Helper()
	id := fmt.Sprintf("q%d", iqSeq.Add(1))
	toAttr := ""
	if to != "" {
		toAttr = " to='" + to + "'"
	}
	c.send("<iq type='" + typ + "' id='" + id + "'" + toAttr + ">" + payload + "</iq>")
	return c.expect("answer to iq "+id, func(e *element) bool {
		return e.Name.Local == "iq" && e.attr("id") == id && (e.attr("type") == "result" || e.attr("type") == "error")
	})
}

// submitForm is a submitted data form; values with line breaks become
// several values, as a text-multi field sends them.
func submitForm(fields map[string]string) string {
	var keys []string
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("<x xmlns='jabber:x:data' type='submit'>")
	for _, k := range keys {
		b.WriteString("<field var='" + k + "'>")
		for _, v := range strings.Split(fields[k], "\n") {
			var esc strings.Builder
			xml.EscapeText(&esc, []byte(v))
			b.WriteString("<value>" + esc.String() + "</value>")
		}
		b.WriteString("</field>")
	}
	b.WriteString("</x>")
	return b.String()
}

// command runs one step of a command: execute when sid is "", else the
// action with the form (nil: none).
func command(t *testing.T, c *rawClient, node, sid, action string, fields map[string]string) *element {
	t.Helper()
	attrs := " node='" + nodePrefix + node + "'"
	if sid != "" {
		attrs += " sessionid='" + sid + "'"
	}
	if action != "" {
		attrs += " action='" + action + "'"
	}
	inner := ""
	if fields != nil {
		inner = submitForm(fields)
	}
	return c.iq("set", testDomain, "<command xmlns='"+nsCommands+"'"+attrs+">"+inner+"</command>")
}

// cmdOf is the command element of a result, failing on an error.
func cmdOf(t *testing.T, r *element) *element {
	t.Helper()
	cmd := r.child(nsCommands, "command")
	if r.attr("type") != "result" || cmd == nil {
		t.Fatalf("want a command result, got %v", r)
	}
	return cmd
}

// errorNote is the text of the command's error note, "" when none.
func errorNote(cmd *element) string {
	for _, n := range cmd.Children {
		if n.Name.Local == "note" && n.attr("type") == "error" {
			return n.Text
		}
	}
	return ""
}

// expectFieldError checks that a submission was refused, naming field,
// and the stage is shown again.
func expectFieldError(t *testing.T, r *element, field string) *element {
	t.Helper()
	cmd := cmdOf(t, r)
	note := errorNote(cmd)
	if cmd.attr("status") != "executing" || !strings.HasPrefix(note, field+": ") || cmd.child(nsDataForms, "x") == nil {
		t.Fatalf("want the stage again with an error note naming %q, got %v", field, cmd)
	}
	return cmd
}

func expectCompleted(t *testing.T, r *element) *element {
	t.Helper()
	cmd := cmdOf(t, r)
	if cmd.attr("status") != "completed" || errorNote(cmd) != "" {
		t.Fatalf("want completed, got %v", cmd)
	}
	return cmd
}

func errCondition(r *element) string {
	if e := r.child(nsClient, "error"); r.attr("type") == "error" && e != nil && len(e.Children) > 0 {
		return e.Children[0].Name.Local
	}
	return ""
}

// formFields lists the vars of a form's fields.
func formFields(x *element) []string {
	var out []string
	for _, f := range x.Children {
		if f.Name.Local == "field" {
			out = append(out, f.attr("var"))
		}
	}
	return out
}

// fieldOf is the field named v of the command's form, nil if none.
func fieldOf(cmd *element, v string) *element {
	for _, f := range cmd.child(nsDataForms, "x").Children {
		if f.Name.Local == "field" && f.attr("var") == v {
			return f
		}
	}
	return nil
}

// resultItems reads a result form's items as maps.
func resultItems(x *element) []map[string]string {
	var out []map[string]string
	for _, it := range x.Children {
		if it.Name.Local != "item" {
			continue
		}
		m := map[string]string{}
		for _, f := range it.Children {
			m[f.attr("var")] = f.childText(nsDataForms, "value")
		}
		out = append(out, m)
	}
	return out
}

func commandNodes(t *testing.T, c *rawClient) []string {
	t.Helper()
	r := c.iq("get", testDomain, "<query xmlns='"+nsDiscoItems+"' node='"+nsCommands+"'/>")
	var out []string
	for _, it := range r.child(nsDiscoItems, "query").Children {
		if it.attr("jid") != testDomain {
			t.Fatalf("command item not on the server address: %v", it)
		}
		out = append(out, strings.TrimPrefix(it.attr("node"), nodePrefix))
	}
	return out
}

func TestAdhocDiscoAndAdminVisibility(t *testing.T) {
	p := startAdhocPort(t)
	alice := loginAs(t, p.testPort, "alice", p.password, "phone")
	root := loginAs(t, p.testPort, "root", rootPassword, "pc")

	user := "[list-networks add-network remove-network join-channel set-status search]"
	if got := fmt.Sprint(commandNodes(t, alice)); got != user {
		t.Fatalf("alice's commands %s, want %s", got, user)
	}
	admin := user[:len(user)-1] + " add-user remove-user change-password]"
	if got := fmt.Sprint(commandNodes(t, root)); got != admin {
		t.Fatalf("root's commands %s, want %s", got, admin)
	}
	r := alice.iq("get", testDomain, "<query xmlns='"+nsDiscoInfo+"'/>")
	if !strings.Contains(r.String(), nsCommands) {
		t.Fatalf("the server does not advertise commands: %v", r)
	}
	r = alice.iq("get", testDomain, "<query xmlns='"+nsDiscoInfo+"' node='"+nodePrefix+"search'/>")
	if id := r.child(nsDiscoInfo, "query").child(nsDiscoInfo, "identity"); id.attr("category") != "automation" || id.attr("type") != "command-node" {
		t.Fatalf("command node info: %v", r)
	}
	// A non-administrator can neither see nor run the admin commands.
	r = alice.iq("get", testDomain, "<query xmlns='"+nsDiscoInfo+"' node='"+nodePrefix+"add-user'/>")
	if errCondition(r) != "item-not-found" {
		t.Fatalf("alice sees add-user's info: %v", r)
	}
	for _, node := range []string{"add-user", "remove-user", "change-password"} {
		if r := command(t, alice, node, "", "execute", nil); errCondition(r) != "forbidden" {
			t.Fatalf("alice ran %s: %v", node, r)
		}
	}
	if r := command(t, alice, "no-such-command", "", "execute", nil); errCondition(r) != "item-not-found" {
		t.Fatalf("unknown command: %v", r)
	}
	// Commands are the server's, not the account's.
	r = alice.iq("set", "alice@"+testDomain, "<command xmlns='"+nsCommands+"' node='"+nodePrefix+"search' action='execute'/>")
	if errCondition(r) != "service-unavailable" {
		t.Fatalf("a command to the account: %v", r)
	}
}

func TestAdhocListNetworks(t *testing.T) {
	p := startAdhocPort(t)
	alice := loginAs(t, p.testPort, "alice", p.password, "phone")
	cmd := expectCompleted(t, command(t, alice, "list-networks", "", "execute", nil))
	items := resultItems(cmd.child(nsDataForms, "x"))
	if len(items) != 1 || items[0]["name"] != "libera" || items[0]["kind"] != "irc" ||
		items[0]["state"] != string(core.StateConnected) || items[0]["address"] != "libera."+testDomain {
		t.Fatalf("networks %v", items)
	}
	// Bob has none of alice's.
	bob := loginAs(t, p.testPort, "bob", bobPassword, "pc")
	cmd = expectCompleted(t, command(t, bob, "list-networks", "", "execute", nil))
	if items := resultItems(cmd.child(nsDataForms, "x")); len(items) != 0 {
		t.Fatalf("bob lists %v", items)
	}
}

// drainBridges takes every bridge the Hub starts from now on, so the
// start of a network a test adds does not wait for the test to take its
// bridge (startPort's registry hands each one over). p.receive cannot be
// used after it.
func drainBridges(t *testing.T, p *testPort) {
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	go func() {
		for {
			select {
			case <-p.bridge:
			case <-done:
				return
			}
		}
	}()
}

func TestAdhocAddNetwork(t *testing.T) {
	p := startAdhocPort(t)
	drainBridges(t, p.testPort)
	alice := loginAs(t, p.testPort, "alice", p.password, "phone")
	cmd := cmdOf(t, command(t, alice, "add-network", "", "execute", nil))
	sid := cmd.attr("sessionid")
	if sid == "" || cmd.attr("status") != "executing" || fmt.Sprint(formFields(cmd.child(nsDataForms, "x"))) != "[name kind]" {
		t.Fatalf("first stage %v", cmd)
	}
	expectFieldError(t, command(t, alice, "add-network", sid, "next", map[string]string{"name": "EFnet", "kind": "irc"}), "name")
	expectFieldError(t, command(t, alice, "add-network", sid, "next", map[string]string{"name": "libera", "kind": "irc"}), "name")
	expectFieldError(t, command(t, alice, "add-network", sid, "next", map[string]string{"name": "oftc", "kind": "smtp"}), "kind")
	cmd = expectFieldError(t, command(t, alice, "add-network", sid, "next", map[string]string{"kind": "irc"}), "name")
	// The stage comes back as submitted.
	if v := fieldOf(cmd, "kind"); v.childText(nsDataForms, "value") != "irc" {
		t.Fatalf("refilled stage %v", cmd)
	}
	cmd = cmdOf(t, command(t, alice, "add-network", sid, "next", map[string]string{"name": "oftc", "kind": "irc"}))
	if got := fmt.Sprint(formFields(cmd.child(nsDataForms, "x"))); got != "[addr nick username realname join password settings]" {
		t.Fatalf("IRC settings stage %s", got)
	}
	if cmd.child(nsCommands, "actions").child(nsCommands, "prev") == nil {
		t.Fatalf("no prev on the second stage: %v", cmd)
	}
	for field, form := range map[string]map[string]string{
		"addr":     {"addr": "http://irc.oftc.example"},
		"nick":     {"addr": "ircs://irc.oftc.example", "nick": "al ice"},
		"join":     {"addr": "ircs://irc.oftc.example", "join": "go"},
		"settings": {"addr": "ircs://irc.oftc.example", "settings": "novalue"},
	} {
		expectFieldError(t, command(t, alice, "add-network", sid, "complete", form), field)
	}
	// A setting with no field of its own is blamed on "settings".
	expectFieldError(t, command(t, alice, "add-network", sid, "complete",
		map[string]string{"addr": "ircs://irc.oftc.example", "settings": "flood-rate=fast"}), "settings")
	// Back to the first stage, which keeps what was given.
	cmd = cmdOf(t, command(t, alice, "add-network", sid, "prev", nil))
	if got := fieldOf(cmd, "name"); got.childText(nsDataForms, "value") != "oftc" {
		t.Fatalf("prev shows %v", cmd)
	}
	cmdOf(t, command(t, alice, "add-network", sid, "next", map[string]string{"name": "oftc", "kind": "irc"}))
	expectCompleted(t, command(t, alice, "add-network", sid, "complete", map[string]string{
		"addr": "ircs://irc.oftc.example:6697", "join": "#go,#xmpp", "settings": "away-message=gone\nflood-burst=4"}))
	n, err := p.st.NetworkByName(context.Background(), p.user.ID, "oftc")
	if err != nil {
		t.Fatal(err)
	}
	want := core.Settings{"addr": "ircs://irc.oftc.example:6697", "nick": "alice", "join": "#go,#xmpp", "away-message": "gone", "flood-burst": "4"}
	if fmt.Sprint(n.Settings) != fmt.Sprint(want) || n.Kind != core.KindIRC || !n.Enabled {
		t.Fatalf("stored %+v, want settings %v", n, want)
	}
	// The session's networks know it at once: its sub-domain answers.
	if r := alice.iq("get", "oftc."+testDomain, "<query xmlns='"+nsDiscoInfo+"'/>"); r.attr("type") != "result" {
		t.Fatalf("the new network's address: %v", r)
	}

	// An XMPP account: the CLI's check names its flags, the form its fields.
	sid = cmdOf(t, command(t, alice, "add-network", "", "execute", nil)).attr("sessionid")
	cmd = cmdOf(t, command(t, alice, "add-network", sid, "next", map[string]string{"name": "work", "kind": "xmpp"}))
	if got := fmt.Sprint(formFields(cmd.child(nsDataForms, "x"))); got != "[jid password addr settings]" {
		t.Fatalf("XMPP settings stage %s", got)
	}
	expectFieldError(t, command(t, alice, "add-network", sid, "complete", map[string]string{"jid": "me", "password": "x"}), "jid")
	expectFieldError(t, command(t, alice, "add-network", sid, "complete", map[string]string{"jid": "me@example.net"}), "password")
	expectCompleted(t, command(t, alice, "add-network", sid, "complete", map[string]string{"jid": "me@example.net", "password": "secret"}))
	if n, err := p.st.NetworkByName(context.Background(), p.user.ID, "work"); err != nil || n.Settings["password"] != "secret" {
		t.Fatalf("XMPP network %+v, %v", n, err)
	}
}

func TestAdhocRemoveNetwork(t *testing.T) {
	p := startAdhocPort(t)
	alice := loginAs(t, p.testPort, "alice", p.password, "phone")
	p.receive(t, p.incoming(core.Peer{Kind: core.Direct, Remote: "bob"}, "bob", "hello alice"))
	sid := cmdOf(t, command(t, alice, "remove-network", "", "execute", nil)).attr("sessionid")
	expectFieldError(t, command(t, alice, "remove-network", sid, "complete", map[string]string{"network": "efnet"}), "network")
	expectFieldError(t, command(t, alice, "remove-network", sid, "complete", map[string]string{"network": "libera"}), "delete-history")
	expectFieldError(t, command(t, alice, "remove-network", sid, "complete", map[string]string{"network": "libera", "delete-history": "maybe"}), "delete-history")
	// Bob cannot remove alice's network: it is none of his.
	bob := loginAs(t, p.testPort, "bob", bobPassword, "pc")
	bsid := cmdOf(t, command(t, bob, "remove-network", "", "execute", nil)).attr("sessionid")
	expectFieldError(t, command(t, bob, "remove-network", bsid, "complete", map[string]string{"network": "libera", "delete-history": "true"}), "network")

	expectCompleted(t, command(t, alice, "remove-network", sid, "complete", map[string]string{"network": "libera", "delete-history": "true"}))
	if nets, _ := p.st.Networks(context.Background(), p.user.ID); len(nets) != 0 {
		t.Fatalf("still there: %v", nets)
	}
	if r := alice.iq("get", "libera."+testDomain, "<query xmlns='"+nsDiscoInfo+"'/>"); errCondition(r) != "item-not-found" {
		t.Fatalf("the removed network's address still answers: %v", r)
	}
}

func TestAdhocJoinChannel(t *testing.T) {
	p := startAdhocPort(t)
	alice := loginAs(t, p.testPort, "alice", p.password, "phone")
	cmd := cmdOf(t, command(t, alice, "join-channel", "", "execute", nil))
	sid := cmd.attr("sessionid")
	if opts := fieldOf(cmd, "network").child(nsDataForms, "option"); opts == nil || opts.childText(nsDataForms, "value") != "libera" {
		t.Fatalf("network options %v", cmd)
	}
	for field, form := range map[string]map[string]string{
		"network": {"network": "efnet", "channel": "#go"},
		"channel": {"network": "libera", "channel": "go"},
		"key":     {"network": "libera", "channel": "#go", "key": "a b"},
	} {
		expectFieldError(t, command(t, alice, "join-channel", sid, "complete", form), field)
	}
	expectFieldError(t, command(t, alice, "join-channel", sid, "complete", map[string]string{"network": "libera"}), "channel")
	refused := fmt.Errorf("cannot join #secret: invite only")
	p.hub.joinErr.Store(&refused)
	r := command(t, alice, "join-channel", sid, "complete", map[string]string{"network": "libera", "channel": "#secret"})
	if note := errorNote(expectFieldError(t, r, "channel")); !strings.Contains(note, "invite only") {
		t.Fatalf("the network's refusal is not shown: %q", note)
	}
	p.hub.joinErr.Store(nil)
	cmd = expectCompleted(t, command(t, alice, "join-channel", sid, "complete", map[string]string{"network": "libera", "channel": "#Go", "key": "k"}))
	select {
	case j := <-p.hub.joins:
		if j != [2]string{"#Go", "k"} {
			t.Fatalf("joined %v", j)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no join reached the Hub")
	}
	if !strings.Contains(cmd.String(), "#go@libera."+testDomain) {
		t.Fatalf("the room's address is not given: %v", cmd)
	}
}

func TestAdhocSetStatus(t *testing.T) {
	p := startAdhocPort(t)
	alice := loginAs(t, p.testPort, "alice", p.password, "phone")
	sid := cmdOf(t, command(t, alice, "set-status", "", "execute", nil)).attr("sessionid")
	expectFieldError(t, command(t, alice, "set-status", sid, "complete", map[string]string{"show": "sleepy"}), "show")
	expectFieldError(t, command(t, alice, "set-status", sid, "complete", map[string]string{"show": "away", "text": "a\nb"}), "text")
	cmd := expectCompleted(t, command(t, alice, "set-status", sid, "complete", map[string]string{"show": "dnd", "text": "in a meeting"}))
	if !strings.Contains(cmd.String(), "dnd") {
		t.Fatalf("completion does not say what was set: %v", cmd)
	}
}

func TestAdhocSearch(t *testing.T) {
	p := startAdhocPort(t)
	alice := loginAs(t, p.testPort, "alice", p.password, "phone")
	p.receive(t,
		p.incoming(core.Peer{Kind: core.Direct, Remote: "bob"}, "bob", "the gopher conference"),
		p.incoming(core.Peer{Kind: core.Room, Remote: "#go"}, "carol", "gophers everywhere"),
		p.incoming(core.Peer{Kind: core.Direct, Remote: "bob"}, "bob", "nothing to see"))
	want, err := p.st.Search(context.Background(), core.SearchQuery{User: p.user.ID, Text: "gopher*"})
	if err != nil || len(want) != 2 {
		t.Fatalf("store search %v, %v", want, err)
	}
	sid := cmdOf(t, command(t, alice, "search", "", "execute", nil)).attr("sessionid")
	for field, form := range map[string]map[string]string{
		"text":    {"text": "\"unterminated"},
		"network": {"text": "gopher", "network": "efnet"},
		"with":    {"text": "gopher", "with": "nobody@libera." + testDomain},
		"start":   {"text": "gopher", "start": "yesterday"},
		"end":     {"text": "gopher", "end": "2024-13-01T00:00:00Z"},
		"max":     {"text": "gopher", "max": "0"},
	} {
		expectFieldError(t, command(t, alice, "search", sid, "complete", form), field)
	}
	expectFieldError(t, command(t, alice, "search", sid, "complete", map[string]string{"max": "5"}), "text")
	cmd := expectCompleted(t, command(t, alice, "search", sid, "complete", map[string]string{"text": "gopher*", "network": "libera"}))
	x := cmd.child(nsDataForms, "x")
	if x.attr("type") != "result" || x.child(nsDataForms, "reported") == nil {
		t.Fatalf("results are not a result form with reported fields: %v", cmd)
	}
	items := resultItems(x)
	if len(items) != 2 || items[0]["id"] != want[0].Message.ID.String() || items[1]["id"] != want[1].Message.ID.String() {
		t.Fatalf("items %v, want ids %v %v", items, want[0].Message.ID, want[1].Message.ID)
	}
	if items[1]["with"] != "bob@libera."+testDomain || items[1]["from"] != "bob" || !strings.Contains(items[1]["text"], "gopher") {
		t.Fatalf("item %v", items[1])
	}
}

func TestAdhocSearchInOneConversation(t *testing.T) {
	p := startAdhocPort(t)
	alice := loginAs(t, p.testPort, "alice", p.password, "phone")
	p.receive(t,
		p.incoming(core.Peer{Kind: core.Direct, Remote: "bob"}, "bob", "gopher one"),
		p.incoming(core.Peer{Kind: core.Room, Remote: "#go"}, "carol", "gopher two"))
	sid := cmdOf(t, command(t, alice, "search", "", "execute", nil)).attr("sessionid")
	cmd := expectCompleted(t, command(t, alice, "search", sid, "complete", map[string]string{"text": "gopher", "with": "#go@libera." + testDomain}))
	if items := resultItems(cmd.child(nsDataForms, "x")); len(items) != 1 || items[0]["from"] != "carol" {
		t.Fatalf("items %v", items)
	}
	// Bob finds none of alice's messages.
	bob := loginAs(t, p.testPort, "bob", bobPassword, "pc")
	bsid := cmdOf(t, command(t, bob, "search", "", "execute", nil)).attr("sessionid")
	cmd = expectCompleted(t, command(t, bob, "search", bsid, "complete", map[string]string{"text": "gopher"}))
	if items := resultItems(cmd.child(nsDataForms, "x")); len(items) != 0 {
		t.Fatalf("bob finds %v", items)
	}
}

func TestAdhocSessionsAndCancel(t *testing.T) {
	p := startAdhocPort(t)
	alice := loginAs(t, p.testPort, "alice", p.password, "phone")
	tablet := loginAs(t, p.testPort, "alice", p.password, "tablet")
	bob := loginAs(t, p.testPort, "bob", bobPassword, "pc")
	a := cmdOf(t, command(t, alice, "add-network", "", "execute", nil)).attr("sessionid")
	b := cmdOf(t, command(t, alice, "add-network", "", "execute", nil)).attr("sessionid")
	if a == b {
		t.Fatalf("two executions share session id %s", a)
	}
	// Another device or user cannot use the session.
	for _, c := range []*rawClient{tablet, bob} {
		r := command(t, c, "add-network", a, "next", map[string]string{"name": "oftc", "kind": "irc"})
		if errCondition(r) != "bad-request" || r.child(nsClient, "error").child(nsCommands, "bad-sessionid") == nil {
			t.Fatalf("a session used from elsewhere: %v", r)
		}
	}
	// Nor with another command.
	if r := command(t, alice, "remove-network", a, "complete", map[string]string{"network": "libera"}); errCondition(r) != "bad-request" {
		t.Fatalf("session of another command: %v", r)
	}
	cmd := cmdOf(t, command(t, alice, "add-network", a, "cancel", nil))
	if cmd.attr("status") != "canceled" {
		t.Fatalf("cancel: %v", cmd)
	}
	if r := command(t, alice, "add-network", a, "next", map[string]string{"name": "oftc", "kind": "irc"}); errCondition(r) != "bad-request" {
		t.Fatalf("a canceled session goes on: %v", r)
	}
	// No form, or a malformed action, is a stanza error, not a crash.
	if r := command(t, alice, "add-network", b, "next", nil); errCondition(r) != "bad-request" {
		t.Fatalf("no form: %v", r)
	}
	if r := command(t, alice, "add-network", b, "jump", nil); errCondition(r) != "bad-request" {
		t.Fatalf("bad action: %v", r)
	}
	if r := alice.iq("get", testDomain, "<command xmlns='"+nsCommands+"' node='"+nodePrefix+"search'/>"); errCondition(r) != "bad-request" {
		t.Fatalf("iq get: %v", r)
	}
	// The other execution is untouched.
	cmdOf(t, command(t, alice, "add-network", b, "next", map[string]string{"name": "oftc", "kind": "irc"}))
}

func TestAdhocUserManagement(t *testing.T) {
	p := startAdhocPort(t)
	ctx := context.Background()
	root := loginAs(t, p.testPort, "root", rootPassword, "pc")

	sid := cmdOf(t, command(t, root, "add-user", "", "execute", nil)).attr("sessionid")
	expectFieldError(t, command(t, root, "add-user", sid, "complete", map[string]string{"name": "Bad Name"}), "name")
	expectFieldError(t, command(t, root, "add-user", sid, "complete", map[string]string{"name": "alice"}), "name")
	expectFieldError(t, command(t, root, "add-user", sid, "complete", map[string]string{"name": "dave", "admin": "perhaps"}), "admin")
	cmd := expectCompleted(t, command(t, root, "add-user", sid, "complete", map[string]string{"name": "dave"}))
	items := cmd.child(nsDataForms, "x")
	pw := ""
	for _, f := range items.Children {
		if f.attr("var") == "password" {
			pw = f.childText(nsDataForms, "value")
		}
	}
	if pw == "" {
		t.Fatalf("no generated password shown: %v", cmd)
	}
	loginAs(t, p.testPort, "dave", pw, "x") // the password works
	sid = cmdOf(t, command(t, root, "add-user", "", "execute", nil)).attr("sessionid")
	cmd = expectCompleted(t, command(t, root, "add-user", sid, "complete", map[string]string{"name": "erin", "password": "erin's own", "admin": "1"}))
	if cmd.child(nsDataForms, "x") != nil {
		t.Fatalf("a given password is shown back: %v", cmd)
	}
	if u, err := p.st.UserByName(ctx, "erin"); err != nil || !u.Admin {
		t.Fatalf("erin %+v, %v", u, err)
	}
	erin := loginAs(t, p.testPort, "erin", "erin's own", "x")
	if got := commandNodes(t, erin); len(got) != 9 {
		t.Fatalf("a new admin sees %v", got)
	}

	sid = cmdOf(t, command(t, root, "change-password", "", "execute", nil)).attr("sessionid")
	expectFieldError(t, command(t, root, "change-password", sid, "complete", map[string]string{"user": "nobody"}), "user")
	expectCompleted(t, command(t, root, "change-password", sid, "complete", map[string]string{"user": "dave", "password": "new dave"}))
	loginAs(t, p.testPort, "dave", "new dave", "y")

	p.receive(t, p.incoming(core.Peer{Kind: core.Direct, Remote: "bob"}, "bob", "alice has history"))
	alice := loginAs(t, p.testPort, "alice", p.password, "phone")
	sid = cmdOf(t, command(t, root, "remove-user", "", "execute", nil)).attr("sessionid")
	expectFieldError(t, command(t, root, "remove-user", sid, "complete", map[string]string{"user": "root", "delete-history": "true"}), "user")
	expectFieldError(t, command(t, root, "remove-user", sid, "complete", map[string]string{"user": "nobody"}), "user")
	expectFieldError(t, command(t, root, "remove-user", sid, "complete", map[string]string{"user": "alice"}), "delete-history")
	expectCompleted(t, command(t, root, "remove-user", sid, "complete", map[string]string{"user": "alice", "delete-history": "true"}))
	if _, err := p.st.UserByName(ctx, "alice"); err == nil {
		t.Fatal("alice is still there")
	}
	// Her device is logged out.
	alice.expect("the end of alice's stream", func(e *element) bool { return e.Name.Local == "error" })
}

// A demoted administrator loses the commands at once.
func TestAdhocAdminFlagReadEachTime(t *testing.T) {
	p := startAdhocPort(t)
	root := loginAs(t, p.testPort, "root", rootPassword, "pc")
	if len(commandNodes(t, root)) != 9 {
		t.Fatal("root is no admin")
	}
	u, _ := p.st.UserByName(context.Background(), "root")
	if err := p.st.DeleteUser(context.Background(), u.ID); err != nil {
		t.Fatal(err)
	}
	if r := command(t, root, "add-user", "", "execute", nil); errCondition(r) != "forbidden" {
		t.Fatalf("a removed admin runs add-user: %v", r)
	}
}
