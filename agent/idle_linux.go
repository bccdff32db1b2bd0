//go:build linux

package agent

import (
	"context"
	"time"
)

func idleTime() (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), sysQueryTimeout)
	defer cancel()
	return linuxIdleTime(ctx, sysOutput, time.Now)
}
