package wol

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Via says how a packet travels.
const (
	ViaUDP = "udp" // a UDP datagram, IPv4 or IPv6
	ViaRaw = "raw" // an Ethernet frame with EtherType 0x0842
)

// Target is one destination of a magic packet.
type Target struct {
	Via       string
	Addr      netip.AddrPort // ViaUDP: destination, with a zone for link-local IPv6
	Interface string         // ViaRaw: the interface to send the frame on
}

// String renders t for logs and action records: "10.0.0.255:9",
// "[ff02::1%eth0]:9" or "eth0".
func (t Target) String() string {
	if t.Via == ViaRaw {
		return t.Interface
	}
	return t.Addr.String()
}

// Options say where to send a magic packet. The zero value means "the
// subnet-directed broadcast of every suitable interface, port 9".
type Options struct {
	Interface string       // send on this interface's subnet broadcast(s)
	Broadcast netip.Addr   // or to this address (takes precedence over Interface's IPv4 broadcasts)
	Port      int          // UDP port; 0 means DefaultPort
	Unicast   []netip.Addr // also send to these addresses
	IPv6      bool         // also send to ff02::1 on Interface
	Raw       bool         // send a raw Ethernet frame on Interface instead of UDP
}

// Iface is what Plan needs to know about a network interface.
type Iface struct {
	Name         string
	Up           bool
	Loopback     bool
	Broadcast    bool // supports broadcast
	HardwareAddr net.HardwareAddr
	Prefixes     []netip.Prefix
}

// Interfaces lists the host's interfaces with their addresses.
func Interfaces() ([]Iface, error) {
	nis, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %w", err)
	}
	out := make([]Iface, 0, len(nis))
	for _, ni := range nis {
		addrs, err := ni.Addrs()
		if err != nil {
			return nil, fmt.Errorf("addresses of %s: %w", ni.Name, err)
		}
		ifc := Iface{
			Name:         ni.Name,
			Up:           ni.Flags&net.FlagUp != 0,
			Loopback:     ni.Flags&net.FlagLoopback != 0,
			Broadcast:    ni.Flags&net.FlagBroadcast != 0,
			HardwareAddr: ni.HardwareAddr,
		}
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok {
				ip, _ := netip.AddrFromSlice(ipn.IP)
				ones, _ := ipn.Mask.Size()
				ifc.Prefixes = append(ifc.Prefixes, netip.PrefixFrom(ip.Unmap(), ones))
			}
		}
		out = append(out, ifc)
	}
	return out, nil
}

// InterfaceCache remembers Interfaces for a while: listing them is a netlink
// round trip per interface, too slow to repeat on every wake of a busy hub.
type InterfaceCache struct {
	TTL time.Duration

	mu   sync.Mutex
	at   time.Time
	list []Iface
}

// Interfaces returns the cached list, refreshed when older than TTL.
func (c *InterfaceCache) Interfaces() ([]Iface, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.list != nil && time.Since(c.at) < c.TTL {
		return c.list, nil
	}
	list, err := Interfaces()
	if err != nil {
		return nil, err
	}
	c.list, c.at = list, time.Now()
	return list, nil
}

// DirectedBroadcast returns the subnet-directed broadcast address of an IPv4
// prefix (10.1.2.255 for 10.1.2.3/24). It reports false for IPv6 and for /31
// and /32, which have no broadcast address, and when the result would be
// the limited broadcast 255.255.255.255 (a /0 prefix, or class E), which is
// not directed at any subnet.
func DirectedBroadcast(p netip.Prefix) (netip.Addr, bool) {
	if !p.Addr().Is4() || p.Bits() > 30 || p.Bits() < 0 {
		return netip.Addr{}, false
	}
	b := p.Addr().As4()
	host := uint32(0xffffffff) >> p.Bits()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) | host
	if v == 0xffffffff {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true
}

// IPv6AllNodes is the link-local all-nodes multicast group.
var IPv6AllNodes = netip.MustParseAddr("ff02::1")

// Plan turns o into the list of targets to send to, using ifs to resolve
// interface names. It never returns 255.255.255.255 unless asked for it
// explicitly as o.Broadcast.
func Plan(o Options, ifs []Iface) ([]Target, error) {
	port := o.Port
	if port == 0 {
		port = DefaultPort
	}
	if port < 1 || port > 65535 {
		return nil, fmt.Errorf("port %d: must be between 1 and 65535", port)
	}
	find := func(name string) (*Iface, error) {
		for i := range ifs {
			if ifs[i].Name == name {
				return &ifs[i], nil
			}
		}
		return nil, fmt.Errorf("no network interface named %q", name)
	}
	if o.Raw {
		if o.Interface == "" {
			return nil, fmt.Errorf("a raw Ethernet frame needs an interface to send on")
		}
		ifc, err := find(o.Interface)
		if err != nil {
			return nil, err
		}
		if !ifc.Up {
			return nil, fmt.Errorf("interface %s is down", ifc.Name)
		}
		return []Target{{Via: ViaRaw, Interface: ifc.Name}}, nil
	}

	var out []Target
	seen := map[netip.AddrPort]bool{}
	add := func(a netip.Addr, zone string) {
		ap := netip.AddrPortFrom(a.WithZone(zone), uint16(port))
		if !seen[ap] {
			seen[ap] = true
			out = append(out, Target{Via: ViaUDP, Addr: ap})
		}
	}
	broadcastsOf := func(ifc *Iface) []netip.Addr {
		var bs []netip.Addr
		for _, p := range ifc.Prefixes {
			if b, ok := DirectedBroadcast(p); ok {
				bs = append(bs, b)
			}
		}
		return bs
	}

	if o.Broadcast.IsValid() {
		add(o.Broadcast.Unmap(), "")
	}
	if o.Interface != "" {
		ifc, err := find(o.Interface)
		if err != nil {
			return nil, err
		}
		if !ifc.Up {
			return nil, fmt.Errorf("interface %s is down", ifc.Name)
		}
		if !o.Broadcast.IsValid() {
			bs := broadcastsOf(ifc)
			if len(bs) == 0 && !o.IPv6 {
				return nil, fmt.Errorf("interface %s has no IPv4 subnet to broadcast on; give a broadcast address, or use IPv6 or a raw frame", ifc.Name)
			}
			for _, b := range bs {
				add(b, "")
			}
		}
		if o.IPv6 {
			add(IPv6AllNodes, ifc.Name)
		}
	} else if o.IPv6 {
		return nil, fmt.Errorf("IPv6 all-nodes multicast needs an interface to send on")
	}
	for _, u := range o.Unicast {
		add(u.Unmap(), u.Zone()) // a link-local address needs its zone
	}
	if len(out) > 0 {
		return out, nil
	}
	// Nothing given: every up, broadcast-capable, non-loopback interface's
	// own subnet broadcast, never the limited broadcast 255.255.255.255.
	for i := range ifs {
		ifc := &ifs[i]
		if !ifc.Up || ifc.Loopback || !ifc.Broadcast {
			continue
		}
		for _, b := range broadcastsOf(ifc) {
			add(b, "")
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no interface with an IPv4 subnet to broadcast on; give an interface or a broadcast address")
	}
	return out, nil
}

// ParseAddr parses an IP address for Options, with a clear error.
func ParseAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%q is not an IP address", s)
	}
	return a, nil
}
