package loginlimit

import (
	"net/netip"
	"sync"
	"time"
)

// Limits on failed logins from one address (an IPv6 /64 counts as one):
// a burst of addrBurst failures, then one per addrRefill.
const (
	addrBurst  = 10
	addrRefill = 10 * time.Second
)

// maxLimiterEntries caps each of the limiter's maps; sweepInterval is how
// often entries that no longer limit anything are dropped.
const (
	maxLimiterEntries = 16384
	sweepInterval     = time.Minute
)

// Limiter slows down password guessing; every port asks it before a
// login and tells it the outcome. Two limits apply:
//
//   - per account: after maxFailures failures in a row the account is
//     locked for lockout, from every address (0 for either disables this);
//   - per address: a token bucket of addrBurst failures refilled at one
//     per addrRefill; a success does not refill it, so one valid account
//     cannot buy guesses at others.
//
// Memory is bounded: entries are dropped once they limit nothing, and each
// map holds at most maxLimiterEntries, evicting unlocked accounts first.
// It is safe for concurrent use.
type Limiter struct {
	maxFailures int
	lockout     time.Duration
	now         func() time.Time

	mu        sync.Mutex
	accounts  map[string]*accountLimit
	addrs     map[netip.Addr]time.Time // GCRA: when the address's bucket is full again
	lastSweep time.Time
}

type accountLimit struct {
	failures    int       // in a row, since the last success or lockout
	last        time.Time // of the last failure
	lockedUntil time.Time
}

// New returns a limiter locking an account for lockout after maxFailures
// failures in a row (0 for either: no account lockout). now is the clock,
// time.Now outside tests.
func New(maxFailures int, lockout time.Duration, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{
		maxFailures: maxFailures,
		lockout:     lockout,
		now:         now,
		accounts:    make(map[string]*accountLimit),
		addrs:       make(map[netip.Addr]time.Time),
	}
}

// limitKey groups addresses: an IPv6 address by its /64, which one
// subscriber usually holds whole.
func limitKey(a netip.Addr) netip.Addr {
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a
}

func (l *Limiter) accountsOn() bool { return l.maxFailures > 0 && l.lockout > 0 }

// Allow reports whether a login for account from addr may be tried now,
// and if not, how long to wait. An empty account checks the address only.
func (l *Limiter) Allow(addr netip.Addr, account string) (ok bool, retryAfter time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.maybeSweep(now)
	if full, found := l.addrs[limitKey(addr)]; found {
		// Allowed while at least one token is left, that is while the
		// bucket holds fewer than addrBurst failures.
		if wait := full.Sub(now) - (addrBurst-1)*addrRefill; wait > 0 {
			retryAfter = wait
		}
	}
	if a := l.accounts[account]; a != nil && account != "" && l.accountsOn() {
		if wait := a.lockedUntil.Sub(now); wait > retryAfter {
			retryAfter = wait
		}
	}
	return retryAfter == 0, retryAfter
}

// Failure records a failed login for account from addr. An empty account
// counts against the address only.
func (l *Limiter) Failure(addr netip.Addr, account string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.maybeSweep(now)

	key := limitKey(addr)
	full, found := l.addrs[key]
	if !found && len(l.addrs) >= maxLimiterEntries {
		l.sweepWhenFull(now)
		for k := range l.addrs {
			if len(l.addrs) < maxLimiterEntries {
				break
			}
			delete(l.addrs, k)
		}
	}
	if full.Before(now) {
		full = now
	}
	// Never more than a full bucket of debt, however often Failure is
	// called without Allow.
	full = full.Add(addrRefill)
	if limit := now.Add(addrBurst * addrRefill); full.After(limit) {
		full = limit
	}
	l.addrs[key] = full

	if account == "" || !l.accountsOn() {
		return
	}
	a := l.accounts[account]
	if a == nil {
		if len(l.accounts) >= maxLimiterEntries {
			l.sweepWhenFull(now)
			l.evictAccount(now)
		}
		a = &accountLimit{}
		l.accounts[account] = a
	}
	if now.Before(a.lockedUntil) {
		return // already locked; a late failure does not extend it
	}
	if now.Sub(a.last) >= l.lockout {
		a.failures = 0 // an old streak is forgotten, as sweep would
	}
	a.failures++
	a.last = now
	if a.failures >= l.maxFailures {
		a.failures = 0
		a.lockedUntil = now.Add(l.lockout)
	}
}

// Success records a successful login: the account's failures are
// forgotten. The address keeps its record.
func (l *Limiter) Success(addr netip.Addr, account string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.accounts, account)
}

func (l *Limiter) maybeSweep(now time.Time) {
	if now.Sub(l.lastSweep) >= sweepInterval || now.Before(l.lastSweep) {
		l.sweep(now)
	}
}

// sweepWhenFull sweeps a full map, at most once a second: under a flood
// of new entries, sweeping at each would cost O(n) per login.
func (l *Limiter) sweepWhenFull(now time.Time) {
	if now.Sub(l.lastSweep) >= time.Second || now.Before(l.lastSweep) {
		l.sweep(now)
	}
}

// sweep drops entries that no longer limit anything: full buckets, and
// accounts neither locked nor failed within the last lockout.
func (l *Limiter) sweep(now time.Time) {
	l.lastSweep = now
	for k, full := range l.addrs {
		if !full.After(now) {
			delete(l.addrs, k)
		}
	}
	for k, a := range l.accounts {
		if !now.Before(a.lockedUntil) && now.Sub(a.last) >= l.lockout {
			delete(l.accounts, k)
		}
	}
}

// evictAccount makes room when every tracked account still counts: it
// drops an unlocked one if a few probes find one, else any.
func (l *Limiter) evictAccount(now time.Time) {
	if len(l.accounts) < maxLimiterEntries {
		return
	}
	var victim string
	probes := 0
	for k, a := range l.accounts {
		if probes == 0 {
			victim = k
		}
		if !now.Before(a.lockedUntil) {
			victim = k
			break
		}
		probes++
		if probes == 16 {
			break
		}
	}
	delete(l.accounts, victim)
}
