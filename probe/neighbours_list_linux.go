//go:build linux

package probe

import (
	"context"
	"fmt"

	"golang.org/x/sys/unix"
)

// ListNeighbours reads the whole neighbour table (ARP and NDP entries) of
// the process's network namespace, with a netlink connection of its own. The
// entries come as the kernel holds them: unresolved and multicast ones
// included, for the caller to pick from.
func ListNeighbours(ctx context.Context) ([]Neighbour, error) {
	t := &NeighbourTable{}
	defer t.Close()
	return t.List(ctx)
}

// List reads the whole table: IPv4 entries, then IPv6 ones. The context is
// checked between the two dumps; each is bounded by exchangeTimeout.
func (t *NeighbourTable) List(ctx context.Context) ([]Neighbour, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.openLocked(); err != nil {
		return nil, err
	}
	var out []Neighbour
	// One dump per family rather than one of AF_UNSPEC: the order is ours,
	// and the context is checked in between.
	for _, fam := range []uint16{unix.AF_INET, unix.AF_INET6} {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		ns, err := t.dump(fam)
		if err != nil {
			return nil, fmt.Errorf("neighbour table: %w", err)
		}
		out = append(out, ns...)
	}
	return out, nil
}
