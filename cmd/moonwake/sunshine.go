package main

import (
	"fmt"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/spf13/cobra"
)

func newSunshineCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sunshine",
		Short: "Pair the hub with machines' Sunshine hosts",
		Long: `Pair the hub, as a Moonlight client, with a machine's Sunshine host. A
machine without a connected agent is then shut down by launching the
Sunshine app "Shutdown" (which must exist on the host). Reboot, sleep and
hibernate still need the agent.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newSunshinePairCmd(e))
	return cmd
}

func newSunshinePairCmd(e *env) *cobra.Command {
	var hf hubFlags
	var pin, user string
	var port, webPort int
	var auto bool
	cmd := &cobra.Command{
		Use:   "pair NAME (--pin PIN | --auto --user USER)",
		Short: "Pair the hub with a machine's Sunshine host",
		Long: `Pair the hub with the Sunshine host of a machine, at its host's address.
Type the same 4-digit PIN into Sunshine's web UI (PIN page) when asked; the
hub waits for it for about 25 seconds. The hub pins the host's certificate
and reports the MAC the host gives once paired, and whether it is the
machine's. Needs an admin token.

With --auto, the hub picks the PIN and sends it itself to Sunshine's web UI
(port 47990, or --web-port) as the web user --user, whose password is read
from the environment variable MOONWAKE_SUNSHINE_PASSWORD (never from a
flag). The hub uses the credentials for this pairing only, and sends them
only to a web UI presenting the same certificate as the host's GameStream
HTTPS port.`,
		Example: `  moonwake sunshine pair gaming-pc --pin 1234
  MOONWAKE_SUNSHINE_PASSWORD=... moonwake sunshine pair gaming-pc --auto --user admin`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if port < 0 || port > 65535 {
				return usagef("--port %d: want 1 to 65535", port)
			}
			if auto {
				if pin != "" {
					return usagef("give either --pin or --auto, not both")
				}
				if user == "" {
					return usagef("--auto needs --user, Sunshine's web UI username")
				}
				if webPort < 0 || webPort > 65535 {
					return usagef("--web-port %d: want 1 to 65535", webPort)
				}
				password := e.getenv("MOONWAKE_SUNSHINE_PASSWORD")
				if password == "" {
					return usagef("--auto: set MOONWAKE_SUNSHINE_PASSWORD to the password of Sunshine's web UI")
				}
				c, err := hf.client(e)
				if err != nil {
					return err
				}
				p, err := c.PairSunshineAuto(cmd.Context(), args[0], port, webPort, user, password)
				if err != nil {
					return fmt.Errorf("sunshine pair %s: %w", args[0], err)
				}
				printSunshinePairing(e, p)
				return nil
			}
			if user != "" || webPort != 0 {
				return usagef("--user and --web-port go with --auto")
			}
			if len(pin) != 4 {
				return usagef("--pin %q: want the 4 digits given to Sunshine", pin)
			}
			for _, c := range pin {
				if c < '0' || c > '9' {
					return usagef("--pin %q: want the 4 digits given to Sunshine", pin)
				}
			}
			c, err := hf.client(e)
			if err != nil {
				return err
			}
			p, err := c.PairSunshine(cmd.Context(), args[0], pin, port)
			if err != nil {
				return fmt.Errorf("sunshine pair %s: %w", args[0], err)
			}
			printSunshinePairing(e, p)
			return nil
		},
	}
	cmd.Flags().StringVar(&pin, "pin", "", "the 4-digit `PIN` to type into Sunshine's web UI")
	cmd.Flags().IntVar(&port, "port", 0, "Sunshine's base (HTTP) `port`; 0 means 47989")
	cmd.Flags().BoolVar(&auto, "auto", false, "let the hub send a PIN of its own to Sunshine's web UI (password from MOONWAKE_SUNSHINE_PASSWORD)")
	cmd.Flags().StringVar(&user, "user", "", "with --auto, Sunshine's web UI `username`")
	cmd.Flags().IntVar(&webPort, "web-port", 0, "with --auto, Sunshine's web UI `port`; 0 means 47990")
	hf.register(cmd)
	return cmd
}

func printSunshinePairing(e *env, p *moonwake.SunshinePairing) {
	fmt.Fprintf(e.stdout, "%s: paired with its Sunshine host at %s\n", p.Machine, p.PairedAt.Local().Format(time.RFC3339))
	switch {
	case p.MAC == "":
		fmt.Fprintln(e.stdout, "the host gave no MAC address")
	case p.MACMatches:
		fmt.Fprintf(e.stdout, "host MAC %s matches the machine's\n", p.MAC)
	default:
		fmt.Fprintf(e.stdout, "warning: host MAC %s is not the machine's registered MAC\n", p.MAC)
	}
}
