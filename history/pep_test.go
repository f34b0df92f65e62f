package history

import (
	"context"
	"fmt"
	"testing"

	"github.com/switchboard/switchboard/core"
)

func pepIDs(items []core.PEPItem) string {
	var ids []string
	for _, it := range items {
		ids = append(ids, it.ID)
	}
	return fmt.Sprint(ids)
}

func TestPEPNodesAndItems(t *testing.T) {
	st := openTest(t)
	ctx := context.Background()
	alice, err := st.CreateUser(ctx, "alice", "pw", false)
	if err != nil {
		t.Fatal(err)
	}
	bob, err := st.CreateUser(ctx, "bob", "pw", false)
	if err != nil {
		t.Fatal(err)
	}
	const node = "urn:xmpp:bookmarks:1"
	keep3 := core.PEPNodeConfig{PersistItems: true, AccessModel: "whitelist", MaxItems: 3}
	for _, id := range []string{"a", "b", "c", "d"} {
		if err := st.PublishPEPItem(ctx, alice.ID, node, keep3, core.PEPItem{ID: id, Payload: "<x>" + id + "</x>"}); err != nil {
			t.Fatal(err)
		}
	}
	items, err := st.PEPItems(ctx, alice.ID, node, nil, 0)
	if err != nil || pepIDs(items) != "[b c d]" {
		t.Fatalf("max_items 3 kept %s, %v; want [b c d]", pepIDs(items), err)
	}
	// Republishing an id replaces it and makes it the newest.
	if err := st.PublishPEPItem(ctx, alice.ID, node, keep3, core.PEPItem{ID: "b", Payload: "<x>b2</x>"}); err != nil {
		t.Fatal(err)
	}
	items, _ = st.PEPItems(ctx, alice.ID, node, nil, 2)
	if pepIDs(items) != "[d b]" || items[1].Payload != "<x>b2</x>" {
		t.Fatalf("newest 2 after republishing b: %s %v", pepIDs(items), items)
	}
	items, _ = st.PEPItems(ctx, alice.ID, node, []string{"c", "nope"}, 0)
	if pepIDs(items) != "[c]" {
		t.Fatalf("by id: %s", pepIDs(items))
	}
	// Bob has none of it.
	if items, _ := st.PEPItems(ctx, bob.ID, node, nil, 0); len(items) != 0 {
		t.Fatalf("bob reads alice's items: %v", items)
	}
	if _, found, err := st.PEPNode(ctx, bob.ID, node); found || err != nil {
		t.Fatalf("bob's PEPNode: found %v, %v", found, err)
	}
	if ok, _ := st.RetractPEPItem(ctx, bob.ID, node, "c"); ok {
		t.Fatal("bob retracted alice's item")
	}
	if ok, _ := st.DeletePEPNode(ctx, bob.ID, node); ok {
		t.Fatal("bob deleted alice's node")
	}
	// An existing node keeps its configuration on publish.
	if err := st.PublishPEPItem(ctx, alice.ID, node, core.PEPNodeConfig{PersistItems: true, MaxItems: 1}, core.PEPItem{ID: "e", Payload: "<x/>"}); err != nil {
		t.Fatal(err)
	}
	if c, found, _ := st.PEPNode(ctx, alice.ID, node); !found || c != keep3 {
		t.Fatalf("config changed by a publish: %+v", c)
	}
	// Reconfiguring trims.
	if err := st.ConfigurePEPNode(ctx, alice.ID, node, core.PEPNodeConfig{PersistItems: true, AccessModel: "presence", MaxItems: 1}); err != nil {
		t.Fatal(err)
	}
	if items, _ := st.PEPItems(ctx, alice.ID, node, nil, 0); pepIDs(items) != "[e]" {
		t.Fatalf("after max_items 1: %s", pepIDs(items))
	}
	if ok, err := st.RetractPEPItem(ctx, alice.ID, node, "e"); !ok || err != nil {
		t.Fatalf("retract: %v %v", ok, err)
	}
	// A node that keeps no items only notifies.
	if err := st.PublishPEPItem(ctx, alice.ID, "transient", core.PEPNodeConfig{}, core.PEPItem{ID: "1", Payload: "<x/>"}); err != nil {
		t.Fatal(err)
	}
	if items, _ := st.PEPItems(ctx, alice.ID, "transient", nil, 0); len(items) != 0 {
		t.Fatalf("a non-persistent node kept %v", items)
	}
	nodes, err := st.PEPNodes(ctx, alice.ID)
	if err != nil || fmt.Sprint(nodes) != "[transient "+node+"]" {
		t.Fatalf("nodes %v, %v", nodes, err)
	}
	if ok, err := st.DeletePEPNode(ctx, alice.ID, node); !ok || err != nil {
		t.Fatalf("delete: %v %v", ok, err)
	}
	if ok, _ := st.DeletePEPNode(ctx, alice.ID, node); ok {
		t.Fatal("deleted twice")
	}
}

func TestPrivateXML(t *testing.T) {
	st := openTest(t)
	ctx := context.Background()
	alice, _ := st.CreateUser(ctx, "alice", "pw", false)
	bob, _ := st.CreateUser(ctx, "bob", "pw", false)
	const key = "{storage:bookmarks}storage"
	if got, err := st.PrivateXML(ctx, alice.ID, key); got != "" || err != nil {
		t.Fatalf("empty store: %q %v", got, err)
	}
	for _, v := range []string{"<storage xmlns='storage:bookmarks'/>", "<storage xmlns='storage:bookmarks'><url/></storage>"} {
		if err := st.SetPrivateXML(ctx, alice.ID, key, v); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := st.PrivateXML(ctx, alice.ID, key); got != "<storage xmlns='storage:bookmarks'><url/></storage>" {
		t.Fatalf("got %q", got)
	}
	if got, _ := st.PrivateXML(ctx, bob.ID, key); got != "" {
		t.Fatalf("bob reads alice's private XML: %q", got)
	}
	// Deleting the user deletes what they stored.
	if err := st.DeleteUser(ctx, alice.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.PrivateXML(ctx, alice.ID, key); got != "" {
		t.Fatalf("left after the user was deleted: %q", got)
	}
}
