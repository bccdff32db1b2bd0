package client

import (
	"context"
	"net/url"

	"github.com/moonwake/moonwake"
)

// ListRelays returns the hub's relays (admin).
func (c *Client) ListRelays(ctx context.Context) ([]*moonwake.Relay, error) {
	var out []*moonwake.Relay
	return out, c.do(ctx, "GET", "/api/v1/relays", nil, &out)
}

// PairRelay asks for a one-time code that pairs the relay called name
// (admin).
func (c *Client) PairRelay(ctx context.Context, name string) (*moonwake.RelayPairing, error) {
	var out moonwake.RelayPairing
	return &out, c.do(ctx, "POST", "/api/v1/relays/"+url.PathEscape(name)+"/pair", nil, &out)
}

// DeleteRelay forgets the relay called name (admin).
func (c *Client) DeleteRelay(ctx context.Context, name string) error {
	return c.do(ctx, "DELETE", "/api/v1/relays/"+url.PathEscape(name), nil, nil)
}
