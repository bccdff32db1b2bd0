package agent

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Uptime returns how long the machine has been running since it booted:
// /proc/uptime on Linux, GetTickCount64 on Windows (which, like the Linux
// figure, does not count time asleep on most systems), kern.boottime on
// macOS.
func Uptime() (time.Duration, error) {
	return uptime()
}

// parseProcUptime parses /proc/uptime ("3132.07 4603.21\n"): the first
// number is the seconds since boot, with up to nine decimals read exactly.
func parseProcUptime(b []byte) (time.Duration, error) {
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, fmt.Errorf("/proc/uptime: empty")
	}
	whole, frac, _ := strings.Cut(f[0], ".")
	secs, err := strconv.ParseUint(whole, 10, 63)
	if err != nil || secs > uint64(time.Duration(1<<63-1)/time.Second)-1 {
		return 0, fmt.Errorf("/proc/uptime: bad seconds %q", f[0])
	}
	d := time.Duration(secs) * time.Second
	if frac != "" {
		if len(frac) > 9 {
			frac = frac[:9]
		}
		n, err := strconv.ParseUint(frac, 10, 32)
		if err != nil {
			return 0, fmt.Errorf("/proc/uptime: bad seconds %q", f[0])
		}
		for i := len(frac); i < 9; i++ {
			n *= 10
		}
		d += time.Duration(n)
	}
	return d, nil
}
