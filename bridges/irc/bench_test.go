package irc

// The figures, from `make bench-irc`:
//   - ingest from one busy network into store and fan-out (lines/s),
//   - PRIVMSG arriving at the bridge to delivery on a device (p99),
//   - memory per connected network.

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/core"
)

// blast writes n channel lines to every registered client at once,
// the text of each carrying its send time in nanoseconds.
func (s *scriptedServer) blast(target string, n int, pace time.Duration) {
	s.mu.Lock()
	var to []*scriptedClient
	for c := range s.clients {
		if c.welcomed.Load() {
			to = append(to, c)
		}
	}
	s.mu.Unlock()
	for i := range n {
		s.mu.Lock()
		s.seq++
		id := "b" + strconv.Itoa(s.seq)
		s.mu.Unlock()
		now := time.Now()
		line := fmt.Sprintf("@time=%s;msgid=%s :bob!u@h PRIVMSG %s :t=%d line %d of a busy channel",
			now.UTC().Format("2006-01-02T15:04:05.000Z"), id, target, now.UnixNano(), i)
		for _, c := range to {
			c.send(line)
			if pace > 0 || i%64 == 63 {
				c.flush()
			}
		}
		if pace > 0 {
			time.Sleep(pace)
		}
	}
	for _, c := range to {
		c.flush()
	}
}

func sentAt(body string) (time.Time, bool) {
	v, ok := strings.CutPrefix(body, "t=")
	if !ok {
		return time.Time{}, false
	}
	v, _, _ = strings.Cut(v, " ")
	ns, err := strconv.ParseInt(v, 10, 64)
	return time.Unix(0, ns), err == nil
}

func connectedStack(b *testing.B, channel string) (*scriptedServer, *stack) {
	srv := startScripted(b)
	st := newStack(b, ircSettings(srv.Addr(), "alice", "join", channel))
	st.waitConnected(wait)
	<-srv.joins
	return srv, st
}

// BenchmarkIngest: lines/s from one network into the store and out to a
// device, with the server writing as fast as the bridge reads.
func BenchmarkIngest(b *testing.B) {
	const lines = 50000
	srv, st := connectedStack(b, "#busy")
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		go srv.blast("#busy", lines, 0)
		for got := 0; got < lines; {
			e, _ := st.dev.Next(context.Background())
			if me, ok := e.(core.MessageEvent); ok && me.Message.Kind == core.KindChat {
				got++
			}
		}
		b.ReportMetric(float64(lines)/time.Since(start).Seconds(), "lines/s")
	}
}

// BenchmarkDeliveryLatency: time from the server writing a PRIVMSG to the
// device receiving it, at a steady 500 lines/s.
func BenchmarkDeliveryLatency(b *testing.B) {
	const lines = 2000
	srv, st := connectedStack(b, "#steady")
	b.ResetTimer()
	for range b.N {
		go srv.blast("#steady", lines, 2*time.Millisecond)
		lat := make([]time.Duration, 0, lines)
		for len(lat) < lines {
			e, _ := st.dev.Next(context.Background())
			if me, ok := e.(core.MessageEvent); ok {
				if at, ok := sentAt(me.Message.Body); ok {
					lat = append(lat, time.Since(at))
				}
			}
		}
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	}
}

// BenchmarkMemoryPerNetwork: heap and goroutine stacks per connected
// network, each in two channels of its own on ngircd (a separate process,
// so none of the server's memory is counted), measured after GC once all
// are in and the device has read every event. Member lists come on top:
// about 100 bytes per member of a joined channel.
func BenchmarkMemoryPerNetwork(b *testing.B) {
	b.Run("plain", func(b *testing.B) { memoryPerNetwork(b, false) })
	b.Run("tls", func(b *testing.B) { memoryPerNetwork(b, true) })
}

func memoryPerNetwork(b *testing.B, useTLS bool) {
	const networks = 200
	for range b.N {
		srv := startNgircd(b, serverOpts{TLS: useTLS})
		settings := func(nick string) core.Settings {
			join := "#a-" + nick + ",#b-" + nick
			if useTLS {
				return core.Settings{"addr": "ircs://" + srv.TLSAddr, "tls-fingerprint": srv.Fingerprint, "nick": nick, "join": join}
			}
			return ircSettings(srv.Addr, nick, "join", join)
		}
		st := newStack(b, settings("alice"))
		joined := make(chan struct{}, 2*networks+2)
		go func() { // the device reads everything, as a live client does
			for {
				e, err := st.dev.Next(context.Background())
				if err != nil {
					return
				}
				if _, ok := e.(core.RoomMembersEvent); ok {
					joined <- struct{}{}
				}
			}
		}()
		waitJoins := func(n int) {
			for i := range n {
				select {
				case <-joined:
				case <-time.After(60 * time.Second):
					b.Fatalf("only %d of %d channels joined", i, n)
				}
			}
		}
		waitJoins(2)
		time.Sleep(200 * time.Millisecond)
		before, goroutines := liveBytes(), runtime.NumGoroutine()
		for i := range networks {
			_, err := st.st.CreateNetwork(b.Context(), core.Network{User: st.user.ID, Name: fmt.Sprintf("n%d", i), Kind: core.KindIRC,
				Settings: settings(fmt.Sprintf("u%d", i)), Enabled: true})
			if err != nil {
				b.Fatal(err)
			}
		}
		if err := st.hub.SyncNetworks(b.Context()); err != nil {
			b.Fatal(err)
		}
		waitJoins(2 * networks)
		time.Sleep(500 * time.Millisecond) // the last events settle
		after := liveBytes()
		b.ReportMetric(float64(after-before)/networks/1024, "KiB/network")
		b.ReportMetric(float64(runtime.NumGoroutine()-goroutines)/networks, "goroutines/network")
		st.stop()
	}
}

// liveBytes is the heap in use plus goroutine stacks, after a full GC.
func liveBytes() int64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc + ms.StackInuse)
}
