package loopback

import (
	"os"
	"strconv"
	"strings"
)

// MachineCPU reads the busy and total jiffies of all CPUs from /proc/stat, for
// figures taken on a machine other work shares; zero where there is no
// /proc.
func MachineCPU() (busy, total uint64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	for i := 1; i < len(f) && i <= 8; i++ {
		v, _ := strconv.ParseUint(f[i], 10, 64)
		total += v
		if i != 4 && i != 5 { // idle, iowait
			busy += v
		}
	}
	return busy, total
}
