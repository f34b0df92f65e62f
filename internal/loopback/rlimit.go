//go:build unix

package loopback

import "syscall"

// RaiseFileLimit raises the soft RLIMIT_NOFILE towards want (never above
// the hard limit) and returns what it is now, for benchmarks that hold
// thousands of sockets in one process.
func RaiseFileLimit(want uint64) uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	if rl.Cur < want {
		rl.Cur = min(want, rl.Max)
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
		}
	}
	return rl.Cur
}
