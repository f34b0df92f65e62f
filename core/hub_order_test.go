package core

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"
)

func TestPerUserOrder(t *testing.T) {
	const total = 1000
	h := startHub(t)
	b := h.bridge(aliceNet)
	s1, s2 := h.attach(alice, "phone"), h.attach(alice, "laptop")

	errc := make(chan error, 1)
	go func() {
		// Single events and batches, as a bridge reading a socket would.
		for i := 0; i < total; {
			n := min(1+i%7, total-i)
			evs := make([]Event, n)
			for j := range evs {
				evs[j] = MessageEvent{Message: chat(strconv.Itoa(i + j))}
			}
			if err := b.env.Inbound.Receive(context.Background(), evs...); err != nil {
				errc <- err
				return
			}
			i += n
		}
		errc <- nil
	}()

	for _, s := range []*Session{s1, s2} {
		var last MessageID
		for i := range total {
			m := next[MessageEvent](t, s).Message
			if m.Body != strconv.Itoa(i) {
				t.Fatalf("session %d: message %d has body %q", s.ID, i, m.Body)
			}
			if m.ID <= last {
				t.Fatalf("session %d: message %d has id %v after %v", s.ID, i, m.ID, last)
			}
			last = m.ID
		}
	}
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("Receive: %v", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("bridge did not finish")
	}
}

func TestSlowSessionDropped(t *testing.T) {
	const queue, total = 4, 40
	h := startHub(t, func(c *HubConfig) { c.SessionQueue = queue })
	b := h.bridge(aliceNet)
	slow := h.attach(alice, "never-reads")
	fast := h.attach(alice, "reads")

	for i := range total {
		c, cancel := context.WithTimeout(context.Background(), time.Second)
		start := time.Now()
		err := b.env.Inbound.Receive(c, MessageEvent{Message: chat(fmt.Sprint(i))})
		cancel()
		if err != nil {
			t.Fatalf("Receive %d blocked or failed after %v: %v", i, time.Since(start), err)
		}
		if got := next[MessageEvent](t, fast).Message.Body; got != fmt.Sprint(i) {
			t.Fatalf("reading session got %q, want %d", got, i)
		}
	}
	if left := waitClosed(t, slow); left != queue {
		t.Errorf("slow session held %d events, want its queue of %d", left, queue)
	}
	if !errors.Is(slow.Err(), ErrSlowSession) {
		t.Errorf("slow session Err() = %v, want ErrSlowSession", slow.Err())
	}
	if fast.Err() != nil {
		t.Errorf("reading session closed: %v", fast.Err())
	}
	slow.Detach() // after the Hub dropped it: harmless
	b.receive(t, MessageEvent{Message: chat("still here")})
	if got := next[MessageEvent](t, fast).Message.Body; got != "still here" {
		t.Errorf("got %q", got)
	}
}
