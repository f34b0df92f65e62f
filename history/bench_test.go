package history

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard/switchboard/core"
	"github.com/switchboard/switchboard/history/synth"
)

// BenchmarkAppendConcurrent is live ingest: many callers, one message
// each, every call durable on return (group commit at work).
func BenchmarkAppendConcurrent(b *testing.B) {
	for _, writers := range []int{64, 256, 1024} {
		b.Run(fmt.Sprint("writers=", writers), func(b *testing.B) { benchAppendConcurrent(b, writers) })
	}
}

func benchAppendConcurrent(b *testing.B, writers int) {
	s := openTest(b)
	f := newFixture(b, s, "alice")
	g := synth.New(1)
	msgs := make([]*core.Message, b.N)
	for i := range msgs {
		msgs[i] = f.msg(fmt.Sprint("#c", i%300), g.Sentence())
	}
	work := make(chan *core.Message, len(msgs))
	for _, m := range msgs {
		work <- m
	}
	close(work)
	cpu0 := processCPU()
	b.ResetTimer()
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for m := range work {
				if err := s.Append(context.Background(), []core.Write{{Message: m}}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	// CPU per message does not depend on what else runs on the machine.
	b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/msg")
	st := s.AppendStats()
	b.ReportMetric(float64(st.Messages)/float64(st.Commits), "msgs/commit")
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkAppendBatch is bulk loading: 1000 messages a call.
func BenchmarkAppendBatch(b *testing.B) {
	s := openTest(b)
	f := newFixture(b, s, "alice")
	g := synth.New(1)
	ws := make([]core.Write, 0, 1000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ws = append(ws, core.Write{Message: f.msg(fmt.Sprint("#c", i%300), g.Sentence())})
		if len(ws) == cap(ws) || i == b.N-1 {
			if err := s.Append(context.Background(), ws); err != nil {
				b.Fatal(err)
			}
			ws = ws[:0]
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// benchHistory loads n generated messages over 150 conversations of one
// user into a fresh store.
func benchHistory(b *testing.B, n int) (*Store, fixture) {
	b.Helper()
	s := openTest(b)
	f := newFixture(b, s, "alice")
	plan := synth.Plan{Seed: 1, Users: 1, NetworksPerUser: 1, ConversationsPerNetwork: 150, Messages: n}
	var ws []core.Write
	err := plan.Each(func(m synth.Message) error {
		msg := f.msg(fmt.Sprint("#c", m.Conversation), m.Body)
		msg.Sender = core.Address{Addr: m.Sender, Name: m.Sender}
		ws = append(ws, core.Write{Message: msg})
		if len(ws) == 2000 {
			err := s.Append(context.Background(), ws)
			ws = ws[:0]
			return err
		}
		return nil
	})
	if err == nil && len(ws) > 0 {
		err = s.Append(context.Background(), ws)
	}
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.MergeIndex(context.Background(), 10000); err != nil {
		b.Fatal(err)
	}
	return s, f
}

// BenchmarkSearch runs each query type over a 100,000-message history;
// swbench store measures the same at 1M and 10M.
func BenchmarkSearch(b *testing.B) {
	s, f := benchHistory(b, 100_000)
	convs, err := s.Conversations(context.Background(), f.user.ID)
	if err != nil {
		b.Fatal(err)
	}
	for _, q := range []struct{ name, text string }{
		{"common", synth.WordAt(1)},
		{"rare", synth.WordAt(3000)},
		{"two-words", synth.WordAt(5) + " " + synth.WordAt(300)},
		{"phrase", `"` + synth.WordAt(0) + " " + synth.WordAt(2) + `"`},
		{"prefix", synth.WordAt(60)[:3] + "*"},
	} {
		for _, scope := range []string{"all", "conversation"} {
			b.Run(q.name+"/"+scope, func(b *testing.B) {
				sq := core.SearchQuery{User: f.user.ID, Text: q.text}
				for i := 0; i < b.N; i++ {
					if scope == "conversation" {
						sq.Conversation = convs[i%len(convs)].ID
					}
					if _, err := s.Search(context.Background(), sq); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkMessagesPage reads 50-message pages of random conversations.
func BenchmarkMessagesPage(b *testing.B) {
	s, f := benchHistory(b, 100_000)
	convs, err := s.Conversations(context.Background(), f.user.ID)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Messages(context.Background(), core.PageQuery{User: f.user.ID, Conversation: convs[i%len(convs)].ID, Limit: 50}); err != nil {
			b.Fatal(err)
		}
	}
}
