package client

import (
	"context"
	"net/url"
	"time"
)

// SunshinePairing is the outcome of pairing the hub with a machine's
// Sunshine host.
type SunshinePairing struct {
	Machine    string    `json:"machine"`
	PairedAt   time.Time `json:"paired_at"`
	MAC        string    `json:"mac"`         // the host's, from its paired /serverinfo; "" if it gave none
	MACMatches bool      `json:"mac_matches"` // whether it is the machine's registered MAC
}

// PairSunshine pairs the hub with the Sunshine host of a machine while pin
// is typed into Sunshine's web UI. port is the host's base (HTTP) port; 0
// means Sunshine's default, 47989.
func (c *Client) PairSunshine(ctx context.Context, name, pin string, port int) (*SunshinePairing, error) {
	in := map[string]any{"pin": pin}
	if port != 0 {
		in["port"] = port
	}
	var out SunshinePairing
	return &out, c.do(ctx, "POST", "/api/v1/machines/"+url.PathEscape(name)+"/sunshine/pair", in, &out)
}
