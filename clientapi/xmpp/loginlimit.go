package xmpp

import (
	"time"

	"github.com/switchboard/switchboard/internal/loginlimit"
)

// loginLimiter is the shared limiter; the HTTP API's login uses the same
// rules (see internal/loginlimit).
type loginLimiter = loginlimit.Limiter

func newLoginLimiter(maxFailures int, lockout time.Duration, now func() time.Time) *loginLimiter {
	return loginlimit.New(maxFailures, lockout, now)
}
