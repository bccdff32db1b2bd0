//go:build linux

package agent

import (
	"context"
	"errors"
	"os"
)

const systemdUnitPath = "/etc/systemd/system/" + agentServiceName + ".service"

// systemdInstaller installs the agent as the systemd unit at unitPath.
func systemdInstaller(unitPath string, run func(ctx context.Context, name string, args ...string) error) fileInstaller {
	unit := agentServiceName + ".service"
	return fileInstaller{
		path:        unitPath,
		executable:  os.Executable,
		checkBinary: checkBinary,
		render:      systemdUnit,
		run:         run,
		reload:      []string{"systemctl", "daemon-reload"},
		activate:    [][]string{{"systemctl", "enable", "--now", unit}},
		restart:     [][]string{{"systemctl", "restart", unit}},
		deactivate:  [][]string{{"systemctl", "disable", "--now", unit}},
		ready:       systemdBooted,
	}
}

// systemdBooted is sd_booted(3): systemd is PID 1.
func systemdBooted() error {
	if _, err := os.Stat("/run/systemd/system"); err != nil {
		return errors.New("systemd is not running on this machine (no /run/systemd/system); start \"moonwake-agent run --config FILE\" with the init system in use")
	}
	return nil
}

func installService(ctx context.Context, cfgPath string) error {
	return systemdInstaller(systemdUnitPath, runServiceManager).install(ctx, cfgPath)
}

func uninstallService(ctx context.Context) error {
	return systemdInstaller(systemdUnitPath, runServiceManager).uninstall(ctx)
}
