//go:build linux

package agent

import (
	"fmt"
	"os"
	"time"
)

func uptime() (time.Duration, error) {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0, fmt.Errorf("uptime: %w", err)
	}
	return parseProcUptime(b)
}
