package xmpp

import (
	"strings"
	"testing"
)

const bookmarkNode = "urn:xmpp:bookmarks:1"

// publishBookmark is what Conversations and Dino send for a bookmark
// (XEP-0402), with the publish-options they ask for.
func publishBookmark(room, name, access string) string {
	return "<pubsub xmlns='" + nsPubSub + "'><publish node='" + bookmarkNode + "'><item id='" + room + "'>" +
		"<conference xmlns='" + bookmarkNode + "' name='" + name + "' autojoin='true'><nick>alice</nick></conference></item></publish>" +
		"<publish-options>" + submitForm(map[string]string{"FORM_TYPE": nsPublishOpts, "pubsub#persist_items": "true",
		"pubsub#max_items": "max", "pubsub#access_model": access, "pubsub#send_last_published_item": "never"}) +
		"</publish-options></pubsub>"
}

func pubsubAppError(r *element) string {
	for _, c := range r.child(nsClient, "error").Children {
		if c.Name.Space == nsPubSubErrors {
			return c.Name.Local
		}
	}
	return ""
}

func itemIDs(r *element) []string {
	var out []string
	for _, it := range r.child(nsPubSub, "pubsub").child(nsPubSub, "items").Children {
		out = append(out, it.attr("id"))
	}
	return out
}

func TestPEPBookmarks(t *testing.T) {
	p := startAdhocPort(t)
	phone := loginAs(t, p.testPort, "alice", p.password, "phone")
	laptop := loginAs(t, p.testPort, "alice", p.password, "laptop")

	r := phone.iq("set", "", publishBookmark("#go@libera.example.org", "Go", "whitelist"))
	if r.attr("type") != "result" || r.child(nsPubSub, "pubsub").child(nsPubSub, "publish").child(nsPubSub, "item").attr("id") != "#go@libera.example.org" {
		t.Fatalf("publish: %v", r)
	}
	// The other device is told, with the payload.
	ev := laptop.expect("the bookmark event", func(e *element) bool { return e.Name.Local == "message" && e.child(nsPubSubEvent, "event") != nil })
	items := ev.child(nsPubSubEvent, "event").child(nsPubSubEvent, "items")
	if ev.attr("from") != "alice@"+testDomain || items.attr("node") != bookmarkNode ||
		items.child(nsPubSubEvent, "item").child(bookmarkNode, "conference").attr("name") != "Go" {
		t.Fatalf("event %v", ev)
	}
	phone.iq("set", "alice@"+testDomain, publishBookmark("#rust@libera.example.org", "Rust", "whitelist"))
	r = laptop.iq("get", "alice@"+testDomain, "<pubsub xmlns='"+nsPubSub+"'><items node='"+bookmarkNode+"'/></pubsub>")
	if got := strings.Join(itemIDs(r), " "); got != "#go@libera.example.org #rust@libera.example.org" {
		t.Fatalf("items %q: %v", got, r)
	}
	conf := r.child(nsPubSub, "pubsub").child(nsPubSub, "items").Children[0].child(bookmarkNode, "conference")
	if conf.attr("autojoin") != "true" || conf.childText(bookmarkNode, "nick") != "alice" {
		t.Fatalf("stored payload %v", conf)
	}
	r = laptop.iq("get", "", "<pubsub xmlns='"+nsPubSub+"'><items node='"+bookmarkNode+"'><item id='#rust@libera.example.org'/></items></pubsub>")
	if got := strings.Join(itemIDs(r), " "); got != "#rust@libera.example.org" {
		t.Fatalf("by id: %q", got)
	}
	// Options that differ from the node's are a failed precondition.
	r = phone.iq("set", "", publishBookmark("#c@libera.example.org", "C", "open"))
	if errCondition(r) != "conflict" || pubsubAppError(r) != "precondition-not-met" {
		t.Fatalf("mismatched options: %v", r)
	}
	// The owner can reconfigure, as clients do after that error.
	r = phone.iq("get", "", "<pubsub xmlns='"+nsPubSubOwner+"'><configure node='"+bookmarkNode+"'/></pubsub>")
	if !strings.Contains(r.String(), "pubsub#access_model") || !strings.Contains(r.String(), "<value>whitelist</value>") {
		t.Fatalf("configuration form: %v", r)
	}
	r = phone.iq("set", "", "<pubsub xmlns='"+nsPubSubOwner+"'><configure node='"+bookmarkNode+"'>"+
		submitForm(map[string]string{"FORM_TYPE": nsNodeConfig, "pubsub#access_model": "open"})+"</configure></pubsub>")
	if r.attr("type") != "result" {
		t.Fatalf("configure: %v", r)
	}
	if r = phone.iq("set", "", publishBookmark("#c@libera.example.org", "C", "open")); r.attr("type") != "result" {
		t.Fatalf("publish after reconfiguring: %v", r)
	}
	// Retract with notify.
	r = phone.iq("set", "", "<pubsub xmlns='"+nsPubSub+"'><retract node='"+bookmarkNode+"' notify='true'><item id='#go@libera.example.org'/></retract></pubsub>")
	if r.attr("type") != "result" {
		t.Fatalf("retract: %v", r)
	}
	laptop.expect("the retract event", func(e *element) bool {
		return e.child(nsPubSubEvent, "event").child(nsPubSubEvent, "items").child(nsPubSubEvent, "retract").attr("id") == "#go@libera.example.org"
	})
	// Disco shows the account as a PEP service, with its nodes.
	r = phone.iq("get", "alice@"+testDomain, "<query xmlns='"+nsDiscoInfo+"'/>")
	if s := r.String(); !strings.Contains(s, "category='pubsub' type='pep'") || !strings.Contains(s, nsPubSub+"#publish-options") {
		t.Fatalf("account disco: %v", r)
	}
	r = phone.iq("get", "alice@"+testDomain, "<query xmlns='"+nsDiscoItems+"'/>")
	if !strings.Contains(r.String(), "node='"+bookmarkNode+"'") {
		t.Fatalf("account items: %v", r)
	}
	// Delete the node.
	r = phone.iq("set", "", "<pubsub xmlns='"+nsPubSubOwner+"'><delete node='"+bookmarkNode+"'/></pubsub>")
	if r.attr("type") != "result" {
		t.Fatalf("delete: %v", r)
	}
	laptop.expect("the delete event", func(e *element) bool {
		return e.child(nsPubSubEvent, "event").child(nsPubSubEvent, "delete").attr("node") == bookmarkNode
	})
	if r = phone.iq("get", "", "<pubsub xmlns='"+nsPubSub+"'><items node='"+bookmarkNode+"'/></pubsub>"); errCondition(r) != "item-not-found" {
		t.Fatalf("items of a deleted node: %v", r)
	}
}

func TestPEPAvatarAndMaxItems(t *testing.T) {
	p := startAdhocPort(t)
	c := loginAs(t, p.testPort, "alice", p.password, "phone")
	// No options: the node keeps its last item, as for avatars and nicks.
	for _, id := range []string{"a1", "a2"} {
		r := c.iq("set", "", "<pubsub xmlns='"+nsPubSub+"'><publish node='urn:xmpp:avatar:metadata'><item id='"+id+
			"'><metadata xmlns='urn:xmpp:avatar:metadata'><info bytes='1' id='"+id+"' type='image/png'/></metadata></item></publish></pubsub>")
		if r.attr("type") != "result" {
			t.Fatalf("publish: %v", r)
		}
	}
	r := c.iq("get", "", "<pubsub xmlns='"+nsPubSub+"'><items node='urn:xmpp:avatar:metadata'/></pubsub>")
	if got := strings.Join(itemIDs(r), " "); got != "a2" {
		t.Fatalf("items %q", got)
	}
	// An item without an id gets one.
	r = c.iq("set", "", "<pubsub xmlns='"+nsPubSub+"'><publish node='http://jabber.org/protocol/nick'><item><nick xmlns='http://jabber.org/protocol/nick'>Al</nick></item></publish></pubsub>")
	if id := r.child(nsPubSub, "pubsub").child(nsPubSub, "publish").child(nsPubSub, "item").attr("id"); r.attr("type") != "result" || id == "" {
		t.Fatalf("publish without id: %v", r)
	}
}

func TestPEPBadRequests(t *testing.T) {
	p := startAdhocPort(t)
	c := loginAs(t, p.testPort, "alice", p.password, "phone")
	for _, tc := range []struct{ typ, payload, condition, app string }{
		{"set", "<pubsub xmlns='" + nsPubSub + "'><publish><item id='1'><x xmlns='y'/></item></publish></pubsub>", "bad-request", "nodeid-required"},
		{"set", "<pubsub xmlns='" + nsPubSub + "'><publish node='n'/></pubsub>", "bad-request", "item-required"},
		{"set", "<pubsub xmlns='" + nsPubSub + "'><publish node='n'><item id='1'><x xmlns='y'/><z xmlns='y'/></item></publish></pubsub>", "bad-request", "invalid-payload"},
		{"set", "<pubsub xmlns='" + nsPubSub + "'><publish node='n'><item id='1'><x xmlns='y'/></item></publish><publish-options>" +
			submitForm(map[string]string{"pubsub#max_items": "lots"}) + "</publish-options></pubsub>", "not-acceptable", "invalid-options"},
		{"set", "<pubsub xmlns='" + nsPubSub + "'><publish node='n'><item id='1'><x xmlns='y'/></item></publish><publish-options>" +
			submitForm(map[string]string{"pubsub#access_model": "everyone"}) + "</publish-options></pubsub>", "not-acceptable", "invalid-options"},
		{"set", "<pubsub xmlns='" + nsPubSub + "'><subscribe node='n' jid='alice@example.org'/></pubsub>", "feature-not-implemented", "unsupported"},
		{"get", "<pubsub xmlns='" + nsPubSub + "'><items node='none'/></pubsub>", "item-not-found", ""},
		{"get", "<pubsub xmlns='" + nsPubSub + "'><items node='none' max_items='x'/></pubsub>", "bad-request", ""},
		{"set", "<pubsub xmlns='" + nsPubSub + "'><retract node='none'><item id='1'/></retract></pubsub>", "item-not-found", ""},
		{"set", "<pubsub xmlns='" + nsPubSubOwner + "'><delete node='none'/></pubsub>", "item-not-found", ""},
		{"get", "<pubsub xmlns='" + nsPubSub + "'/>", "bad-request", ""},
	} {
		r := c.iq(tc.typ, "", tc.payload)
		if errCondition(r) != tc.condition || pubsubAppError(r) != tc.app {
			t.Errorf("%s: got %v, want %s %s", tc.payload, r, tc.condition, tc.app)
		}
	}
}

// Bob can never read or change alice's nodes or private storage.
func TestPEPAndPrivateIsolation(t *testing.T) {
	p := startAdhocPort(t)
	alice := loginAs(t, p.testPort, "alice", p.password, "phone")
	bob := loginAs(t, p.testPort, "bob", bobPassword, "pc")
	alice.iq("set", "", publishBookmark("#secret@libera.example.org", "Secret", "whitelist"))
	alice.iq("set", "", "<query xmlns='"+nsPrivate+"'><storage xmlns='storage:bookmarks'><conference jid='#secret@libera.example.org'/></storage></query>")
	for _, req := range []string{
		"<pubsub xmlns='" + nsPubSub + "'><items node='" + bookmarkNode + "'/></pubsub>",
		"<query xmlns='" + nsDiscoItems + "'/>",
	} {
		if r := bob.iq("get", "alice@"+testDomain, req); r.attr("type") != "error" || strings.Contains(r.String(), "secret") {
			t.Fatalf("bob reads alice's %s: %v", req, r)
		}
	}
	if r := bob.iq("set", "alice@"+testDomain, "<pubsub xmlns='"+nsPubSubOwner+"'><delete node='"+bookmarkNode+"'/></pubsub>"); r.attr("type") != "error" {
		t.Fatalf("bob deletes alice's node: %v", r)
	}
	if r := bob.iq("get", "alice@"+testDomain, "<query xmlns='"+nsPrivate+"'><storage xmlns='storage:bookmarks'/></query>"); errCondition(r) != "forbidden" {
		t.Fatalf("bob reads alice's private storage: %v", r)
	}
	// Bob's own node of the same name is his own, and empty.
	if r := bob.iq("get", "", "<pubsub xmlns='"+nsPubSub+"'><items node='"+bookmarkNode+"'/></pubsub>"); errCondition(r) != "item-not-found" {
		t.Fatalf("bob's bookmarks: %v", r)
	}
	r := bob.iq("get", "", "<query xmlns='"+nsPrivate+"'><storage xmlns='storage:bookmarks'/></query>")
	if r.attr("type") != "result" || strings.Contains(r.String(), "secret") {
		t.Fatalf("bob's private storage: %v", r)
	}
	// Alice still has hers.
	if r := alice.iq("get", "", "<pubsub xmlns='"+nsPubSub+"'><items node='"+bookmarkNode+"'/></pubsub>"); len(itemIDs(r)) != 1 {
		t.Fatalf("alice's bookmarks: %v", r)
	}
}

func TestPrivateStorage(t *testing.T) {
	p := startAdhocPort(t)
	c := loginAs(t, p.testPort, "alice", p.password, "phone")
	r := c.iq("get", "", "<query xmlns='"+nsPrivate+"'><prefs xmlns='gajim:prefs'/></query>")
	if q := r.child(nsPrivate, "query"); r.attr("type") != "result" || q.child("gajim:prefs", "prefs") == nil || len(q.child("gajim:prefs", "prefs").Children) != 0 {
		t.Fatalf("nothing stored yet: %v", r)
	}
	r = c.iq("set", "", "<query xmlns='"+nsPrivate+"'><prefs xmlns='gajim:prefs'><theme>dark &amp; calm</theme></prefs></query>")
	if r.attr("type") != "result" {
		t.Fatalf("store: %v", r)
	}
	r = c.iq("get", "alice@"+testDomain, "<query xmlns='"+nsPrivate+"'><prefs xmlns='gajim:prefs'/></query>")
	if got := r.child(nsPrivate, "query").child("gajim:prefs", "prefs").childText("gajim:prefs", "theme"); got != "dark & calm" {
		t.Fatalf("stored %q: %v", got, r)
	}
	for _, bad := range []string{
		"<query xmlns='" + nsPrivate + "'/>",
		"<query xmlns='" + nsPrivate + "'><a xmlns='x'/><b xmlns='x'/></query>",
		"<query xmlns='" + nsPrivate + "'><x xmlns='jabber:x:data'/></query>",
		"<query xmlns='" + nsPrivate + "'><body/></query>",
	} {
		if r := c.iq("set", "", bad); errCondition(r) != "not-acceptable" {
			t.Errorf("%s: %v", bad, r)
		}
	}
}
