package main

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/moonwake/moonwake"
)

func newRootCmd(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:   "moonwake",
		Short: "Wake machines from anywhere, know their true power state, shut them down with proof",
		Long: `moonwake wakes computers with Wake-on-LAN from anywhere, safely.

Run "moonwake serve" on a machine on the same LAN as the computers (a
Raspberry Pi, a NAS, a Kubernetes node) and wake them through its
authenticated API, or send a magic packet right here with "moonwake wake".`,
		Version:       moonwake.Build().String(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{err}
	})
	root.AddCommand(
		newWakeCmd(e),
		newServeCmd(e),
		newTokensCmd(e),
		newMachinesCmd(e),
		newVersionCmd(e),
		newStatusCmd(e),
		newPowerCmd(e, "shutdown", "Shut a machine down"),
		newPowerCmd(e, "reboot", "Reboot a machine"),
		newPowerCmd(e, "sleep", "Put a machine to sleep"),
		newPowerCmd(e, "hibernate", "Hibernate a machine"),
		newCancelCmd(e),
		newKeepAwakeCmd(e),
		newSunshineCmd(e),
		newRelayCmd(e),
		newRelaysCmd(e),
		newBackupCmd(e),
		newRestoreCmd(e),
		newImportCmd(e),
		newFrontCmd(e),
		newGroupCmd(e),
	)
	return root
}

// isFlagError reports whether err came from cobra's argument checks.
func isFlagError(err error) bool {
	s := err.Error()
	return strings.HasPrefix(s, "unknown command") || strings.HasPrefix(s, "accepts ") ||
		strings.HasPrefix(s, "requires ") || strings.HasPrefix(s, "unknown flag") ||
		strings.HasPrefix(s, "unknown shorthand flag")
}

func newVersionCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and build date",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cmd.Println("moonwake", moonwake.Build())
			return nil
		},
	}
}
