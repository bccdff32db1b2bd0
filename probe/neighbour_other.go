//go:build !linux

package probe

import (
	"net"
	"net/netip"
	"time"
)

// NeighbourTable reads the kernel's neighbour table; only Linux has one
// that this package can read, elsewhere every lookup is ErrUnsupported and
// the identity check stays unknown.
type NeighbourTable struct {
	Enter func(f func() error) error
}

// Lookup returns ErrUnsupported.
func (t *NeighbourTable) Lookup(ip netip.Addr) (Neighbour, error) { return Neighbour{}, ErrUnsupported }

// Solicit does nothing.
func (t *NeighbourTable) Solicit(ip netip.Addr) (bool, error) { return false, ErrUnsupported }

// Ask returns ErrUnsupported.
func (t *NeighbourTable) Ask(ip netip.Addr) (time.Time, error) { return time.Time{}, ErrUnsupported }

// Answered reports false: nothing is ever asked.
func Answered(n Neighbour, asked time.Time) bool { return false }

// Confirm returns ErrUnsupported.
func (t *NeighbourTable) Confirm(ip netip.Addr, wait time.Duration) (Neighbour, bool, error) {
	return Neighbour{}, false, ErrUnsupported
}

// Close does nothing.
func (t *NeighbourTable) Close() error { return nil }

// LookupNeighbour returns ErrUnsupported.
func LookupNeighbour(ip netip.Addr) (net.HardwareAddr, string, error) {
	return nil, "", ErrUnsupported
}
