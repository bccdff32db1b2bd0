package probe

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"
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
	IP      netip.Addr       // the network address, without a zone
	MAC     net.HardwareAddr // the link-layer address; nil while unresolved
	Ifindex int              // the interface the entry belongs to
	State   NUDState         // how sure the kernel is of MAC
	// Confirmed is how long ago the kernel last had proof that MAC holds
	// IP (an ARP or NDP answer, or traffic from it); -1 when it did not
	// say. The kernel counts in clock ticks: 10ms.
	Confirmed time.Duration
}

// NUDState is the kernel's neighbour unreachability detection state.
type NUDState uint16

// Kernel NUD states (include/uapi/linux/neighbour.h).
const (
	NUDIncomplete NUDState = 0x01 // resolving: ARP sent, no answer yet
	NUDReachable  NUDState = 0x02 // confirmed recently
	NUDStale      NUDState = 0x04 // resolved, not confirmed lately
	NUDDelay      NUDState = 0x08 // stale and in use: a confirmation is awaited
	NUDProbe      NUDState = 0x10 // stale and in use: being asked again
	NUDFailed     NUDState = 0x20 // resolution failed: nobody answered
	NUDNoARP      NUDState = 0x40 // needs no resolution (loopback, multicast)
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
