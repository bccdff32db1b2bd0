//go:build !linux

package probe

import "context"

// ListNeighbours returns ErrUnsupported: only Linux has a neighbour table
// this package can read.
func ListNeighbours(ctx context.Context) ([]Neighbour, error) { return nil, ErrUnsupported }

// List returns ErrUnsupported.
func (t *NeighbourTable) List(ctx context.Context) ([]Neighbour, error) { return nil, ErrUnsupported }
