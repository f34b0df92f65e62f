package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStoreSmoke runs the store scenario on a tiny history so the tool
// cannot rot; the figures themselves come from full runs by hand.
func TestStoreSmoke(t *testing.T) {
	dir := t.TempDir()
	out := &bytes.Buffer{}
	o := &storeOptions{sizes: "3000", dir: dir, queries: 10, sample: 300, writers: []int{4, 16}, repeats: 2,
		jsonPath: filepath.Join(dir, "out.json"), seed: 1, keep: true, convsPerNet: 5}
	if err := runStore(context.Background(), out, o); err != nil {
		t.Fatal(err)
	}
	var res []StoreResult
	b, err := os.ReadFile(o.jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	r := res[0]
	if r.Messages != 3000 || r.Env.Cores < 1 || len(r.Ingest) != 2 || r.BulkPerSec <= 0 {
		t.Fatalf("ingest figures missing: %+v", r)
	}
	for i, in := range r.Ingest {
		if in.Writers != o.writers[i] || in.MessagesPerSec <= 0 || in.CPUmsPer1000 <= 0 || in.Runs != 2 {
			t.Fatalf("ingest row %d: %+v", i, in)
		}
	}
	if len(r.Search) != 12 || r.Paging.N == 0 {
		t.Fatalf("search or paging figures missing: %d search rows, paging %+v", len(r.Search), r.Paging)
	}
	for _, s := range r.Search {
		if s.Latency.N == 0 || s.Latency.P50 <= 0 || s.Latency.P99 < s.Latency.P50 {
			t.Fatalf("bad latency row: %+v", s)
		}
	}
	if !strings.Contains(out.String(), "common word") || !strings.Contains(out.String(), "cores") {
		t.Fatalf("table missing rows:\n%s", out)
	}
	// A second run reuses the generated database.
	out.Reset()
	if err := runStore(context.Background(), out, o); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "reused") {
		t.Fatalf("second run regenerated the history:\n%s", out)
	}
	// A third measures ingest on a copy, leaving the reused one as it was.
	before, err := os.Stat(filepath.Join(dir, "store-3000-s1-g1.db"))
	if err != nil {
		t.Fatal(err)
	}
	o.ingestOnReuse = true
	if err := runStore(context.Background(), out, o); err != nil {
		t.Fatal(err)
	}
	b, err = os.ReadFile(o.jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	res = nil
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if len(res[0].Ingest) != 2 || res[0].Ingest[0].MessagesPerSec <= 0 || !res[0].Ingest[0].ReusedDatabase {
		t.Fatalf("ingest on a copy: %+v", res[0].Ingest)
	}
	after, err := os.Stat(filepath.Join(dir, "store-3000-s1-g1.db"))
	if err != nil || after.Size() != before.Size() || !after.ModTime().Equal(before.ModTime()) {
		t.Fatalf("the reused database changed: %v, %v -> %v", err, before, after)
	}
}
