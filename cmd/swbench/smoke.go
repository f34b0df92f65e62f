package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchboard/switchboard/internal/ngircd"
)

// SmokeResult holds every scenario's figures from a smoke run: too small
// to quote, but each scenario ran end to end.
type SmokeResult struct {
	Store    []StoreResult          `json:"store"`
	Search   []SearchScenarioResult `json:"search"`
	Sessions []SessionsResult       `json:"sessions"`
	Fanout   []FanoutResult         `json:"fanout,omitempty"`
	Catchup  *CatchupResult         `json:"catchup,omitempty"`
	// Skipped names the scenarios that need a peer this machine lacks.
	Skipped []string `json:"skipped,omitempty"`
}

func newSmokeCommand() *cobra.Command {
	o := &e2eOptions{}
	cmd := &cobra.Command{
		Use:   "smoke",
		Short: "Every scenario for a moment, on tiny inputs, so the tool cannot rot (a Go test runs it)",
		Args:  cobra.NoArgs,
		RunE:  runE(o, func(ctx context.Context, out io.Writer) (SmokeResult, error) { return runSmoke(ctx, out, o) }),
	}
	o.register(cmd)
	return cmd
}

// runSmoke runs every scenario briefly; o must be prepared.
func runSmoke(ctx context.Context, out io.Writer, o *e2eOptions) (SmokeResult, error) {
	var res SmokeResult
	o.repeats = 1
	dir := filepath.Join(o.workDir, "store-cache")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return res, err
	}
	store := storeOptions{sizes: "3000", dir: dir, queries: 5, sample: 200, writers: []int{8}, repeats: 1,
		seed: 1, keep: true, convsPerNet: 5, ingestOnReuse: true}
	sizes, err := store.parseSizes()
	if err != nil {
		return res, err
	}
	for _, n := range sizes {
		r, err := benchStore(ctx, out, &store, n)
		if err != nil {
			return res, fmt.Errorf("store: %w", err)
		}
		res.Store = append(res.Store, r)
	}
	search := &searchOptions{store: store, e2eOptions: *o, skipStore: true}
	if res.Search, err = runSearch(ctx, out, search); err != nil {
		return res, fmt.Errorf("search: %w", err)
	}
	sessions := &sessionsOptions{e2eOptions: *o, counts: []int{20}, workers: 8, hold: 0}
	if res.Sessions, err = runSessions(ctx, out, sessions); err != nil {
		return res, fmt.Errorf("sessions: %w", err)
	}
	if _, err := ngircd.Binary(); errors.Is(err, ngircd.ErrNotInstalled) {
		res.Skipped = append(res.Skipped, "fanout", "catchup")
		fmt.Fprintln(out, "fanout, catchup: skipped:", err)
		return res, nil
	}
	// One rig for both IRC scenarios.
	r, err := startRig(ctx, out, o, "smoke", true)
	if err != nil {
		return res, err
	}
	defer r.stop()
	fanout := &fanoutOptions{e2eOptions: *o, devices: []int{2}, rates: []int{50, 200}, step: 300 * time.Millisecond, limit: time.Second, warmup: 10}
	if res.Fanout, err = fanoutOn(ctx, out, fanout, r); err != nil {
		return res, fmt.Errorf("fanout: %w", err)
	}
	catchup := &catchupOptions{e2eOptions: *o, messages: 1000, page: 250, window: 500}
	c, err := catchupOn(ctx, out, catchup, r)
	if err != nil {
		return res, fmt.Errorf("catchup: %w", err)
	}
	res.Catchup = &c
	return res, nil
}
