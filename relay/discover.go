package relay

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/lan"
	"github.com/moonwake/moonwake/uplink"
)

// neighbours lists the devices in the relay's neighbour table, named from
// its own LAN when the order asks.
func (r *Relay) neighbours(ctx context.Context, o NeighboursOrder) (NeighboursReport, error) {
	sc := lan.Scanner{List: r.o.Neighbours, Max: MaxNeighbours, Namer: lan.Namer{MDNSOff: !o.Names}}
	if o.Names {
		sc.Namer.LookupAddr = net.DefaultResolver.LookupAddr
	}
	ds, err := sc.Scan(ctx)
	if err != nil {
		return NeighboursReport{}, moonwake.Errorf(moonwake.EUnavailable, "%v", err)
	}
	rep := NeighboursReport{Devices: make([]NeighbourDevice, 0, len(ds)), Sweep: r.o.DiscoverySweep}
	for _, d := range ds {
		nd := NeighbourDevice{IP: d.IP.String(), MAC: d.MAC.String()}
		for _, n := range d.Names {
			if len(nd.Names) < maxNeighbourNames && len(n) <= maxNeighbourName {
				nd.Names = append(nd.Names, n)
			}
		}
		rep.Devices = append(rep.Devices, nd)
	}
	if nets, err := r.served(); err == nil {
		for _, p := range nets {
			if p.Addr().Is4() {
				rep.Networks = append(rep.Networks, p.String())
			}
		}
	}
	return rep, nil
}

// served are the networks the relay serves: those it was given, else its
// interfaces'.
func (r *Relay) served() ([]netip.Prefix, error) {
	if r.o.Networks != nil {
		return r.o.Networks, nil
	}
	return r.networks()
}

// sweep decides on a sweep order: a subnet the relay serves, on one of its
// links, at most a /22, and none running. It answers at once; the sweep
// itself runs after the answer, in Then, about 50 addresses a second.
func (r *Relay) sweep(o SweepOrder) (SweepReport, uplink.Then) {
	refuse := func(code, format string, args ...any) (SweepReport, uplink.Then) {
		return SweepReport{Code: code, Error: fmt.Sprintf(format, args...)}, nil
	}
	if !r.o.DiscoverySweep {
		return refuse(moonwake.EForbidden, "sweeping is not enabled on this relay (--discovery-sweep, MOONWAKE_RELAY_DISCOVERY_SWEEP=true)")
	}
	served, err := r.served()
	if err != nil {
		return refuse(moonwake.EUnavailable, "list this relay's networks: %v", err)
	}
	var v4 []string
	for _, p := range served {
		if p.Addr().Is4() {
			v4 = append(v4, p.String())
		}
	}
	var p netip.Prefix
	switch {
	case o.Network != "":
		if p, err = netip.ParsePrefix(o.Network); err != nil {
			return refuse(moonwake.EInvalid, "network %q is not a CIDR prefix like 192.168.1.0/24", trimText(o.Network))
		}
	case len(v4) == 1:
		p = netip.MustParsePrefix(v4[0])
	default:
		return refuse(moonwake.EInvalid, "name the network to sweep: this relay serves %s", orNone(v4))
	}
	p = p.Masked()
	within := func(outer netip.Prefix) bool { return outer.Bits() <= p.Bits() && outer.Contains(p.Addr()) }
	if !slices.ContainsFunc(served, within) {
		return refuse(moonwake.EInvalid, "%s is not a network this relay serves (%s)", p, orNone(v4))
	}
	ifs, err := r.ifs()
	if err != nil {
		return refuse(moonwake.EUnavailable, "list this relay's interfaces: %v", err)
	}
	onLink := false
	for _, i := range ifs {
		if i.Up && !i.Loopback {
			onLink = onLink || slices.ContainsFunc(i.Prefixes, func(q netip.Prefix) bool { return within(q.Masked()) })
		}
	}
	if !onLink {
		return refuse(moonwake.EInvalid, "%s is on none of this relay's links: a sweep would go through a router", p)
	}
	addrs, err := lan.SweepAddrs(p)
	if err != nil {
		return refuse(moonwake.EInvalid, "%v", err)
	}
	wait := r.sweepWait
	if wait <= 0 {
		wait = 5 * time.Second
	}
	r.sweepMu.Lock()
	now := time.Now()
	if r.sweeping || now.Before(r.sweepBusy) {
		r.sweepMu.Unlock()
		return refuse(moonwake.EConflict, "a sweep is running on this relay (one takes at most %s); try again when it is done", maxSweepTime)
	}
	// Held until the sweep starts, once the answer has gone out; an
	// answer that never goes out (Then never runs) must not hold the
	// relay for ever.
	r.sweepGen++
	gen := r.sweepGen
	r.sweepBusy = now.Add(wait)
	r.sweepMu.Unlock()
	rep := SweepReport{Network: p.String(), Addresses: len(addrs), Rate: lan.SweepRate}
	return rep, func(ctx context.Context) error {
		r.sweepMu.Lock()
		if r.sweepGen != gen {
			// Too late: its answer was taken for lost, and another
			// sweep was ordered since.
			r.sweepMu.Unlock()
			return nil
		}
		r.sweeping, r.sweepBusy = true, time.Time{}
		r.sweepMu.Unlock()
		defer func() {
			r.sweepMu.Lock()
			r.sweeping = false
			r.sweepMu.Unlock()
		}()
		send := r.sweepSend
		if send == nil {
			u, err := lan.NewUDPProber()
			if err != nil {
				return err
			}
			defer u.Close()
			send = u.Send
		}
		n, err := lan.Sweep(ctx, addrs, lan.SweepRate, send)
		if err != nil {
			r.log.Warn("sweep stopped", "network", p.String(), "addresses", n, "error", err)
			return err
		}
		r.log.Info("swept a subnet for discovery", "network", p.String(), "addresses", n)
		return nil
	}
}

// maxSweepTime is how long the widest sweep takes: a /22 at lan.SweepRate.
const maxSweepTime = time.Duration(1<<(32-lan.MinSweepBits)-2) * time.Second / lan.SweepRate

func orNone(v []string) string {
	if len(v) == 0 {
		return "no IPv4 network"
	}
	return strings.Join(v, ", ")
}

// trimText cuts what the hub sent to a length fit for an error message.
func trimText(s string) string {
	if len(s) > 64 {
		return s[:64]
	}
	return s
}
