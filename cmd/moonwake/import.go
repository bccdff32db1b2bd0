package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/client"
	"github.com/moonwake/moonwake/importer"
)

func newImportCmd(e *env) *cobra.Command {
	var (
		hf     hubFlags
		from   string
		dryRun bool
	)
	cmd := &cobra.Command{
		Use:   "import [--from upsnap|home-assistant|fission] [--dry-run] FILE",
		Short: "Register the machines another wake-on-LAN tool knows",
		Long: `Import reads the machines of another tool and registers them with the hub:

  upsnap          UpSnap's devices: the answer of
                  GET /api/collections/devices/records?expand=ports,groups&perPage=500
                  (name, MAC, IP, netmask, SecureOn password, ports, groups as tags)
  home-assistant  configuration.yaml (or a package): wake_on_lan switches and
                  wake_on_lan.send_magic_packet calls in scripts, automations and
                  template buttons; or .storage/core.config_entries (the UI's buttons)
  fission         the seed's Fission function: its spec (an HTTPTrigger route with
                  the MAC), or the URLs that call it, one a line (…/wake?mac=…)

The format is guessed when --from is not given. Machines already registered
(same MAC) are left alone, so an import can run again. A file with any wrong
entry, or a name taken by another MAC, imports nothing; --dry-run shows what
would change and changes nothing.`,
		Example: `  moonwake import --dry-run upsnap-devices.json
  moonwake import --from home-assistant /config/configuration.yaml
  moonwake import shortcuts.txt`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := readImportFile(args[0])
			if err != nil {
				return err
			}
			cands, err := importer.Parse(from, data)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			c, err := hf.client(e)
			if err != nil {
				return err
			}
			have, err := c.ListMachines(cmd.Context())
			if err != nil {
				return err
			}
			add, err := planImport(e.stdout, cands, have)
			if err != nil {
				return err
			}
			if dryRun {
				fmt.Fprintf(e.stdout, "dry run: %d to add, %d already registered; nothing changed\n", len(add), len(cands)-len(add))
				return nil
			}
			var done []string
			for _, m := range add {
				in := client.MachineInput{Name: m.Name, MAC: m.MAC, Host: m.Host, Broadcast: m.Broadcast, Port: m.Port,
					Ports: m.Ports, Password: m.Password, Tags: m.Tags}
				if _, err := c.CreateMachine(cmd.Context(), in); err != nil {
					// Nothing half-done: take back what this run added.
					for _, name := range done {
						if rerr := c.DeleteMachine(cmd.Context(), name); rerr != nil {
							err = errors.Join(err, fmt.Errorf("and %s, added by this run, could not be removed: %w", name, rerr))
						}
					}
					return fmt.Errorf("adding %s: %w (nothing imported)", m.Name, err)
				}
				done = append(done, m.Name)
			}
			fmt.Fprintf(e.stdout, "imported %d machines, %d already registered\n", len(add), len(cands)-len(add))
			return nil
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "the file's format: "+strings.Join(importer.Formats, ", ")+" (default: guessed)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "show what would change, change nothing")
	hf.register(cmd)
	return cmd
}

// readImportFile reads path, refusing files larger than any export.
func readImportFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, importer.MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return data, nil // Parse refuses it when it is too large
}

// planImport prints what an import of cands does against the machines the
// hub has, and returns the machines to add. A name the hub gives another
// MAC is an error: the import would have to guess which is right.
func planImport(w io.Writer, cands []importer.Candidate, have []client.Machine) ([]moonwake.Machine, error) {
	byMAC, byName := map[string]string{}, map[string]string{}
	for _, m := range have {
		byMAC[m.MAC], byName[m.Name] = m.Name, m.MAC
	}
	var (
		add       []moonwake.Machine
		conflicts []string
	)
	for _, c := range cands {
		m := c.Machine
		if name, ok := byMAC[m.MAC]; ok {
			fmt.Fprintf(w, "= %-20s %s already registered as %s\n", m.Name, m.MAC, name)
			continue
		}
		if mac, ok := byName[m.Name]; ok {
			conflicts = append(conflicts, fmt.Sprintf("%s (%s): the hub's %s has MAC %s; rename one", m.Name, c.From, m.Name, mac))
			continue
		}
		var what []string
		if m.Host != "" {
			what = append(what, "host "+m.Host)
		}
		if m.Broadcast != "" {
			what = append(what, "broadcast "+m.Broadcast)
		}
		if len(m.Tags) > 0 {
			what = append(what, "tags "+strings.Join(m.Tags, ","))
		}
		if m.Password != "" {
			what = append(what, "SecureOn")
		}
		fmt.Fprintf(w, "+ %-20s %s %s (from %s)\n", m.Name, m.MAC, strings.Join(what, " "), c.From)
		add = append(add, m)
	}
	if len(conflicts) > 0 {
		return nil, fmt.Errorf("nothing imported; these names are taken:\n  %s", strings.Join(conflicts, "\n  "))
	}
	return add, nil
}
