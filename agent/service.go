package agent

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"
)

// RunService runs run until it returns. On Windows, when the process was
// started by the service manager, it runs under it as the service name:
// the context is cancelled on Stop and on system Shutdown, and RunService
// returns once run has returned (or after a grace period). Everywhere
// else, the context is cancelled on SIGINT or SIGTERM (what systemd and
// launchd send to stop a service). run should return nil when it stops
// because its context was cancelled.
func RunService(name string, run func(ctx context.Context) error) error {
	return runService(name, run)
}

// runUntilSignal runs run with a context cancelled on SIGINT or SIGTERM.
func runUntilSignal(run func(ctx context.Context) error) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx)
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return nil // stopped as asked
	}
	return err
}
