//go:build !windows

package agent

import "context"

func runService(_ string, run func(ctx context.Context) error) error {
	return runUntilSignal(run)
}
