package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/client"
)

// follow prints the progress of action a from the event stream evs until
// the action ends or ctx does, and returns the final action.
func follow(ctx context.Context, out io.Writer, evs <-chan client.Event, a *moonwake.Action) *moonwake.Action {
	printed := 0
	show := func(a *moonwake.Action) {
		for ; printed < len(a.Steps); printed++ {
			st := a.Steps[printed]
			line := fmt.Sprintf("  %s %s", st.At.Local().Format("15:04:05.000"), st.Kind)
			if st.Via != "" || st.Target != "" {
				line += fmt.Sprintf(" %s %s", st.Via, st.Target)
			}
			if st.Error != "" {
				line += ": " + st.Error
			}
			fmt.Fprintln(out, line)
		}
	}
	show(a)
	for !a.Done() {
		select {
		case <-ctx.Done():
			return a
		case ev, ok := <-evs:
			if !ok {
				return a
			}
			switch ev.Data.Type {
			case moonwake.EventAction:
				var got moonwake.Action
				if json.Unmarshal(ev.Data.Data, &got) == nil && got.ID == a.ID {
					a = &got
					show(a)
				}
			case moonwake.EventState:
				var sc moonwake.StateChange
				if json.Unmarshal(ev.Data.Data, &sc) == nil {
					fmt.Fprintf(out, "  %s state %s → %s (%s)\n", sc.At.Local().Format("15:04:05.000"), dash(string(sc.From)), sc.To, sc.Reason)
				}
			}
		}
	}
	return a
}

// runAction starts an action through fn while following the machine's
// events, prints its progress, and returns an error if it failed.
func runAction(cmd *cobra.Command, e *env, hf *hubFlags, name, verb string, wait bool, quiet bool, fn func(ctx context.Context, c *client.Client) (*moonwake.Action, error)) error {
	c, err := hf.client(e)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(cmd.Context())
	defer cancel()
	var evs <-chan client.Event
	if wait {
		// Subscribe before asking, so no event of the action is missed.
		if evs, _, err = c.Events(ctx, name, -1); err != nil {
			return err
		}
	}
	a, err := fn(ctx, c)
	if err != nil {
		return fmt.Errorf("%s %s: %w", verb, name, err)
	}
	if !quiet {
		fmt.Fprintf(e.stdout, "%s %s: action %s\n", verb, name, a.ID)
	}
	if wait {
		out := e.stdout
		if quiet {
			out = io.Discard
		}
		a = follow(ctx, out, evs, a)
	}
	if !quiet || a.Status == moonwake.StatusFailed {
		fmt.Fprintf(e.stdout, "%s %s: %s", verb, name, a.Status)
		if a.Detail != "" {
			fmt.Fprintf(e.stdout, ": %s", a.Detail)
		}
		fmt.Fprintln(e.stdout)
	}
	if a.Status == moonwake.StatusFailed {
		return fmt.Errorf("%s %s failed", verb, name)
	}
	if a.Status == moonwake.StatusCancelled {
		return fmt.Errorf("%s %s cancelled", verb, name)
	}
	return nil
}

func newPowerCmd(e *env, verb, short string) *cobra.Command {
	var hf hubFlags
	var noWait, quiet bool
	var grace time.Duration
	cmd := &cobra.Command{
		Use:   verb + " NAME",
		Short: short,
		Long: short + `, through the hub, and follow the action until the
machine is seen off (or the hub gives up and says so). The hub uses the
best method the machine has: its paired agent. With --grace, the PC shows
a countdown first, and the person there can cancel it.`,
		Example: fmt.Sprintf("  moonwake %s gaming-pc --hub https://wake.example.org\n  moonwake %s gaming-pc --grace 60s", verb, verb),
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if grace < 0 || grace > moonwake.MaxGrace {
				return usagef("--grace: want between 0s and %s", moonwake.MaxGrace)
			}
			return runAction(cmd, e, &hf, args[0], verb, !noWait, quiet, func(ctx context.Context, c *client.Client) (*moonwake.Action, error) {
				return c.CommandAfter(ctx, args[0], verb, grace)
			})
		},
	}
	cmd.Flags().DurationVar(&grace, "grace", 0, "count down at the PC this long first (up to 30m), for the person there to cancel")
	cmd.Flags().BoolVar(&noWait, "no-wait", false, "return once the hub has accepted the action")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print nothing unless it fails")
	hf.register(cmd)
	return cmd
}

func newStatusCmd(e *env) *cobra.Command {
	var hf hubFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status [NAME]",
		Short: "Show the power state of machines, with the evidence behind it",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := hf.client(e)
			if err != nil {
				return err
			}
			var ms []client.Machine
			if len(args) == 1 {
				m, err := c.GetMachine(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				ms = []client.Machine{*m}
			} else if ms, err = c.ListMachines(cmd.Context()); err != nil {
				return err
			}
			if asJSON {
				if len(args) == 1 {
					return printJSON(e.stdout, ms[0])
				}
				return printJSON(e.stdout, ms)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSTATE\tSINCE\tWHY")
			for _, m := range ms {
				st := m.Power
				if st == nil {
					fmt.Fprintf(tw, "%s\t%s\t-\t-\n", m.Name, moonwake.StateUnknown)
					continue
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", m.Name, st.State, ago(st.Since), st.Reason)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON, with the evidence")
	hf.register(cmd)
	return cmd
}

// ago renders how long ago t was, briefly.
func ago(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := time.Since(t).Round(time.Second)
	switch {
	case d < time.Minute:
		return d.String() + " ago"
	case d < 24*time.Hour:
		return strings.TrimSuffix(d.Round(time.Minute).String(), "0s") + " ago"
	}
	return t.Local().Format(time.DateTime)
}

func newPairCmd(e *env) *cobra.Command {
	var hf hubFlags
	cmd := &cobra.Command{
		Use:   "pair NAME",
		Short: "Get a one-time code to pair the machine's agent",
		Long: `Get a one-time code that pairs moonwake-agent on the machine NAME with
this hub. Run the printed command on that machine within the code's
lifetime; the code works once.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := hf.client(e)
			if err != nil {
				return err
			}
			p, err := c.Pair(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "On %s, run within %s:\n\n  moonwake-agent pair --hub %s --code %s --hub-fingerprint %s%s\n\n",
				p.Machine, time.Until(p.ExpiresAt).Round(time.Minute), c.BaseURL, p.Code, p.HubFingerprint, tlsPin(p.TLSFingerprint))
			return nil
		},
	}
	hf.register(cmd)
	return cmd
}

func newCancelCmd(e *env) *cobra.Command {
	var hf hubFlags
	cmd := &cobra.Command{
		Use:   "cancel ACTION",
		Short: "Cancel a shutdown (reboot, sleep, hibernate) during its countdown",
		Long: `Cancel an action asked with --grace while its countdown runs: it ends as
cancelled and the notification at the PC is taken down. Once the command
was sent, it is too late.`,
		Example: "  moonwake cancel act_01j9zq3v1x6e8b0m3k2n5r7t4w",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := hf.client(e)
			if err != nil {
				return err
			}
			a, err := c.Cancel(cmd.Context(), args[0])
			if err != nil {
				return fmt.Errorf("cancel %s: %w", args[0], err)
			}
			fmt.Fprintf(e.stdout, "%s %s: %s: %s\n", a.Kind, a.Machine, a.Status, a.Detail)
			return nil
		},
	}
	hf.register(cmd)
	return cmd
}
