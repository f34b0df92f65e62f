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

// TestSmoke runs every scenario for a moment through the real daemon,
// ngircd and the real ports, so the tool cannot rot; the figures come
// from full runs by hand. Without ngircd the IRC scenarios are skipped
// (and say so); everything else still runs.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon")
	}
	o := &e2eOptions{jsonPath: filepath.Join(t.TempDir(), "smoke.json"), repeats: 1}
	cleanup, err := o.prepare(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	out := &bytes.Buffer{}
	res, err := runSmoke(context.Background(), out, o)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if err := writeJSON(o.jsonPath, res); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(o.jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var back SmokeResult
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	t.Logf("smoke output:\n%s", out)

	if len(back.Store) != 1 || back.Store[0].Ingest[0].MessagesPerSec <= 0 {
		t.Errorf("store: %+v", back.Store)
	}
	if len(back.Search) != 1 || len(back.Search[0].Ports) != 17 {
		t.Fatalf("search through the ports: %+v", back.Search)
	}
	hits := map[string]float64{}
	for _, r := range back.Search[0].Ports {
		if r.Latency.N != 5 || r.Latency.P50 <= 0 {
			t.Errorf("search row %+v", r)
		}
		hits[r.Port] += r.Hits
	}
	if hits["http"] == 0 || hits["mam"] == 0 {
		t.Errorf("no search through a port found anything: %v", hits)
	}
	if s := back.Sessions; len(s) != 1 || s[0].Alive != 20 || s[0].LoginsPerSec <= 0 || s[0].KiBPerSess <= 0 || s[0].Env.Cores < 1 {
		t.Errorf("sessions: %+v", s)
	}
	if strings.Contains(strings.Join(back.Skipped, ","), "fanout") {
		t.Logf("skipped: %v (ngircd is not installed)", back.Skipped)
		return
	}
	if len(back.Fanout) != 1 {
		t.Fatalf("fanout: %+v", back.Fanout)
	}
	for _, f := range back.Fanout {
		if len(f.Steps) == 0 || f.Sustained == 0 {
			t.Errorf("fanout N=%d: no rate sustained within 1 s: %+v", f.Devices, f.Steps)
		}
		for _, st := range f.Steps {
			if st.Lost != 0 || st.XMPP.N == 0 || st.SSE.N == 0 || st.XMPP.N != st.SSE.N || st.All.P50 <= 0 {
				t.Errorf("fanout N=%d step %+v", f.Devices, st)
			}
		}
	}
	if c := back.Catchup; c == nil || c.Messages != 1000 || c.Pages != 4 || c.Seconds <= 0 || c.IngestPerSec <= 0 {
		t.Errorf("catchup: %+v", c)
	}
}
