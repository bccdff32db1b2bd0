//go:build linux

package probe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jsimonetti/rtnetlink/v2"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// NeighbourTable reads the kernel's neighbour table over one rtnetlink
// connection, opened on first use (through Enter, so in its namespace) and
// kept until Close. It is made for many concurrent lookups (every probe
// round of a fleet makes one or two):
//
//   - Routes (is the address on a link, and which) are cached per address
//     until the namespace's routes, addresses, links or rules change: a
//     second netlink socket subscribed to those changes is read, without
//     blocking, before the cache is trusted.
//   - Entries are read for the lookups that are waiting together: a
//     lookup that arrives while another read is under way joins the next
//     one, which answers all of its lookups with single gets (a few) or
//     one dump of the table (many). Every lookup is answered by a read
//     that began after it was asked, so an entry is as fresh as one read
//     for that lookup alone.
//
// One lookup alone is two short round trips to the kernel, one while the
// route is cached (16–30µs on a 2-core machine: BenchmarkNeighbourLookup).
type NeighbourTable struct {
	// Enter runs f with the calling goroutine in the namespace whose table
	// is read; nil reads the process's own.
	Enter func(f func() error) error

	closed atomic.Bool

	mu        sync.Mutex      // the connection: one exchange at a time
	conn      *rtnetlink.Conn // nil until first use, and after a failed exchange
	noGet     bool            // the kernel cannot get one entry (before Linux 5.0): dump
	arpFD     int
	arpOpen   bool
	tableSize [2]int // entries in the last dump, IPv4 and IPv6: what a dump costs

	routeMu  sync.Mutex
	routes   map[netip.Addr]cachedRoute
	routeGen uint64 // counts the changes heard
	changes  routeChanges

	readMu   sync.Mutex
	reading  [2]*entryRead            // the read of each family lookups join; nil when none waits
	resolved map[netip.Addr]time.Time // when an entry was last read resolved, for Solicit
}

// Lookup returns the entry for ip on the interface the kernel would use to
// reach it. ErrLocal, ErrNotOnLink (wrapped, with the router's address)
// and ErrNoEntry say why there is none to check.
func (t *NeighbourTable) Lookup(ip netip.Addr) (Neighbour, error) {
	ip = ip.Unmap()
	if !ip.IsValid() {
		return Neighbour{}, errors.New("neighbour: invalid address")
	}
	if t.closed.Load() {
		return Neighbour{}, errClosed
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
		case r.Type == unix.RTN_LOCAL:
			return Neighbour{}, ErrLocal
		case r.Type != unix.RTN_UNICAST:
			return Neighbour{}, fmt.Errorf("neighbour %s: route of type %d", ip, r.Type)
		case r.Gateway.IsValid():
			return Neighbour{}, fmt.Errorf("%w: via %s", ErrNotOnLink, r.Gateway)
		case r.Multi:
			return Neighbour{}, fmt.Errorf("%w: several next hops", ErrNotOnLink)
		}
		ifindex = r.Ifindex
	}
	return t.entry(ip.WithZone(""), ifindex)
}

var errClosed = errors.New("neighbour: table closed")

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
	if t.closed.Load() {
		return false, errClosed
	}
	r, err := t.route(ip)
	if err != nil || r.Type != unix.RTN_UNICAST || r.Gateway.IsValid() || r.Multi || !r.PrefSrc.Is4() || r.Ifindex <= 0 {
		return false, err
	}
	if t.resolvedLately(ip) {
		// It answered ARP moments ago: up, or just gone, and the
		// kernel asks again on its own. A read for it would double the
		// neighbour exchanges of every round of a machine that is up.
		return false, nil
	}
	if n, err := t.entry(ip, r.Ifindex); err != nil || !n.State.Unresolved() {
		// No entry: the probes create one and the kernel asks at once.
		return false, nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed.Load() {
		return false, errClosed
	}
	if err := t.sendARP(ip, r); err != nil {
		return false, fmt.Errorf("solicit %s: %w", ip, err)
	}
	return true, nil
}

// Ask sends an ARP request of its own for ip (IPv4 on a directly
// connected link), whatever the kernel's entry says, and returns when it
// was sent; Answered then tells whether the answer came. An entry that is
// merely still there (reachable for up to a minute after the last answer,
// stale for longer) proves nothing about now; an answer to this request
// does: something at ip answers ARP with that MAC at this moment, as the
// network card of a sleeping PC with ARP offload does for a host that
// answers nothing else.
func (t *NeighbourTable) Ask(ip netip.Addr) (time.Time, error) {
	ip = ip.Unmap()
	if !ip.Is4() {
		return time.Time{}, fmt.Errorf("ask %s: %w: not IPv4", ip, ErrNotOnLink)
	}
	if t.closed.Load() {
		return time.Time{}, errClosed
	}
	r, err := t.route(ip) // takes t.mu itself when it asks the kernel
	if err == nil && (r.Type != unix.RTN_UNICAST || r.Gateway.IsValid() || r.Multi || !r.PrefSrc.Is4() || r.Ifindex <= 0) {
		err = fmt.Errorf("%w: or not a unicast route", ErrNotOnLink)
	}
	if err == nil {
		t.mu.Lock()
		if t.closed.Load() {
			err = errClosed
		} else {
			err = t.sendARP(ip, r)
		}
		t.mu.Unlock()
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("ask %s: %w", ip, err)
	}
	return time.Now(), nil
}

// Answered reports whether n, read after an Ask sent at asked, records
// an answer to it: the entry's confirmation is younger than the request.
// The kernel counts the age in jiffies and gives it in ticks of 10 ms, so
// it may read up to a tick older than the time since the request (or
// younger): an answer within a tick before the request passes too, and
// nothing else at the address answers in that path (a round asks only
// once it has been silent for a while).
func Answered(n Neighbour, asked time.Time) bool {
	return !asked.IsZero() && n.MAC != nil && n.Confirmed >= 0 && n.Confirmed <= time.Since(asked)+ageTick
}

// ageTick is the unit of the kernel's neighbour ages (USER_HZ).
const ageTick = 10 * time.Millisecond

// Confirm is Ask, then waits up to wait for the kernel to record the
// answer. It returns the entry, and whether the answer came. No entry, or
// an address that is not IPv4 on-link, is an error of Lookup's.
func (t *NeighbourTable) Confirm(ip netip.Addr, wait time.Duration) (Neighbour, bool, error) {
	if !ip.Unmap().Is4() {
		n, err := t.Lookup(ip)
		return n, false, err
	}
	sent, err := t.Ask(ip)
	if err != nil {
		return Neighbour{}, false, fmt.Errorf("confirm %s: %w", ip.Unmap(), err)
	}
	const every = 10 * time.Millisecond // the kernel's tick
	for {
		n, err := t.Lookup(ip)
		if err != nil {
			return n, false, err
		}
		if Answered(n, sent) {
			return n, true, nil
		}
		if time.Since(sent)+every > wait {
			return n, false, nil
		}
		time.Sleep(every)
	}
}

// sendARP broadcasts an ARP request for ip out of r's interface, from
// r's source address. t.mu is held.
func (t *NeighbourTable) sendARP(ip netip.Addr, r route) error {
	return inNamespace(t.Enter, func() error {
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
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// Close closes the connections and the ARP socket. Lookups after Close
// fail.
func (t *NeighbourTable) Close() error {
	t.closed.Store(true)
	t.routeMu.Lock()
	err := t.changes.close()
	t.routes = nil
	t.routeMu.Unlock()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.arpOpen {
		err = errors.Join(err, unix.Close(t.arpFD))
		t.arpOpen = false
	}
	if t.conn == nil {
		return err
	}
	err = errors.Join(err, t.conn.Close())
	t.conn = nil
	return err
}

// openLocked dials the rtnetlink connection unless it is open. The socket
// is created inside Enter, on the thread that is in the namespace, and
// stays in that namespace for its whole life.
func (t *NeighbourTable) openLocked() error {
	if t.closed.Load() {
		return errClosed
	}
	if t.conn != nil {
		return nil
	}
	err := inNamespace(t.Enter, func() error {
		c, err := rtnetlink.Dial(nil)
		if err != nil {
			return err
		}
		t.conn = c
		return nil
	})
	if err != nil {
		return fmt.Errorf("neighbour: netlink socket: %w", err)
	}
	return nil
}

// exchangeTimeout bounds one request and its answer: the kernel answers at
// once unless the machine is in trouble, and a probe round must not hang.
const exchangeTimeout = 2 * time.Second

// execute sends one request and reads its answer (every part of a dump)
// within exchangeTimeout. The library reads exactly one answer per request
// and rejects one whose sequence number is not the request's, so a late
// answer to a request that timed out would be taken for the answer to the
// next one, and every later exchange would be one behind. After any failure
// but the kernel's own answer (an errno such as ENOENT or EINVAL, after
// which the socket is in step) the connection is closed; the next request
// opens a new one.
func (t *NeighbourTable) execute(m rtnetlink.Message, typ uint16, flags netlink.HeaderFlags) ([]rtnetlink.Message, error) {
	if err := t.openLocked(); err != nil {
		return nil, err
	}
	err := t.conn.SetReadDeadline(time.Now().Add(exchangeTimeout))
	var msgs []rtnetlink.Message
	if err == nil {
		msgs, err = t.conn.Execute(m, typ, flags)
	}
	if err != nil && !kernelAnswer(err) {
		_ = t.conn.Close() // err already says what went wrong
		t.conn = nil
	}
	return msgs, err
}

// kernelAnswer reports whether err is an errno the kernel answered with,
// rather than a failure to send or receive (a timeout, a broken socket) or
// a malformed answer.
func kernelAnswer(err error) bool {
	var oe *netlink.OpError
	if !errors.As(err, &oe) {
		return false
	}
	_, ok := oe.Err.(unix.Errno) // a failed system call is an *os.SyscallError
	return ok
}

// How long a route answer is reused. Routes change rarely (an interface,
// a DHCP lease), and every round of every machine needs one, twice. While
// the table hears of changes (routeChanges) an answer lasts until the
// next change, or routeTTLWatched as a backstop; when it cannot, routeTTL.
const (
	routeTTL        = 5 * time.Second
	routeTTLWatched = time.Minute
)

// maxRoutes bounds the route cache; past it the cache starts again.
const maxRoutes = 1 << 16

// route is the kernel's answer to "how would you reach this address".
type route struct {
	Type    uint8 // unix.RTN_UNICAST, unix.RTN_LOCAL …
	Ifindex int
	Gateway netip.Addr // the next hop, when the address is not on-link
	PrefSrc netip.Addr // the source address the kernel would use
	Multi   bool       // several next hops
}

type cachedRoute struct {
	r  route
	at time.Time
}

// route asks the kernel how it reaches ip (RTM_GETROUTE, like "ip route
// get"), or reuses an answer given since the last change.
func (t *NeighbourTable) route(ip netip.Addr) (route, error) {
	now := time.Now()
	t.routeMu.Lock()
	ttl := t.routeTTLLocked()
	c, ok := t.routes[ip]
	gen := t.routeGen
	t.routeMu.Unlock()
	if ok && now.Sub(c.at) < ttl {
		return c.r, nil
	}

	t.mu.Lock()
	r, err := t.askRoute(ip)
	t.mu.Unlock()
	if err != nil {
		return r, err
	}

	t.routeMu.Lock()
	defer t.routeMu.Unlock()
	// A change heard since the question may have come after the answer:
	// keep the answer only if none was.
	if t.routeTTLLocked(); t.routeGen != gen || t.closed.Load() {
		return r, nil
	}
	if t.routes == nil || len(t.routes) >= maxRoutes {
		t.routes = make(map[netip.Addr]cachedRoute)
	}
	t.routes[ip] = cachedRoute{r: r, at: now}
	return r, nil
}

// routeTTLLocked reads the changes heard since it last did, forgets every
// cached route if there was one, and returns how long an answer lasts.
// t.routeMu is held.
func (t *NeighbourTable) routeTTLLocked() time.Duration {
	watching, changed := t.changes.poll(t.Enter)
	if changed {
		t.routes = nil
		t.routeGen++
	}
	if watching {
		return routeTTLWatched
	}
	return routeTTL
}

// askRoute sends the RTM_GETROUTE request; t.mu is held. It goes through
// Execute rather than RouteService.Get, which panics on an answer of another type.
func (t *NeighbourTable) askRoute(ip netip.Addr) (route, error) {
	req := &rtnetlink.RouteMessage{
		Family:     uint8(family(ip)),
		DstLength:  uint8(ip.BitLen()),
		Attributes: rtnetlink.RouteAttributes{Dst: ip.AsSlice()},
	}
	msgs, err := t.execute(req, unix.RTM_GETROUTE, netlink.Request)
	if err != nil {
		return route{}, err
	}
	for _, m := range msgs {
		if rm, ok := m.(*rtnetlink.RouteMessage); ok {
			return routeFrom(rm), nil
		}
	}
	return route{}, errors.New("no answer")
}

// routeFrom keeps what Lookup and Solicit need of a route.
func routeFrom(m *rtnetlink.RouteMessage) route {
	a := m.Attributes
	r := route{Type: m.Type, Ifindex: int(int32(a.OutIface)), Multi: len(a.Multipath) > 0}
	r.Gateway, _ = netip.AddrFromSlice(a.Gateway)
	if a.Via != nil {
		// A next hop of another family (RFC 5549): off the link all the same.
		r.Gateway, _ = netip.AddrFromSlice(a.Via.Addr)
	}
	r.PrefSrc, _ = netip.AddrFromSlice(a.Src)
	return r
}

// entryRead is one read of the table for the lookups of one family that
// asked while the previous read was under way.
type entryRead struct {
	fam  uint16
	want []entryKey    // appended to until the read begins
	got  []entryResult // by the index in want, once done is closed
	done chan struct{}
}

type entryKey struct {
	ip      netip.Addr
	ifindex int // 0: any interface
}

type entryResult struct {
	n   Neighbour
	err error
}

// entriesPerGet is how many entries of a dump cost about as much as one
// single get (a request, an answer and a system call each way): with
// more lookups waiting than a dump's entries over this, the table is
// dumped once instead. Measured by BenchmarkNeighbourLookup and
// BenchmarkNeighbourFleet/list on one core: a get 16–37µs, a dump 1.7–3.9µs
// an entry (10,000 in 17–39 ms, most of it the library's decoding).
const entriesPerGet = 8

// resolvedFor is how long an entry read resolved spares Solicit a read
// of its own.
const resolvedFor = 10 * time.Second

// resolvedLately reports whether ip's entry was read resolved within
// resolvedFor.
func (t *NeighbourTable) resolvedLately(ip netip.Addr) bool {
	t.readMu.Lock()
	defer t.readMu.Unlock()
	at, ok := t.resolved[ip]
	return ok && time.Since(at) < resolvedFor
}

// noteResolved records the entries r read resolved, and forgets those it
// read unresolved or missing.
func (t *NeighbourTable) noteResolved(r *entryRead, at time.Time) {
	t.readMu.Lock()
	defer t.readMu.Unlock()
	if t.resolved == nil || len(t.resolved) >= maxRoutes {
		t.resolved = make(map[netip.Addr]time.Time)
	}
	for i, w := range r.want {
		if g := r.got[i]; g.err == nil && g.n.MAC != nil && !g.n.State.Unresolved() {
			t.resolved[w.ip] = at
		} else {
			delete(t.resolved, w.ip)
		}
	}
}

// entry returns ip's entry on ifindex, or ErrNoEntry. It joins the read
// that lookups of its family are waiting for, or starts one; the first
// lookup of a read makes it, once the connection is free, for all.
func (t *NeighbourTable) entry(ip netip.Addr, ifindex int) (Neighbour, error) {
	fi := 0
	if !ip.Is4() {
		fi = 1
	}
	t.readMu.Lock()
	r := t.reading[fi]
	first := r == nil
	if first {
		r = &entryRead{fam: family(ip), done: make(chan struct{})}
		t.reading[fi] = r
	}
	i := len(r.want)
	r.want = append(r.want, entryKey{ip: ip, ifindex: ifindex})
	t.readMu.Unlock()

	if first {
		t.mu.Lock()
		// Lookups that ask from now on wait for the next read: this one
		// may have begun before their probes ended.
		t.readMu.Lock()
		t.reading[fi] = nil
		t.readMu.Unlock()
		at := time.Now()
		t.readLocked(r, fi)
		t.mu.Unlock()
		t.noteResolved(r, at)
		close(r.done)
	} else {
		<-r.done
	}
	return r.got[i].n, r.got[i].err
}

// readLocked answers every lookup of r: with one get each when they are
// few, with a dump of the table when that costs less; t.mu is held.
func (t *NeighbourTable) readLocked(r *entryRead, fi int) {
	r.got = make([]entryResult, len(r.want))
	if !t.noGet && len(r.want) <= 1+t.tableSize[fi]/entriesPerGet {
		for i, w := range r.want {
			n, err := t.get(w.ip, w.ifindex)
			switch {
			case errors.Is(err, unix.ENOENT):
				r.got[i].err = ErrNoEntry
			case errors.Is(err, unix.EINVAL), errors.Is(err, unix.EOPNOTSUPP):
				t.noGet = true
			case err != nil:
				r.got[i].err = fmt.Errorf("neighbour %s: %w", w.ip, err)
			default:
				r.got[i].n = n
			}
			if t.noGet {
				break
			}
		}
		if !t.noGet {
			return
		}
	}
	all, err := t.dump(r.fam)
	if err != nil {
		for i, w := range r.want {
			r.got[i] = entryResult{err: fmt.Errorf("neighbour %s: %w", w.ip, err)}
		}
		return
	}
	byIP := make(map[netip.Addr][]int, len(r.want))
	for i, w := range r.want {
		byIP[w.ip] = append(byIP[w.ip], i)
		r.got[i] = entryResult{err: ErrNoEntry}
	}
	for _, n := range all {
		for _, i := range byIP[n.IP] {
			if w := r.want[i]; r.got[i].err != nil && (w.ifindex == 0 || n.Ifindex == w.ifindex) {
				r.got[i] = entryResult{n: n}
			}
		}
	}
}

// neighGet is an RTM_GETNEIGH request for one entry: struct ndmsg and the
// NDA_DST attribute alone. The library's NeighAttributes always encode
// NDA_UNSPEC, NDA_LLADDR and NDA_IFINDEX too, which the kernel's strict
// check of a get request rejects with EINVAL ("Unknown attribute type"),
// and the library has no get of its own. Embedding NeighMessage keeps it a
// library Message (whose interface has an unexported method) and its
// header encoding; only the attributes are encoded here.
type neighGet struct {
	rtnetlink.NeighMessage // Family and Index; Attributes are ignored
	Dst                    netip.Addr
}

// MarshalBinary encodes the request.
func (m *neighGet) MarshalBinary() ([]byte, error) {
	hdr := m.NeighMessage
	hdr.Attributes = nil
	b, err := hdr.MarshalBinary()
	if err != nil {
		return nil, err
	}
	ae := netlink.NewAttributeEncoder()
	ae.Bytes(unix.NDA_DST, m.Dst.AsSlice())
	attrs, err := ae.Encode()
	if err != nil {
		return nil, fmt.Errorf("neighbour request: %w", err)
	}
	return append(b, attrs...), nil
}

// get asks for one entry (RTM_GETNEIGH without NLM_F_DUMP, Linux 5.0+).
// No entry is unix.ENOENT, as the kernel says it.
func (t *NeighbourTable) get(ip netip.Addr, ifindex int) (Neighbour, error) {
	req := &neighGet{NeighMessage: rtnetlink.NeighMessage{Family: family(ip), Index: uint32(int32(ifindex))}, Dst: ip}
	msgs, err := t.execute(req, unix.RTM_GETNEIGH, netlink.Request)
	if err != nil {
		return Neighbour{}, err
	}
	for _, m := range msgs {
		if nm, ok := m.(*rtnetlink.NeighMessage); ok {
			return neighbourFrom(nm)
		}
	}
	return Neighbour{}, unix.ENOENT
}

// dump reads the whole table of one address family; t.mu is held.
func (t *NeighbourTable) dump(fam uint16) ([]Neighbour, error) {
	msgs, err := t.execute(&rtnetlink.NeighMessage{Family: fam}, unix.RTM_GETNEIGH, netlink.Request|netlink.Dump)
	if err != nil {
		return nil, err
	}
	if fam == unix.AF_INET {
		t.tableSize[0] = len(msgs)
	} else {
		t.tableSize[1] = len(msgs)
	}
	out := make([]Neighbour, 0, len(msgs))
	for _, m := range msgs {
		nm, ok := m.(*rtnetlink.NeighMessage)
		if !ok {
			continue
		}
		n, err := neighbourFrom(nm)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

// maxLLAddr is the longest link-layer address kept: 20 bytes, IP over
// InfiniBand's. Anything longer is no MAC the caller could compare.
const maxLLAddr = 20

// neighbourFrom checks and converts an entry as the library decoded it. An
// entry without an address, or whose address is not of its family, is an
// error, as the kernel never sends one.
func neighbourFrom(m *rtnetlink.NeighMessage) (Neighbour, error) {
	var a rtnetlink.NeighAttributes
	if m.Attributes != nil {
		a = *m.Attributes
	}
	ip, ok := netip.AddrFromSlice(a.Address)
	if !ok {
		return Neighbour{}, errors.New("netlink: neighbour without an address")
	}
	if (m.Family == unix.AF_INET) != ip.Is4() {
		return Neighbour{}, fmt.Errorf("netlink: family %d with address %s", m.Family, ip)
	}
	n := Neighbour{IP: ip, Ifindex: int(int32(m.Index)), State: NUDState(m.State), Confirmed: -1}
	if a.CacheInfo != nil {
		// clock_t, in USER_HZ ticks: 100 a second on Linux.
		n.Confirmed = time.Duration(a.CacheInfo.Confirmed) * 10 * time.Millisecond
	}
	if len(a.LLAddress) > 0 && len(a.LLAddress) <= maxLLAddr {
		n.MAC = a.LLAddress // the decoder's own copy
	}
	return n, nil
}

func family(a netip.Addr) uint16 {
	if a.Is4() {
		return unix.AF_INET
	}
	return unix.AF_INET6
}

// LookupNeighbour reads the entry for ip from the process's own table with
// a connection of its own: the MAC (nil while unresolved), the kernel's
// state ("reachable", "stale", "failed" …) and an error as
// NeighbourTable.Lookup.
func LookupNeighbour(ip netip.Addr) (net.HardwareAddr, string, error) {
	t := &NeighbourTable{}
	defer t.Close()
	n, err := t.Lookup(ip)
	if err != nil {
		return nil, "", err
	}
	return n.MAC, n.State.String(), nil
}
