package xmpp

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/switchboard/switchboard/core"
)

// Personal eventing (XEP-0163) on the user's own account: the nodes of
// the bare JID, where clients keep bookmarks (XEP-0402, and XEP-0048 in
// its PEP form), the avatar (XEP-0084), the nick (XEP-0172) and their
// own settings (XEP-0223). Nodes and items are in the store, so every
// device and every restart sees them.
//
// Only the owner ever reads a node. Whatever access model a client asks
// for (whitelist and presence, as the clients above do, or open, as
// OMEMO does) is kept for publish-options preconditions, and enforced as
// owner-only: no other account of this server may read a user's things,
// and the bridged contacts cannot ask.

const (
	nsPubSub        = "http://jabber.org/protocol/pubsub"
	nsPubSubOwner   = nsPubSub + "#owner"
	nsPubSubEvent   = nsPubSub + "#event"
	nsPubSubErrors  = nsPubSub + "#errors"
	nsPublishOpts   = nsPubSub + "#publish-options"
	nsNodeConfig    = nsPubSub + "#node_config"
	nsPrivate       = "jabber:iq:private"
	pepMaxNodes     = 256
	pepDefaultItems = 1 // what a node keeps unless configured: the last item, as Prosody's PEP does
)

// pepFeatures are advertised on the account (the bare JID).
var pepFeatures = []string{
	nsPubSub, nsPubSub + "#publish", nsPubSub + "#retrieve-items", nsPubSub + "#retract-items",
	nsPubSub + "#delete-nodes", nsPubSub + "#purge-nodes", nsPubSub + "#create-nodes",
	nsPubSub + "#config-node", nsPubSub + "#auto-create", nsPubSub + "#persistent-items",
	nsPubSub + "#publish-options", nsPubSub + "#access-whitelist", nsPubSub + "#access-presence",
	nsPubSub + "#access-open", nsPubSub + "#item-ids",
	nsBookmarksCompat, nsBookmarksCompatPEP, // bookmarks_compat.go
}

var pepAccessModels = []string{"open", "presence", "roster", "authorize", "whitelist"}

func defaultPEPConfig() core.PEPNodeConfig {
	return core.PEPNodeConfig{PersistItems: true, AccessModel: "presence", MaxItems: pepDefaultItems}
}

func pepError(typ, condition, pubsubCondition, text string) error {
	return &pubsubFailure{stanzaFailure{typ, condition, text}, pubsubCondition}
}

// pubsubFailure is a stanza error with its XEP-0060 application condition.
type pubsubFailure struct {
	stanzaFailure
	app string
}

func (s *session) replyPubSubFailure(iq *element, err error) {
	var pf *pubsubFailure
	if errors.As(err, &pf) {
		e := iqError(iq, pf.typ, pf.condition, pf.text)
		if pf.app != "" {
			e.child(nsClient, "error").add(el(nsPubSubErrors, pf.app))
		}
		s.send(e)
		return
	}
	s.replyIQFailure(iq, err)
}

func (s *session) pepStore() (core.PEPStore, error) {
	st, ok := s.srv.store.(core.PEPStore)
	if !ok {
		return nil, failure("cancel", "feature-not-implemented", "this server's store keeps no PEP nodes")
	}
	return st, nil
}

// ownAccount reports whether an iq is addressed to the user's own
// account: no address, or the bare JID.
func (s *session) ownAccount(iq *element) bool {
	to := iq.attr("to")
	return to == "" || to == s.bare
}

// handlePubSub answers pubsub and pubsub#owner requests on the user's
// own nodes. The caller checked the iq is to the user's own account.
func (s *session) handlePubSub(ctx context.Context, iq, ps *element) {
	st, err := s.pepStore()
	if err == nil {
		err = s.pubsub(ctx, st, iq, ps)
	}
	if err != nil {
		s.replyPubSubFailure(iq, err)
	}
}

func (s *session) pubsub(ctx context.Context, st core.PEPStore, iq, ps *element) error {
	op := ps.firstChild()
	if op == nil {
		return badRequest("a pubsub request needs a payload")
	}
	typ := iq.attr("type")
	switch key := ps.Name.Space + " " + op.Name.Local + " " + typ; key {
	case nsPubSub + " publish set":
		return s.pepPublish(ctx, st, iq, ps, op)
	case nsPubSub + " items get":
		return s.pepItems(ctx, st, iq, op)
	case nsPubSub + " retract set":
		return s.pepRetract(ctx, st, iq, op)
	case nsPubSub + " create set":
		return s.pepCreate(ctx, st, iq, ps, op)
	case nsPubSubOwner + " delete set":
		return s.pepDelete(ctx, st, iq, op)
	case nsPubSubOwner + " purge set":
		return s.pepPurge(ctx, st, iq, op)
	case nsPubSubOwner + " configure get", nsPubSubOwner + " configure set":
		return s.pepConfigure(ctx, st, iq, op)
	case nsPubSubOwner + " default get":
		s.send(iqResult(iq).add(el(nsPubSubOwner, "pubsub").add(el(nsPubSubOwner, "default").add(nodeConfigForm(defaultPEPConfig())))))
		return nil
	}
	if op.Name.Local == "subscribe" || op.Name.Local == "unsubscribe" || op.Name.Local == "subscriptions" || op.Name.Local == "affiliations" {
		// The owner gets every notification of their own nodes; there is
		// nothing to subscribe to.
		return pepError("cancel", "feature-not-implemented", "unsupported", "the owner is notified of their own nodes without subscribing")
	}
	return badRequest("unsupported pubsub request %s with type %s", op.Name.Local, typ)
}

func nodeOf(op *element) (string, error) {
	node := op.attr("node")
	if node == "" {
		return "", pepError("modify", "bad-request", "nodeid-required", "the node is required")
	}
	return node, nil
}

// parseNodeOptions applies the known fields of a publish-options or node
// configuration form to c, and reports which fields it set.
func parseNodeOptions(x *element, c *core.PEPNodeConfig) (map[string]bool, error) {
	v := parseForm(x)
	set := make(map[string]bool)
	if vs, ok := v["pubsub#persist_items"]; ok && len(vs) > 0 {
		b, ok := v.boolean("pubsub#persist_items")
		if !ok {
			return nil, pepError("modify", "not-acceptable", "invalid-options", "pubsub#persist_items: want true or false")
		}
		c.PersistItems, set["persist"] = b, true
	}
	if vs, ok := v["pubsub#access_model"]; ok && len(vs) > 0 {
		m := v.get("pubsub#access_model")
		if !containsString(pepAccessModels, m) {
			return nil, pepError("modify", "not-acceptable", "invalid-options", "pubsub#access_model: want one of "+strings.Join(pepAccessModels, ", "))
		}
		c.AccessModel, set["access"] = m, true
	}
	if vs, ok := v["pubsub#max_items"]; ok && len(vs) > 0 {
		m := v.get("pubsub#max_items")
		if m == "max" {
			c.MaxItems = 0
		} else {
			n, err := strconv.Atoi(m)
			if err != nil || n < 1 || n > core.PEPMaxItems {
				return nil, pepError("modify", "not-acceptable", "invalid-options", fmt.Sprintf("pubsub#max_items: want 1 to %d or max", core.PEPMaxItems))
			}
			c.MaxItems = n
		}
		set["max"] = true
	}
	return set, nil
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// sameMax compares max_items values, 0 and PEPMaxItems both meaning "max".
func sameMax(a, b int) bool {
	norm := func(n int) int {
		if n <= 0 || n > core.PEPMaxItems {
			return core.PEPMaxItems
		}
		return n
	}
	return norm(a) == norm(b)
}

// existingNode reads the node an owner operation names, which must exist.
func (s *session) existingNode(ctx context.Context, st core.PEPStore, op *element) (string, core.PEPNodeConfig, error) {
	node, err := nodeOf(op)
	if err != nil {
		return "", core.PEPNodeConfig{}, err
	}
	c, exists, err := nodeConfig(ctx, st, s.user.ID, node)
	if err != nil {
		return "", core.PEPNodeConfig{}, err
	}
	if !exists {
		return "", core.PEPNodeConfig{}, failure("cancel", "item-not-found", "no node %q", node)
	}
	return node, c, nil
}

// nodeConfig returns the node's configuration, or (default, false) when
// it does not exist yet.
func nodeConfig(ctx context.Context, st core.PEPStore, user core.UserID, node string) (core.PEPNodeConfig, bool, error) {
	c, found, err := st.PEPNode(ctx, user, node)
	if err != nil {
		return c, false, fmt.Errorf("reading node %q: %w", node, err)
	}
	if !found {
		return defaultPEPConfig(), false, nil
	}
	return c, true, nil
}

func (s *session) checkNodeLimit(ctx context.Context, st core.PEPStore) error {
	nodes, err := st.PEPNodes(ctx, s.user.ID)
	if err != nil {
		return fmt.Errorf("listing nodes: %w", err)
	}
	if len(nodes) >= pepMaxNodes {
		return pepError("wait", "resource-constraint", "", fmt.Sprintf("at most %d nodes per account", pepMaxNodes))
	}
	return nil
}

func (s *session) pepPublish(ctx context.Context, st core.PEPStore, iq, ps, pub *element) error {
	node, err := nodeOf(pub)
	if err != nil {
		return err
	}
	item := pub.child(nsPubSub, "item")
	if item == nil {
		return pepError("modify", "bad-request", "item-required", "publish one item")
	}
	if len(item.Children) != 1 {
		return pepError("modify", "bad-request", "invalid-payload", "an item carries exactly one payload element")
	}
	c, exists, err := nodeConfig(ctx, st, s.user.ID, node)
	if err != nil {
		return err
	}
	if po := ps.child(nsPubSub, "publish-options"); po != nil {
		want := c
		set, err := parseNodeOptions(po.child(nsDataForms, "x"), &want)
		if err != nil {
			return err
		}
		// XEP-0060 §7.1.5: options are preconditions on an existing
		// node; a client that wants them configures the node first.
		if exists && ((set["persist"] && want.PersistItems != c.PersistItems) ||
			(set["access"] && want.AccessModel != c.AccessModel) || (set["max"] && !sameMax(want.MaxItems, c.MaxItems))) {
			return pepError("cancel", "conflict", "precondition-not-met", "the node's configuration differs from the publish options")
		}
		c = want
	}
	if !exists {
		if err := s.checkNodeLimit(ctx, st); err != nil {
			return err
		}
	}
	id := item.attr("id")
	if id == "" {
		id = randomID()
	}
	payload := item.Children[0]
	if err := st.PublishPEPItem(ctx, s.user.ID, node, c, core.PEPItem{ID: id, Payload: serialize(payload)}); err != nil {
		return err
	}
	if node == nsMDS {
		s.applyMDS(ctx, id, payload) // mds.go; stored before the answer
	}
	if node == nsBookmarksLegacy && payload.Name.Local == "storage" {
		if err := s.syncFromLegacy(ctx, st, payload); err != nil { // bookmarks_compat.go
			return err
		}
	}
	if node == nsBookmarks && autojoinOff(payload) {
		if _, err := s.partBookmarkedRoom(ctx, id); err != nil { // bookmarks.go
			return err
		}
	}
	s.send(iqResult(iq).add(el(nsPubSub, "pubsub").add(el(nsPubSub, "publish", "node", node).add(el(nsPubSub, "item", "id", id)))))
	s.pepNotify(el(nsPubSubEvent, "items", "node", node).add(el(nsPubSubEvent, "item", "id", id).add(payload)))
	if node == nsBookmarks {
		s.notifyLegacyBookmarks(ctx, st) // bookmarks_compat.go
	}
	return nil
}

func (s *session) pepItems(ctx context.Context, st core.PEPStore, iq, op *element) error {
	node, err := nodeOf(op)
	if err != nil {
		return err
	}
	max := 0
	if m := op.attr("max_items"); m != "" {
		if max, err = strconv.Atoi(m); err != nil || max < 1 {
			return badRequest("max_items: want a positive number")
		}
	}
	if _, exists, err := nodeConfig(ctx, st, s.user.ID, node); err != nil {
		return err
	} else if !exists && !(node == nsBookmarks && len(s.roomBookmarks(ctx)) > 0) && node != nsBookmarksLegacy && node != nsMDS {
		return failure("cancel", "item-not-found", "no node %q", node)
	}
	var ids []string
	for _, it := range op.Children {
		if it.Name.Space == nsPubSub && it.Name.Local == "item" && it.attr("id") != "" {
			ids = append(ids, it.attr("id"))
		}
	}
	items, err := st.PEPItems(ctx, s.user.ID, node, ids, max)
	if err != nil {
		return err
	}
	if isBookmarkNode(node) {
		if items, err = s.withRoomBookmarks(ctx, st, node, items, ids); err != nil { // bookmarks.go
			return err
		}
	}
	if node == nsMDS {
		items = s.withReadMarkers(ctx, items, ids) // mds.go
	}
	res := el(nsPubSub, "items", "node", node)
	for _, it := range items {
		p, err := parseStored(it.Payload)
		if err != nil {
			return fmt.Errorf("reading a stored item of %q: %w", node, err)
		}
		res.add(el(nsPubSub, "item", "id", it.ID).add(p))
	}
	s.send(iqResult(iq).add(el(nsPubSub, "pubsub").add(res)))
	return nil
}

func (s *session) pepRetract(ctx context.Context, st core.PEPStore, iq, op *element) error {
	node, err := nodeOf(op)
	if err != nil {
		return err
	}
	item := op.child(nsPubSub, "item")
	if item == nil || item.attr("id") == "" {
		return pepError("modify", "bad-request", "item-required", "name the item to retract")
	}
	var left bool
	if node == nsBookmarks {
		// A channel's bookmark may be the generated one, not stored: it
		// is retracted by parting the channel (bookmarks.go).
		if left, err = s.partBookmarkedRoom(ctx, item.attr("id")); err != nil {
			return err
		}
	}
	ok, err := st.RetractPEPItem(ctx, s.user.ID, node, item.attr("id"))
	if err != nil {
		return err
	}
	if !ok && !left {
		return failure("cancel", "item-not-found", "no item %q on node %q", item.attr("id"), node)
	}
	s.send(iqResult(iq))
	if n := op.attr("notify"); n == "1" || n == "true" {
		s.pepNotify(el(nsPubSubEvent, "items", "node", node).add(el(nsPubSubEvent, "retract", "id", item.attr("id"))))
	}
	if node == nsBookmarks {
		s.notifyLegacyBookmarks(ctx, st) // bookmarks_compat.go
	}
	return nil
}

func (s *session) pepCreate(ctx context.Context, st core.PEPStore, iq, ps, op *element) error {
	node, err := nodeOf(op)
	if err != nil {
		return err
	}
	c, exists, err := nodeConfig(ctx, st, s.user.ID, node)
	if err != nil {
		return err
	}
	if exists {
		return failure("cancel", "conflict", "node %q exists", node)
	}
	if cf := ps.child(nsPubSub, "configure"); cf != nil {
		if _, err := parseNodeOptions(cf.child(nsDataForms, "x"), &c); err != nil {
			return err
		}
	}
	if err := s.checkNodeLimit(ctx, st); err != nil {
		return err
	}
	if err := st.ConfigurePEPNode(ctx, s.user.ID, node, c); err != nil {
		return err
	}
	s.send(iqResult(iq))
	return nil
}

func (s *session) pepDelete(ctx context.Context, st core.PEPStore, iq, op *element) error {
	node, err := nodeOf(op)
	if err != nil {
		return err
	}
	ok, err := st.DeletePEPNode(ctx, s.user.ID, node)
	if err != nil {
		return err
	}
	if !ok {
		return failure("cancel", "item-not-found", "no node %q", node)
	}
	s.send(iqResult(iq))
	s.pepNotify(el(nsPubSubEvent, "delete", "node", node))
	return nil
}

func (s *session) pepPurge(ctx context.Context, st core.PEPStore, iq, op *element) error {
	node, c, err := s.existingNode(ctx, st, op)
	if err != nil {
		return err
	}
	// Configuring a node to keep nothing drops its items; then it gets
	// its configuration back.
	keepNothing := c
	keepNothing.PersistItems = false
	if err := st.ConfigurePEPNode(ctx, s.user.ID, node, keepNothing); err != nil {
		return err
	}
	if err := st.ConfigurePEPNode(ctx, s.user.ID, node, c); err != nil {
		return err
	}
	s.send(iqResult(iq))
	s.pepNotify(el(nsPubSubEvent, "purge", "node", node))
	return nil
}

func nodeConfigForm(c core.PEPNodeConfig) *element {
	maxItems := "max"
	if c.MaxItems > 0 {
		maxItems = strconv.Itoa(c.MaxItems)
	}
	var access []formOption
	for _, m := range pepAccessModels {
		access = append(access, formOption{m, m})
	}
	return dataForm("form", "", "",
		formField{Var: "FORM_TYPE", Type: "hidden", Values: []string{nsNodeConfig}},
		formField{Var: "pubsub#persist_items", Type: "boolean", Label: "Keep items", Values: []string{strconv.FormatBool(c.PersistItems)}},
		formField{Var: "pubsub#access_model", Type: "list-single", Label: "Access model (only you can read your nodes)", Values: []string{c.AccessModel}, Options: access},
		formField{Var: "pubsub#max_items", Type: "text-single", Label: "Items kept", Values: []string{maxItems}})
}

func (s *session) pepConfigure(ctx context.Context, st core.PEPStore, iq, op *element) error {
	node, c, err := s.existingNode(ctx, st, op)
	if err != nil {
		return err
	}
	if iq.attr("type") == "get" {
		s.send(iqResult(iq).add(el(nsPubSubOwner, "pubsub").add(el(nsPubSubOwner, "configure", "node", node).add(nodeConfigForm(c)))))
		return nil
	}
	x := op.child(nsDataForms, "x")
	if x == nil || x.attr("type") == "cancel" {
		s.send(iqResult(iq))
		return nil
	}
	if _, err := parseNodeOptions(x, &c); err != nil {
		return err
	}
	if err := st.ConfigurePEPNode(ctx, s.user.ID, node, c); err != nil {
		return err
	}
	s.send(iqResult(iq))
	return nil
}

// pepNotify sends an event to the user's devices. The port does not yet
// resolve clients' entity capabilities (XEP-0115), so it cannot tell
// which device advertised NODE+notify: every device of the user that is
// available (sent its initial presence) gets every event of its own
// nodes, as XEP-0163 §4.3.3 allows when the interests are unknown.
func (s *session) pepNotify(event *element) {
	for _, other := range s.srv.userSessions(s.user.ID) {
		if !other.available.Load() {
			continue
		}
		other.send(el(nsClient, "message", "from", s.bare, "to", other.full, "type", "headline", "id", "pep-"+randomID()[:8]).
			add(el(nsPubSubEvent, "event").add(event)))
	}
}

// serialize writes an element as it is stored: with its namespace
// declared, whatever its parent was.
func serialize(e *element) string {
	var b bytes.Buffer
	e.write(&b, "")
	return b.String()
}

// parseStored reads an element stored by serialize.
func parseStored(s string) (*element, error) {
	d := xml.NewDecoder(strings.NewReader(s))
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, err
		}
		if start, ok := tok.(xml.StartElement); ok {
			return readElement(d, start)
		}
	}
}

// pepDiscoInfo answers disco#info on the account: its identities and
// features with PEP's, and each node's. False when q is for another
// address.
func (s *session) pepDiscoInfo(ctx context.Context, iq, q *element) bool {
	if iq.attr("to") != s.bare {
		return false
	}
	node := q.attr("node")
	if node == "" {
		feats := append(append([]string(nil), serverFeatures...), pepFeatures...)
		s.send(iqResult(iq).add(discoInfo("", []identity{{"account", "registered", ""}, {"pubsub", "pep", ""}}, feats)))
		return true
	}
	st, err := s.pepStore()
	if err != nil {
		return false
	}
	if _, exists, err := nodeConfig(ctx, st, s.user.ID, node); err != nil || !exists {
		s.send(iqError(iq, "cancel", "item-not-found", ""))
		return true
	}
	s.send(iqResult(iq).add(discoInfo(node, []identity{{"pubsub", "leaf", ""}}, []string{nsPubSub})))
	return true
}

// pepDiscoItems lists the account's nodes, or a node's items.
func (s *session) pepDiscoItems(ctx context.Context, iq, q *element) bool {
	if iq.attr("to") != s.bare {
		return false
	}
	st, err := s.pepStore()
	if err != nil {
		return false
	}
	node := q.attr("node")
	res := el(nsDiscoItems, "query", "node", node)
	if node == "" {
		nodes, err := st.PEPNodes(ctx, s.user.ID)
		if err != nil {
			s.replyIQFailure(iq, err)
			return true
		}
		for _, n := range nodes {
			res.add(el(nsDiscoItems, "item", "jid", s.bare, "node", n))
		}
	} else {
		items, err := st.PEPItems(ctx, s.user.ID, node, nil, 0)
		if err != nil {
			s.replyIQFailure(iq, err)
			return true
		}
		for _, it := range items {
			res.add(el(nsDiscoItems, "item", "jid", s.bare, "name", it.ID))
		}
	}
	s.send(iqResult(iq).add(res))
	return true
}

// handlePrivate answers private XML storage (XEP-0049): one element per
// namespace and name, for the account alone.
func (s *session) handlePrivate(ctx context.Context, iq, q *element) {
	if !s.ownAccount(iq) {
		s.send(iqError(iq, "cancel", "forbidden", "only your own private storage can be used"))
		return
	}
	st, err := s.pepStore()
	if err != nil {
		s.replyIQFailure(iq, err)
		return
	}
	if len(q.Children) != 1 {
		s.send(iqError(iq, "modify", "not-acceptable", "name exactly one element to get or store"))
		return
	}
	e := q.Children[0]
	switch e.Name.Space {
	case "", nsClient, "jabber:server", nsDataForms, nsPrivate:
		// XEP-0049 §3: these are the protocol's own, not storage.
		s.send(iqError(iq, "modify", "not-acceptable", "that namespace cannot be stored"))
		return
	}
	key := "{" + e.Name.Space + "}" + e.Name.Local
	legacyBookmarks := e.Name.Space == nsBookmarksLegacy && e.Name.Local == "storage"
	if iq.attr("type") == "set" {
		if err := st.SetPrivateXML(ctx, s.user.ID, key, serialize(e)); err != nil {
			s.replyIQFailure(iq, err)
			return
		}
		if legacyBookmarks {
			if err := s.syncFromLegacy(ctx, st, e); err != nil { // bookmarks_compat.go
				s.replyIQFailure(iq, err)
				return
			}
			// Devices reading the old form in PEP see the new node's
			// change as a publish there (#compat-pep).
			s.notifyLegacyBookmarks(ctx, st)
		}
		s.send(iqResult(iq))
		return
	}
	stored, err := st.PrivateXML(ctx, s.user.ID, key)
	if err != nil {
		s.replyIQFailure(iq, err)
		return
	}
	out := el(e.Name.Space, e.Name.Local)
	switch {
	case legacyBookmarks:
		if out, err = s.legacyStorage(ctx, st, stored); err != nil { // bookmarks_compat.go
			s.replyIQFailure(iq, err)
			return
		}
	case stored != "":
		if out, err = parseStored(stored); err != nil {
			s.replyIQFailure(iq, fmt.Errorf("reading stored %s: %w", key, err))
			return
		}
	}
	s.send(iqResult(iq).add(el(nsPrivate, "query").add(out)))
}
