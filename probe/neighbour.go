package probe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
)

// Errors of a neighbour lookup. None of them says anything about the
// machine's power: they say the check could not be made.
var (
	// ErrNoEntry: the kernel has no neighbour entry for the address.
	ErrNoEntry = errors.New("no neighbour entry")
	// ErrNotOnLink: the address is reached through a router, whose MAC
	// is all the table would show.
	ErrNotOnLink = errors.New("not on a directly connected link")
	// ErrLocal: the address is this host's own.
	ErrLocal = errors.New("a local address")
	// ErrUnsupported: this system has no neighbour table we can read.
	ErrUnsupported = errors.New("neighbour table not supported on this system")
)

// Neighbour is one entry of the kernel's neighbour (ARP, NDP) table.
type Neighbour struct {
	IP      netip.Addr
	MAC     net.HardwareAddr // nil while unresolved
	Ifindex int
	State   NUDState
}

// NUDState is the kernel's neighbour unreachability detection state.
type NUDState uint16

// Kernel NUD states (include/uapi/linux/neighbour.h).
const (
	NUDIncomplete NUDState = 0x01 // resolving: ARP sent, no answer yet
	NUDReachable  NUDState = 0x02 // confirmed recently
	NUDStale      NUDState = 0x04 // resolved, not confirmed lately
	NUDDelay      NUDState = 0x08
	NUDProbe      NUDState = 0x10
	NUDFailed     NUDState = 0x20 // resolution failed: nobody answered
	NUDNoARP      NUDState = 0x40
	NUDPermanent  NUDState = 0x80 // set by hand
)

var nudNames = []struct {
	s    NUDState
	name string
}{
	{NUDIncomplete, "incomplete"}, {NUDReachable, "reachable"}, {NUDStale, "stale"}, {NUDDelay, "delay"},
	{NUDProbe, "probe"}, {NUDFailed, "failed"}, {NUDNoARP, "noarp"}, {NUDPermanent, "permanent"},
}

// String is the state as "ip neigh" names it, lower case: "reachable",
// "stale", "failed|…" for several bits, "none" for none.
func (s NUDState) String() string {
	if s == 0 {
		return "none"
	}
	var parts []string
	for _, n := range nudNames {
		if s&n.s != 0 {
			parts = append(parts, n.name)
			s &^= n.s
		}
	}
	if s != 0 {
		parts = append(parts, fmt.Sprintf("0x%x", uint16(s)))
	}
	return strings.Join(parts, "|")
}

// Unresolved reports whether the kernel tried to resolve the address and
// nobody has answered: evidence that no host holds it.
func (s NUDState) Unresolved() bool {
	return s&(NUDFailed|NUDIncomplete) != 0 && s&(NUDReachable|NUDStale|NUDDelay|NUDProbe|NUDPermanent|NUDNoARP) == 0
}

// Netlink constants, fixed by the kernel ABI (uapi headers); spelled out
// here so the parser builds and is fuzzed on every system.
const (
	nlmsgHdrLen  = 16
	nlmsgError   = 2
	nlmsgDone    = 3
	rtmNewRoute  = 24
	rtmGetRoute  = 26
	rtmNewNeigh  = 28
	rtmGetNeigh  = 30
	ndmsgLen     = 12
	rtmsgLen     = 12
	ndaDst       = 1
	ndaLLAddr    = 2
	rtaDst       = 1
	rtaOIF       = 4
	rtaGateway   = 5
	rtaPrefSrc   = 7
	rtaMultipath = 9
	rtaVia       = 18
	rtnUnicast   = 1
	rtnLocal     = 2
	nlmFRequest  = 0x1
	nlmFMulti    = 0x2
	nlmFAck      = 0x4
	nlmFDump     = 0x300
	afInet       = 2
	afInet6      = 10
)

// nlMessage is one netlink message.
type nlMessage struct {
	Type  uint16
	Flags uint16
	Seq   uint32
	Body  []byte
}

// splitMessages splits a datagram from a netlink socket into its messages.
func splitMessages(b []byte) ([]nlMessage, error) {
	var out []nlMessage
	for len(b) > 0 {
		if len(b) < nlmsgHdrLen {
			return out, fmt.Errorf("netlink: %d trailing bytes", len(b))
		}
		n := int(binary.NativeEndian.Uint32(b[0:4]))
		if n < nlmsgHdrLen || n > len(b) {
			return out, fmt.Errorf("netlink: message length %d of %d bytes", n, len(b))
		}
		out = append(out, nlMessage{
			Type:  binary.NativeEndian.Uint16(b[4:6]),
			Flags: binary.NativeEndian.Uint16(b[6:8]),
			Seq:   binary.NativeEndian.Uint32(b[8:12]),
			Body:  b[nlmsgHdrLen:n],
		})
		b = b[min(align4(n), len(b)):]
	}
	return out, nil
}

func align4(n int) int { return (n + 3) &^ 3 }

// parseAttrs calls f for each route attribute in b.
func parseAttrs(b []byte, f func(typ uint16, data []byte)) error {
	for len(b) > 0 {
		if len(b) < 4 {
			return fmt.Errorf("netlink: %d trailing attribute bytes", len(b))
		}
		n := int(binary.NativeEndian.Uint16(b[0:2]))
		if n < 4 || n > len(b) {
			return fmt.Errorf("netlink: attribute length %d of %d bytes", n, len(b))
		}
		f(binary.NativeEndian.Uint16(b[2:4])&0x3fff, b[4:n]) // without the nested/byte-order flags
		b = b[min(align4(n), len(b)):]
	}
	return nil
}

// parseError reads an NLMSG_ERROR body: nil for an acknowledgement.
func parseError(body []byte) error {
	if len(body) < 4 {
		return errors.New("netlink: short error message")
	}
	errno := -int32(binary.NativeEndian.Uint32(body[0:4]))
	if errno == 0 {
		return nil
	}
	if errno < 0 {
		return fmt.Errorf("netlink: bad errno %d", -errno)
	}
	return syscall.Errno(errno)
}

// parseNeighbour reads an RTM_NEWNEIGH body: struct ndmsg, then attributes.
func parseNeighbour(body []byte) (Neighbour, error) {
	if len(body) < ndmsgLen {
		return Neighbour{}, errors.New("netlink: short neighbour message")
	}
	family := body[0]
	n := Neighbour{
		Ifindex: int(int32(binary.NativeEndian.Uint32(body[4:8]))),
		State:   NUDState(binary.NativeEndian.Uint16(body[8:10])),
	}
	err := parseAttrs(body[ndmsgLen:], func(typ uint16, data []byte) {
		switch typ {
		case ndaDst:
			if a, ok := netip.AddrFromSlice(data); ok {
				n.IP = a
			}
		case ndaLLAddr:
			if len(data) > 0 && len(data) <= 20 {
				n.MAC = net.HardwareAddr(append([]byte(nil), data...))
			}
		}
	})
	if err != nil {
		return Neighbour{}, err
	}
	if !n.IP.IsValid() {
		return Neighbour{}, errors.New("netlink: neighbour without an address")
	}
	if (family == afInet) != n.IP.Is4() {
		return Neighbour{}, fmt.Errorf("netlink: family %d with address %s", family, n.IP)
	}
	return n, nil
}

// ParseNeighbourMessages parses what a netlink route socket answers to
// RTM_GETNEIGH (one entry, or a dump): the entries, in order. An
// NLMSG_ERROR message with an errno is returned as that errno
// (syscall.ENOENT for "no entry"). Messages of other types are skipped.
func ParseNeighbourMessages(b []byte) ([]Neighbour, error) {
	msgs, err := splitMessages(b)
	if err != nil {
		return nil, err
	}
	var out []Neighbour
	for _, m := range msgs {
		switch m.Type {
		case nlmsgDone:
			return out, nil
		case nlmsgError:
			if err := parseError(m.Body); err != nil {
				return out, err
			}
		case rtmNewNeigh:
			n, err := parseNeighbour(m.Body)
			if err != nil {
				return out, err
			}
			out = append(out, n)
		}
	}
	return out, nil
}

// route is the kernel's answer to "how would you reach this address".
type route struct {
	Type    uint8 // rtnUnicast, rtnLocal …
	Ifindex int
	Gateway netip.Addr // the next hop, when the address is not on-link
	PrefSrc netip.Addr // the source address the kernel would use
	Multi   bool       // several next hops
}

// parseRoute reads an RTM_NEWROUTE body: struct rtmsg, then attributes.
func parseRoute(body []byte) (route, error) {
	if len(body) < rtmsgLen {
		return route{}, errors.New("netlink: short route message")
	}
	r := route{Type: body[7]}
	err := parseAttrs(body[rtmsgLen:], func(typ uint16, data []byte) {
		switch typ {
		case rtaOIF:
			if len(data) == 4 {
				r.Ifindex = int(int32(binary.NativeEndian.Uint32(data)))
			}
		case rtaGateway:
			if a, ok := netip.AddrFromSlice(data); ok {
				r.Gateway = a
			}
		case rtaPrefSrc:
			if a, ok := netip.AddrFromSlice(data); ok {
				r.PrefSrc = a
			}
		case rtaVia:
			// struct rtvia: family (2 bytes), then the address.
			if len(data) > 2 {
				if a, ok := netip.AddrFromSlice(data[2:]); ok {
					r.Gateway = a
				}
			}
		case rtaMultipath:
			r.Multi = true
		}
	})
	return r, err
}

// nlRequest builds one netlink request message with a fixed header body
// and attributes.
func nlRequest(typ, flags uint16, seq uint32, hdr []byte, attrs ...nlAttr) []byte {
	n := nlmsgHdrLen + align4(len(hdr))
	for _, a := range attrs {
		n += align4(4 + len(a.data))
	}
	b := make([]byte, n)
	binary.NativeEndian.PutUint32(b[0:4], uint32(n))
	binary.NativeEndian.PutUint16(b[4:6], typ)
	binary.NativeEndian.PutUint16(b[6:8], flags)
	binary.NativeEndian.PutUint32(b[8:12], seq)
	off := nlmsgHdrLen + copy(b[nlmsgHdrLen:], hdr)
	off = align4(off)
	for _, a := range attrs {
		binary.NativeEndian.PutUint16(b[off:], uint16(4+len(a.data)))
		binary.NativeEndian.PutUint16(b[off+2:], a.typ)
		copy(b[off+4:], a.data)
		off += align4(4 + len(a.data))
	}
	return b
}

type nlAttr struct {
	typ  uint16
	data []byte
}

func family(a netip.Addr) byte {
	if a.Is4() {
		return afInet
	}
	return afInet6
}
