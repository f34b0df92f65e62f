package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchboard/switchboard/core"
	"github.com/switchboard/switchboard/history"
	"github.com/switchboard/switchboard/history/synth"
)

type storeOptions struct {
	sizes         string
	dir           string
	queries       int
	sample        int
	writers       []int
	repeats       int
	jsonPath      string
	seed          uint64
	keep          bool
	convsPerNet   int
	slowest       int
	ingestOnReuse bool
	// ingestOnly stops after the ingest figures (the ingest scenario).
	ingestOnly bool
}

func newStoreCommand() *cobra.Command {
	o := &storeOptions{}
	cmd := &cobra.Command{
		Use:   "store",
		Short: "Ingest, search and paging figures of the history store on a generated history",
		Long: `Generates a history of realistic chat text (fixed seed, Zipf vocabulary, about
11 words a message, several users, hundreds of conversations) for each size,
then measures durable ingest with the full-text index on, search latency by
query type across all of a user's conversations and within one, and paging.
A generated database is kept in --dir and reused by later runs.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runStore(cmd.Context(), cmd.OutOrStdout(), o) },
	}
	o.register(cmd, true)
	return cmd
}

func newIngestCommand() *cobra.Command {
	o := &storeOptions{ingestOnReuse: true, ingestOnly: true}
	cmd := &cobra.Command{
		Use:   "ingest",
		Short: "The highest sustained durable ingest rate with the full-text index on, and CPU per 1,000 messages",
		Long: `The ingest part of the store scenario: concurrent appenders, one message per
call, each durable on return, into the generated history of --messages
(generated once; a reused one is copied first, so it stays as it was).
The catchup scenario gives the same through the daemon's IRC port.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runStore(cmd.Context(), cmd.OutOrStdout(), o) },
	}
	o.register(cmd, true)
	return cmd
}

// register adds the store's flags; the search scenario shares them but
// has its own --json and --repeats.
func (o *storeOptions) register(cmd *cobra.Command, own bool) {
	fl := cmd.Flags()
	fl.StringVar(&o.sizes, "messages", "1000000", "comma-separated history sizes")
	fl.StringVar(&o.dir, "dir", filepath.Join(os.TempDir(), "switchboard-swbench"), "where generated databases are kept for reuse")
	fl.IntVar(&o.queries, "queries", 200, "timed queries per query type and scope")
	fl.IntVar(&o.sample, "ingest-sample", 50000, "messages per timed ingest run")
	fl.IntSliceVar(&o.writers, "writers", []int{1, 64, 1024}, "concurrent appenders in the ingest runs, one message per call; one set of runs per value")
	fl.Uint64Var(&o.seed, "seed", 1, "generator seed")
	fl.BoolVar(&o.keep, "keep", true, "keep generated databases for later runs")
	fl.IntVar(&o.slowest, "slowest", 0, "print this many of the slowest queries of each search row")
	fl.BoolVar(&o.ingestOnReuse, "ingest-on-reuse", o.ingestOnReuse, "with a reused database, measure ingest on a copy of it (the reused one stays as it was)")
	fl.IntVar(&o.convsPerNet, "conversations-per-network", 50, "conversations per network (4 users × 3 networks each)")
	if own {
		fl.IntVar(&o.repeats, "repeats", 3, "repeated runs; the median is reported")
		fl.StringVar(&o.jsonPath, "json", "", "also write the results to this JSON `FILE`")
	} else {
		o.repeats = 3
	}
}

// StoreResult is one size's figures.
type StoreResult struct {
	Env           Env            `json:"env"`
	Messages      int            `json:"messages"`
	Conversations int            `json:"conversations"`
	Users         int            `json:"users"`
	Ingest        []IngestResult `json:"ingest"`
	BulkPerSec    float64        `json:"bulk_messages_per_sec,omitempty"`
	Reused        bool           `json:"reused_database"`
	OpenSeconds   float64        `json:"open_seconds"`
	Search        []SearchResult `json:"search"`
	Paging        Latency        `json:"paging_50"`
	PagingCPU     Latency        `json:"paging_50_cpu"`
}

// IngestResult is the durable ingest rate with the full-text index on.
type IngestResult struct {
	Writers        int     `json:"writers"`
	MessagesPerSec float64 `json:"messages_per_sec"`
	CPUmsPer1000   float64 `json:"cpu_ms_per_1000"`
	Runs           int     `json:"runs"`
	BulkPerSec     float64 `json:"bulk_messages_per_sec,omitempty"`
	ReusedDatabase bool    `json:"reused_database"`
}

// SearchResult is the latency of one query type in one scope.
type SearchResult struct {
	Type    string  `json:"type"`
	Scope   string  `json:"scope"`
	Ranking string  `json:"ranking"`
	Latency Latency `json:"latency"`
	// CPU is the same calls' CPU time on their thread (see threadCPU).
	CPU     Latency  `json:"cpu"`
	Hits    float64  `json:"mean_hits"`
	Slowest []string `json:"slowest,omitempty"`
}

// parseSizes checks the options and returns the history sizes.
func (o *storeOptions) parseSizes() ([]int, error) {
	var sizes []int
	for _, s := range strings.Split(o.sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1000 {
			return nil, fmt.Errorf("--messages %q: want sizes of at least 1000, comma separated", o.sizes)
		}
		sizes = append(sizes, n)
	}
	if o.repeats < 1 || o.queries < 1 || len(o.writers) == 0 || slices.Min(o.writers) < 1 || o.sample < 100 {
		return nil, errors.New("--repeats, --queries and --writers must be at least 1, --ingest-sample at least 100")
	}
	return sizes, nil
}

// cached returns where the history of n messages is kept and whether it
// is complete there.
func (o *storeOptions) cached(n int) (string, bool) {
	plan := storePlan(o, n)
	path := filepath.Join(o.dir, fmt.Sprintf("store-%d-s%d-g%d.db", n, o.seed, synth.Version))
	b, err := os.ReadFile(path + ".done")
	return path, err == nil && string(b) == string(planMarker(plan))
}

func planMarker(plan synth.Plan) []byte {
	b, _ := json.Marshal(struct {
		synth.Plan
		Generator int
	}{plan, synth.Version})
	return b
}

func runStore(ctx context.Context, out io.Writer, o *storeOptions) error {
	sizes, err := o.parseSizes()
	if err != nil {
		return err
	}
	var results []StoreResult
	for _, n := range sizes {
		r, err := benchStore(ctx, out, o, n)
		if err != nil {
			return err
		}
		results = append(results, r)
	}
	return writeJSON(o.jsonPath, results)
}

func storePlan(o *storeOptions, n int) synth.Plan {
	return synth.Plan{Seed: o.seed, Users: 4, NetworksPerUser: 3, ConversationsPerNetwork: o.convsPerNet, Messages: n}
}

// baseTime is the generated history's first message time; messages are 3 s
// apart.
var baseTime = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func benchStore(ctx context.Context, out io.Writer, o *storeOptions, n int) (StoreResult, error) {
	plan := storePlan(o, n)
	res := StoreResult{Env: currentEnv(), Messages: n, Conversations: plan.Conversations(), Users: plan.Users}
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		return res, err
	}
	// The marker holds the plan and the generator version: a database is
	// reused only for the same corpus. A database of an older schema is
	// reused too, and Open upgrades it (timed below).
	planJSON := planMarker(plan)
	path, complete := o.cached(n)
	marker := path + ".done"
	if !complete {
		for _, p := range []string{path, path + "-wal", path + "-shm", marker} {
			os.Remove(p)
		}
	} else {
		res.Reused = true
	}
	openStart := time.Now()
	st, err := history.Open(ctx, path, history.Options{Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		return res, err
	}
	defer st.Close()
	res.OpenSeconds = time.Since(openStart).Seconds()
	fx, err := storeFixture(ctx, st, plan)
	if err != nil {
		return res, err
	}
	fmt.Fprintf(out, "\nstore: %d messages, %d conversations, %d users — %d cores, %s\n",
		n, plan.Conversations(), plan.Users, res.Env.Cores, res.Env.GoVersion)
	fmt.Fprintf(out, "  opened %s in %.1f s (schema upgrades included)\n", path, res.OpenSeconds)
	if !res.Reused {
		if res.Ingest, res.BulkPerSec, err = generate(ctx, out, st, fx, plan, o); err != nil {
			return res, err
		}
		// The daemon merges the search index when idle (see serve's
		// maintenance loop); searches are measured on a merged index too.
		mergeStart := time.Now()
		for {
			finished, err := st.MergeIndex(ctx, 1000)
			if err != nil {
				return res, err
			}
			if finished {
				break
			}
		}
		fmt.Fprintf(out, "  merged the search index in %.1f s\n", time.Since(mergeStart).Seconds())
		if err := os.WriteFile(marker, planJSON, 0o644); err != nil {
			return res, err
		}
		fmt.Fprintf(out, "ingest (durable, full-text index on, one message per call, median of runs of %d at about %d stored):\n", o.sample, n)
		for _, in := range res.Ingest {
			fmt.Fprintf(out, "  %4d writers: %.0f messages/s, %.1f ms CPU per 1000 messages (%d runs)\n", in.Writers, in.MessagesPerSec, in.CPUmsPer1000, in.Runs)
		}
		fmt.Fprintf(out, "  bulk load in batches of 2000: %.0f messages/s\n", res.BulkPerSec)
	} else {
		// An upgraded database may hold a rebuilt index in many segments;
		// the daemon would merge it when idle. Ingest on a copy is
		// measured after, on the index searches see.
		mergeStart := time.Now()
		for {
			finished, err := st.MergeIndex(ctx, 1000)
			if err != nil {
				return res, err
			}
			if finished {
				break
			}
		}
		fmt.Fprintf(out, "  merged the search index in %.1f s\n", time.Since(mergeStart).Seconds())
		if !o.ingestOnReuse {
			fmt.Fprintf(out, "ingest: reused %s (delete it or pass --ingest-on-reuse to measure ingest)\n", path)
		} else if res.Ingest, err = ingestOnCopy(ctx, out, path, plan, o); err != nil {
			return res, err
		}
	}
	if o.ingestOnly {
		return res, nil
	}
	if res.Search, err = benchSearch(ctx, out, st, fx, o); err != nil {
		return res, err
	}
	if res.Paging, res.PagingCPU, err = benchPaging(ctx, st, fx, o); err != nil {
		return res, err
	}
	fmt.Fprintf(out, "paging (50 messages, newest first, before a random id): p50 %.2f ms  p99 %.2f ms  max %.2f ms  (%d pages); cpu p50 %.2f ms  p99 %.2f ms\n",
		res.Paging.P50, res.Paging.P99, res.Paging.Max, res.Paging.N, res.PagingCPU.P50, res.PagingCPU.P99)
	if !o.keep {
		st.Close()
		for _, p := range []string{path, path + "-wal", path + "-shm", marker} {
			os.Remove(p)
		}
	}
	return res, nil
}

// fixture maps the plan's indices onto store ids.
type fixture struct {
	users []core.User
	nets  [][]core.Network // [user][network]
}

func storeFixture(ctx context.Context, st *history.Store, plan synth.Plan) (fixture, error) {
	var fx fixture
	for u := 0; u < plan.Users; u++ {
		name := fmt.Sprintf("user%d", u)
		user, err := st.UserByName(ctx, name)
		if errors.Is(err, history.ErrNotFound) {
			user, err = st.CreateUser(ctx, name, "bench-"+name, false)
		}
		if err != nil {
			return fx, err
		}
		fx.users = append(fx.users, user)
		var nets []core.Network
		for k := 0; k < plan.NetworksPerUser; k++ {
			nname := fmt.Sprintf("net%d", k)
			n, err := st.NetworkByName(ctx, user.ID, nname)
			if errors.Is(err, history.ErrNotFound) {
				n, err = st.CreateNetwork(ctx, core.Network{User: user.ID, Name: nname, Kind: core.KindIRC, Settings: core.Settings{}})
			}
			if err != nil {
				return fx, err
			}
			nets = append(nets, n)
		}
		fx.nets = append(fx.nets, nets)
	}
	return fx, nil
}

func (fx fixture) message(m synth.Message) *core.Message {
	dir := core.Incoming
	return &core.Message{
		User:      fx.users[m.User].ID,
		Network:   fx.nets[m.User][m.Network].ID,
		Peer:      core.Peer{Kind: core.Room, Remote: fmt.Sprintf("#c%d", m.Conversation)},
		Direction: dir,
		Sender:    core.Address{Addr: m.Sender, Name: m.Sender},
		Time:      baseTime.Add(time.Duration(m.Seq) * 3 * time.Second),
		Kind:      core.KindChat,
		Body:      m.Body,
	}
}

// generate bulk-loads all but the last runs of the plan in batches, then
// appends the rest in timed runs the way live traffic arrives: many
// concurrent callers, one message each, every call durable on return; one
// set of runs for each writer count.
func generate(ctx context.Context, out io.Writer, st *history.Store, fx fixture, plan synth.Plan, o *storeOptions) ([]IngestResult, float64, error) {
	runs := o.repeats
	perSet := func() int { return runs * o.sample }
	for runs > 1 && perSet()*len(o.writers) > plan.Messages/2 {
		runs--
	}
	timed := perSet() * len(o.writers)
	if timed > plan.Messages/2 {
		return nil, 0, fmt.Errorf("--ingest-sample %d: too large for %d messages", o.sample, plan.Messages)
	}
	bulk := plan.Messages - timed
	var (
		batch     []core.Write
		timedMsgs []*core.Message
		started   = time.Now()
		lastShown = started
		bulkRate  float64
	)
	err := plan.Each(func(m synth.Message) error {
		if m.Seq >= bulk {
			timedMsgs = append(timedMsgs, fx.message(m))
			return nil
		}
		batch = append(batch, core.Write{Message: fx.message(m)})
		if len(batch) == 2000 || m.Seq == bulk-1 {
			if err := st.Append(ctx, batch); err != nil {
				return err
			}
			batch = batch[:0]
			if time.Since(lastShown) > 10*time.Second {
				lastShown = time.Now()
				fmt.Fprintf(out, "  generating: %d of %d (%.0f/s)\n", m.Seq+1, plan.Messages, float64(m.Seq+1)/time.Since(started).Seconds())
			}
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("generating: %w", err)
	}
	bulkRate = float64(bulk) / time.Since(started).Seconds()
	var results []IngestResult
	for i, writers := range o.writers {
		var rates, cpus []float64
		set := timedMsgs[i*perSet() : (i+1)*perSet()]
		for r := 0; r < runs; r++ {
			rate, cpu, err := timedIngest(ctx, st, set[r*o.sample:(r+1)*o.sample], writers)
			if err != nil {
				return nil, 0, err
			}
			rates = append(rates, rate)
			cpus = append(cpus, cpu)
		}
		results = append(results, IngestResult{Writers: writers, Runs: runs, MessagesPerSec: median(rates), CPUmsPer1000: median(cpus)})
	}
	return results, bulkRate, nil
}

// ingestOnCopy measures ingest into a copy of a reused database, so that
// ingest at 10M can be measured again without generating 10M messages.
// The messages are new lines of the generator spread over the plan's
// conversations, as in the timed runs of a generation.
func ingestOnCopy(ctx context.Context, out io.Writer, path string, plan synth.Plan, o *storeOptions) ([]IngestResult, error) {
	cp := path + ".ingest-copy"
	removeCopy := func() {
		for _, p := range []string{cp, cp + "-wal", cp + "-shm"} {
			os.Remove(p)
		}
	}
	// A run stopped midway leaves its copy's log, which SQLite would
	// apply to the fresh copy.
	removeCopy()
	defer removeCopy()
	if err := copyFile(path, cp); err != nil {
		return nil, fmt.Errorf("copying %s: %w", path, err)
	}
	// The open store is idle, but its last commits (an upgrade, the
	// merge) may still be in the write-ahead log only.
	if err := copyFile(path+"-wal", cp+"-wal"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("copying %s: %w", path+"-wal", err)
	}
	st, err := history.Open(ctx, cp, history.Options{Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	fx, err := storeFixture(ctx, st, plan)
	if err != nil {
		return nil, err
	}
	gen := synth.New(o.seed + 1000)
	rng := rand.New(rand.NewPCG(o.seed, 13))
	var results []IngestResult
	fmt.Fprintf(out, "ingest (durable, full-text index on, one message per call, median of runs of %d, on a copy of the %d-message store):\n", o.sample, plan.Messages)
	for _, writers := range o.writers {
		var rates, cpus []float64
		for r := 0; r < o.repeats; r++ {
			msgs := make([]*core.Message, o.sample)
			for i := range msgs {
				u := rng.IntN(plan.Users)
				m := fx.message(synth.Message{User: u, Network: rng.IntN(plan.NetworksPerUser),
					Conversation: rng.IntN(plan.ConversationsPerNetwork), Sender: "bench", Body: gen.Sentence()})
				m.Time = time.Now()
				msgs[i] = m
			}
			rate, cpu, err := timedIngest(ctx, st, msgs, writers)
			if err != nil {
				return nil, err
			}
			rates = append(rates, rate)
			cpus = append(cpus, cpu)
		}
		in := IngestResult{Writers: writers, Runs: o.repeats, MessagesPerSec: median(rates), CPUmsPer1000: median(cpus), ReusedDatabase: true}
		results = append(results, in)
		fmt.Fprintf(out, "  %4d writers: %.0f messages/s, %.1f ms CPU per 1000 messages (%d runs)\n", in.Writers, in.MessagesPerSec, in.CPUmsPer1000, in.Runs)
	}
	return results, nil
}

func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}

func timedIngest(ctx context.Context, st *history.Store, msgs []*core.Message, writers int) (rate, cpuPer1000 float64, err error) {
	work := make(chan *core.Message, len(msgs))
	for _, m := range msgs {
		work <- m
	}
	close(work)
	var (
		wg   sync.WaitGroup
		once sync.Once
	)
	cpu0 := cpuTime()
	start := time.Now()
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for m := range work {
				if e := st.Append(ctx, []core.Write{{Message: m}}); e != nil {
					once.Do(func() { err = e })
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := cpuTime() - cpu0
	return float64(len(msgs)) / elapsed.Seconds(), ms(cpu) / float64(len(msgs)) * 1000, err
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// query is one search to time.
type query struct {
	text string
	conv core.ConversationID
}

func benchSearch(ctx context.Context, out io.Writer, st *history.Store, fx fixture, o *storeOptions) ([]SearchResult, error) {
	user := fx.users[0].ID
	convs, err := st.Conversations(ctx, user)
	if err != nil {
		return nil, err
	}
	if len(convs) == 0 {
		return nil, errors.New("the generated history has no conversations")
	}
	rng := rand.New(rand.NewPCG(o.seed, 7))
	types := queryTypes(o.seed)
	scopes := []string{"all conversations", "one conversation"}
	var results []SearchResult
	tw := newTable(out)
	fmt.Fprintf(tw, "search (limit 50)\tscope\tranking\tp50 ms\tp99 ms\tmax ms\tcpu p50\tcpu p99\tmean hits\t\n")
	for _, ty := range types {
		for _, scope := range scopes {
			qs := make([]query, o.queries+20)
			for i := range qs {
				qs[i].text = ty.make()
				if scope == "one conversation" {
					qs[i].conv = convs[rng.IntN(len(convs))].ID
				}
			}
			r, err := timeQueries(ctx, st, user, qs, o.repeats, core.ByTime)
			if err != nil {
				return nil, err
			}
			r.Type, r.Scope = ty.name, scope
			results = append(results, r)
			printSearchRow(tw, r, o.slowest)
		}
	}
	// Relevance ranking has to score every match; measured on fewer queries.
	for _, ty := range []int{0, 1} {
		qs := make([]query, min(o.queries, 50)+5)
		for i := range qs {
			qs[i].text = types[ty].make()
		}
		r, err := timeQueries(ctx, st, user, qs, 1, core.ByRelevance)
		if err != nil {
			return nil, err
		}
		r.Type, r.Scope = types[ty].name, scopes[0]
		results = append(results, r)
		printSearchRow(tw, r, o.slowest)
	}
	return results, tw.Flush()
}

// queryType makes search texts of one kind from the generator's
// vocabulary.
type queryType struct {
	name string
	make func() string
}

// queryTypes are the kinds of search every scenario times, by rank in the
// Zipf vocabulary: rare (ranks 2000-6000), common (the top 20), two words,
// a quoted phrase of two neighbouring words, and a 3-letter prefix.
func queryTypes(seed uint64) []queryType {
	rng := rand.New(rand.NewPCG(seed, 8))
	gen := synth.New(seed + 99)
	wordIn := func(lo, hi int) string { return synth.WordAt(lo + rng.IntN(hi-lo)) }
	return []queryType{
		{"rare word", func() string { return wordIn(2000, 6000) }},
		{"common word", func() string { return wordIn(0, 20) }},
		{"two words", func() string { return wordIn(0, 100) + " " + wordIn(100, 1000) }},
		{"phrase", func() string { return phraseFrom(gen) }},
		{"prefix", func() string { w := wordIn(50, 500); return w[:min(3, len(w))] + "*" }},
	}
}

// phraseFrom takes two neighbouring words of a generated line.
func phraseFrom(g *synth.Generator) string {
	for {
		var words []string
		for _, w := range strings.Fields(g.Sentence()) {
			w = strings.Trim(w, ".,!?:;'\"()")
			if _, ok := synth.Rank(strings.ToLower(w)); ok {
				words = append(words, strings.ToLower(w))
			} else {
				words = nil // keep the two words adjacent
			}
			if len(words) == 2 {
				return `"` + words[0] + " " + words[1] + `"`
			}
		}
	}
}

func printSearchRow(w io.Writer, r SearchResult, slowest int) {
	fmt.Fprintf(w, "%s\t%s\t%s\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.1f\t\n", r.Type, r.Scope, r.Ranking,
		r.Latency.P50, r.Latency.P99, r.Latency.Max, r.CPU.P50, r.CPU.P99, r.Hits)
	for _, q := range r.Slowest[:min(slowest, len(r.Slowest))] {
		fmt.Fprintf(w, "\t\tslow:\t%s\t\t\t\t\t\t\n", q)
	}
}

// timeQueries runs the first 20 queries as warm-up, then times the rest
// repeats times and reports the run with the median p99.
func timeQueries(ctx context.Context, st *history.Store, user core.UserID, qs []query, repeats int, rank core.Ranking) (SearchResult, error) {
	// See threadCPU: the calls run on this one thread.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	warm := min(20, len(qs)/5)
	var runs []SearchResult
	for r := 0; r < repeats; r++ {
		type timed struct {
			d   time.Duration
			cpu time.Duration
			q   query
		}
		var (
			ts   []timed
			hits int
		)
		for i, q := range qs {
			cpu0 := threadCPU()
			start := time.Now()
			rs, err := st.Search(ctx, core.SearchQuery{User: user, Text: q.text, Conversation: q.conv, Ranking: rank, Limit: 50})
			d := time.Since(start)
			cpu := threadCPU() - cpu0
			if err != nil {
				return SearchResult{}, fmt.Errorf("query %q: %w", q.text, err)
			}
			if i >= warm {
				ts = append(ts, timed{d, cpu, q})
				hits += len(rs)
			}
		}
		ds := make([]time.Duration, len(ts))
		cpus := make([]time.Duration, len(ts))
		for i, t := range ts {
			ds[i], cpus[i] = t.d, t.cpu
		}
		res := SearchResult{Latency: summarise(ds), CPU: summarise(cpus), Hits: float64(hits) / float64(len(ts))}
		slices.SortFunc(ts, func(a, b timed) int { return cmp.Compare(b.d, a.d) })
		for _, t := range ts[:min(5, len(ts))] {
			res.Slowest = append(res.Slowest, fmt.Sprintf("%.1f ms (cpu %.1f) %q conv %d", ms(t.d), ms(t.cpu), t.q.text, t.q.conv))
		}
		runs = append(runs, res)
	}
	// The median run by p99.
	for i := 1; i < len(runs); i++ {
		for j := i; j > 0 && runs[j].Latency.P99 < runs[j-1].Latency.P99; j-- {
			runs[j], runs[j-1] = runs[j-1], runs[j]
		}
	}
	res := runs[len(runs)/2]
	res.Ranking = "newest first"
	if rank == core.ByRelevance {
		res.Ranking = "relevance"
	}
	return res, nil
}

func benchPaging(ctx context.Context, st *history.Store, fx fixture, o *storeOptions) (Latency, Latency, error) {
	runtime.LockOSThread() // see threadCPU
	defer runtime.UnlockOSThread()
	user := fx.users[0].ID
	convs, err := st.Conversations(ctx, user)
	if err != nil {
		return Latency{}, Latency{}, err
	}
	rng := rand.New(rand.NewPCG(o.seed, 11))
	type span struct{ lo, hi core.MessageID }
	spans := map[core.ConversationID]span{}
	for _, c := range convs {
		newest, err := st.Messages(ctx, core.PageQuery{User: user, Conversation: c.ID, Limit: 1})
		if err != nil || len(newest) == 0 {
			continue
		}
		oldest, err := st.Messages(ctx, core.PageQuery{User: user, Conversation: c.ID, Limit: 1, Order: core.OldestFirst})
		if err != nil {
			return Latency{}, Latency{}, err
		}
		spans[c.ID] = span{oldest[0].ID, newest[0].ID + 1}
	}
	var ds, cpus []time.Duration
	for r := 0; r < o.repeats; r++ {
		for i := 0; i < 1000; i++ {
			c := convs[rng.IntN(len(convs))]
			sp, ok := spans[c.ID]
			if !ok {
				continue
			}
			before := sp.lo + core.MessageID(rng.Int64N(int64(sp.hi-sp.lo)+1))
			cpu0 := threadCPU()
			start := time.Now()
			if _, err := st.Messages(ctx, core.PageQuery{User: user, Conversation: c.ID, Before: before, Limit: 50}); err != nil {
				return Latency{}, Latency{}, err
			}
			ds = append(ds, time.Since(start))
			cpus = append(cpus, threadCPU()-cpu0)
		}
	}
	return summarise(ds), summarise(cpus), nil
}
