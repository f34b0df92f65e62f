package core

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestSyncNetworks(t *testing.T) {
	h := startHub(t)
	first := h.bridge(aliceNet)
	a := h.attach(alice, "phone")

	// A newly enabled network gets a bridge built for its user.
	added := Network{ID: 11, User: alice, Name: "second", Kind: fakeKind, Enabled: true}
	h.store.setNetwork(added)
	if err := h.hub.SyncNetworks(tctx(t)); err != nil {
		t.Fatalf("SyncNetworks: %v", err)
	}
	nb := h.bridge(11)
	if nb.env.User.ID != alice || nb.env.User.Name != "alice" || nb.env.Network.ID != 11 || nb.env.Log == nil {
		t.Errorf("bridge built with %+v", nb.env)
	}
	h.send(a, outMsg(11, "through the new network", ""))

	// Syncing again changes nothing.
	if err := h.hub.SyncNetworks(tctx(t)); err != nil {
		t.Fatalf("SyncNetworks: %v", err)
	}
	if n := h.bridgeCount(11); n != 1 {
		t.Errorf("%d bridges for an unchanged network", n)
	}

	// A removed network's bridge is stopped by cancelling its context.
	h.store.removeNetwork(11)
	if err := h.hub.SyncNetworks(tctx(t)); err != nil {
		t.Fatalf("SyncNetworks: %v", err)
	}
	nb.awaitStopped(t)
	nb.mu.Lock()
	cerr := nb.runCtxErr
	nb.mu.Unlock()
	if !errors.Is(cerr, context.Canceled) {
		t.Errorf("removed network's Run ended with ctx err %v", cerr)
	}
	if _, err := h.hub.Send(tctx(t), a, outMsg(11, "gone", "")); err == nil {
		t.Error("Send through a removed network succeeded")
	}

	// A disabled network is stopped too; a changed one is restarted.
	h.store.mu.Lock()
	n := h.store.networks[aliceNet]
	h.store.mu.Unlock()
	n.Settings = Settings{"addr": "irc.example.net:6697"}
	h.store.setNetwork(n)
	if err := h.hub.SyncNetworks(tctx(t)); err != nil {
		t.Fatalf("SyncNetworks: %v", err)
	}
	first.awaitStopped(t)
	second := h.bridgeN(aliceNet, 2)
	if second.env.Network.Settings["addr"] != "irc.example.net:6697" {
		t.Errorf("restarted bridge has settings %v", second.env.Network.Settings)
	}
	n.Enabled = false
	h.store.setNetwork(n)
	if err := h.hub.SyncNetworks(tctx(t)); err != nil {
		t.Fatalf("SyncNetworks: %v", err)
	}
	second.awaitStopped(t)

	// bob's bridge was never touched.
	bb := h.bridge(bobNet)
	bb.mu.Lock()
	stopped := bb.stopped
	bb.mu.Unlock()
	if stopped || h.bridgeCount(bobNet) != 1 {
		t.Errorf("bob's bridge: stopped %v, built %d times", stopped, h.bridgeCount(bobNet))
	}
}

func TestSyncNetworksUnknownKind(t *testing.T) {
	h := newHarness(t)
	h.store.networks[12] = Network{ID: 12, User: alice, Name: "mystery", Kind: "carrier-pigeon", Enabled: true}
	err := h.hub.SyncNetworks(tctx(t))
	if err == nil || !strings.Contains(err.Error(), "carrier-pigeon") || !strings.Contains(err.Error(), "mystery") {
		t.Errorf("SyncNetworks: %v", err)
	}
	// The other networks start regardless.
	h.start()
	h.bridge(aliceNet)
	h.bridge(bobNet)
}
