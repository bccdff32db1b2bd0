//go:build darwin

package agent

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

func uptime() (time.Duration, error) {
	tv, err := unix.SysctlTimeval("kern.boottime")
	if err != nil {
		return 0, fmt.Errorf("uptime: sysctl kern.boottime: %w", err)
	}
	// Wall clock against wall clock: a clock step shifts it, which is
	// what uptime(1) shows too.
	boot := time.Unix(tv.Unix())
	return max(time.Since(boot), 0), nil
}
