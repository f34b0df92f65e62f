package main

import (
	"syscall"
	"time"
	"unsafe"
)

// threadCPU is the CPU time of the calling OS thread. Timed store calls run
// on a locked thread, and SQLite does their work on it (cgo calls run on
// the caller's thread), so the difference around a call is what the call
// cost, apart from time spent waiting for a core: on a machine shared with
// other work the wall-clock percentiles measure the neighbours as much as
// the store, and this column does not. CLOCK_THREAD_CPUTIME_ID counts
// nanoseconds; getrusage's thread times move in scheduler ticks.
func threadCPU() time.Duration {
	const clockThreadCPUTimeID = 3
	var ts syscall.Timespec
	_, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTimeID, uintptr(unsafe.Pointer(&ts)), 0)
	if errno != 0 {
		return 0
	}
	return time.Duration(ts.Nano())
}
