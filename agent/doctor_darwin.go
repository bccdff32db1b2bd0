//go:build darwin

package agent

import (
	"context"
	"os"

	"golang.org/x/sys/unix"
)

func platformDoctorChecks(ctx context.Context) []check {
	return darwinChecks(ctx, darwinDoctorSys{
		pmset: func(ctx context.Context) ([]byte, error) {
			return sysOutput(ctx, "/usr/bin/pmset", "-g")
		},
		enableWomp: func(ctx context.Context) error {
			_, err := sysOutput(ctx, "/usr/bin/pmset", "-a", "womp", "1")
			return err
		},
	})
}

func doctorStdinIsTerminal() bool {
	_, err := unix.IoctlGetTermios(int(os.Stdin.Fd()), unix.TIOCGETA)
	return err == nil
}
