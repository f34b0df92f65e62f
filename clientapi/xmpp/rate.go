package xmpp

import (
	"sync/atomic"
	"time"
)

// rateWindow is how often deliveryRate decides anew.
const rateWindow = 100 * time.Millisecond

// deliveryRate counts the stanzas the Hub hands the port's devices and
// says whether the port is busy enough that holding writes back pays
// (session.awaitTurn): at or above `above` a second over the last window,
// and until the rate falls below three quarters of that, so a rate near
// the line does not flip it every window. Every pump adds to it; the
// first to see a window end closes it.
type deliveryRate struct {
	above  int64 // stanzas a second; 0 is busy at any rate
	count  atomic.Int64
	start  atomic.Int64 // when the window began, in Unix nanoseconds
	isBusy atomic.Bool
}

// add counts n stanzas taken at now, and decides anew once a window
// has passed.
func (r *deliveryRate) add(n int, now time.Time) {
	if r.above == 0 {
		return
	}
	r.count.Add(int64(n))
	began, at := r.start.Load(), now.UnixNano()
	if elapsed := at - began; elapsed >= int64(rateWindow) && r.start.CompareAndSwap(began, at) {
		perSecond := r.count.Swap(0) * int64(time.Second) / elapsed
		switch {
		case perSecond >= r.above:
			r.isBusy.Store(true)
		case perSecond < r.above*3/4:
			r.isBusy.Store(false)
		}
	}
}

// holding reports whether the port was busy when a window last ended.
func (r *deliveryRate) holding() bool { return r.above == 0 || r.isBusy.Load() }
