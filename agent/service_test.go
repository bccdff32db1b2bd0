//go:build !windows

package agent

import (
	"context"
	"errors"
	"os"
	"syscall"
	"testing"
	"time"
)

// TestRunServiceStopsOnSIGTERM sends SIGTERM to this test process while
// RunService's handler is installed: the context is cancelled and a run
// that returns context.Canceled counts as a clean stop.
func TestRunServiceStopsOnSIGTERM(t *testing.T) {
	err := RunService("moonwake-agent", func(ctx context.Context) error {
		if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Second):
			return errors.New("context not cancelled by SIGTERM")
		}
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestRunServiceReturnsRunsError(t *testing.T) {
	boom := errors.New("boom")
	if err := RunService("moonwake-agent", func(context.Context) error { return boom }); !errors.Is(err, boom) {
		t.Errorf("err = %v", err)
	}
	if err := RunService("moonwake-agent", func(context.Context) error { return nil }); err != nil {
		t.Errorf("err = %v", err)
	}
}
