//go:build windows

package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/windows/svc"
)

// serviceStopGrace is how long a Stop or Shutdown waits for run to return.
// Windows gives services about 20 seconds at shutdown by default.
const serviceStopGrace = 15 * time.Second

func runService(name string, run func(ctx context.Context) error) error {
	isService, err := svc.IsWindowsService()
	if err != nil {
		return fmt.Errorf("service %s: detect the service manager: %w", name, err)
	}
	if !isService {
		return runUntilSignal(run)
	}
	h := &serviceHandler{run: run}
	if err := svc.Run(name, h); err != nil {
		return fmt.Errorf("service %s: %w", name, err)
	}
	return h.err
}

// serviceHandler is the svc.Handler of the agent.
type serviceHandler struct {
	run func(ctx context.Context) error
	err error // run's result, set before Execute returns
}

func (h *serviceHandler) Execute(_ []string, reqs <-chan svc.ChangeRequest, status chan<- svc.Status) (bool, uint32) {
	status <- svc.Status{State: svc.StartPending}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- h.run(ctx) }()

	const accepts = svc.AcceptStop | svc.AcceptShutdown
	status <- svc.Status{State: svc.Running, Accepts: accepts}
	for {
		select {
		case err := <-done:
			// run ended by itself: an error exit lets the recovery
			// actions restart the service.
			h.err = err
			if err != nil {
				return true, 1
			}
			return false, 0
		case r := <-reqs:
			switch r.Cmd {
			case svc.Interrogate:
				status <- r.CurrentStatus
			case svc.Stop, svc.Shutdown:
				status <- svc.Status{State: svc.StopPending, WaitHint: uint32(serviceStopGrace / time.Millisecond)}
				cancel()
				select {
				case err := <-done:
					if errors.Is(err, context.Canceled) {
						err = nil
					}
					h.err = err
				case <-time.After(serviceStopGrace):
					// The process ends with the service; run's goroutine
					// goes with it.
					h.err = fmt.Errorf("still running %s after the stop request", serviceStopGrace)
				}
				return false, 0
			}
		}
	}
}
