package core

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// BenchmarkHubFanout measures an inbound message from a bridge through the
// Hub (store, then fan-out) to every session of the user, with the store in
// memory so the Hub's own cost shows. ns/op is per message delivered to all
// sessions.
func BenchmarkHubFanout(b *testing.B) {
	for _, sessions := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("sessions=%d", sessions), func(b *testing.B) {
			store := newMemStore()
			store.users[alice] = User{ID: alice, Name: "alice"}
			store.networks[aliceNet] = Network{ID: aliceNet, User: alice, Name: "libera", Kind: fakeKind, Enabled: true}
			inbound := make(chan Inbound, 1)
			reg := &Registry{}
			reg.Register(BridgeKind{Kind: fakeKind, New: func(env BridgeEnv) (Bridge, error) {
				inbound <- env.Inbound
				return &fakeBridge{env: env, fail: make(chan error, 1)}, nil
			}})
			hub := NewHub(HubConfig{Store: store, Bridges: reg, Log: slog.New(slog.DiscardHandler), SessionQueue: 1 << 16})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { hub.Run(ctx); close(done) }()
			defer func() { cancel(); <-done }()
			in := <-inbound

			var wg sync.WaitGroup
			for i := 0; i < sessions; i++ {
				s, err := hub.Attach(ctx, alice, fmt.Sprint("dev", i))
				if err != nil {
					b.Fatal(err)
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					n := 0
					for {
						e, err := s.Next(context.Background())
						if err != nil {
							break
						}
						if _, ok := e.(MessageEvent); ok {
							if n++; n == b.N {
								return
							}
						}
					}
					b.Errorf("session closed after %d of %d messages: %v", n, b.N, s.Err())
				}()
			}
			now := time.Now()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				m := &Message{Peer: Peer{Kind: Room, Remote: "#go"}, Sender: Address{Addr: "bob"}, Time: now, Kind: KindChat, Body: "hello"}
				if err := in.Receive(ctx, MessageEvent{Message: m}); err != nil {
					b.Fatal(err)
				}
			}
			wg.Wait()
		})
	}
}
