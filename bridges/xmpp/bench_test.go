package xmpp

// The bridge's figures, against a real Prosody on loopback (make
// bench-xmppbridge): the memory one connected account costs in steady
// state, and how long the archive catch-up of 10,000 messages takes when
// the daemon comes back.

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/ping"
	"mellium.im/xmpp/stanza"

	"github.com/switchboard/switchboard/core"
	"github.com/switchboard/switchboard/history"
	"github.com/switchboard/switchboard/internal/testpeer"
)

// benchAccounts is how many upstream accounts the memory figure holds.
const benchAccounts = 200

func heapAndStacks() (uint64, int) {
	for range 3 {
		runtime.GC()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse + ms.StackInuse, runtime.NumGoroutine()
}

// BenchmarkAccountMemory connects benchAccounts XMPP accounts of one user
// to one Prosody through the Hub, as the daemon runs them, and reports
// the heap and goroutine stacks each costs once all are connected and
// idle: everything the Hub, runners and bridges hold, divided by the
// accounts.
func BenchmarkAccountMemory(b *testing.B) {
	users := make(map[string]string, benchAccounts)
	for i := range benchAccounts {
		users["u"+strconv.Itoa(i)] = "pw"
	}
	p := testpeer.StartProsodyQuiet(b, users)
	ctx := context.Background()
	st, err := history.Open(ctx, filepath.Join(b.TempDir(), "sb.db"), history.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	u, err := st.CreateUser(ctx, "alice", "correct horse", false)
	if err != nil {
		b.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(p.Port))
	for i := range benchAccounts {
		_, err := st.CreateNetwork(ctx, core.Network{User: u.ID, Name: "x" + strconv.Itoa(i), Kind: core.KindXMPP, Enabled: true,
			Settings: core.Settings{keyJID: "u" + strconv.Itoa(i) + "@" + p.Domain, keyPassword: "pw", keyAddr: addr, keyFingerprint: pin(b, p)}})
		if err != nil {
			b.Fatal(err)
		}
	}
	reg := &core.Registry{}
	reg.Register(Kind())
	b.ResetTimer()
	for range b.N {
		before, goroutinesBefore := heapAndStacks()
		hub := core.NewHub(core.HubConfig{Store: st, History: st, Bridges: reg})
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); hub.Run(runCtx) }()
		start := time.Now()
		for {
			connected := 0
			for _, s := range hub.NetworkStates(u.ID) {
				if s.State == core.StateConnected {
					connected++
				}
			}
			if connected == benchAccounts {
				break
			}
			if time.Since(start) > 5*time.Minute {
				b.Fatalf("%d of %d accounts connected", connected, benchAccounts)
			}
			time.Sleep(50 * time.Millisecond)
		}
		connectTime := time.Since(start)
		time.Sleep(3 * time.Second) // the gap fills and first acks settle
		after, goroutinesAfter := heapAndStacks()
		perAccount := float64(after-before) / benchAccounts
		b.ReportMetric(perAccount, "B/account")
		b.ReportMetric(float64(goroutinesAfter-goroutinesBefore)/benchAccounts, "goroutines/account")
		b.ReportMetric(connectTime.Seconds(), "s-to-connect-all")
		fmt.Printf("%d accounts: %.0f B heap+stacks per account (limit 262144), %.1f goroutines each, all connected in %v\n",
			benchAccounts, perAccount, float64(goroutinesAfter-goroutinesBefore)/benchAccounts, connectTime.Round(time.Millisecond))
		if perAccount > 256<<10 {
			b.Errorf("%.0f B per account, over the 256 KiB goal", perAccount)
		}
		cancel()
		<-done
	}
}

// BenchmarkCatchUp10k: the daemon stops with one message of bob stored;
// bob writes 10,000 more, which the server archives; the daemon starts
// again on the same store, and the figure is the time from its start to
// the last of the 10,000 stored and handed to a device.
func BenchmarkCatchUp10k(b *testing.B) {
	// Prosody's default page of 50 results, and a server that allows 250
	// (the bridge asks for 250): the round trips are most of the time.
	for _, page := range []int{50, 250} {
		b.Run("page"+strconv.Itoa(page), func(b *testing.B) {
			old := testpeer.ArchivePageLimit
			testpeer.ArchivePageLimit = page
			defer func() { testpeer.ArchivePageLimit = old }()
			benchmarkCatchUp(b)
		})
	}
}

func benchmarkCatchUp(b *testing.B) {
	n := 10000
	if v, err := strconv.Atoi(os.Getenv("SB_CATCHUP_N")); err == nil && v > 0 {
		n = v // a smaller run while working on it
	}
	p := testpeer.StartProsodyQuiet(b, map[string]string{"alice": "pw", "bob": "pw"})
	alice := "alice@" + p.Domain
	ctx := context.Background()
	for i := range b.N {
		b.StopTimer()
		st, err := history.Open(ctx, filepath.Join(b.TempDir(), "sb.db"), history.Options{})
		if err != nil {
			b.Fatal(err)
		}
		u, err := st.CreateUser(ctx, "alice", "correct horse", false)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := st.CreateNetwork(ctx, core.Network{User: u.ID, Name: "work", Kind: core.KindXMPP, Enabled: true,
			Settings: core.Settings{keyJID: alice, keyPassword: "pw", keyAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(p.Port)), keyFingerprint: pin(b, p)}}); err != nil {
			b.Fatal(err)
		}
		reg := &core.Registry{}
		reg.Register(Kind())
		got := 0
		progress := func() int { return got }
		run := func(until func(core.Event) bool) time.Duration {
			hub := core.NewHub(core.HubConfig{Store: st, History: st, Bridges: reg, SessionQueue: 1 << 16})
			dev, err := hub.Attach(ctx, u.ID, "bench")
			if err != nil {
				b.Fatal(err)
			}
			runCtx, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			start := time.Now()
			go func() { defer close(done); hub.Run(runCtx) }()
			defer func() { cancel(); <-done }()
			wctx, wcancel := context.WithTimeout(ctx, 40*time.Second)
			defer wcancel()
			for {
				e, err := dev.Next(wctx)
				if err != nil {
					b.Fatalf("waiting (%d so far): %v", progress(), err)
				}
				if until(e) {
					return time.Since(start)
				}
			}
		}
		bob := dialClient(b, p, "bob", "pw", "bench"+strconv.Itoa(i))
		bob.message(alice, "first-"+strconv.Itoa(i), "before the stop")
		run(func(e core.Event) bool {
			me, ok := e.(core.MessageEvent)
			return ok && me.Message.Body == "before the stop"
		})
		// The daemon is stopped (its stream closed cleanly: nothing to
		// resume); bob writes.
		// One context for the burst: mellium's per-write deadline races a
		// context cancelled right after each write (see boundedConn).
		to := jid.MustParse(alice)
		sendStart := time.Now()
		for j := range n {
			err := bob.xs.Send(ctx, stanza.Message{ID: fmt.Sprintf("m%d-%d", i, j), To: to, Type: stanza.ChatMessage}.Wrap(textElement("body", fmt.Sprintf("archived %d", j))))
			if err != nil {
				b.Fatal(err)
			}
		}
		fmt.Printf("%d messages sent in %v\n", n, time.Since(sendStart).Round(time.Millisecond))
		pctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		if err := ping.Send(pctx, bob.xs, bob.xs.LocalAddr().Domain()); err != nil { // the server has taken them all
			b.Fatal(err)
		}
		cancel()
		fmt.Printf("and taken by the server after %v\n", time.Since(sendStart).Round(time.Millisecond))
		b.StartTimer()
		took := run(func(e core.Event) bool {
			if me, ok := e.(core.MessageEvent); ok && len(me.Message.Body) > 9 && me.Message.Body[:9] == "archived " {
				got++
			}
			return got == n
		})
		b.StopTimer()
		b.ReportMetric(took.Seconds(), "s-catch-up")
		fmt.Printf("catch-up of %d archived messages after a restart, server pages of %d: %v (goal 5s)\n", n, testpeer.ArchivePageLimit, took.Round(time.Millisecond))
		if took > 5*time.Second {
			b.Errorf("catch-up took %v, over the 5 s goal", took)
		}
		st.Close()
	}
}
