package xmppload

import (
	"sync"
	"sync/atomic"
)

// Parallel runs f(0..n-1) on workers goroutines and returns the first
// error; after one, no new calls start. Load tools log their devices in
// this way, a few at a time.
func Parallel(n, workers int, f func(i int) error) error {
	var (
		next  atomic.Int64
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					once.Do(func() { first = err })
					next.Store(int64(n))
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}
