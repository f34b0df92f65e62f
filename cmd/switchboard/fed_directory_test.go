package main

import (
	"context"
	"testing"

	"github.com/switchboard/switchboard/core"
	"github.com/switchboard/switchboard/history"
)

// TestFedDirectoryNoNetworkToStart: a user whose fed network is turned off,
// or whose "fed" name another kind of network took, has no fed network
// that will start. The directory must say so (the federation service then
// rejects their events alone) rather than ok: the service waited 10 s
// for a network that never starts and answered the whole batch 503, so
// the sending server retried it for 72 hours with every other user's
// events to this server held behind it.
func TestFedDirectoryNoNetworkToStart(t *testing.T) {
	withStore(t, func(ctx context.Context, st *history.Store) {
		off, err := st.CreateUser(ctx, "off", "secret-off", false)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.CreateNetwork(ctx, core.Network{User: off.ID, Name: fedNetworkName, Kind: core.KindFed, Enabled: false}); err != nil {
			t.Fatal(err)
		}
		taken, err := st.CreateUser(ctx, "taken", "secret-taken", false)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.CreateNetwork(ctx, core.Network{User: taken.ID, Name: fedNetworkName, Kind: core.KindIRC, Enabled: true,
			Settings: core.Settings{"addr": "ircs://irc.example:6697"}}); err != nil {
			t.Fatal(err)
		}
		on, err := st.CreateUser(ctx, "on", "secret-on", false)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.CreateNetwork(ctx, core.Network{User: on.ID, Name: fedNetworkName, Kind: core.KindFed, Enabled: true}); err != nil {
			t.Fatal(err)
		}
		d := fedDirectory{st: st}
		for name, want := range map[string]bool{"off": false, "taken": false, "on": true, "nobody": false} {
			if ok, err := d.EnsureFedNetwork(ctx, name); err != nil || ok != want {
				t.Errorf("EnsureFedNetwork(%q) = %v, %v; want %v", name, ok, err, want)
			}
		}
	})
}
