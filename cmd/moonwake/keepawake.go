package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
)

func newKeepAwakeCmd(e *env) *cobra.Command {
	var hf hubFlags
	var forD time.Duration
	var until string
	var clear bool
	cmd := &cobra.Command{
		Use:   "keep-awake NAME (--for DURATION | --until TIME | --clear)",
		Short: "Keep a machine out of idle auto-off and scheduled shutdowns for a while",
		Long: `Keep a machine awake: the hub's idle auto-off and scheduled shutdowns leave
it alone until the time given (at most 31 days ahead). The override survives
restarts of the hub; --clear ends it. The token needs the shutdown action on
the machine (or admin).`,
		Example: "  moonwake keep-awake gaming-pc --for 2h\n  moonwake keep-awake gaming-pc --until 2026-12-24T23:00:00+01:00\n  moonwake keep-awake gaming-pc --clear",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n := 0
			for _, set := range []bool{forD != 0, until != "", clear} {
				if set {
					n++
				}
			}
			if n != 1 {
				return usagef("give exactly one of --for, --until and --clear")
			}
			var at time.Time
			if until != "" {
				t, err := time.Parse(time.RFC3339, until)
				if err != nil {
					return usagef("--until %q: want an RFC 3339 time like 2026-12-24T23:00:00+01:00", until)
				}
				at = t
			}
			if forD < 0 {
				return usagef("--for %s: want a positive duration like 2h", forD)
			}
			c, err := hf.client(e)
			if err != nil {
				return err
			}
			if clear {
				if _, err := c.ClearKeepAwake(cmd.Context(), args[0]); err != nil {
					return fmt.Errorf("keep-awake %s: %w", args[0], err)
				}
				fmt.Fprintf(e.stdout, "%s: no longer kept awake\n", args[0])
				return nil
			}
			ka, err := c.SetKeepAwake(cmd.Context(), args[0], at, forD)
			if err != nil {
				return fmt.Errorf("keep-awake %s: %w", args[0], err)
			}
			if ka.Until != nil {
				fmt.Fprintf(e.stdout, "%s: kept awake until %s\n", args[0], ka.Until.Local().Format(time.RFC3339))
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&forD, "for", 0, "keep it awake for this `long`, like 2h")
	cmd.Flags().StringVar(&until, "until", "", "keep it awake until this RFC 3339 `time`")
	cmd.Flags().BoolVar(&clear, "clear", false, "end the override")
	hf.register(cmd)
	return cmd
}
