//go:build unix

package testpeer

import "github.com/switchboard/switchboard/internal/loopback"

// RaiseFileLimit raises the soft RLIMIT_NOFILE towards want; see
// loopback.RaiseFileLimit.
func RaiseFileLimit(want uint64) uint64 { return loopback.RaiseFileLimit(want) }
