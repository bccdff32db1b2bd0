package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/moonwake/moonwake/hub"
	"github.com/moonwake/moonwake/hub/config"
	"github.com/moonwake/moonwake/hub/sqlite"
	"github.com/moonwake/moonwake/internal/dirlock"
)

// The backup commands work on the database file on the hub host, not
// through the API: SQLite's WAL lets this process read one consistent
// snapshot beside a running hub without stopping its writes, so no route,
// no token and no copy through HTTP are needed; and a restore must happen
// while the hub is stopped, when there is no API to ask.

// dataDir is the data directory named by --data, else MOONWAKE_DATA, else
// the default.
func dataDir(e *env, flag string) string {
	if flag != "" {
		return flag
	}
	if d := e.getenv("MOONWAKE_DATA"); d != "" {
		return d
	}
	return config.Default().Data
}

func newBackupCmd(e *env) *cobra.Command {
	var data string
	var force bool
	cmd := &cobra.Command{
		Use:   "backup FILE",
		Short: "Copy the hub's database to FILE, consistently, while the hub runs",
		Long: `Write a consistent copy of the hub's database to FILE.

Run it on the hub host, while the hub runs or not: the copy is one snapshot
(SQLite's VACUUM INTO), taken without stopping the hub. It is written beside
FILE, checked (PRAGMA integrity_check), synced and renamed, so FILE is either
a whole, checked copy or untouched. FILE is readable by its owner only: it
holds token hashes and SecureOn passwords.

The copy holds the database only. Keep a copy of hub.key from the data
directory too (once: it does not change); agents pin it when they pair.`,
		Example: `  moonwake backup --data /var/lib/moonwake /backups/moonwake-$(date +%F).db`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			src := filepath.Join(dataDir(e, data), hub.DBFile)
			info, err := sqlite.Backup(cmd.Context(), src, args[0], force)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "backed up %s to %s: %s\n", src, args[0], describe(info))
			return nil
		},
	}
	cmd.Flags().StringVar(&data, "data", "", "the hub's data `directory` (default \"moonwake-data\"; or MOONWAKE_DATA)")
	cmd.Flags().BoolVar(&force, "force", false, "replace FILE if it exists")
	_ = cmd.MarkFlagDirname("data")
	return cmd
}

func newRestoreCmd(e *env) *cobra.Command {
	var data string
	var checkOnly bool
	cmd := &cobra.Command{
		Use:   "restore FILE",
		Short: "Check a backup and install it as the hub's database (hub stopped)",
		Long: `Install the backup FILE as the hub's database.

The backup is checked first: SQLite's integrity check must pass, and it must
not come from a newer moonwake than this one (an older one is fine: the hub
updates its schema when it starts). A backup that fails changes nothing.

The hub must be stopped: restore refuses while a hub holds the data
directory. The database it replaces is kept beside it as
moonwake.db.<time>.bak; the new one takes its place in one rename.

With --check, only check FILE and say what it holds.`,
		Example: `  moonwake restore --check /backups/moonwake-2026-12-01.db
  systemctl stop moonwake
  moonwake restore --data /var/lib/moonwake /backups/moonwake-2026-12-01.db
  systemctl start moonwake`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if checkOnly {
				info, err := sqlite.Check(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "%s is sound: %s\n", args[0], describe(info))
				return nil
			}
			dir := dataDir(e, data)
			lock, err := dirlock.Acquire(dir)
			if errors.Is(err, dirlock.ErrHeld) {
				return fmt.Errorf("cannot restore while the hub runs: %w; stop it first", err)
			}
			if err != nil {
				return err
			}
			defer lock.Release()
			dest := filepath.Join(dir, hub.DBFile)
			info, bak, err := sqlite.Restore(cmd.Context(), args[0], dest, time.Now())
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "restored %s to %s: %s\n", args[0], dest, describe(info))
			if bak != "" {
				fmt.Fprintf(e.stdout, "the database it replaced is kept as %s\n", bak)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&data, "data", "", "the hub's data `directory` (default \"moonwake-data\"; or MOONWAKE_DATA)")
	cmd.Flags().BoolVar(&checkOnly, "check", false, "only check FILE; install nothing")
	_ = cmd.MarkFlagDirname("data")
	return cmd
}

// describe says what a database holds, in one line.
func describe(i sqlite.Info) string {
	return fmt.Sprintf("%d machines, %d tokens, %d actions, schema %s, %s",
		i.Machines, i.Tokens, i.Actions, i.Schema, bytesText(i.Size))
}

// bytesText renders a size for people.
func bytesText(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
