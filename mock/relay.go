package mock

import (
	"context"

	"github.com/moonwake/moonwake"
)

var _ moonwake.RelayService = (*RelayService)(nil)

// RelayService is a moonwake.RelayService.
type RelayService struct {
	ListRelaysFn      func(ctx context.Context) ([]*moonwake.Relay, error)
	NewRelayPairingFn func(ctx context.Context, name string) (moonwake.RelayPairing, error)
	DeleteRelayFn     func(ctx context.Context, name string) error
}

// ListRelays calls ListRelaysFn; none when it is nil.
func (s *RelayService) ListRelays(ctx context.Context) ([]*moonwake.Relay, error) {
	if s.ListRelaysFn == nil {
		return nil, nil
	}
	return s.ListRelaysFn(ctx)
}

// NewRelayPairing calls NewRelayPairingFn; it panics when it is nil.
func (s *RelayService) NewRelayPairing(ctx context.Context, name string) (moonwake.RelayPairing, error) {
	if s.NewRelayPairingFn == nil {
		unexpected("RelayService.NewRelayPairing")
	}
	return s.NewRelayPairingFn(ctx, name)
}

// DeleteRelay calls DeleteRelayFn; it panics when it is nil.
func (s *RelayService) DeleteRelay(ctx context.Context, name string) error {
	if s.DeleteRelayFn == nil {
		unexpected("RelayService.DeleteRelay")
	}
	return s.DeleteRelayFn(ctx, name)
}
