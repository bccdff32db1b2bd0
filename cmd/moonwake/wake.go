package main

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/spf13/cobra"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/hub/config"
	"github.com/moonwake/moonwake/wol"
)

type wakeFlags struct {
	iface     string
	broadcast string
	port      int
	password  string
	raw       bool
	ipv6      bool
	unicast   []string
	count     int
	interval  time.Duration
	config    string
	dryRun    bool
	quiet     bool
	noWait    bool
	hub       hubFlags
}

func newWakeCmd(e *env) *cobra.Command {
	var f wakeFlags
	cmd := &cobra.Command{
		Use:   "wake MAC|NAME",
		Short: "Send a Wake-on-LAN magic packet, here or through a hub",
		Long: `Send a Wake-on-LAN magic packet to wake a machine.

Without --hub, moonwake sends the packet itself, from this host: no hub is
needed. The target is a MAC address in any common form
(aa:bb:cc:dd:ee:ff, aa-bb-cc-dd-ee-ff, aabb.ccdd.eeff, aabbccddeeff) or the
name of a machine declared in the config file given with --config.

Where the packet goes:
  (nothing)          the subnet broadcast of every up interface, never
                     255.255.255.255, which leaves by the wrong interface
                     on a host with several networks
  --interface IF     the subnet broadcast of IF only
  --broadcast ADDR   this address (a subnet broadcast, or any address)
  --unicast ADDR     also this address (repeatable), to cross a router
  --ipv6             also ff02::1 (all nodes) on --interface
  --raw              a raw Ethernet frame (EtherType 0x0842) on --interface,
                     as etherwake sends; needs root or CAP_NET_RAW

With --hub URL (or MOONWAKE_HUB), the hub wakes the machine NAME and records
the action; --token (or MOONWAKE_TOKEN) authenticates.

Bad input is refused before anything is sent, with exit code 2.`,
		Example: `  moonwake wake aa:bb:cc:dd:ee:ff
  moonwake wake AABB.CCDD.EEFF --interface eth0
  moonwake wake aa-bb-cc-dd-ee-ff --broadcast 192.168.1.255 --port 7
  moonwake wake aa:bb:cc:dd:ee:ff --password 01:02:03:04:05:06 --count 5
  sudo moonwake wake aa:bb:cc:dd:ee:ff --raw --interface eth0
  moonwake wake gaming-pc --config /etc/moonwake/moonwake.yaml
  moonwake wake gaming-pc --hub https://wake.example.org --token mw_…`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.hub.url(e) != "" {
				return wakeViaHub(cmd, e, &f, args[0])
			}
			return wakeHere(cmd, e, &f, args[0])
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.iface, "interface", "i", "", "send on this interface's subnet broadcast (or raw frame)")
	fl.StringVarP(&f.broadcast, "broadcast", "b", "", "send to this broadcast `address`")
	fl.IntVarP(&f.port, "port", "p", 0, "UDP port (default 9; 7 is the other usual one)")
	fl.StringVar(&f.password, "password", "", "SecureOn password, 4 or 6 bytes (hex, aa:bb:cc:dd:ee:ff or a.b.c.d)")
	fl.BoolVar(&f.raw, "raw", false, "send a raw Ethernet frame on --interface instead of UDP")
	fl.BoolVar(&f.ipv6, "ipv6", false, "also send to ff02::1 on --interface")
	fl.StringArrayVar(&f.unicast, "unicast", nil, "also send to this `address` (repeatable)")
	fl.IntVarP(&f.count, "count", "c", 3, "how many times to send to each target")
	fl.DurationVar(&f.interval, "interval", 100*time.Millisecond, "pause between repeats")
	fl.StringVar(&f.config, "config", "", "config `file` declaring machines by name (or MOONWAKE_CONFIG)")
	fl.BoolVarP(&f.dryRun, "dry-run", "n", false, "print where packets would go, send nothing")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "print nothing on success")
	fl.BoolVar(&f.noWait, "no-wait", false, "with --hub: return once the hub has accepted the wake")
	f.hub.register(cmd)
	_ = cmd.MarkFlagFilename("config", "yaml", "yml")
	_ = cmd.RegisterFlagCompletionFunc("interface", completeInterfaces)
	return cmd
}

// wakeHere sends the packets from this host.
func wakeHere(cmd *cobra.Command, e *env, f *wakeFlags, arg string) error {
	m, err := resolveTarget(e, f, arg)
	if err != nil {
		return err
	}
	o, pkt, err := wakeOptions(cmd, f, m)
	if err != nil {
		return err
	}
	if f.count < 1 || f.count > 100 {
		return usagef("--count %d: want 1 to 100", f.count)
	}
	if f.interval < 0 || f.interval > time.Minute {
		return usagef("--interval %s: want 0 to 1m", f.interval)
	}
	ifs, err := wol.Interfaces()
	if err != nil {
		return err
	}
	targets, err := wol.Plan(o, ifs)
	if err != nil {
		return usagef("%v", err)
	}
	b, err := pkt.MarshalBinary()
	if err != nil {
		return usagef("%v", err)
	}
	label := pkt.Target.String()
	if m.Name != "" {
		label = m.Name + " (" + label + ")"
	}
	if f.dryRun {
		for _, t := range targets {
			fmt.Fprintf(e.stdout, "would send magic packet for %s to %s (%s) ×%d\n", label, t, t.Via, f.count)
		}
		return nil
	}
	var s wol.Sender
	defer s.Close()
	sent := map[wol.Target]int{}
	err = s.SendRepeated(cmd.Context(), b, targets, f.count, f.interval, func(r wol.Result) {
		if r.Err == nil {
			sent[r.Target]++
		}
	})
	if !f.quiet {
		for _, t := range targets {
			if sent[t] > 0 {
				fmt.Fprintf(e.stdout, "sent magic packet for %s to %s (%s) ×%d\n", label, t, t.Via, sent[t])
			}
		}
	}
	if err != nil {
		return fmt.Errorf("wake %s: %w", label, err)
	}
	return nil
}

// resolveTarget turns a MAC or a configured name into a machine.
func resolveTarget(e *env, f *wakeFlags, arg string) (*moonwake.Machine, error) {
	mac, macErr := wol.ParseMAC(arg)
	if macErr == nil {
		return &moonwake.Machine{MAC: mac.String()}, nil
	}
	path := f.config
	if path == "" {
		path = e.getenv("MOONWAKE_CONFIG")
	}
	if !moonwake.ValidName(arg) || path == "" {
		if moonwake.ValidName(arg) {
			return nil, usagef("%v; to wake a machine by name, give --config FILE or --hub URL", macErr)
		}
		return nil, usagef("%v", macErr)
	}
	cfg, err := config.Load(path, nil)
	if err != nil {
		return nil, usagef("%v", err)
	}
	m, ok := cfg.FindMachine(arg)
	if !ok {
		return nil, usagef("%q is not a MAC address, and %s declares no machine by that name", arg, path)
	}
	return m, nil
}

// wakeOptions merges a machine's settings with the flags (flags win).
func wakeOptions(cmd *cobra.Command, f *wakeFlags, m *moonwake.Machine) (wol.Options, *wol.Packet, error) {
	o := wol.Options{Interface: m.Interface, Port: m.Port, Raw: f.raw, IPv6: f.ipv6}
	bcast, pw := m.Broadcast, m.Password
	if cmd.Flags().Changed("interface") {
		o.Interface = f.iface
	}
	if cmd.Flags().Changed("broadcast") {
		bcast = f.broadcast
	}
	if cmd.Flags().Changed("port") {
		if f.port < 1 || f.port > 65535 {
			return o, nil, usagef("--port %d: want 1 to 65535", f.port)
		}
		o.Port = f.port
	}
	if cmd.Flags().Changed("password") {
		pw = f.password
	}
	if bcast != "" {
		a, err := wol.ParseAddr(bcast)
		if err != nil {
			return o, nil, usagef("--broadcast: %v", err)
		}
		o.Broadcast = a
	}
	if m.Host != "" {
		if a, err := netip.ParseAddr(m.Host); err == nil {
			o.Unicast = append(o.Unicast, a)
		}
	}
	for _, u := range f.unicast {
		a, err := wol.ParseAddr(u)
		if err != nil {
			return o, nil, usagef("--unicast: %v", err)
		}
		o.Unicast = append(o.Unicast, a)
	}
	mac, err := wol.ParseMAC(m.MAC)
	if err != nil {
		return o, nil, usagef("%v", err)
	}
	pkt := &wol.Packet{Target: mac}
	if pw != "" {
		p, err := wol.ParsePassword(pw)
		if err != nil {
			return o, nil, usagef("--password: %v", err)
		}
		pkt.Password = p
	}
	return o, pkt, nil
}

// completeInterfaces offers the host's interface names.
func completeInterfaces(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	ifs, err := wol.Interfaces()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var names []string
	for _, i := range ifs {
		names = append(names, i.Name)
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}
