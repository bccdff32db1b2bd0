package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/client"
)

func newGroupCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "group",
		Short: "Wake or shut down a tag's machines, or a list, a stagger apart",
		Long: `Power actions on groups: the machines with a tag, or the machines named.
Wakes start 2 s apart unless --stagger or --per-second says otherwise, so that
a room of PCs does not trip a breaker; the other actions start together
unless asked. Each machine's action is verified and in the audit log; the
group's outcome lists them all. The token must allow the action on every
member, or nothing starts.`,
	}
	var hf hubFlags
	list := &cobra.Command{
		Use:   "list",
		Short: "List the tags and their machines",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := hf.client(e)
			if err != nil {
				return err
			}
			gs, err := c.Groups(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TAG\tMACHINES")
			for _, g := range gs {
				fmt.Fprintf(tw, "%s\t%s\n", g.Tag, strings.Join(g.Machines, ", "))
			}
			return tw.Flush()
		},
	}
	hf.register(list)
	cmd.AddCommand(list)
	for _, kind := range append([]string{moonwake.ActionWake}, moonwake.PowerActions...) {
		cmd.AddCommand(newGroupActionCmd(e, kind))
	}
	return cmd
}

func newGroupActionCmd(e *env, kind string) *cobra.Command {
	var hf hubFlags
	var machines []string
	var stagger time.Duration
	var perSecond float64
	var noWait bool
	cmd := &cobra.Command{
		Use:     kind + " (TAG | --machines A,B,…)",
		Short:   strings.ToUpper(kind[:1]) + kind[1:] + " a tag's machines, or a list",
		Example: "  moonwake group " + kind + " lan-party --stagger 2s\n  moonwake group " + kind + " --machines pc-a,pc-b --per-second 4",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			tag := ""
			if len(args) == 1 {
				tag = args[0]
			}
			if (tag == "") == (len(machines) == 0) {
				return usagef("give a tag or --machines, one of the two")
			}
			if stagger < 0 || perSecond < 0 || (cmd.Flags().Changed("stagger") && perSecond != 0) {
				return usagef("give --stagger or --per-second, positive, not both")
			}
			in := client.GroupInput{Machines: machines, PerSecond: perSecond}
			if cmd.Flags().Changed("stagger") {
				in.Stagger = stagger.String()
			}
			c, err := hf.client(e)
			if err != nil {
				return err
			}
			g, err := c.GroupAction(cmd.Context(), kind, tag, in)
			if err != nil {
				return fmt.Errorf("group %s: %w", kind, err)
			}
			fmt.Fprintf(e.stdout, "%s of %d machines, %v apart (group action %s)\n", kind, len(g.Members), time.Duration(g.StaggerMS)*time.Millisecond, g.ID)
			if noWait {
				return nil
			}
			g = followGroup(cmd.Context(), e.stdout, c, g)
			fmt.Fprintf(e.stdout, "%s: %s\n", g.Status, g.Detail)
			if g.Status != moonwake.StatusSucceeded {
				return fmt.Errorf("group %s: %s", kind, g.Detail)
			}
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&machines, "machines", nil, "the machines, instead of a tag")
	cmd.Flags().DurationVar(&stagger, "stagger", 0, "time between two machines' starts, like 2s or 250ms")
	cmd.Flags().Float64Var(&perSecond, "per-second", 0, "or start so many machines a second")
	cmd.Flags().BoolVar(&noWait, "no-wait", false, "return once started, without following the members")
	hf.register(cmd)
	return cmd
}

// followGroup polls the group action and prints each member's progress as
// it changes, until it ends or ctx does.
func followGroup(ctx context.Context, out io.Writer, c *client.Client, g *moonwake.GroupAction) *moonwake.GroupAction {
	shown := make([]string, len(g.Members))
	show := func(g *moonwake.GroupAction) {
		for i, m := range g.Members {
			if i >= len(shown) || m.Status == shown[i] || m.Status == moonwake.StatusPending {
				continue
			}
			shown[i] = m.Status
			line := fmt.Sprintf("  %-20s %s", m.Machine, m.Status)
			if m.Detail != "" && m.Status != moonwake.StatusRunning {
				line += ": " + m.Detail
			}
			fmt.Fprintln(out, line)
		}
	}
	show(g)
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for !g.Done() {
		select {
		case <-ctx.Done():
			return g
		case <-t.C:
		}
		got, err := c.FindGroupAction(ctx, g.ID)
		if err != nil {
			continue // the hub restarting: try again
		}
		g = got
		show(g)
	}
	return g
}
