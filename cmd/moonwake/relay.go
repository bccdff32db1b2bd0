package main

import (
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/relay"
)

// DefaultRelayState is where the relay keeps its identity.
const DefaultRelayState = "/var/lib/moonwake-relay/relay.json"

// relayFlags are the relay's settings; each has an environment variable,
// which is what a Kubernetes pod sets.
type relayFlags struct {
	state, hub, name, tokenFile, networks, health, logFormat, passthrough, fingerprint, tlsFingerprint string
	sweep                                                                                              bool
}

func (f *relayFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.state, "state", "", "state `file` holding the relay's key (or MOONWAKE_RELAY_STATE; default "+DefaultRelayState+")")
	cmd.Flags().StringVar(&f.hub, "hub", "", "hub `URL`, like https://wake.example.org (or MOONWAKE_HUB)")
}

// or returns the flag's value, else the variable's, else def.
func or(e *env, flag, variable, def string) string {
	if flag != "" {
		return flag
	}
	if v := e.getenv(variable); v != "" {
		return v
	}
	return def
}

func newRelayCmd(e *env) *cobra.Command {
	var f relayFlags
	cmd := &cobra.Command{
		Use:   "relay",
		Short: "Run a relay: wake and probe the machines of this LAN for a hub elsewhere",
		Long: `Run a moonwake relay on a LAN that the hub cannot reach itself: a
host-network pod on the k3s node of that LAN, a Raspberry Pi, a NAS. It
dials the hub (so it works behind NAT and through an HTTPS ingress), says
which networks it serves, sends the magic packets of the machines on them
from this LAN and runs their probes; the hub derives their state.

Pair it once with a code from "moonwake relays pair NAME" (moonwake relay
pair), or give it a relay enrolment token (moonwake tokens create
--relay-enrol) in a file: a pod that is re-created then enrols again by
itself. Every setting has an environment variable:

  MOONWAKE_HUB                 the hub's URL (to enrol)
  MOONWAKE_RELAY_STATE         the state file (` + DefaultRelayState + `)
  MOONWAKE_RELAY_NAME          the relay's name when it enrols (default: the host name)
  MOONWAKE_RELAY_TOKEN_FILE    a file holding a relay enrolment token
  MOONWAKE_HUB_FINGERPRINT     the hub key's fingerprint, checked when it enrols
  MOONWAKE_HUB_TLS_FINGERPRINT the hub's self-signed TLS certificate's, pinned when it enrols
  MOONWAKE_RELAY_NETWORKS      the networks it serves, comma-separated CIDRs (default: its interfaces')
  MOONWAKE_RELAY_HEALTH_LISTEN address of GET /healthz and /readyz, e.g. :47011 (default: none)
  MOONWAKE_PASSTHROUGH_LISTEN  UDP addresses for Moonlight's magic packets from outside, e.g. :47009
  MOONWAKE_RELAY_DISCOVERY_SWEEP  true: the hub may ask for a sweep of a subnet it serves (Add machine)
  MOONWAKE_LOG_FORMAT          text or json`,
		Example: `  moonwake relay pair --hub https://wake.example.org --code ABCD-EFGH-JKLM --hub-fingerprint SHA256:…
  moonwake relay
  MOONWAKE_HUB=http://moonwake:8080 MOONWAKE_RELAY_TOKEN_FILE=/run/secrets/token moonwake relay`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var nets []netip.Prefix
			for _, n := range strings.Split(or(e, f.networks, "MOONWAKE_RELAY_NETWORKS", ""), ",") {
				if n = strings.TrimSpace(n); n == "" {
					continue
				}
				p, err := netip.ParsePrefix(n)
				if err != nil {
					return usagef("networks: %q is not a CIDR prefix like 192.168.1.0/24", n)
				}
				nets = append(nets, p.Masked())
			}
			sweep := f.sweep
			if v := e.getenv("MOONWAKE_RELAY_DISCOVERY_SWEEP"); !cmd.Flags().Changed("discovery-sweep") && v != "" {
				var err error
				if sweep, err = strconv.ParseBool(v); err != nil {
					return usagef("MOONWAKE_RELAY_DISCOVERY_SWEEP: %q is not true or false", v)
				}
			}
			log := relayLogger(e, or(e, f.logFormat, "MOONWAKE_LOG_FORMAT", "text"))
			return relay.Run(cmd.Context(), relay.Options{
				StatePath:      or(e, f.state, "MOONWAKE_RELAY_STATE", DefaultRelayState),
				Hub:            or(e, f.hub, "MOONWAKE_HUB", ""),
				Name:           or(e, f.name, "MOONWAKE_RELAY_NAME", ""),
				TokenFile:      or(e, f.tokenFile, "MOONWAKE_RELAY_TOKEN_FILE", ""),
				HubFingerprint: or(e, f.fingerprint, "MOONWAKE_HUB_FINGERPRINT", ""),
				TLSFingerprint: or(e, f.tlsFingerprint, "MOONWAKE_HUB_TLS_FINGERPRINT", ""),
				Networks:       nets, HealthListen: or(e, f.health, "MOONWAKE_RELAY_HEALTH_LISTEN", ""),
				PassthroughListen: splitList(or(e, f.passthrough, "MOONWAKE_PASSTHROUGH_LISTEN", "")),
				DiscoverySweep:    sweep,
				Software:          "moonwake " + moonwake.Version, Logger: log,
			})
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&f.name, "name", "", "the relay's `name` when it enrols with a token (or MOONWAKE_RELAY_NAME)")
	cmd.Flags().StringVar(&f.tokenFile, "token-file", "", "`file` holding a relay enrolment token (or MOONWAKE_RELAY_TOKEN_FILE)")
	cmd.Flags().StringVar(&f.fingerprint, "hub-fingerprint", "", "the hub key's `fingerprint`, checked when it enrols (or MOONWAKE_HUB_FINGERPRINT)")
	cmd.Flags().StringVar(&f.tlsFingerprint, "tls-fingerprint", "", "the `fingerprint` of the hub's self-signed TLS certificate, pinned when it enrols (or MOONWAKE_HUB_TLS_FINGERPRINT)")
	cmd.Flags().StringVar(&f.networks, "networks", "", "networks it serves, comma-separated `CIDRs` (or MOONWAKE_RELAY_NETWORKS; default: its interfaces')")
	cmd.Flags().StringVar(&f.health, "health-listen", "", "`address` of GET /healthz and /readyz (or MOONWAKE_RELAY_HEALTH_LISTEN)")
	cmd.Flags().StringVar(&f.logFormat, "log-format", "", "text or json (or MOONWAKE_LOG_FORMAT)")
	cmd.Flags().StringVar(&f.passthrough, "passthrough-listen", "", "UDP `addresses` for Moonlight's magic packets from outside, comma-separated, e.g. :47009 (or MOONWAKE_PASSTHROUGH_LISTEN)")
	cmd.Flags().BoolVar(&f.sweep, "discovery-sweep", false, "let the hub ask for a sweep of a subnet this relay serves, at most a /22, 50 addresses a second (or MOONWAKE_RELAY_DISCOVERY_SWEEP=true)")
	cmd.AddCommand(newRelayPairCmd(e))
	return cmd
}

// splitList splits a comma-separated list, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func relayLogger(e *env, format string) *slog.Logger {
	if format == "json" {
		return slog.New(slog.NewJSONHandler(e.stderr, nil))
	}
	return slog.New(slog.NewTextHandler(e.stderr, nil))
}

func newRelayPairCmd(e *env) *cobra.Command {
	var f relayFlags
	var code, fingerprint, tlsFingerprint string
	cmd := &cobra.Command{
		Use:   "pair --hub URL --code CODE [--hub-fingerprint FP] [--tls-fingerprint FP]",
		Short: "Pair this relay with a hub, with a code from \"moonwake relays pair NAME\"",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			hub := or(e, f.hub, "MOONWAKE_HUB", "")
			if hub == "" || code == "" {
				return usagef("give --hub URL and --code CODE (from: moonwake relays pair NAME)")
			}
			st, err := relay.Pair(cmd.Context(), relay.PairOptions{Hub: hub, Code: code, HubFingerprint: fingerprint, TLSFingerprint: tlsFingerprint, Software: "moonwake " + moonwake.Version})
			if err != nil {
				return err
			}
			path := or(e, f.state, "MOONWAKE_RELAY_STATE", DefaultRelayState)
			if err := relay.WriteState(path, st); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "Paired as relay %s (%s). Its key is in %s. Now run: moonwake relay\n", st.Name, st.ID, path)
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&code, "code", "", "the one-time pairing `code`")
	cmd.Flags().StringVar(&fingerprint, "hub-fingerprint", "", "the hub key's `fingerprint`, as the pairing code was shown with")
	cmd.Flags().StringVar(&tlsFingerprint, "tls-fingerprint", "", "the `fingerprint` of the hub's self-signed TLS certificate, as the pairing code was shown with")
	return cmd
}

func newRelaysCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "relays",
		Short: "List, pair and forget the hub's relays",
	}
	cmd.AddCommand(newRelaysListCmd(e), newRelaysPairCmd(e), newRelaysForgetCmd(e))
	return cmd
}

func newRelaysListCmd(e *env) *cobra.Command {
	var hf hubFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the relays: their networks, version, and when they were last seen",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := hf.client(e)
			if err != nil {
				return err
			}
			rs, err := c.ListRelays(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(e.stdout, rs)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSTATE\tNETWORKS\tSTANDBY FOR\tVERSION\tLAST SEEN")
			for _, r := range rs {
				state := "offline"
				if r.Connected {
					state = "online"
				}
				seen := "never"
				if r.LastSeen != nil {
					seen = r.LastSeen.Local().Format(time.DateTime)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, state, dash(strings.Join(r.Networks, ",")),
					dash(strings.Join(r.Standby, ",")), dash(r.Software), seen)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	hf.register(cmd)
	return cmd
}

func newRelaysPairCmd(e *env) *cobra.Command {
	var hf hubFlags
	cmd := &cobra.Command{
		Use:   "pair NAME",
		Short: "Print a one-time code that pairs the relay called NAME",
		Long: `Print a one-time code that pairs the relay called NAME with this hub, and
the command to run on the relay. Pairing again replaces the relay's key.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := hf.client(e)
			if err != nil {
				return err
			}
			p, err := c.PairRelay(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "On the relay's host, run within %s:\n\n  moonwake relay pair --hub %s --code %s --hub-fingerprint %s%s\n\n",
				time.Until(p.ExpiresAt).Round(time.Minute), c.BaseURL, p.Code, p.HubFingerprint, tlsPin(p.TLSFingerprint))
			return nil
		},
	}
	hf.register(cmd)
	return cmd
}

func newRelaysForgetCmd(e *env) *cobra.Command {
	var hf hubFlags
	cmd := &cobra.Command{
		Use:   "forget NAME",
		Short: "Forget a relay: its key, its pending codes, its uplink",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := hf.client(e)
			if err != nil {
				return err
			}
			return c.DeleteRelay(cmd.Context(), args[0])
		},
	}
	hf.register(cmd)
	return cmd
}
