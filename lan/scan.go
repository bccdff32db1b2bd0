package lan

import (
	"context"
	"fmt"
	"net"

	"github.com/moonwake/moonwake/probe"
)

// DefaultMaxDevices bounds a scan's devices: a busy LAN's table is long,
// and every device costs a lookup.
const DefaultMaxDevices = 100

// Scanner lists the devices in this host's neighbour table, with names.
type Scanner struct {
	// List reads the neighbour table; probe.ListNeighbours when nil.
	List  func(ctx context.Context) ([]probe.Neighbour, error)
	Namer Namer
	Max   int // 0: DefaultMaxDevices
}

// Scan reads the table, picks the devices worth suggesting (Pick), and
// names them and their interfaces.
func (s *Scanner) Scan(ctx context.Context) ([]Device, error) {
	list := s.List
	if list == nil {
		list = probe.ListNeighbours
	}
	max := s.Max
	if max <= 0 {
		max = DefaultMaxDevices
	}
	ns, err := list(ctx)
	if err != nil {
		return nil, fmt.Errorf("neighbour table: %w", err)
	}
	ds := Pick(ns, max)
	names := map[int]string{}
	for i := range ds {
		if _, ok := names[ds[i].Ifindex]; !ok {
			names[ds[i].Ifindex] = ""
			if ifi, err := net.InterfaceByIndex(ds[i].Ifindex); err == nil {
				names[ds[i].Ifindex] = ifi.Name
			}
		}
		ds[i].Interface = names[ds[i].Ifindex]
	}
	s.Namer.Name(ctx, ds)
	return ds, nil
}
