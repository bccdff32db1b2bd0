package client

import (
	"context"
	"net/url"

	"github.com/moonwake/moonwake"
)

// PairSunshine pairs the hub with the Sunshine host of a machine while pin
// is typed into Sunshine's web UI. port is the host's base (HTTP) port; 0
// means Sunshine's default, 47989.
func (c *Client) PairSunshine(ctx context.Context, name, pin string, port int) (*moonwake.SunshinePairing, error) {
	in := map[string]any{"pin": pin}
	if port != 0 {
		in["port"] = port
	}
	var out moonwake.SunshinePairing
	return &out, c.do(ctx, "POST", "/api/v1/machines/"+url.PathEscape(name)+"/sunshine/pair", in, &out)
}

// PairSunshineAuto pairs the hub with the Sunshine host of a machine, the
// hub sending a PIN of its own to Sunshine's web UI (at webPort; 0 means
// 47990) with the web UI's username and password, which the hub does not
// keep.
func (c *Client) PairSunshineAuto(ctx context.Context, name string, port, webPort int, username, password string) (*moonwake.SunshinePairing, error) {
	in := map[string]any{"auto": true, "username": username, "password": password}
	if port != 0 {
		in["port"] = port
	}
	if webPort != 0 {
		in["web_port"] = webPort
	}
	var out moonwake.SunshinePairing
	return &out, c.do(ctx, "POST", "/api/v1/machines/"+url.PathEscape(name)+"/sunshine/pair", in, &out)
}
