package loginlimit

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newTestLimiter(maxFailures int, lockout time.Duration) (*Limiter, *fakeClock) {
	c := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	return New(maxFailures, lockout, c.now), c
}

func wantAllow(t *testing.T, l *Limiter, addr netip.Addr, account string, ok bool, retry time.Duration) {
	t.Helper()
	gotOK, gotRetry := l.Allow(addr, account)
	if gotOK != ok || gotRetry != retry {
		t.Fatalf("Allow(%v, %q) = %v, %v; want %v, %v", addr, account, gotOK, gotRetry, ok, retry)
	}
}

// addrN is a distinct IPv4 address for each n.
func addrN(n int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(n >> 16), byte(n >> 8), byte(n)})
}

func TestLoginLimiterAccountLockout(t *testing.T) {
	l, clock := newTestLimiter(5, 5*time.Minute)
	// Failures from different addresses add up for the account.
	for i := range 4 {
		wantAllow(t, l, addrN(i), "alice", true, 0)
		l.Failure(addrN(i), "alice")
		clock.advance(time.Second)
	}
	wantAllow(t, l, addrN(9), "alice", true, 0)
	l.Failure(addrN(9), "alice")
	wantAllow(t, l, addrN(10), "alice", false, 5*time.Minute)
	wantAllow(t, l, addrN(10), "bob", true, 0)
	wantAllow(t, l, addrN(10), "", true, 0)
	// A failure while locked does not extend the lock.
	clock.advance(time.Minute)
	l.Failure(addrN(11), "alice")
	wantAllow(t, l, addrN(10), "alice", false, 4*time.Minute)
	clock.advance(4 * time.Minute)
	wantAllow(t, l, addrN(10), "alice", true, 0)
	// After the lock, a fresh streak of five is needed.
	for i := range 4 {
		l.Failure(addrN(20+i), "alice")
	}
	wantAllow(t, l, addrN(10), "alice", true, 0)
	l.Failure(addrN(30), "alice")
	wantAllow(t, l, addrN(10), "alice", false, 5*time.Minute)
}

func TestLoginLimiterSuccessResets(t *testing.T) {
	l, clock := newTestLimiter(3, time.Minute)
	a := addrN(1)
	l.Failure(a, "alice")
	l.Failure(a, "alice")
	l.Success(a, "alice")
	l.Failure(a, "alice")
	l.Failure(a, "alice")
	wantAllow(t, l, a, "alice", true, 0)
	// An old streak is forgotten after a quiet lockout period.
	clock.advance(time.Minute)
	l.Failure(a, "alice")
	wantAllow(t, l, a, "alice", true, 0)
}

func TestLoginLimiterAccountDisabled(t *testing.T) {
	for _, tt := range []struct {
		max     int
		lockout time.Duration
	}{{0, time.Minute}, {5, 0}} {
		l, clock := newTestLimiter(tt.max, tt.lockout)
		for i := range 100 {
			l.Failure(addrN(i), "alice")
			clock.advance(time.Second)
		}
		wantAllow(t, l, addrN(1000), "alice", true, 0)
		if len(l.accounts) != 0 {
			t.Errorf("%+v: tracks %d accounts", tt, len(l.accounts))
		}
	}
}

func TestLoginLimiterAddress(t *testing.T) {
	l, clock := newTestLimiter(0, 0)
	a := netip.MustParseAddr("192.0.2.1")
	for i := range addrBurst {
		wantAllow(t, l, a, "", true, 0)
		l.Failure(a, fmt.Sprint("user", i))
		l.Success(a, "mine") // a success buys nothing
	}
	wantAllow(t, l, a, "", false, addrRefill)
	wantAllow(t, l, a, "anyone", false, addrRefill)
	wantAllow(t, l, netip.MustParseAddr("::ffff:192.0.2.1"), "", false, addrRefill)
	wantAllow(t, l, netip.MustParseAddr("192.0.2.2"), "", true, 0)

	clock.advance(4 * time.Second)
	wantAllow(t, l, a, "", false, 6*time.Second)
	clock.advance(6 * time.Second)
	wantAllow(t, l, a, "", true, 0)
	l.Failure(a, "")
	wantAllow(t, l, a, "", false, addrRefill)

	// Failures past the limit do not pile up debt beyond a full bucket.
	for range 50 {
		l.Failure(a, "")
	}
	clock.advance(addrRefill)
	wantAllow(t, l, a, "", true, 0)

	// After burst*refill of quiet the address is forgotten.
	clock.advance(addrBurst * addrRefill)
	l.Allow(a, "")
	clock.advance(sweepInterval)
	l.Allow(a, "")
	if len(l.addrs) != 0 {
		t.Errorf("%d addresses still tracked", len(l.addrs))
	}
}

func TestLoginLimiterIPv6Prefix(t *testing.T) {
	l, _ := newTestLimiter(0, 0)
	for i := range addrBurst {
		l.Failure(netip.MustParseAddr(fmt.Sprintf("2001:db8:1:2::%x", i+1)), "")
	}
	wantAllow(t, l, netip.MustParseAddr("2001:db8:1:2:ffff::1"), "", false, addrRefill)
	wantAllow(t, l, netip.MustParseAddr("2001:db8:1:2::1%eth0"), "", false, addrRefill)
	wantAllow(t, l, netip.MustParseAddr("2001:db8:1:3::1"), "", true, 0)
}

func TestLoginLimiterBounded(t *testing.T) {
	l, clock := newTestLimiter(3, time.Hour)
	victim := netip.MustParseAddr("198.51.100.7")
	for range 3 {
		l.Failure(victim, "alice")
	}
	wantAllow(t, l, victim, "alice", false, time.Hour)

	// A flood of names from many addresses cannot grow the maps past
	// their cap, nor evict a locked account.
	for i := range maxLimiterEntries + 5000 {
		l.Failure(addrN(i), fmt.Sprint("junk", i))
	}
	if len(l.accounts) > maxLimiterEntries || len(l.addrs) > maxLimiterEntries {
		t.Fatalf("tracking %d accounts and %d addresses, cap %d", len(l.accounts), len(l.addrs), maxLimiterEntries)
	}
	wantAllow(t, l, addrN(1<<20), "alice", false, time.Hour)

	// Once nothing limits anything, the sweep empties both maps.
	clock.advance(2 * time.Hour)
	l.Allow(victim, "")
	if len(l.accounts) != 0 || len(l.addrs) != 0 {
		t.Errorf("after expiry: %d accounts, %d addresses", len(l.accounts), len(l.addrs))
	}
}

func TestLoginLimiterZeroAddr(t *testing.T) {
	// Connections without a parseable address share one bucket.
	l, _ := newTestLimiter(5, time.Minute)
	for range addrBurst {
		l.Failure(netip.Addr{}, "")
	}
	wantAllow(t, l, netip.Addr{}, "", false, addrRefill)
}
