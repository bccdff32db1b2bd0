//go:build darwin

package agent

import (
	"context"
	"fmt"
	"time"
)

func idleTime() (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), sysQueryTimeout)
	defer cancel()
	out, err := sysOutput(ctx, "/usr/sbin/ioreg", "-c", "IOHIDSystem")
	if err != nil {
		return 0, fmt.Errorf("idle time %w: %w", ErrUnavailable, err)
	}
	return parseHIDIdleTime(out)
}
