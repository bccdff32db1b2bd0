//go:build windows

package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"
)

const (
	regSessionManagerPower = `SYSTEM\CurrentControlSet\Control\Session Manager\Power`
	regPower               = `SYSTEM\CurrentControlSet\Control\Power`
)

func platformDoctorChecks(ctx context.Context) []check {
	sys32, err := windows.GetSystemDirectory()
	if err != nil {
		sys32 = filepath.Join(os.Getenv("SystemRoot"), "System32")
	}
	// Absolute paths: never a program of the same name found elsewhere.
	powercfg := filepath.Join(sys32, "powercfg.exe")
	powershell := filepath.Join(sys32, "WindowsPowerShell", "v1.0", "powershell.exe")
	psArgs := func(script string) []string {
		return []string{"-NoLogo", "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-Command", script}
	}
	return windowsChecks(ctx, winDoctorSys{
		fastStartup:        readFastStartup,
		disableFastStartup: disableFastStartup,
		netAdapters: func(ctx context.Context) ([]byte, error) {
			return sysOutput(ctx, powershell, psArgs(winNetAdapterScript)...)
		},
		wakeArmed: func(ctx context.Context) ([]byte, error) {
			return sysOutput(ctx, powercfg, "/devicequery", "wake_armed")
		},
		enableMagic: func(ctx context.Context, name string) error {
			cmd := exec.CommandContext(ctx, powershell, psArgs(winEnableMagicScript)...)
			cmd.Env = append(os.Environ(), "MOONWAKE_ADAPTER="+name)
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("Set-NetAdapterPowerManagement: %w: %s", err, strings.TrimSpace(string(out)))
			}
			return nil
		},
		armWake: func(ctx context.Context, device string) error {
			out, err := exec.CommandContext(ctx, powercfg, "/deviceenablewake", device).CombinedOutput()
			if err != nil {
				return fmt.Errorf("powercfg /deviceenablewake: %w: %s", err, strings.TrimSpace(string(out)))
			}
			return nil
		},
	})
}

func readFastStartup() (fastStartupState, error) {
	var st fastStartupState
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, regSessionManagerPower, registry.QUERY_VALUE)
	if err != nil {
		return st, fmt.Errorf(`open HKLM\%s: %w`, regSessionManagerPower, err)
	}
	defer k.Close()
	v, _, err := k.GetIntegerValue("HiberbootEnabled")
	switch {
	case err == nil:
		st.hiberboot, st.hiberbootSet = uint32(v), true
	case !errors.Is(err, registry.ErrNotExist):
		return st, fmt.Errorf("read HiberbootEnabled: %w", err)
	}
	if pk, err := registry.OpenKey(registry.LOCAL_MACHINE, regPower, registry.QUERY_VALUE); err == nil {
		defer pk.Close()
		if v, _, err := pk.GetIntegerValue("HibernateEnabled"); err == nil {
			st.hibernate, st.hibernateSet = uint32(v), true
		}
	}
	return st, nil
}

func disableFastStartup() error {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, regSessionManagerPower, registry.SET_VALUE)
	if err != nil {
		if errors.Is(err, windows.ERROR_ACCESS_DENIED) {
			return fmt.Errorf(`open HKLM\%s: %w (run doctor as Administrator)`, regSessionManagerPower, err)
		}
		return fmt.Errorf(`open HKLM\%s: %w`, regSessionManagerPower, err)
	}
	defer k.Close()
	if err := k.SetDWordValue("HiberbootEnabled", 0); err != nil {
		return fmt.Errorf("set HiberbootEnabled to 0: %w", err)
	}
	return nil
}

func doctorStdinIsTerminal() bool {
	var mode uint32
	return windows.GetConsoleMode(windows.Handle(os.Stdin.Fd()), &mode) == nil
}
