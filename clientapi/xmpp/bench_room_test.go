package xmpp

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/switchboard/switchboard/core"
	"github.com/switchboard/switchboard/internal/testpeer"
	"github.com/switchboard/switchboard/internal/xmppload"
)

// BenchmarkRoomFanout: 1,000 devices of one user joined to one channel
// (MUC); the network hands over one room message per Receive call at a
// steady rate, as a channel's lines come. The devices run in a child
// process, as they would run on other machines: this process's CPU and
// scheduler are the server's alone. lag-p50/p99/max-ms is from a
// message's Receive call to a device reading it off its TLS stream,
// over every (device, message); deliveries/s counts until the last
// device has every message.
//
// The channel talks for a second before the measured lines, at the same
// rate, so that they measure a busy room: the first line of all is a
// conversation new to the user (a roster push to every device) on a port
// that was idle. cold-line-p99-ms is that first line's lag, over the
// devices. SWB_ROOM_BENCH_LINES=FILE writes each line's lag percentiles
// to FILE, to see where a tail comes from.
//
// write=coalesce is the port as configured (DefaultWriteCoalesce);
// write=at-once writes each device's stanzas as soon as the Hub hands
// them over, one system call per device and line while nothing is
// behind.
func BenchmarkRoomFanout(b *testing.B) {
	const devices, messages = 1000, 400
	for _, rate := range []int{100, 150} {
		for _, w := range []struct {
			name     string
			coalesce time.Duration
		}{{"coalesce", 0}, {"at-once", -1}} {
			b.Run(fmt.Sprintf("devices=%d/rate=%d/write=%s", devices, rate, w.name), func(b *testing.B) {
				benchRoomFanout(b, devices, rate, messages, rate, w.coalesce)
			})
		}
	}
}

const (
	roomEnvAddr     = "SWB_XMPP_ROOM_ADDR"
	roomEnvPassword = "SWB_XMPP_ROOM_PASSWORD"
	roomEnvDevices  = "SWB_XMPP_ROOM_DEVICES"
	roomEnvWarmup   = "SWB_XMPP_ROOM_WARMUP"
	roomEnvMessages = "SWB_XMPP_ROOM_MESSAGES"
	roomEnvLines    = "SWB_ROOM_BENCH_LINES"
)

// benchRoomFanout sends warmup lines, then the measured messages, one
// stream at rate lines a second.
func benchRoomFanout(b *testing.B, devices, warmup, messages, rate int, coalesce time.Duration) {
	if got, want := testpeer.RaiseFileLimit(uint64(devices)+512), uint64(devices)+512; got < want {
		b.Skipf("%d devices need %d open files; RLIMIT_NOFILE allows %d", devices, want, got)
	}
	p := startPort(b, func(c *Config) { c.WriteCoalesce = coalesce })
	waitBridge(b, p)
	lines := warmup + messages
	for range b.N {
		child := startBenchChild(b, "TestXMPPBenchRoomClients", 10*time.Minute,
			roomEnvAddr+"="+p.addr, roomEnvPassword+"="+p.password,
			roomEnvDevices+"="+strconv.Itoa(devices), roomEnvWarmup+"="+strconv.Itoa(warmup),
			roomEnvMessages+"="+strconv.Itoa(messages))
		await := child.await
		await("room-bench ready") // devices

		events := make([]core.MessageEvent, lines)
		for j := range events {
			events[j] = p.incoming(core.Peer{Kind: core.Room, Remote: "#go"}, fmt.Sprintf("bob%d", j%10),
				fmt.Sprintf("message %d of a busy evening in the channel, about as long as a line of chat usually is", j))
		}
		sent := make([]int64, lines)
		received := make([]time.Duration, 0, messages) // Receive's own time: store and pushes
		var (
			w      cpuWatch
			writes uint64
		)
		start := time.Now()
		for j, e := range events {
			time.Sleep(time.Until(start.Add(time.Duration(j) * time.Second / time.Duration(rate))))
			if j == warmup {
				w, writes = startCPUWatch(), p.srv.writes.Load()
				child.say("measuring")
			}
			sent[j] = time.Now().UnixNano()
			p.receive(b, e)
			if j >= warmup {
				received = append(received, time.Duration(time.Now().UnixNano()-sent[j]))
			}
		}
		done := await("room-bench done") // when the last device had it all, device CPU (ns)
		writes = p.srv.writes.Load() - writes
		elapsed := time.Duration(atoi64(done[0]) - sent[warmup])
		cpu := w.report(b)
		for j, at := range sent {
			child.say(fmt.Sprintf("sent %d %d", j, at))
		}
		child.say("end")
		lags := await("room-bench lags") // p50 p99 max count, cold p99 (ns, ns, ns, n, ns)
		child.finish()
		if got := atoi64(lags[3]); got != int64(devices*messages) {
			b.Fatalf("the devices read %d measured messages, want %d", got, devices*messages)
		}
		deliveries := float64(devices * messages)
		ms := func(s string) float64 { return float64(atoi64(s)) / 1e6 }
		b.ReportMetric(deliveries/elapsed.Seconds(), "deliveries/s")
		b.ReportMetric(ms(lags[0]), "lag-p50-ms")
		b.ReportMetric(ms(lags[1]), "lag-p99-ms")
		b.ReportMetric(ms(lags[2]), "lag-max-ms")
		b.ReportMetric(ms(lags[4]), "cold-line-p99-ms")
		// How much of the lag is before the devices' pumps: the store's
		// commit and the pushes into 1,000 queues.
		slices.Sort(received)
		b.ReportMetric(float64(received[len(received)*99/100])/1e6, "receive-p99-ms")
		b.ReportMetric(float64(cpu.Nanoseconds())/1000/deliveries, "server-cpu-µs/delivery")
		// Each write is a system call: 1 when every line goes out alone.
		b.ReportMetric(float64(writes)/deliveries, "writes/delivery")
		// The devices' own CPU while the measured lines went out: whether
		// the measuring side, which shares the machine, crowds the server.
		b.ReportMetric(100*time.Duration(atoi64(done[1])).Seconds()/(elapsed.Seconds()*float64(runtime.NumCPU())), "device-cpu-%")
	}
}

func atoi64(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

// TestXMPPBenchRoomClients is the device process of BenchmarkRoomFanout,
// not a test: it logs in the devices, joins each to the room, says ready,
// reads until every device has every line, says when and how much CPU it
// used from "measuring" on, then reads the send times on its input and
// answers the lag percentiles of the measured lines and the first line's.
func TestXMPPBenchRoomClients(t *testing.T) {
	addr := os.Getenv(roomEnvAddr)
	if addr == "" {
		t.Skip("the device process of BenchmarkRoomFanout; it runs only from there")
	}
	devices, _ := strconv.Atoi(os.Getenv(roomEnvDevices))
	warmup, _ := strconv.Atoi(os.Getenv(roomEnvWarmup))
	messages, _ := strconv.Atoi(os.Getenv(roomEnvMessages))
	lines := warmup + messages
	testpeer.RaiseFileLimit(uint64(devices) + 512)
	sc := benchScram(t, os.Getenv(roomEnvPassword))
	rs := make([]*fanoutReader, devices)
	if err := xmppload.Parallel(devices, 16, func(i int) error {
		c, err := benchDevice(addr, sc, fmt.Sprintf("dev%d", i))
		if err != nil {
			return err
		}
		if err := c.JoinRoom(roomJID + "/alice"); err != nil {
			return fmt.Errorf("device %d joining: %w", i, err)
		}
		rs[i] = &fanoutReader{c: c, marks: make([]time.Time, lines)}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	done := make(chan deviceResult, devices)
	for i, r := range rs {
		go r.run(i, lines, 1, done)
	}
	fmt.Println("room-bench ready", devices)
	in := bufio.NewScanner(os.Stdin)
	if !in.Scan() || in.Text() != "measuring" {
		t.Fatalf("want %q from the benchmark, got %q", "measuring", in.Text())
	}
	measuring := cpuTime()
	for range devices {
		r := <-done
		if r.err != nil {
			t.Fatalf("device %d stopped after %d of %d lines: %v (…%s)", r.device, r.got, lines, r.err, r.tail)
		}
	}
	var last int64
	for _, r := range rs {
		for _, at := range r.marks {
			last = max(last, at.UnixNano())
		}
	}
	fmt.Println("room-bench done", last, int64(cpuTime()-measuring))

	sent := make([]int64, lines)
	for in.Scan() && in.Text() != "end" {
		var j int
		var at int64
		if _, err := fmt.Sscanf(in.Text(), "sent %d %d", &j, &at); err == nil && j >= 0 && j < lines {
			sent[j] = at
		}
	}
	// lagsOf is line j's lag on every device that read it, sorted.
	lagsOf := func(j int) []int64 {
		var ls []int64
		for _, r := range rs {
			if at := r.marks[j]; !at.IsZero() {
				ls = append(ls, at.UnixNano()-sent[j])
			}
		}
		slices.Sort(ls)
		return ls
	}
	if path := os.Getenv(roomEnvLines); path != "" {
		writeLineLags(t, path, lines, lagsOf)
	}
	lags := make([]int64, 0, devices*messages)
	for j := warmup; j < lines; j++ {
		lags = append(lags, lagsOf(j)...)
	}
	slices.Sort(lags)
	cold := lagsOf(0)
	fmt.Println("room-bench lags", lags[len(lags)/2], lags[len(lags)*99/100], lags[len(lags)-1], len(lags), cold[len(cold)*99/100])
	for _, r := range rs {
		r.c.Close()
	}
}

// writeLineLags writes each line's lag percentiles over the devices, one
// line each: "line p50-ms p99-ms max-ms".
func writeLineLags(t *testing.T, path string, lines int, lagsOf func(int) []int64) {
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ms := func(ns int64) float64 { return float64(ns) / 1e6 }
	for j := range lines {
		if ls := lagsOf(j); len(ls) > 0 {
			fmt.Fprintf(f, "%d %.1f %.1f %.1f\n", j, ms(ls[len(ls)/2]), ms(ls[len(ls)*99/100]), ms(ls[len(ls)-1]))
		}
	}
}
