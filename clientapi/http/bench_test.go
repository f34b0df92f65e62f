package httpapi

// The HTTP port's figures (make bench-http): SSE fan-out to 1,000
// subscribers and search latency over 1,000,000 stored messages, both over
// real HTTPS on loopback against the real store and Hub.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard/switchboard/core"
	"github.com/switchboard/switchboard/history"
	"github.com/switchboard/switchboard/history/synth"
	"github.com/switchboard/switchboard/internal/testpeer"
)

// SSE fan-out workload: messages arrive one at a time at a steady rate.
const (
	sseSubscribers = 1000
	sseRate        = 20 // messages a second
	sseMessages    = 200
	sseMarker      = "ssebench-" // a message body is sseMarker + its number
)

// BenchmarkSSEFanout connects sseSubscribers streams (GET /api/v1/events,
// one user, each stream its own HTTPS connection: the test server speaks
// HTTP/1.1 only), then plays sseMessages messages in from a fake bridge's
// Inbound.Receive at sseRate a second. Per message it reports the time
// from Receive to the last subscriber reading it off its stream, and
// fails if any subscriber misses a message, sees one twice, or is dropped.
//
// The subscribers run in this process as lean readers (a bufio.Reader
// that finds the message number in each "data:" line; no SSE library, no
// JSON decoding), so cpu-µs/delivery is the process's CPU, server and all
// 1,000 clients' TLS included, divided by the deliveries.
func BenchmarkSSEFanout(b *testing.B) {
	if got := testpeer.RaiseFileLimit(2*sseSubscribers + 512); got < 2*sseSubscribers+100 {
		b.Skipf("RLIMIT_NOFILE is %d; %d streams need about %d", got, sseSubscribers, 2*sseSubscribers+100)
	}
	e := newEnvOn(b, openBenchStore(b, filepath.Join(b.TempDir(), "sse.db")))
	_, token := e.user("alice")
	_, br := e.network(token, "net")

	tr := e.ts.Client().Transport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = sseSubscribers
	client := &http.Client{Transport: tr}
	defer tr.CloseIdleConnections()

	b.StopTimer() // runSSEFanout times the messages, not the connecting
	for i := 0; i < b.N; i++ {
		runSSEFanout(b, e, client, token, br)
	}
}

// sseSub is one subscriber's stream and what it read.
type sseSub struct {
	resp *http.Response
	seen []bool
	err  error
}

func runSSEFanout(b *testing.B, e *env, client *http.Client, token string, br *fakeBridge) {
	var (
		count    = make([]atomic.Int32, sseMessages)
		lastRead = make([]atomic.Int64, sseMessages) // ns since start, set by the last reader
		allRead  = make([]chan struct{}, sseMessages)
		start    = time.Now()
		readers  sync.WaitGroup
		ready    sync.WaitGroup
	)
	for i := range allRead {
		allRead[i] = make(chan struct{})
	}
	subs := make([]*sseSub, sseSubscribers)
	var closing atomic.Bool
	defer func() {
		closing.Store(true)
		for _, s := range subs {
			if s != nil && s.resp != nil {
				s.resp.Body.Close()
			}
		}
		readers.Wait()
	}()

	// Connect, 50 at a time; a stream counts once it read "ready".
	connectStart := time.Now()
	sem := make(chan struct{}, 50)
	var connErr atomic.Pointer[error]
	for i := range subs {
		s := &sseSub{seen: make([]bool, sseMessages)}
		subs[i] = s
		ready.Add(1)
		readers.Add(1)
		sem <- struct{}{}
		go func() {
			defer readers.Done()
			readyOnce := sync.OnceFunc(ready.Done)
			defer readyOnce()
			err := s.connect(client, e.ts.URL, token)
			<-sem
			if err == nil {
				err = s.read(readyOnce, func(n int) {
					if c := count[n].Add(1); c == sseSubscribers {
						lastRead[n].Store(int64(time.Since(start)))
						close(allRead[n])
					}
				})
			}
			if err != nil && !(errors.Is(err, errSSEClosed) && closing.Load()) {
				s.err = err
				connErr.CompareAndSwap(nil, &err)
			}
		}()
	}
	ready.Wait()
	if p := connErr.Load(); p != nil {
		b.Fatalf("subscriber: %v", *p)
	}
	b.Logf("%d streams ready in %.1f s", sseSubscribers, time.Since(connectStart).Seconds())

	sent := make([]int64, sseMessages) // ns since start, before Receive
	stored := make([]time.Duration, sseMessages)
	tick := time.NewTicker(time.Second / sseRate)
	defer tick.Stop()
	cpu0 := processCPU()
	b.StartTimer()
	for n := 0; n < sseMessages; n++ {
		<-tick.C
		ev := core.MessageEvent{Message: &core.Message{
			Peer: core.Peer{Kind: core.Room, Remote: "#bench"}, Sender: core.Address{Addr: "bob", Name: "Bob"},
			Time: time.Now(), Kind: core.KindChat, Body: sseMarker + strconv.Itoa(n) + " " + strings.Repeat("x", 60),
		}}
		t0 := time.Since(start)
		sent[n] = int64(t0)
		if err := br.env.Inbound.Receive(context.Background(), ev); err != nil {
			b.Fatal(err)
		}
		stored[n] = time.Since(start) - t0
	}
	deadline := time.After(10 * time.Second)
	for n := range allRead {
		select {
		case <-allRead[n]:
		case <-deadline:
			b.Fatalf("message %d: %d of %d subscribers never read it", n, sseSubscribers-int(count[n].Load()), sseSubscribers)
		}
	}
	b.StopTimer()
	cpu := processCPU() - cpu0
	elapsed := time.Duration(lastRead[sseMessages-1].Load() - sent[0])
	for i, s := range subs {
		if s.err != nil {
			b.Fatalf("subscriber %d: %v", i, s.err)
		}
	}

	lat := make([]time.Duration, sseMessages)
	for n := range lat {
		lat[n] = time.Duration(lastRead[n].Load() - sent[n])
	}
	deliveries := float64(sseMessages * sseSubscribers)
	l, st := summarise(lat), summarise(stored)
	b.ReportMetric(l.p50, "p50-ms")
	b.ReportMetric(l.p99, "p99-ms")
	b.ReportMetric(l.max, "max-ms")
	b.ReportMetric(deliveries/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(float64(cpu.Microseconds())/deliveries, "cpu-µs/delivery")
	b.Logf("%d messages at %d/s to %d subscribers: Receive→last reader p50 %.1f ms  p99 %.1f ms  max %.1f ms (target < 100 ms); "+
		"Receive returned (stored) p50 %.1f ms  p99 %.1f ms; %.0f deliveries/s; process CPU %.1f µs a delivery (%.2f cores)",
		sseMessages, sseRate, sseSubscribers, l.p50, l.p99, l.max, st.p50, st.p99,
		deliveries/elapsed.Seconds(), float64(cpu.Microseconds())/deliveries, cpu.Seconds()/elapsed.Seconds())
}

// errSSEClosed is the end of a stream the benchmark closed itself.
var errSSEClosed = errors.New("stream closed by the benchmark")

func (s *sseSub) connect(client *http.Client, base, token string) error {
	req, err := http.NewRequest("GET", base+"/api/v1/events", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return fmt.Errorf("GET /api/v1/events: %s %s", resp.Status, body)
	}
	s.resp = resp
	return nil
}

// read counts the stream's message events until it ends: got is called
// with the number of each message read for the first time.
func (s *sseSub) read(ready func(), got func(n int)) error {
	r := bufio.NewReaderSize(s.resp.Body, 8192)
	var name []byte
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			if errors.Is(err, io.EOF) || strings.Contains(err.Error(), "closed") {
				return errSSEClosed
			}
			return err
		}
		switch {
		case bytes.HasPrefix(line, []byte("event: ")):
			name = append(name[:0], bytes.TrimSpace(line[len("event: "):])...)
			switch string(name) {
			case "reconnect", "unauthorized":
				return fmt.Errorf("the server ended the stream with %q", name)
			}
		case bytes.HasPrefix(line, []byte("data: ")):
			switch string(name) {
			case "ready":
				ready()
			case "message":
				i := bytes.Index(line, []byte(sseMarker))
				if i < 0 {
					return fmt.Errorf("a message event without a benchmark body: %q", line)
				}
				rest := line[i+len(sseMarker):]
				j := bytes.IndexByte(rest, ' ')
				n, err := strconv.Atoi(string(rest[:max(j, 0)]))
				if err != nil || n < 0 || n >= len(s.seen) {
					return fmt.Errorf("a message event with a bad benchmark body: %q", line)
				}
				if s.seen[n] {
					return fmt.Errorf("message %d read twice", n)
				}
				s.seen[n] = true
				got(n)
			}
		}
	}
}

// Search workload.
const (
	searchMessages = 1_000_000
	searchQueries  = 200 // timed requests per query type
	searchWarmup   = 20
)

// searchPlan is one user's history: 1M messages over 3 networks of 50
// conversations; messages are 3 s apart from searchBase (about 35 days).
var (
	searchPlan = synth.Plan{Seed: 1, Users: 1, NetworksPerUser: 3, ConversationsPerNetwork: 50, Messages: searchMessages}
	searchBase = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
)

// BenchmarkSearch1M times GET /api/v1/search over HTTPS for each query
// type on one user's 1,000,000 generated messages (history/synth, fixed
// seed); the database is generated once (about a minute) and kept under
// $TMPDIR/switchboard-httpbench, keyed by size, seed and generator
// version. Each type runs searchWarmup requests, then searchQueries timed
// ones, one at a time on one keep-alive connection; the time is from
// sending the request to reading the whole answer. A request answered
// with anything but 200, or a type whose queries all find nothing,
// fails the benchmark.
func BenchmarkSearch1M(b *testing.B) {
	st := cachedSearchStore(b)
	e := newEnvOn(b, st)
	var tok loginResponse
	e.mustDo("POST", "/api/v1/tokens", "", map[string]any{"username": "alice", "password": "pw-alice"}, 201, &tok)
	ctx := context.Background()
	user, err := st.UserByName(ctx, "alice")
	if err != nil {
		b.Fatal(err)
	}
	convs, err := st.Conversations(ctx, user.ID)
	if err != nil {
		b.Fatal(err)
	}
	nets, err := st.Networks(ctx, user.ID)
	if err != nil {
		b.Fatal(err)
	}
	senders := planSenders(b, 20_000)

	rng := rand.New(rand.NewPCG(1, 7))
	gen := synth.New(99)
	wordIn := func(lo, hi int) string { return synth.WordAt(lo + rng.IntN(hi-lo)) }
	some := func() string { return wordIn(0, 100) }
	day := func() (string, string) {
		since := searchBase.Add(time.Duration(rng.IntN(34*24)) * time.Hour)
		return since.Format(time.RFC3339), since.Add(24 * time.Hour).Format(time.RFC3339)
	}
	types := []struct {
		name string
		make func() url.Values
	}{
		{"rare-word", func() url.Values { return url.Values{"q": {wordIn(2000, 6000)}} }},
		{"common-word", func() url.Values { return url.Values{"q": {wordIn(0, 20)}} }},
		{"phrase", func() url.Values { return url.Values{"q": {phraseOf(gen)}} }},
		{"prefix", func() url.Values { w := wordIn(50, 500); return url.Values{"q": {w[:min(3, len(w))] + "*"}} }},
		{"conversation", func() url.Values {
			return url.Values{"q": {some()}, "conversation": {fmt.Sprint(convs[rng.IntN(len(convs))].ID)}}
		}},
		{"network", func() url.Values {
			return url.Values{"q": {some()}, "network": {fmt.Sprint(nets[rng.IntN(len(nets))].ID)}}
		}},
		{"sender", func() url.Values { return url.Values{"q": {some()}, "sender": {senders[rng.IntN(len(senders))]}} }},
		{"time-range", func() url.Values { s, u := day(); return url.Values{"q": {some()}, "since": {s}, "until": {u}} }},
	}
	client := e.ts.Client()
	for _, ty := range types {
		b.Run(ty.name, func(b *testing.B) {
			type timed struct {
				d time.Duration
				q url.Values
			}
			var (
				ds, cpus []time.Duration
				slow     []timed
				hits     int
			)
			for range b.N {
				ds, cpus = ds[:0], cpus[:0]
				for i := range searchWarmup + searchQueries {
					q := ty.make()
					cpu0 := processCPU()
					d, n, err := timedSearch(client, e.ts.URL, tok.Token, q)
					cpu := processCPU() - cpu0
					if err != nil {
						b.Fatalf("search %s: %v", q.Encode(), err)
					}
					if i >= searchWarmup {
						ds = append(ds, d)
						cpus = append(cpus, cpu)
						slow = append(slow, timed{d, q})
						hits += n
					}
				}
			}
			slices.SortFunc(slow, func(x, y timed) int { return int(y.d - x.d) })
			for _, t := range slow[:min(3, len(slow))] {
				b.Logf("slowest: %.1f ms %s", float64(t.d)/float64(time.Millisecond), t.q.Encode())
			}
			if hits == 0 {
				b.Fatalf("no %s query found anything", ty.name)
			}
			l := summarise(ds)
			b.ReportMetric(l.p50, "p50-ms")
			b.ReportMetric(l.p99, "p99-ms")
			b.ReportMetric(l.max, "max-ms")
			// The process's CPU over each request (server and client
			// alike, nothing else runs): other work on the machine
			// stretches the wall clock far more than this.
			c := summarise(cpus)
			b.ReportMetric(c.p50, "cpu-p50-ms")
			b.ReportMetric(c.p99, "cpu-p99-ms")
			b.ReportMetric(float64(hits)/float64(b.N*searchQueries), "hits/query")
		})
	}
}

// timedSearch sends one search and returns the time to read its whole
// answer and the number of results.
func timedSearch(client *http.Client, base, token string, q url.Values) (time.Duration, int, error) {
	req, err := http.NewRequest("GET", base+"/api/v1/search?"+q.Encode(), nil)
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	d := time.Since(start)
	if err != nil {
		return 0, 0, err
	}
	if resp.StatusCode != 200 {
		return 0, 0, fmt.Errorf("%s: %s", resp.Status, body)
	}
	var out struct {
		Results []searchResultJSON `json:"results"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return 0, 0, fmt.Errorf("decoding the answer: %w", err)
	}
	return d, len(out.Results), nil
}

// phraseOf takes two neighbouring vocabulary words of a generated line,
// as a quoted phrase.
func phraseOf(g *synth.Generator) string {
	for {
		var words []string
		for _, w := range strings.Fields(g.Sentence()) {
			w = strings.ToLower(strings.Trim(w, ".,!?:;'\"()"))
			if _, ok := synth.Rank(w); ok {
				words = append(words, w)
			} else {
				words = nil // keep the two words adjacent
			}
			if len(words) == 2 {
				return `"` + words[0] + " " + words[1] + `"`
			}
		}
	}
}

// planSenders returns the distinct senders of the plan's first n messages.
func planSenders(b *testing.B, n int) []string {
	seen := map[string]bool{}
	var out []string
	stop := errors.New("enough")
	err := searchPlan.Each(func(m synth.Message) error {
		if m.Seq >= n {
			return stop
		}
		if !seen[m.Sender] {
			seen[m.Sender] = true
			out = append(out, m.Sender)
		}
		return nil
	})
	if err != nil && !errors.Is(err, stop) {
		b.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// cachedSearchStore opens the kept 1M-message database, generating it
// first if there is none for this plan and generator version. A marker
// file written after generation holds the plan, so a half-written
// database is never reused.
func cachedSearchStore(b *testing.B) *history.Store {
	dir := filepath.Join(os.TempDir(), "switchboard-httpbench")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	key, _ := json.Marshal(struct {
		synth.Plan
		Generator int
	}{searchPlan, synth.Version})
	path := filepath.Join(dir, fmt.Sprintf("search-%d-s%d-g%d.db", searchPlan.Messages, searchPlan.Seed, synth.Version))
	marker := path + ".done"
	if k, err := os.ReadFile(marker); err == nil && bytes.Equal(k, key) {
		return openBenchStore(b, path)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm", marker} {
		os.Remove(p)
	}
	st := openBenchStore(b, path)
	ctx := context.Background()
	start := time.Now()
	user, err := st.CreateUser(ctx, "alice", "pw-alice", false)
	if err != nil {
		b.Fatal(err)
	}
	var nets []core.Network
	for i := range searchPlan.NetworksPerUser {
		n, err := st.CreateNetwork(ctx, core.Network{User: user.ID, Name: fmt.Sprint("net", i), Kind: testKind, Settings: core.Settings{}})
		if err != nil {
			b.Fatal(err)
		}
		nets = append(nets, n)
	}
	var batch []core.Write
	err = searchPlan.Each(func(m synth.Message) error {
		batch = append(batch, core.Write{Message: &core.Message{
			User: user.ID, Network: nets[m.Network].ID, Direction: core.Incoming,
			Peer:   core.Peer{Kind: core.Room, Remote: fmt.Sprintf("#c%d", m.Conversation)},
			Sender: core.Address{Addr: m.Sender, Name: m.Sender},
			Time:   searchBase.Add(time.Duration(m.Seq) * 3 * time.Second), Kind: core.KindChat, Body: m.Body,
		}})
		if len(batch) == 2000 || m.Seq == searchPlan.Messages-1 {
			err := st.Append(ctx, batch)
			batch = batch[:0]
			return err
		}
		return nil
	})
	if err != nil {
		b.Fatalf("generating: %v", err)
	}
	for {
		finished, err := st.MergeIndex(ctx, 1000)
		if err != nil {
			b.Fatal(err)
		}
		if finished {
			break
		}
	}
	if err := os.WriteFile(marker, key, 0o644); err != nil {
		b.Fatal(err)
	}
	b.Logf("generated %d messages into %s in %.0f s", searchPlan.Messages, path, time.Since(start).Seconds())
	return st
}

func openBenchStore(b *testing.B, path string) *history.Store {
	st, err := history.Open(context.Background(), path, history.Options{Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	return st
}

type latency struct{ p50, p99, max float64 } // milliseconds

func summarise(ds []time.Duration) latency {
	if len(ds) == 0 {
		return latency{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(q float64) float64 {
		return float64(s[min(len(s)-1, int(q*float64(len(s))))]) / float64(time.Millisecond)
	}
	return latency{at(0.50), at(0.99), float64(s[len(s)-1]) / float64(time.Millisecond)}
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
