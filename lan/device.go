package lan

import (
	"bytes"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/probe"
)

// Device is a neighbour worth suggesting as a machine.
type Device struct {
	IP      netip.Addr
	MAC     net.HardwareAddr
	Ifindex int      // the interface it is seen on, in this host's namespace
	Names   []string // reverse DNS and mDNS names, without the final dot
}

// Pick keeps the entries of a neighbour table worth suggesting: resolved,
// with a unicast Ethernet MAC, at an address a machine's host can name,
// one per MAC (its IPv4 address first), at most max, sorted by address.
// Unresolved entries (failed, incomplete), multicast and broadcast ones,
// loopback and IPv6 link-local addresses are left out.
func Pick(ns []probe.Neighbour, max int) []Device {
	ns = slices.Clone(ns)
	// IPv4 before IPv6, so a device seen both ways is offered by its IPv4.
	slices.SortStableFunc(ns, func(a, b probe.Neighbour) int {
		if a.IP.Is4() != b.IP.Is4() {
			if a.IP.Is4() {
				return -1
			}
			return 1
		}
		return a.IP.Compare(b.IP)
	})
	seen := map[string]bool{}
	var out []Device
	for _, n := range ns {
		if len(out) >= max {
			break
		}
		ip := n.IP.Unmap()
		switch {
		case len(n.MAC) != 6, n.MAC[0]&1 != 0, bytes.Equal(n.MAC, make([]byte, 6)):
			continue // unresolved, multicast or broadcast, or all zeros
		case n.State == 0, n.State.Unresolved(), n.State&probe.NUDNoARP != 0:
			continue
		case !ip.IsValid(), ip.IsMulticast(), ip.IsUnspecified(), ip.IsLoopback():
			continue
		case ip.Is4() && ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
			continue
		case ip.Is6() && ip.IsLinkLocalUnicast():
			continue // fe80::… needs its zone, which a machine's host cannot carry
		}
		mac := n.MAC.String()
		if seen[mac] {
			continue
		}
		seen[mac] = true
		out = append(out, Device{IP: ip.WithZone(""), MAC: slices.Clone(n.MAC), Ifindex: n.Ifindex})
	}
	return out
}

// MachineName makes a machine name from a DNS name: its first label, lower
// case, with anything but a-z, 0-9, '-' and '_' turned into '-'. It
// returns "" when nothing usable is left.
func MachineName(dns string) string {
	label, _, _ := strings.Cut(strings.TrimSuffix(dns, "."), ".")
	var b strings.Builder
	for _, c := range strings.ToLower(label) {
		if b.Len() >= 63 {
			break
		}
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
			b.WriteRune(c)
		default:
			b.WriteByte('-')
		}
	}
	name := strings.TrimLeft(b.String(), "-_")
	if len(name) > 63 {
		name = name[:63]
	}
	name = strings.TrimRight(name, "-_")
	if !moonwake.ValidName(name) {
		return ""
	}
	return name
}
