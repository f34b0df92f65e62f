//go:build unix

package xmpp

// The figures for the XMPP port, from `make bench-xmpp`:
//   - messages from a network fanned out to one user's ten devices
//     (deliveries/s, until every device has read every message),
//   - memory per idle session, on the server alone (KiB and goroutines),
//   - login to the first roster result (p50/p99 ms, logins/s).
//
// Every client is a real one: TCP on loopback, STARTTLS, SCRAM-SHA-256
// with github.com/xdg-go/scram, resource binding. The SCRAM client keeps
// its derived keys (the library caches SaltedPassword by salt and
// iteration count), so the client's one PBKDF2 is paid before the clock
// starts, as a client that stored its keys would; the server does no
// PBKDF2 at a SCRAM login.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/xdg-go/scram"

	"github.com/switchboard/switchboard/core"
	"github.com/switchboard/switchboard/internal/loopback"
	"github.com/switchboard/switchboard/internal/testpeer"
	"github.com/switchboard/switchboard/internal/xmppload"
)

// benchScram is alice's SCRAM-SHA-256 client. It keeps the keys it
// derives, by salt and iteration count, so only its first login runs
// PBKDF2; warmScram runs it before any clock starts.
func benchScram(tb testing.TB, password string) *scram.Client {
	tb.Helper()
	sc, err := scram.SHA256.NewClient("alice", password, "")
	if err != nil {
		tb.Fatal(err)
	}
	return sc
}

// benchDevice logs a device in, fetches the roster and goes online; the
// client is cmd/swbench's (internal/xmppload).
func benchDevice(addr string, sc *scram.Client, resource string) (*xmppload.Client, error) {
	return xmppload.Device(addr, testDomain, sc, resource)
}

// warmScram derives alice's keys once, outside any measurement.
func warmScram(tb testing.TB, p *testPort, sc *scram.Client) {
	tb.Helper()
	k, err := p.st.Credentials(tb.Context(), p.user.ID, core.ScramSHA256)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := sc.GetStoredCredentialsWithError(scram.KeyFactors{Salt: string(k.Salt), Iters: k.Iterations}); err != nil {
		tb.Fatal(err)
	}
}

// waitBridge returns once the fake IRC bridge runs and reported itself
// connected.
func waitBridge(tb testing.TB, p *testPort) {
	tb.Helper()
	p.receive(tb)
	deadline := time.Now().Add(10 * time.Second)
	for {
		states := p.hub.NetworkStates(p.user.ID)
		if len(states) == 1 && states[0].State == core.StateConnected {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the network never connected: %v", states)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitConnsGone waits until no goroutine serves a connection or a
// session: the server has finished with the last round's clients.
func waitConnsGone(tb testing.TB) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	buf := make([]byte, 1<<20)
	for {
		for {
			n := runtime.Stack(buf, true)
			if n < len(buf) {
				buf = buf[:n]
				break
			}
			buf = make([]byte, 2*len(buf))
		}
		left := 0
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "xmpp.(*conn).") || strings.Contains(g, "xmpp.(*session).") {
				left++
			}
		}
		if left == 0 {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%d goroutines still serve connections or sessions:\n%s", left, buf)
		}
		time.Sleep(50 * time.Millisecond)
		buf = buf[:cap(buf)]
	}
}

// benchHeap is the live heap plus goroutine stacks, after two full GCs.
func benchHeap() (heap, stack uint64) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc, ms.StackInuse
}

func writeHeapProfile(tb testing.TB, path string) {
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		tb.Fatal(err)
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// --- fan-out ---

// fanoutReader reads one device's TLS stream, counting <message elements
// by scanning the decrypted bytes, and notes when each batch of messages
// has fully arrived.
type fanoutReader struct {
	c     *xmppload.Client
	got   atomic.Int64
	dead  atomic.Bool
	marks []time.Time // when the i-th batch was complete
}

// deviceResult is what a device's reader saw.
type deviceResult struct {
	device int
	got    int
	err    error
	tail   string // the last bytes read, for a stream error's text
}

func (r *fanoutReader) run(device, want, batch int, done chan<- deviceResult) {
	pat := []byte("<message")
	// buf[:carry] holds the end of the read before, so a tag split
	// between two reads is counted once, in the second; the reads go to
	// buf[carry:]. Counting with bytes.Count rather than byte by byte,
	// and keeping no copy of what was read, keeps this measuring
	// process's CPU, which the server shares, low.
	const carry = len("<message") - 1
	buf := make([]byte, carry+32<<10)
	n, last := 0, 0
	for {
		k, err := r.c.Raw().Read(buf[carry:])
		if k > 0 {
			now := time.Now()
			n += bytes.Count(buf[:carry+k], pat)
			copy(buf, buf[k:carry+k])
			last = k
			for i := int(r.got.Load()) / batch; i < n/batch; i++ {
				r.marks[i] = now
			}
			r.got.Store(int64(n))
		}
		if n >= want {
			done <- deviceResult{device: device, got: n}
			return
		}
		if err != nil {
			r.dead.Store(true)
			// The last bytes read, for a stream error's text.
			tail := buf[carry : carry+last]
			if len(tail) > 512 {
				tail = tail[len(tail)-512:]
			}
			done <- deviceResult{device: device, got: n, err: err, tail: string(tail)}
			return
		}
	}
}

// BenchmarkFanoutTenDevices: one user with ten devices online; a network
// hands the Hub 100 messages per Receive call, as the IRC bridge batches
// them; deliveries/s counts until every device has read every message off
// its TLS stream, and lag-p50/p99-ms is from a batch's Receive call to its
// last message read on a device.
//
//   - flood: the network hands messages over as fast as the Hub stores
//     them. A device that falls 1024 events behind in the Hub, or 1024
//     stanzas behind in the port, is dropped (to catch up from the
//     archive later); dropped-devices counts them and deliveries/s then
//     counts what the others got.
//   - rate=5000: 5,000 messages/s, the 50,000 deliveries/s; a
//     dropped device fails the run.
//   - window=512: the network is never more than 512 messages ahead of
//     the slowest device, which finds the most the port delivers without
//     dropping anyone.
func BenchmarkFanoutTenDevices(b *testing.B) {
	b.Run("flood", func(b *testing.B) { benchFanout(b, 0, 0) })
	b.Run("rate=5000", func(b *testing.B) { benchFanout(b, 5000, 0) })
	b.Run("window=512", func(b *testing.B) { benchFanout(b, 0, 512) })
}

func benchFanout(b *testing.B, rate, window int) {
	const devices, messages, batch, contacts = 10, 20000, 100, 10
	p := startPort(b)
	waitBridge(b, p)
	sc := benchScram(b, p.password)
	warmScram(b, p, sc)
	b.ResetTimer()
	for iter := range b.N {
		b.StopTimer()
		rs := make([]*fanoutReader, devices)
		if err := xmppload.Parallel(devices, 16, func(i int) error {
			c, err := benchDevice(p.addr, sc, fmt.Sprintf("dev%d", i))
			if err != nil {
				return err
			}
			rs[i] = &fanoutReader{c: c, marks: make([]time.Time, messages/batch)}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		events := make([][]core.Event, 0, messages/batch)
		for i := 0; i < messages; i += batch {
			evs := make([]core.Event, 0, batch)
			for j := i; j < i+batch; j++ {
				from := fmt.Sprintf("bob%d", j%contacts)
				e := p.incoming(core.Peer{Kind: core.Direct, Remote: from}, from,
					fmt.Sprintf("message %d of a busy evening on the network, about as long as a line of chat usually is", j))
				e.Message.OriginID = fmt.Sprintf("i%d-m%d", iter, j)
				evs = append(evs, e)
			}
			events = append(events, evs)
		}
		sent := make([]time.Time, len(events))
		done := make(chan deviceResult, devices)
		b.StartTimer()

		w := startCPUWatch()
		start := time.Now()
		for i, r := range rs {
			go r.run(i, messages, batch, done)
		}
		for j, evs := range events {
			switch {
			case rate > 0:
				time.Sleep(time.Until(start.Add(time.Duration(j*batch) * time.Second / time.Duration(rate))))
			case window > 0:
				for slowest(rs) < int64(j*batch-window) {
					time.Sleep(50 * time.Microsecond)
				}
			}
			sent[j] = time.Now()
			p.receive(b, evs...)
		}
		ingested := time.Since(start)
		var failed []deviceResult
		timeout := time.After(2 * time.Minute)
		for range devices {
			var r deviceResult
			select {
			case r = <-done:
			case <-timeout:
				var counts []string
				for _, r := range rs {
					counts = append(counts, strconv.FormatInt(r.got.Load(), 10))
				}
				b.Errorf("not every device got %d messages in 2 minutes: %s", messages, strings.Join(counts, " "))
				for _, r := range rs {
					r.c.Close() // ends the readers still waiting
				}
				r = <-done
			}
			if r.err != nil {
				failed = append(failed, r)
			}
		}
		elapsed := time.Since(start)
		b.StopTimer()

		delivered := 0
		var lags []time.Duration
		for _, r := range rs {
			delivered += int(r.got.Load())
			for j, at := range r.marks {
				if !at.IsZero() {
					lags = append(lags, at.Sub(sent[j]))
				}
			}
		}
		slices.Sort(lags)
		b.ReportMetric(float64(delivered)/elapsed.Seconds(), "deliveries/s")
		b.ReportMetric(float64(messages)/ingested.Seconds(), "ingest-msgs/s")
		b.ReportMetric(float64(len(failed)), "dropped-devices")
		if len(lags) > 0 {
			b.ReportMetric(float64(lags[len(lags)/2].Microseconds())/1000, "lag-p50-ms")
			b.ReportMetric(float64(lags[len(lags)*99/100].Microseconds())/1000, "lag-p99-ms")
		}
		cpu := w.report(b)
		b.ReportMetric(float64(cpu.Nanoseconds())/1000/float64(delivered), "cpu-µs/delivery")
		for _, r := range failed {
			b.Logf("device %d dropped after %d of %d messages: %v; its stream ended with …%s", r.device, r.got, messages, r.err, r.tail)
		}
		if len(failed) > 0 && rate > 0 {
			b.Errorf("%d of %d devices dropped at %d messages/s (the others: %.0f deliveries/s)", len(failed), devices, rate, float64(delivered)/elapsed.Seconds())
		}
		for _, r := range rs {
			r.c.Close()
		}
		waitConnsGone(b)
		b.StartTimer()
	}
}

// slowest is how many messages the slowest device still online has.
func slowest(rs []*fanoutReader) int64 {
	low := int64(-1)
	for _, r := range rs {
		if n := r.got.Load(); !r.dead.Load() && (low < 0 || n < low) {
			low = n
		}
	}
	return low
}

// --- memory per idle session ---

// The child process of BenchmarkIdleSessionMemory holds the clients, so
// the parent's heap is the server's alone.
const (
	idleEnvAddr     = "SWB_XMPP_BENCH_ADDR"
	idleEnvSessions = "SWB_XMPP_BENCH_SESSIONS"
	idleEnvPassword = "SWB_XMPP_BENCH_PASSWORD"
	idleReady       = "xmpp-bench ready"
	// idleEnvHeapProfile names a file for a heap profile taken when
	// the sessions are measured: where their memory goes.
	idleEnvHeapProfile = "SWB_XMPP_BENCH_HEAPPROFILE"
	idleAlive          = "xmpp-bench alive"
)

// idleHold is how long the idle sessions are held before they must answer
// a ping: longer than negotiationTimeout, so a session that stays open
// only as long as its last negotiation step allowed shows.
const idleHold = 75 * time.Second

// BenchmarkIdleSessionMemory: heap and goroutine stacks the server holds
// per authenticated, bound, idle session (after roster and initial
// presence), measured after GC. The clients run in a child process. The
// sessions are then held idle for idleHold, past the 60 s the port gives
// each negotiation step, and every one must still answer a ping
// (alive-sessions).
func BenchmarkIdleSessionMemory(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) { idleSessionMemory(b, n) })
	}
}

func idleSessionMemory(b *testing.B, sessions int) {
	// This process holds the server's end of every connection, plus the
	// store, listeners and the test's own files; the child holds the
	// clients' ends under the limit it inherits.
	if got, want := testpeer.RaiseFileLimit(uint64(sessions)+512), uint64(sessions)+512; got < want {
		b.Skipf("%d sessions need %d open files in each process; RLIMIT_NOFILE allows %d", sessions, want, got)
	}
	for range b.N {
		p := startPort(b)
		waitBridge(b, p)
		child := startBenchChild(b, "TestXMPPBenchIdleClients", 20*time.Minute,
			idleEnvAddr+"="+p.addr, idleEnvSessions+"="+strconv.Itoa(sessions), idleEnvPassword+"="+p.password)
		await := func(prefix string) int {
			n, _ := strconv.Atoi(child.await(prefix)[0])
			return n
		}
		// One session first, which sets up what every session shares
		// (the user's dispatcher, the store's connections, lazily built
		// tables); then the rest.
		await(idleReady)
		time.Sleep(200 * time.Millisecond)
		heap0, stack0 := benchHeap()
		g0 := runtime.NumGoroutine()
		start := time.Now()
		child.say("go")
		if n := await(idleReady); n != sessions {
			b.Fatalf("the client process logged in %d sessions, want %d", n, sessions)
		}
		setup := time.Since(start)
		time.Sleep(time.Second) // the last sessions' goroutines settle
		heap1, stack1 := benchHeap()
		g1 := runtime.NumGoroutine()
		if path := os.Getenv(idleEnvHeapProfile); path != "" {
			writeHeapProfile(b, path)
		}
		// Are they all still there? Each pings once.
		time.Sleep(time.Until(start.Add(setup + idleHold)))
		child.say("ping")
		alive := await(idleAlive)
		child.finish()

		per := func(after, before uint64) float64 {
			return (float64(after) - float64(before)) / float64(sessions) / 1024
		}
		b.ReportMetric(per(heap1+stack1, heap0+stack0), "KiB/session")
		b.ReportMetric(per(heap1, heap0), "heap-KiB/session")
		b.ReportMetric(per(stack1, stack0), "stack-KiB/session")
		b.ReportMetric(float64(g1-g0)/float64(sessions), "goroutines/session")
		b.ReportMetric(setup.Seconds(), "setup-s")
		b.ReportMetric(float64(alive), "alive-sessions")
		if alive != sessions {
			// A failed benchmark prints no metrics: say them here.
			b.Errorf("only %d of %d sessions answered a ping after %v idle (measured before: %.1f KiB/session, %.1f heap, %.1f stack, %.2f goroutines/session)",
				alive, sessions, idleHold, per(heap1+stack1, heap0+stack0), per(heap1, heap0), per(stack1, stack0), float64(g1-g0)/float64(sessions))
		}
	}
}

// TestXMPPBenchIdleClients is the child process of
// BenchmarkIdleSessionMemory, not a test: it logs in one session, says
// so, logs in the rest when told "go", pings every session when told
// "ping", and closes them all at the end of its input.
func TestXMPPBenchIdleClients(t *testing.T) {
	addr := os.Getenv(idleEnvAddr)
	if addr == "" {
		t.Skip("the client process of BenchmarkIdleSessionMemory; it runs only from there")
	}
	sessions, _ := strconv.Atoi(os.Getenv(idleEnvSessions))
	testpeer.RaiseFileLimit(uint64(sessions) + 512)
	sc := benchScram(t, os.Getenv(idleEnvPassword))
	first, err := benchDevice(addr, sc, "idle0") // derives the keys once
	if err != nil {
		t.Fatal(err)
	}
	cs := []*xmppload.Client{first}
	fmt.Println(idleReady, len(cs))
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		switch in.Text() {
		case "go":
			rest := make([]*xmppload.Client, sessions-1)
			if err := xmppload.Parallel(len(rest), 32, func(i int) error {
				c, err := benchDevice(addr, sc, fmt.Sprintf("idle%d", i+1))
				rest[i] = c
				return err
			}); err != nil {
				t.Fatal(err)
			}
			cs = append(cs, rest...)
			fmt.Println(idleReady, len(cs))
		case "ping":
			var alive atomic.Int64
			xmppload.Parallel(len(cs), 32, func(i int) error {
				c := cs[i]
				if c.Ping() == nil {
					alive.Add(1)
				}
				return nil
			})
			fmt.Println(idleAlive, alive.Load())
		}
	}
	for _, c := range cs {
		c.Close()
	}
}

// --- login ---

// BenchmarkLogin: TCP connect, STARTTLS, SCRAM-SHA-256, bind and a roster
// request, to the roster result: one client at a time, 16 at once, and
// logins arriving at a steady 500/s whatever the server's pace (latency
// counted from each login's scheduled start). Sessions stay open until
// the end of each round, as after a restart when every device comes back.
func BenchmarkLogin(b *testing.B) {
	for _, conc := range []int{1, 16} {
		b.Run(fmt.Sprintf("concurrency=%d", conc), func(b *testing.B) { benchLogins(b, conc, 0) })
	}
	b.Run("rate=500", func(b *testing.B) { benchLogins(b, 0, 500) })
}

// benchLogins runs 2000 logins per round, conc at a time, or, with conc
// 0, one starting every 1/rate seconds.
func benchLogins(b *testing.B, conc, rate int) {
	const logins = 2000
	testpeer.RaiseFileLimit(2*logins + 512)
	p := startPort(b)
	waitBridge(b, p)
	sc := benchScram(b, p.password)
	warmScram(b, p, sc)
	b.ResetTimer()
	for iter := range b.N {
		lat := make([]time.Duration, logins)
		cs := make([]*xmppload.Client, logins)
		login := func(i int, from time.Time) error {
			c, err := xmppload.Dial(p.addr, testDomain)
			if err != nil {
				return err
			}
			cs[i] = c
			if err := c.Login(sc, fmt.Sprintf("r%d-%d", iter, i)); err != nil {
				return err
			}
			if err := c.Roster(); err != nil {
				return err
			}
			lat[i] = time.Since(from)
			return nil
		}
		w := startCPUWatch()
		start := time.Now()
		var err error
		if conc > 0 {
			err = xmppload.Parallel(logins, conc, func(i int) error { return login(i, time.Now()) })
		} else {
			errs := make(chan error, logins)
			for i := range logins {
				at := start.Add(time.Duration(i) * time.Second / time.Duration(rate))
				time.Sleep(time.Until(at))
				go func() { errs <- login(i, at) }()
			}
			for range logins {
				if e := <-errs; e != nil && err == nil {
					err = e
				}
			}
		}
		elapsed := time.Since(start)
		b.StopTimer()
		cpu := w.report(b)
		b.ReportMetric(float64(cpu.Microseconds())/1000/logins, "cpu-ms/login")
		for _, c := range cs {
			if c != nil {
				c.Close()
			}
		}
		if err != nil {
			b.Fatalf("a login failed (successful logins must not be limited): %v", err)
		}
		slices.Sort(lat)
		b.ReportMetric(float64(lat[logins/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[logins*99/100].Microseconds())/1000, "p99-ms")
		b.ReportMetric(logins/elapsed.Seconds(), "logins/s")
		waitConnsGone(b)
		b.StartTimer()
	}
}

// cpuWatch measures a run's CPU: this process's, and the machine's busy
// time spent by everything else (other tests on a shared machine), which
// the figures should be read against.
type cpuWatch struct {
	self        time.Duration
	busy, total uint64 // jiffies of /proc/stat
	wall        time.Time
}

func startCPUWatch() cpuWatch {
	busy, total := loopback.MachineCPU()
	return cpuWatch{self: cpuTime(), busy: busy, total: total, wall: time.Now()}
}

// report adds others-cpu-%, the share of the machine's CPUs other
// processes used meanwhile, and returns this process's CPU time.
func (w cpuWatch) report(b *testing.B) time.Duration {
	self := cpuTime() - w.self
	wall := time.Since(w.wall)
	busy, total := loopback.MachineCPU()
	if total > w.total {
		// Jiffies are 1/100 s on Linux (USER_HZ).
		others := time.Duration(busy-w.busy)*10*time.Millisecond - self
		b.ReportMetric(max(0, 100*others.Seconds()/(wall.Seconds()*float64(runtime.NumCPU()))), "others-cpu-%")
	}
	return self
}

// benchChild is a benchmark's client process: this test binary running
// one Test function that holds the clients, so the parent's heap, CPU
// and scheduler are the server's alone. It says what it did in lines
// "WORD values..." on stdout and takes commands on stdin.
type benchChild struct {
	b       *testing.B
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	lines   chan string
	output  []string
	stderr  strings.Builder
	timeout time.Duration
}

func startBenchChild(b *testing.B, test string, timeout time.Duration, env ...string) *benchChild {
	c := &benchChild{b: b, lines: make(chan string), timeout: timeout}
	args := []string{"-test.run=^" + test + "$", "-test.count=1", "-test.timeout=30m"}
	if prof := os.Getenv("SWB_BENCH_CHILD_CPUPROFILE"); prof != "" {
		// The client process's own profile: where the measuring side's
		// share of the machine goes.
		args = append(args, "-test.cpuprofile="+prof)
	}
	c.cmd = exec.Command(os.Args[0], args...)
	c.cmd.Env = append(os.Environ(), env...)
	var err error
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		b.Fatal(err)
	}
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	c.cmd.Stderr = &c.stderr
	if err := c.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
	}()
	return c
}

// await returns the values of the child's next line starting with prefix.
func (c *benchChild) await(prefix string) []string {
	c.b.Helper()
	timeout := time.After(c.timeout)
	for {
		select {
		case l, ok := <-c.lines:
			if !ok {
				c.cmd.Wait()
				c.b.Fatalf("the client process ended before %q:\n%s\n%s", prefix, strings.Join(c.output, "\n"), c.stderr.String())
			}
			c.output = append(c.output, l)
			if v, found := strings.CutPrefix(l, prefix+" "); found {
				return strings.Fields(v)
			}
		case <-timeout:
			c.cmd.Process.Kill()
			c.b.Fatalf("no %q from the client process", prefix)
		}
	}
}

// say sends the child a command line.
func (c *benchChild) say(line string) { fmt.Fprintln(c.stdin, line) }

// finish closes the child's input and waits for it to end well.
func (c *benchChild) finish() {
	c.b.Helper()
	c.stdin.Close()
	if err := c.cmd.Wait(); err != nil {
		c.b.Fatalf("client process: %v\n%s\n%s", err, strings.Join(c.output, "\n"), c.stderr.String())
	}
}
