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
				benchRoomFanout(b, devices, messages, rate, w.coalesce)
			})
		}
	}
}

const (
	roomEnvAddr     = "SWB_XMPP_ROOM_ADDR"
	roomEnvPassword = "SWB_XMPP_ROOM_PASSWORD"
	roomEnvDevices  = "SWB_XMPP_ROOM_DEVICES"
	roomEnvMessages = "SWB_XMPP_ROOM_MESSAGES"
)

func benchRoomFanout(b *testing.B, devices, messages, rate int, coalesce time.Duration) {
	if got, want := testpeer.RaiseFileLimit(uint64(devices)+512), uint64(devices)+512; got < want {
		b.Skipf("%d devices need %d open files; RLIMIT_NOFILE allows %d", devices, want, got)
	}
	p := startPort(b, func(c *Config) { c.WriteCoalesce = coalesce })
	waitBridge(b, p)
	for range b.N {
		child := startBenchChild(b, "TestXMPPBenchRoomClients", 10*time.Minute,
			roomEnvAddr+"="+p.addr, roomEnvPassword+"="+p.password,
			roomEnvDevices+"="+strconv.Itoa(devices), roomEnvMessages+"="+strconv.Itoa(messages))
		await := child.await
		ready := await("room-bench ready") // devices, CPU time (ns)

		events := make([]core.MessageEvent, messages)
		for j := range events {
			events[j] = p.incoming(core.Peer{Kind: core.Room, Remote: "#go"}, fmt.Sprintf("bob%d", j%10),
				fmt.Sprintf("message %d of a busy evening in the channel, about as long as a line of chat usually is", j))
		}
		sent := make([]int64, messages)
		received := make([]time.Duration, messages) // Receive's own time: store and pushes
		w := startCPUWatch()
		writes := p.srv.writes.Load()
		start := time.Now()
		for j, e := range events {
			time.Sleep(time.Until(start.Add(time.Duration(j) * time.Second / time.Duration(rate))))
			sent[j] = time.Now().UnixNano()
			p.receive(b, e)
			received[j] = time.Duration(time.Now().UnixNano() - sent[j])
		}
		done := await("room-bench done")
		writes = p.srv.writes.Load() - writes
		elapsed := time.Duration(atoi64(done[0]) - start.UnixNano())
		cpu := w.report(b)
		for j, at := range sent {
			child.say(fmt.Sprintf("sent %d %d", j, at))
		}
		child.say("end")
		lags := await("room-bench lags") // p50 p99 max count (ns, ns, ns, n)
		child.finish()
		if got := atoi64(lags[3]); got != int64(devices*messages) {
			b.Fatalf("the devices read %d messages, want %d", got, devices*messages)
		}
		ms := func(s string) float64 { return float64(atoi64(s)) / 1e6 }
		b.ReportMetric(float64(devices*messages)/elapsed.Seconds(), "deliveries/s")
		b.ReportMetric(ms(lags[0]), "lag-p50-ms")
		b.ReportMetric(ms(lags[1]), "lag-p99-ms")
		b.ReportMetric(ms(lags[2]), "lag-max-ms")
		// How much of the lag is before the devices' pumps: the store's
		// commit and the pushes into 1,000 queues.
		slices.Sort(received)
		b.ReportMetric(float64(received[len(received)*99/100])/1e6, "receive-p99-ms")
		b.ReportMetric(float64(cpu.Nanoseconds())/1000/float64(devices*messages), "server-cpu-µs/delivery")
		// Each write is a system call: 1 when every line goes out alone.
		b.ReportMetric(float64(writes)/float64(devices*messages), "writes/delivery")
		// The devices' own CPU while the messages went out: whether the
		// measuring side, which shares the machine, crowds the server.
		deviceCPU := time.Duration(atoi64(done[1]) - atoi64(ready[1]))
		b.ReportMetric(100*deviceCPU.Seconds()/(elapsed.Seconds()*float64(runtime.NumCPU())), "device-cpu-%")
	}
}

func atoi64(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

// TestXMPPBenchRoomClients is the device process of BenchmarkRoomFanout,
// not a test: it logs in the devices, joins each to the room, says ready,
// reads until every device has every message, says when, then reads the
// send times on its input and answers the lag percentiles.
func TestXMPPBenchRoomClients(t *testing.T) {
	addr := os.Getenv(roomEnvAddr)
	if addr == "" {
		t.Skip("the device process of BenchmarkRoomFanout; it runs only from there")
	}
	devices, _ := strconv.Atoi(os.Getenv(roomEnvDevices))
	messages, _ := strconv.Atoi(os.Getenv(roomEnvMessages))
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
		rs[i] = &fanoutReader{c: c, marks: make([]time.Time, messages)}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	done := make(chan deviceResult, devices)
	for i, r := range rs {
		go r.run(i, messages, 1, done)
	}
	fmt.Println("room-bench ready", devices, int64(cpuTime()))
	for range devices {
		r := <-done
		if r.err != nil {
			t.Fatalf("device %d stopped after %d of %d messages: %v (…%s)", r.device, r.got, messages, r.err, r.tail)
		}
	}
	var last int64
	for _, r := range rs {
		for _, at := range r.marks {
			last = max(last, at.UnixNano())
		}
	}
	fmt.Println("room-bench done", last, int64(cpuTime()))

	sent := make([]int64, messages)
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() && in.Text() != "end" {
		var j int
		var at int64
		if _, err := fmt.Sscanf(in.Text(), "sent %d %d", &j, &at); err == nil && j >= 0 && j < messages {
			sent[j] = at
		}
	}
	lags := make([]int64, 0, devices*messages)
	for _, r := range rs {
		for j, at := range r.marks {
			if !at.IsZero() {
				lags = append(lags, at.UnixNano()-sent[j])
			}
		}
	}
	slices.Sort(lags)
	fmt.Println("room-bench lags", lags[len(lags)/2], lags[len(lags)*99/100], lags[len(lags)-1], len(lags))
	for _, r := range rs {
		r.c.Close()
	}
}
