package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/client"
)

func newMachinesCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "machines",
		Aliases: []string{"machine", "m"},
		Short:   "List, add and remove the hub's machines",
		Long: `Manage the machines registered with a hub, through its API.

Give --hub URL and --token (or MOONWAKE_HUB and MOONWAKE_TOKEN). Adding and
removing machines needs an admin token. Machines declared in the hub's
config file can be listed here but only changed in the file.`,
	}
	cmd.AddCommand(newMachinesListCmd(e), newMachinesAddCmd(e), newMachinesRemoveCmd(e), newPairCmd(e))
	return cmd
}

func newMachinesListCmd(e *env) *cobra.Command {
	var hf hubFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List machines",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := hf.client(e)
			if err != nil {
				return err
			}
			ms, err := c.ListMachines(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(e.stdout, ms)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tMAC\tHOST\tSEND TO\tRELAY\tTAGS\tSOURCE")
			for _, m := range ms {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", m.Name, m.MAC, dash(m.Host), sendTo(&m.Machine), dash(m.Relay), dash(strings.Join(m.Tags, ",")), m.Source)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	hf.register(cmd)
	return cmd
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func sendTo(m *moonwake.Machine) string {
	var parts []string
	if m.Broadcast != "" {
		parts = append(parts, m.Broadcast)
	}
	if m.Interface != "" {
		parts = append(parts, "if "+m.Interface)
	}
	if len(parts) == 0 {
		parts = append(parts, "all interfaces")
	}
	return fmt.Sprintf("%s port %d", strings.Join(parts, ", "), m.WakePort())
}

func newMachinesAddCmd(e *env) *cobra.Command {
	var hf hubFlags
	var in client.MachineInput
	cmd := &cobra.Command{
		Use:   "add NAME MAC",
		Short: "Register a machine",
		Example: `  moonwake machines add gaming-pc aa:bb:cc:dd:ee:ff --host 192.168.1.20 --interface eth0
  moonwake machines add nas 00-11-22-33-44-55 --broadcast 192.168.1.255 --tags storage
  moonwake machines add office-pc 00-11-22-33-44-66 --host 10.20.0.15 --relay office`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			in.Name, in.MAC = args[0], args[1]
			m := moonwake.Machine{Name: in.Name, MAC: in.MAC, Host: in.Host, Interface: in.Interface,
				Broadcast: in.Broadcast, Port: in.Port, Password: in.Password, Tags: in.Tags, Relay: in.Relay}
			if err := m.Normalize(); err != nil {
				return err // nothing sent to the hub
			}
			c, err := hf.client(e)
			if err != nil {
				return err
			}
			got, err := c.CreateMachine(cmd.Context(), in)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "added %s (%s)\n", got.Name, got.MAC)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&in.Host, "host", "", "IP address or DNS name of the machine")
	fl.StringVar(&in.Interface, "interface", "", "hub interface whose subnet broadcast reaches it")
	fl.StringVar(&in.Broadcast, "broadcast", "", "broadcast address that reaches it")
	fl.IntVar(&in.Port, "port", 0, "UDP port (default 9)")
	fl.StringVar(&in.Password, "password", "", "SecureOn password")
	fl.StringSliceVar(&in.Tags, "tags", nil, "tags, comma-separated")
	fl.StringVar(&in.Relay, "relay", "", "`NAME` of the relay that serves it (default: chosen by its address)")
	hf.register(cmd)
	return cmd
}

func newMachinesRemoveCmd(e *env) *cobra.Command {
	var hf hubFlags
	cmd := &cobra.Command{
		Use:     "remove NAME",
		Aliases: []string{"rm"},
		Short:   "Remove a machine",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := hf.client(e)
			if err != nil {
				return err
			}
			if err := c.DeleteMachine(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "removed %s\n", args[0])
			return nil
		},
	}
	hf.register(cmd)
	return cmd
}

// wakeViaHub asks a hub to wake the machine called name and follows the
// action until it ends.
func wakeViaHub(cmd *cobra.Command, e *env, f *wakeFlags, name string) error {
	for _, fl := range []string{"interface", "broadcast", "port", "password", "raw", "ipv6", "unicast", "count", "interval", "config", "dry-run"} {
		if cmd.Flags().Changed(fl) {
			return usagef("--%s is for sending from here; with --hub, the hub uses the machine's own settings", fl)
		}
	}
	if !moonwake.ValidName(name) {
		return usagef("%q is not a machine name; with --hub, wake a registered machine by name", name)
	}
	return runAction(cmd, e, &f.hub, name, "wake", !f.noWait, f.quiet, func(ctx context.Context, c *client.Client) (*moonwake.Action, error) {
		return c.Wake(ctx, name)
	})
}
