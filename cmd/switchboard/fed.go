package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/switchboard/switchboard/bridges/fed"
	"github.com/switchboard/switchboard/internal/config"

	"github.com/switchboard/switchboard/core"
	"github.com/switchboard/switchboard/history"
)

// fedNetworkName is the name of the network through which every user
// writes to user@domain addresses, on this server or another.
const fedNetworkName = "fed"

// fedDirectory gives the federation service the daemon's accounts.
type fedDirectory struct {
	st  *history.Store
	hub *core.Hub
}

// EnsureFedNetwork creates the user's fed network if missing and starts
// it. The Hub is synced in the background: the caller may be a bridge's
// sender, which a SyncNetworks in progress could be waiting for.
func (d fedDirectory) EnsureFedNetwork(ctx context.Context, name string) (bool, error) {
	u, err := d.st.UserByName(ctx, name)
	if errors.Is(err, history.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	created, err := ensureFedNetwork(ctx, d.st, u)
	if err != nil {
		return false, err
	}
	if created {
		go func() { _ = d.hub.SyncNetworks(context.Background()) }()
		return true, nil
	}
	// A fed network turned off, or none (the name taken by another kind
	// of network), never starts: the user takes no federated events, and
	// the service rejects them rather than wait for it and answer the
	// whole batch 503, which the sender would retry for days with every
	// other event for this server held behind it.
	nets, err := d.st.Networks(ctx, u.ID)
	if err != nil {
		return false, err
	}
	for _, n := range nets {
		if n.Kind == core.KindFed && n.Enabled {
			return true, nil
		}
	}
	return false, nil
}

// ensureFedNetwork gives u a fed network unless it has one; it reports
// whether it made one.
func ensureFedNetwork(ctx context.Context, st *history.Store, u core.User) (bool, error) {
	nets, err := st.Networks(ctx, u.ID)
	if err != nil {
		return false, err
	}
	for _, n := range nets {
		if n.Kind == core.KindFed {
			return false, nil
		}
	}
	_, err = st.CreateNetwork(ctx, core.Network{User: u.ID, Name: fedNetworkName, Kind: core.KindFed, Enabled: true})
	if errors.Is(err, history.ErrExists) {
		// The name is taken by another kind of network: the user can
		// add a fed network under another name.
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("creating the fed network of %s: %w", u.Name, err)
	}
	return true, nil
}

// ensureFedNetworks gives every user a fed network, so each can write to
// user@domain addresses from the start.
func ensureFedNetworks(ctx context.Context, st *history.Store) (created bool, err error) {
	users, err := st.Users(ctx)
	if err != nil {
		return false, err
	}
	for _, u := range users {
		c, err := ensureFedNetwork(ctx, st, u)
		if err != nil {
			return created, err
		}
		created = created || c
	}
	return created, nil
}

// newFedService builds the federation service from the configuration; its
// signing keys live in <data_dir>/federation/keys (fed.LoadKeys).
func newFedService(cfg config.Config, st *history.Store, dir fed.Directory, log *slog.Logger) (*fed.Service, error) {
	keyDir := fedKeyDir(cfg)
	keys, err := fed.LoadKeys(keyDir, time.Now())
	if err != nil {
		return nil, err
	}
	peers := make(map[string]fed.StaticPeer, len(cfg.Federation.Peers))
	for d, p := range cfg.Federation.Peers {
		peers[d] = fed.StaticPeer{URL: p.URL, CAFile: p.CAFile}
	}
	svc, err := fed.NewService(fed.Config{
		Domain:       cfg.Domain,
		Directory:    dir,
		Blocks:       st,
		Contacts:     st,
		Queue:        st,
		Rooms:        st,
		Keys:         keys,
		PublicURL:    cfg.HTTP.PublicURL, // "" is https://DOMAIN
		Peers:        peers,
		Discover:     cfg.Federation.Discover,
		MaxAge:       cfg.Federation.MaxAge.Std(),
		Rate:         cfg.Federation.Rate,
		Burst:        cfg.Federation.Burst,
		InboundRate:  cfg.Federation.InboundRate,
		InboundBurst: cfg.Federation.InboundBurst,
		MaxQueued:    cfg.Federation.MaxQueued,
		KeyDir:       keyDir,
		Log:          log,
	})
	if err != nil {
		return nil, fmt.Errorf("federation: %w", err)
	}
	return svc, nil
}
