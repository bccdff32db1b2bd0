//go:build darwin

package agent

import (
	"context"
	"os"
)

const launchdPlistPath = "/Library/LaunchDaemons/" + launchdLabel + ".plist"

// launchdInstaller installs the agent as the launchd daemon at plistPath.
func launchdInstaller(plistPath string, run func(ctx context.Context, name string, args ...string) error) fileInstaller {
	target := "system/" + launchdLabel
	return fileInstaller{
		path:        plistPath,
		executable:  os.Executable,
		checkBinary: checkBinary,
		render:      launchdPlist,
		run:         run,
		activate:    [][]string{{"/bin/launchctl", "bootstrap", "system", plistPath}},
		deactivate:  [][]string{{"/bin/launchctl", "bootout", target}},
		// launchd reads a plist at bootstrap, and refuses to bootstrap a
		// loaded label: a reinstall boots the old one out first.
		unload: [][]string{{"/bin/launchctl", "bootout", target}},
	}
}

func installService(ctx context.Context, cfgPath string) error {
	return launchdInstaller(launchdPlistPath, runServiceManager).install(ctx, cfgPath)
}

func uninstallService(ctx context.Context) error {
	return launchdInstaller(launchdPlistPath, runServiceManager).uninstall(ctx)
}
