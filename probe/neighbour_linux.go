//go:build linux

package probe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// NeighbourTable reads the kernel's neighbour table over one netlink route
// socket, opened on first use (through Enter, so in its namespace) and
// kept until Close. Lookups are serialised on that socket; each is two
// short round trips to the kernel, so ten thousand a second cost little.
type NeighbourTable struct {
	// Enter runs f with the calling goroutine in the namespace whose table
	// is read; nil reads the process's own.
	Enter func(f func() error) error

	mu      sync.Mutex
	fd      int
	open    bool
	closed  bool
	seq     uint32
	buf     []byte
	noGet   bool // the kernel cannot get one entry (before Linux 5.0): dump
	arpFD   int
	arpOpen bool
	routes  map[netip.Addr]cachedRoute
}

// Lookup returns the entry for ip on the interface the kernel would use to
// reach it. ErrLocal, ErrNotOnLink (wrapped, with the router's address)
// and ErrNoEntry say why there is none to check.
func (t *NeighbourTable) Lookup(ip netip.Addr) (Neighbour, error) {
	ip = ip.Unmap()
	if !ip.IsValid() {
		return Neighbour{}, errors.New("neighbour: invalid address")
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.openLocked(); err != nil {
		return Neighbour{}, err
	}
	ifindex := 0
	if zone := ip.Zone(); zone != "" {
		err := inNamespace(t.Enter, func() error {
			ifi, err := net.InterfaceByName(zone)
			if err == nil {
				ifindex = ifi.Index
			}
			return err
		})
		if err != nil {
			return Neighbour{}, fmt.Errorf("neighbour %s: %w", ip, err)
		}
	} else {
		r, err := t.route(ip)
		if err != nil {
			return Neighbour{}, fmt.Errorf("neighbour %s: route: %w", ip, err)
		}
		switch {
		case r.Type == rtnLocal:
			return Neighbour{}, ErrLocal
		case r.Type != rtnUnicast:
			return Neighbour{}, fmt.Errorf("neighbour %s: route of type %d", ip, r.Type)
		case r.Gateway.IsValid():
			return Neighbour{}, fmt.Errorf("%w: via %s", ErrNotOnLink, r.Gateway)
		case r.Multi:
			return Neighbour{}, fmt.Errorf("%w: several next hops", ErrNotOnLink)
		}
		ifindex = r.Ifindex
	}
	key := ip.WithZone("")
	if !t.noGet {
		n, err := t.get(key, ifindex)
		switch {
		case errors.Is(err, unix.ENOENT):
			return Neighbour{}, ErrNoEntry
		case errors.Is(err, unix.EINVAL), errors.Is(err, unix.EOPNOTSUPP):
			t.noGet = true
		case err != nil:
			return Neighbour{}, fmt.Errorf("neighbour %s: %w", ip, err)
		default:
			return n, nil
		}
	}
	all, err := t.dump(key)
	if err != nil {
		return Neighbour{}, fmt.Errorf("neighbour %s: %w", ip, err)
	}
	for _, n := range all {
		if n.IP == key && (ifindex == 0 || n.Ifindex == ifindex) {
			return n, nil
		}
	}
	return Neighbour{}, ErrNoEntry
}

// Solicit sends an ARP request for ip (IPv4 on a directly connected link)
// when the kernel's entry for it exists but is unresolved: incomplete or
// failed. The kernel itself asks again only once a second while an entry
// is incomplete; the answer to this request updates the entry at once and
// releases the packets waiting on it, so a machine that comes up is seen
// within one fast round rather than up to a second later. It needs
// CAP_NET_RAW (as raw ICMP does); it reports whether a request was sent.
func (t *NeighbourTable) Solicit(ip netip.Addr) (bool, error) {
	ip = ip.Unmap()
	if !ip.Is4() {
		return false, nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.openLocked(); err != nil {
		return false, err
	}
	r, err := t.route(ip)
	if err != nil || r.Type != rtnUnicast || r.Gateway.IsValid() || r.Multi || !r.PrefSrc.Is4() || r.Ifindex <= 0 {
		return false, err
	}
	if !t.noGet {
		n, err := t.get(ip, r.Ifindex)
		if err != nil || !n.State.Unresolved() {
			// No entry: the probes create one and the kernel asks at once.
			return false, nil
		}
	}
	err = inNamespace(t.Enter, func() error {
		if !t.arpOpen {
			fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0) // protocol 0: receives nothing
			if err != nil {
				return err
			}
			t.arpFD, t.arpOpen = fd, true
		}
		ifi, err := net.InterfaceByIndex(r.Ifindex)
		if err != nil {
			return err
		}
		if len(ifi.HardwareAddr) != 6 {
			return fmt.Errorf("%s has no Ethernet address", ifi.Name)
		}
		const ethPARP = 0x0806
		pkt := make([]byte, 28)
		binary.BigEndian.PutUint16(pkt[0:], 1)      // Ethernet
		binary.BigEndian.PutUint16(pkt[2:], 0x0800) // IPv4
		pkt[4], pkt[5] = 6, 4
		binary.BigEndian.PutUint16(pkt[6:], 1) // request
		copy(pkt[8:14], ifi.HardwareAddr)
		src := r.PrefSrc.As4()
		copy(pkt[14:18], src[:])
		dst := ip.As4()
		copy(pkt[24:28], dst[:])
		sa := &unix.SockaddrLinklayer{Protocol: htons(ethPARP), Ifindex: r.Ifindex, Halen: 6}
		copy(sa.Addr[:], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
		return unix.Sendto(t.arpFD, pkt, 0, sa)
	})
	if err != nil {
		return false, fmt.Errorf("solicit %s: %w", ip, err)
	}
	return true, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// Close closes the socket. Lookups after Close fail.
func (t *NeighbourTable) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	var err error
	if t.arpOpen {
		err = unix.Close(t.arpFD)
		t.arpOpen = false
	}
	if !t.open {
		return err
	}
	t.open = false
	return errors.Join(err, unix.Close(t.fd))
}

func (t *NeighbourTable) openLocked() error {
	if t.closed {
		return errors.New("neighbour: table closed")
	}
	if t.open {
		return nil
	}
	err := inNamespace(t.Enter, func() error {
		fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
		if err != nil {
			return err
		}
		tv := unix.Timeval{Sec: 2}
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			unix.Close(fd)
			return err
		}
		if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
			unix.Close(fd)
			return err
		}
		t.fd = fd
		return nil
	})
	if err != nil {
		return fmt.Errorf("neighbour: netlink socket: %w", err)
	}
	t.open = true
	t.buf = make([]byte, 64<<10)
	return nil
}

// exchange sends one request and calls f for each answer message with its
// sequence number until f says done. Answers to earlier requests that timed
// out are skipped.
func (t *NeighbourTable) exchange(req []byte, seq uint32, f func(nlMessage) (done bool, err error)) error {
	if err := unix.Sendto(t.fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}
	for {
		n, _, err := unix.Recvfrom(t.fd, t.buf, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		msgs, err := splitMessages(t.buf[:n])
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if m.Seq != seq {
				continue
			}
			if m.Type == nlmsgError {
				if err := parseError(m.Body); err != nil {
					return err
				}
				return nil // an acknowledgement ends the exchange
			}
			if done, err := f(m); done || err != nil {
				return err
			}
		}
	}
}

func (t *NeighbourTable) nextSeq() uint32 {
	t.seq++
	return t.seq
}

// routeTTL is how long a route answer is reused: routes change rarely
// (an interface or a DHCP lease), and every round of every machine needs
// one, twice.
const routeTTL = 5 * time.Second

// route asks the kernel how it reaches ip (RTM_GETROUTE, like "ip route
// get"), or reuses an answer younger than routeTTL.
func (t *NeighbourTable) route(ip netip.Addr) (route, error) {
	now := time.Now()
	if c, ok := t.routes[ip]; ok && now.Sub(c.at) < routeTTL {
		return c.r, nil
	}
	r, err := t.askRoute(ip)
	if err != nil {
		return r, err
	}
	if t.routes == nil || len(t.routes) >= 1<<16 {
		t.routes = map[netip.Addr]cachedRoute{}
	}
	t.routes[ip] = cachedRoute{r: r, at: now}
	return r, nil
}

type cachedRoute struct {
	r  route
	at time.Time
}

func (t *NeighbourTable) askRoute(ip netip.Addr) (route, error) {
	seq := t.nextSeq()
	hdr := make([]byte, rtmsgLen)
	hdr[0] = family(ip)
	hdr[1] = byte(ip.BitLen()) // rtm_dst_len
	req := nlRequest(rtmGetRoute, nlmFRequest, seq, hdr, nlAttr{rtaDst, ip.AsSlice()})
	var r route
	var got bool
	err := t.exchange(req, seq, func(m nlMessage) (bool, error) {
		if m.Type != rtmNewRoute {
			return false, nil
		}
		var err error
		r, err = parseRoute(m.Body)
		got = true
		return true, err
	})
	if err == nil && !got {
		err = errors.New("no answer")
	}
	return r, err
}

// get asks for one entry (RTM_GETNEIGH without NLM_F_DUMP, Linux 5.0+).
func (t *NeighbourTable) get(ip netip.Addr, ifindex int) (Neighbour, error) {
	seq := t.nextSeq()
	hdr := make([]byte, ndmsgLen)
	hdr[0] = family(ip)
	binary.NativeEndian.PutUint32(hdr[4:8], uint32(int32(ifindex)))
	req := nlRequest(rtmGetNeigh, nlmFRequest, seq, hdr, nlAttr{ndaDst, ip.AsSlice()})
	var n Neighbour
	var got bool
	err := t.exchange(req, seq, func(m nlMessage) (bool, error) {
		if m.Type != rtmNewNeigh {
			return false, nil
		}
		var err error
		n, err = parseNeighbour(m.Body)
		got = true
		return true, err
	})
	if err == nil && !got {
		err = unix.ENOENT
	}
	return n, err
}

// dump reads the whole table of ip's family.
func (t *NeighbourTable) dump(ip netip.Addr) ([]Neighbour, error) {
	seq := t.nextSeq()
	hdr := make([]byte, ndmsgLen)
	hdr[0] = family(ip)
	req := nlRequest(rtmGetNeigh, nlmFRequest|nlmFDump, seq, hdr)
	var out []Neighbour
	err := t.exchange(req, seq, func(m nlMessage) (bool, error) {
		switch m.Type {
		case nlmsgDone:
			return true, nil
		case rtmNewNeigh:
			n, err := parseNeighbour(m.Body)
			if err != nil {
				return true, err
			}
			out = append(out, n)
		}
		return false, nil
	})
	return out, err
}

// LookupNeighbour reads the entry for ip from the process's own table with
// a socket of its own: the MAC (nil while unresolved), the kernel's state
// ("reachable", "stale", "failed" …) and an error as NeighbourTable.Lookup.
func LookupNeighbour(ip netip.Addr) (net.HardwareAddr, string, error) {
	t := &NeighbourTable{}
	defer t.Close()
	n, err := t.Lookup(ip)
	if err != nil {
		return nil, "", err
	}
	return n.MAC, n.State.String(), nil
}
