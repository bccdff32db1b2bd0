package lan

import (
	"context"
	"fmt"

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
// names them.
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
	s.Namer.Name(ctx, ds)
	return ds, nil
}
