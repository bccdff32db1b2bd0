//go:build windows

package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/mgr"
)

func installService(ctx context.Context, cfgPath string) error {
	exe, cfg, err := resolveInstallPaths(os.Executable, cfgPath)
	if err != nil {
		return err
	}
	if err := checkBinary(exe); err != nil {
		return err
	}
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("install: connect to the service manager: %w", hintAdmin(err))
	}
	defer m.Disconnect()
	if s, err := m.OpenService(agentServiceName); err == nil {
		s.Close()
		return fmt.Errorf("install: the service %s exists already; run uninstall first", agentServiceName)
	}
	// CreateService quotes the path and the arguments for the service's
	// command line; it runs as LocalSystem, which may shut the PC down.
	s, err := m.CreateService(agentServiceName, exe, mgr.Config{
		DisplayName:  "moonwake agent",
		Description:  "Carries out power commands from the moonwake hub and reports idle time and sessions.",
		StartType:    mgr.StartAutomatic,
		ErrorControl: mgr.ErrorNormal,
	}, serviceArgs(cfg)...)
	if err != nil {
		return fmt.Errorf("install: create service %s: %w", agentServiceName, hintAdmin(err))
	}
	defer s.Close()
	// Restart after a crash or an error exit, backing off; the failure
	// count resets after a day without failures.
	actions := []mgr.RecoveryAction{
		{Type: mgr.ServiceRestart, Delay: 5 * time.Second},
		{Type: mgr.ServiceRestart, Delay: 30 * time.Second},
		{Type: mgr.ServiceRestart, Delay: 2 * time.Minute},
	}
	if err := s.SetRecoveryActions(actions, uint32((24 * time.Hour).Seconds())); err != nil {
		return fmt.Errorf("install: set recovery actions: %w", err)
	}
	if err := s.SetRecoveryActionsOnNonCrashFailures(true); err != nil {
		return fmt.Errorf("install: set recovery on error exits: %w", err)
	}
	if err := s.Start(); err != nil {
		return fmt.Errorf("install: start service %s: %w", agentServiceName, err)
	}
	return nil
}

func uninstallService(ctx context.Context) error {
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("uninstall: connect to the service manager: %w", hintAdmin(err))
	}
	defer m.Disconnect()
	s, err := m.OpenService(agentServiceName)
	if err != nil {
		return fmt.Errorf("uninstall: open service %s: %w", agentServiceName, hintAdmin(err))
	}
	defer s.Close()
	if st, err := s.Control(svc.Stop); err == nil {
		// Wait for it to stop, so that the binary can be replaced at once.
		deadline := time.Now().Add(30 * time.Second)
		for st.State != svc.Stopped && time.Now().Before(deadline) {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(300 * time.Millisecond):
			}
			if st, err = s.Query(); err != nil {
				break
			}
		}
	} else if !errors.Is(err, windows.ERROR_SERVICE_NOT_ACTIVE) {
		return fmt.Errorf("uninstall: stop service %s: %w", agentServiceName, err)
	}
	if err := s.Delete(); err != nil {
		return fmt.Errorf("uninstall: delete service %s: %w", agentServiceName, err)
	}
	return nil
}

func hintAdmin(err error) error {
	if errors.Is(err, windows.ERROR_ACCESS_DENIED) {
		return fmt.Errorf("%w (run from an Administrator prompt)", err)
	}
	return err
}
