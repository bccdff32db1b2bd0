package mock

import (
	"context"

	"github.com/moonwake/moonwake"
)

var _ moonwake.DiscoveryService = (*DiscoveryService)(nil)

// DiscoveryService is a moonwake.DiscoveryService.
type DiscoveryService struct {
	DiscoverFn func(ctx context.Context) (*moonwake.Discovery, error)
	SweepFn    func(ctx context.Context, name, network string) (*moonwake.Sweep, error)
}

// Discover calls DiscoverFn; nothing seen when it is nil.
func (s *DiscoveryService) Discover(ctx context.Context) (*moonwake.Discovery, error) {
	if s.DiscoverFn == nil {
		return &moonwake.Discovery{Suggestions: []moonwake.Suggestion{}, Relays: []moonwake.DiscoveryRelay{}}, nil
	}
	return s.DiscoverFn(ctx)
}

// Sweep calls SweepFn; it panics when it is nil.
func (s *DiscoveryService) Sweep(ctx context.Context, name, network string) (*moonwake.Sweep, error) {
	if s.SweepFn == nil {
		unexpected("DiscoveryService.Sweep")
	}
	return s.SweepFn(ctx, name, network)
}
