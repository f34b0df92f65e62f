//go:build !linux

package main

import "time"

// threadCPU is unavailable here; the CPU columns read zero.
func threadCPU() time.Duration { return 0 }
