package lan

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// Bounds of a sweep: the widest subnet, and how many addresses a second.
const (
	MinSweepBits = 22 // a /22: 1022 addresses, about 20 s
	SweepRate    = 50
)

// SweepAddrs lists the host addresses of p, an IPv4 subnet no wider than a
// /22: all but the network and broadcast addresses (a /31 or /32 has
// neither).
func SweepAddrs(p netip.Prefix) ([]netip.Addr, error) {
	if !p.IsValid() || !p.Addr().Unmap().Is4() {
		return nil, fmt.Errorf("sweep %s: only an IPv4 subnet can be swept", p)
	}
	p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()).Masked()
	if p.Bits() < MinSweepBits {
		return nil, fmt.Errorf("sweep %s: wider than a /%d", p, MinSweepBits)
	}
	var out []netip.Addr
	first := p.Addr()
	n := 1 << (32 - p.Bits())
	for i, a := 0, first; i < n; i, a = i+1, a.Next() {
		if n > 2 && (i == 0 || i == n-1) {
			continue // the network and the broadcast address
		}
		out = append(out, a)
	}
	return out, nil
}

// Sweep calls send for each address, rate a second (SweepRate when 0),
// until the list or ctx ends, and returns how many it sent to. An error of
// send stops the sweep.
func Sweep(ctx context.Context, addrs []netip.Addr, rate int, send func(netip.Addr) error) (int, error) {
	if rate <= 0 {
		rate = SweepRate
	}
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	for i, a := range addrs {
		if i > 0 {
			select {
			case <-tick.C:
			case <-ctx.Done():
				return i, ctx.Err()
			}
		}
		if err := send(a); err != nil {
			return i, fmt.Errorf("sweep %s: %w", a, err)
		}
	}
	return len(addrs), nil
}

// UDPProber makes the kernel resolve an address without a raw socket: an
// empty datagram to its discard port (9) needs the neighbour's MAC first,
// so the kernel asks for it (ARP) and keeps what it learns in the
// neighbour table. A device that answers gets the datagram and drops it.
type UDPProber struct{ conn *net.UDPConn }

// NewUDPProber opens the socket.
func NewUDPProber() (*UDPProber, error) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{})
	if err != nil {
		return nil, fmt.Errorf("sweep socket: %w", err)
	}
	return &UDPProber{conn: conn}, nil
}

// Send sends the empty datagram to a:9. The errors a host's absence
// causes later (no ARP answer, an ICMP unreachable) are not reported.
func (u *UDPProber) Send(a netip.Addr) error {
	_, err := u.conn.WriteToUDPAddrPort(nil, netip.AddrPortFrom(a, 9))
	if err != nil && isTransient(err) {
		return nil
	}
	return err
}

// Close closes the socket.
func (u *UDPProber) Close() error { return u.conn.Close() }
