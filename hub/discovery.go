package hub

import (
	"context"
	"net"
	"net/netip"

	"github.com/moonwake/moonwake/hub/discover"
	"github.com/moonwake/moonwake/hub/remote"
	"github.com/moonwake/moonwake/lan"
)

// openDiscovery builds "Add machine"'s discovery: the hub's own neighbour
// table and its relays', named by reverse DNS and mDNS unless
// ui.reverse_dns is off (then nothing leaves the hub or a relay for it).
func (h *Hub) openDiscovery() *discover.Service {
	names := h.cfg.UI.ReverseDNSOn()
	local := &lan.Scanner{Namer: lan.Namer{MDNSOff: !names}}
	if names {
		local.Namer.LookupAddr = net.DefaultResolver.LookupAddr
	}
	return discover.New(discover.Options{
		Machines: h.machines, Local: local.Scan, Sweep: h.remote.Relays.Sweep, Logger: h.log,
		Relays: func(ctx context.Context) []discover.RelayTable {
			return relayTables(h.remote.Relays.Neighbours(ctx, names))
		},
	})
}

// relayTables turns the relays' answers into discovery's terms; the
// reports are checked already (relay.ParseNeighboursReport).
func relayTables(in []remote.RelayNeighbours) []discover.RelayTable {
	out := make([]discover.RelayTable, 0, len(in))
	for _, r := range in {
		t := discover.RelayTable{Relay: r.Relay, Err: r.Err, Sweep: r.Report.Sweep, Networks: r.Report.Networks}
		for _, d := range r.Report.Devices {
			ip, err := netip.ParseAddr(d.IP)
			mac, merr := net.ParseMAC(d.MAC)
			if err != nil || merr != nil {
				continue
			}
			t.Devices = append(t.Devices, lan.Device{IP: ip, MAC: mac, Names: d.Names})
		}
		out = append(out, t)
	}
	return out
}
