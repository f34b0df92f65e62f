package history

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/switchboard/switchboard/core"
	"github.com/switchboard/switchboard/history/synth"
)

// BenchmarkAppendConcurrent is live ingest: many callers, one message
// each, every call durable on return (group commit at work).
func BenchmarkAppendConcurrent(b *testing.B) {
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
	b.ResetTimer()
	var wg sync.WaitGroup
	for w := 0; w < 64; w++ {
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
	st := s.AppendStats()
	b.ReportMetric(float64(st.Messages)/float64(st.Commits), "msgs/commit")
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
