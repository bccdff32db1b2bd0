package hub_test

import (
	"testing"
)

// TestDiscoverAPI: GET /api/v1/discover and POST /api/v1/relays/{name}/sweep
// as the hub wires them, every exchange checked against the OpenAPI
// description. Names are off (newConfig): reading the host's neighbour
// table sends nothing.
func TestDiscoverAPI(t *testing.T) {
	th := startHub(t, newConfig(t))
	var d struct {
		Suggestions []struct {
			MAC     string `json:"mac"`
			Machine string `json:"machine"`
		} `json:"suggestions"`
		Relays []any `json:"relays"`
	}
	th.must(200, "GET", "/api/v1/discover", th.Admin, nil).decode(t, &d)
	if d.Suggestions == nil || d.Relays == nil || len(d.Relays) != 0 {
		t.Errorf("discovery %+v: want lists, and no relays", d)
	}
	for _, tc := range []struct {
		body any
		want int
	}{
		{nil, 404},
		{map[string]any{"network": "10.0.0.0/24"}, 404},
		{"{", 400},
		{map[string]any{"subnet": "10.0.0.0/24"}, 400},
	} {
		if a := th.do("POST", "/api/v1/relays/ghost/sweep", th.Admin, tc.body); a.Status != tc.want {
			t.Errorf("sweep with %v: %d %s, want %d", tc.body, a.Status, a.Body, tc.want)
		}
	}
}
