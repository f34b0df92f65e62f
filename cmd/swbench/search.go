package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchboard/switchboard/history/synth"
	"github.com/switchboard/switchboard/internal/xmppload"
)

type searchOptions struct {
	store storeOptions
	e2eOptions
	skipStore bool
}

func newSearchCommand() *cobra.Command {
	o := &searchOptions{}
	cmd := &cobra.Command{
		Use:   "search",
		Short: "Search latency on the generated history: in the store, via the HTTP API and via MAM",
		Long: `Runs the store scenario (which generates the history of --messages once and
reuses it; its ingest, search and paging figures are printed first), then
starts the daemon on that database and times the same kinds of query
through its real ports: GET /api/v1/search over HTTPS across all of a
user's conversations and in one, and XEP-0313 queries with the XEP-0431
fulltext field to a room's archive over the XMPP port (newest 50 hits).
The daemon opens the generated database through a hard link (a copy when
linking fails); it writes to it only an API token.`,
		Args: cobra.NoArgs,
		RunE: runE(&o.e2eOptions, func(ctx context.Context, out io.Writer) ([]SearchScenarioResult, error) {
			return runSearch(ctx, out, o)
		}),
	}
	o.register(cmd)
	o.store.register(cmd, false)
	cmd.Flags().BoolVar(&o.skipStore, "skip-store", false, "do not time the store itself (the history is still generated when missing)")
	return cmd
}

// PortSearchResult is one query kind's latency through a port.
type PortSearchResult struct {
	Port    string  `json:"port"`
	Type    string  `json:"type"`
	Scope   string  `json:"scope"`
	Latency Latency `json:"latency"`
	Hits    float64 `json:"mean_hits"`
}

// SearchScenarioResult is one history size's figures.
type SearchScenarioResult struct {
	Env      Env                `json:"env"`
	Messages int                `json:"messages"`
	Store    *StoreResult       `json:"store,omitempty"`
	Ports    []PortSearchResult `json:"ports"`
}

func runSearch(ctx context.Context, out io.Writer, o *searchOptions) ([]SearchScenarioResult, error) {
	o.store.repeats = o.repeats // one --repeats for the store and the ports
	sizes, err := o.store.parseSizes()
	if err != nil {
		return nil, err
	}
	var results []SearchScenarioResult
	for _, n := range sizes {
		res := SearchScenarioResult{Messages: n}
		if o.skipStore {
			if _, err := ensureStore(ctx, out, &o.store, n); err != nil {
				return results, err
			}
		} else {
			sr, err := benchStore(ctx, out, &o.store, n)
			if err != nil {
				return results, err
			}
			res.Store = &sr
		}
		if res.Ports, err = searchPorts(ctx, out, o, n); err != nil {
			return results, err
		}
		res.Env = currentEnv()
		results = append(results, res)
	}
	return results, nil
}

// ensureStore generates the history of n messages if it is not there yet
// and returns its path.
func ensureStore(ctx context.Context, out io.Writer, o *storeOptions, n int) (string, error) {
	path, ok := o.cached(n)
	if ok {
		return path, nil
	}
	quick := *o
	quick.queries, quick.repeats = 1, 1
	quick.writers = o.writers[:1]
	quick.sample = max(100, min(o.sample, n/4))
	if _, err := benchStore(ctx, out, &quick, n); err != nil {
		return "", err
	}
	return path, nil
}

// linkOrCopy puts the file at from also at to.
func linkOrCopy(from, to string) error {
	if err := os.Link(from, to); err == nil {
		return nil
	}
	return copyFile(from, to)
}

func searchPorts(ctx context.Context, out io.Writer, o *searchOptions, n int) ([]PortSearchResult, error) {
	path, _ := o.store.cached(n)
	data := filepath.Join(o.workDir, fmt.Sprintf("search-%d", n))
	if err := os.MkdirAll(data, 0o700); err != nil {
		return nil, err
	}
	defer os.RemoveAll(data)
	if err := linkOrCopy(path, filepath.Join(data, "switchboard.db")); err != nil {
		return nil, fmt.Errorf("putting the generated history in the daemon's data directory: %w", err)
	}
	d, err := startDaemon(o.switchboard, data, data)
	if err != nil {
		return nil, err
	}
	defer d.stop()
	// user0 of the generated history; see storeFixture.
	user, password := "user0", "bench-user0"
	api, err := newAPIClient(d.httpAddr, user, password, 1)
	if err != nil {
		return nil, err
	}
	defer api.close()
	rooms, err := listRooms(api)
	if err != nil {
		return nil, err
	}
	sc, err := xmppload.NewScram(user, password)
	if err != nil {
		return nil, err
	}
	dev, err := xmppload.Device(d.xmppAddr, benchDomain, sc, "search")
	if err != nil {
		return nil, err
	}
	defer dev.Close()

	rng := rand.New(rand.NewPCG(o.store.seed, 9))
	var results []PortSearchResult
	tw := newTable(out)
	fmt.Fprintf(tw, "\nsearch via the ports (%d messages, newest 50)\tport\tscope\tp50 ms\tp95 ms\tp99 ms\tmax ms\tmean hits\t\n", n)
	qid := 0
	for _, ty := range queryTypes(o.store.seed) {
		kinds := []struct {
			port, scope string
			run         func(text string) (time.Duration, int, error)
		}{
			{"http", "all conversations", func(text string) (time.Duration, int, error) {
				return api.search(url.Values{"q": {text}, "limit": {"50"}})
			}},
			{"http", "one conversation", func(text string) (time.Duration, int, error) {
				r := rooms[rng.IntN(len(rooms))]
				return api.search(url.Values{"q": {text}, "limit": {"50"}, "conversation": {strconv.FormatInt(r.id, 10)}})
			}},
			{"mam", "one room's archive", func(text string) (time.Duration, int, error) {
				r := rooms[rng.IntN(len(rooms))]
				qid++
				t := time.Now()
				p, err := dev.QueryArchive("s"+strconv.Itoa(qid), xmppload.MAMQuery{To: r.jid, Fulltext: text, Max: 50, Backwards: true})
				return time.Since(t), p.Results, err
			}},
		}
		for _, k := range kinds {
			l, hits, err := timeRuns(o.store.repeats, o.store.queries, func() (time.Duration, int, error) { return k.run(ty.make()) })
			if err != nil {
				return results, fmt.Errorf("%s via %s: %w", ty.name, k.port, err)
			}
			r := PortSearchResult{Port: k.port, Type: ty.name, Scope: k.scope, Latency: l, Hits: hits}
			results = append(results, r)
			fmt.Fprintf(tw, "%s\t%s\t%s\t%.2f\t%.2f\t%.2f\t%.2f\t%.1f\t\n", r.Type, r.Port, r.Scope, l.P50, l.P95, l.P99, l.Max, r.Hits)
		}
	}
	// Filtered searches: a word of rank below 100 on one network, and
	// within one day of the history (messages are 3 s apart from
	// baseTime, so n of them span n×3 s).
	span := time.Duration(n) * 3 * time.Second
	wrng := rand.New(rand.NewPCG(o.store.seed, 10))
	word := func() string { return synth.WordAt(wrng.IntN(100)) }
	filters := []struct {
		scope  string
		params func() url.Values
	}{
		{"one network", func() url.Values {
			return url.Values{"network": {strconv.FormatInt(rooms[rng.IntN(len(rooms))].network, 10)}}
		}},
		{"one day", func() url.Values {
			since := baseTime.Add(time.Duration(rng.Int64N(int64(max(span-24*time.Hour, time.Hour)))))
			return url.Values{"since": {since.Format(time.RFC3339)}, "until": {since.Add(24 * time.Hour).Format(time.RFC3339)}}
		}},
	}
	for _, f := range filters {
		l, hits, err := timeRuns(o.store.repeats, o.store.queries, func() (time.Duration, int, error) {
			q := f.params()
			q.Set("q", word())
			q.Set("limit", "50")
			return api.search(q)
		})
		if err != nil {
			return results, fmt.Errorf("search in %s via http: %w", f.scope, err)
		}
		r := PortSearchResult{Port: "http", Type: "word of rank < 100", Scope: f.scope, Latency: l, Hits: hits}
		results = append(results, r)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.2f\t%.2f\t%.2f\t%.2f\t%.1f\t\n", r.Type, r.Port, r.Scope, l.P50, l.P95, l.P99, l.Max, r.Hits)
	}
	if err := tw.Flush(); err != nil {
		return results, err
	}
	fmt.Fprintf(out, "  %d timed queries per row after 20 not counted, median run of %d by p99 — %s\n", o.store.queries, o.store.repeats, currentEnv())
	return results, nil
}

// room is a conversation of the generated history as the ports name it.
type room struct {
	id, network int64
	jid         string
}

// listRooms reads the user's room conversations and their networks'
// names through the API.
func listRooms(api *apiClient) ([]room, error) {
	var convs struct {
		Conversations []struct {
			ID      int64 `json:"id"`
			Network int64 `json:"network"`
			Peer    struct {
				Kind   string `json:"kind"`
				Remote string `json:"remote"`
			} `json:"peer"`
		} `json:"conversations"`
	}
	var nets struct {
		Networks []struct {
			ID   int64  `json:"id"`
			Name string `json:"name"`
		} `json:"networks"`
	}
	for path, v := range map[string]any{"/api/v1/conversations": &convs, "/api/v1/networks": &nets} {
		resp, err := api.get(path)
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			return nil, fmt.Errorf("GET %s: %s %v %s", path, resp.Status, err, b)
		}
		if err := json.Unmarshal(b, v); err != nil {
			return nil, fmt.Errorf("GET %s: %w", path, err)
		}
	}
	names := map[int64]string{}
	for _, n := range nets.Networks {
		names[n.ID] = n.Name
	}
	var rooms []room
	for _, c := range convs.Conversations {
		if strings.HasPrefix(c.Peer.Remote, "#") && names[c.Network] != "" {
			rooms = append(rooms, room{id: c.ID, network: c.Network, jid: c.Peer.Remote + "@" + names[c.Network] + "." + benchDomain})
		}
	}
	if len(rooms) == 0 {
		return nil, fmt.Errorf("the generated history has no rooms for the API to list")
	}
	return rooms, nil
}

// timeRuns makes 20 calls not counted, then times queries calls, repeats
// times, and returns the run with the median p99 and its mean hits.
func timeRuns(repeats, queries int, call func() (time.Duration, int, error)) (Latency, float64, error) {
	type run struct {
		l    Latency
		hits float64
	}
	var runs []run
	for r := range repeats {
		var ds []time.Duration
		hits := 0
		warm := 0
		if r == 0 {
			warm = 20
		}
		for i := range warm + queries {
			d, n, err := call()
			if err != nil {
				return Latency{}, 0, err
			}
			if i >= warm {
				ds = append(ds, d)
				hits += n
			}
		}
		runs = append(runs, run{summarise(ds), float64(hits) / float64(queries)})
	}
	slices.SortFunc(runs, func(a, b run) int { return cmp.Compare(a.l.P99, b.l.P99) })
	m := runs[len(runs)/2]
	return m.l, m.hits, nil
}
