package hub

import (
	"context"
	"net"
	"net/http"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/hub/httpapi"
	"github.com/moonwake/moonwake/hub/sqlite"
	"github.com/moonwake/moonwake/hub/web"
	"github.com/moonwake/moonwake/probe"
)

// openWeb builds the web app, served on every path the API does not claim.
// machines is the registry the web app changes machines through. With
// ui.enabled off it returns nil: those paths are 404.
func (h *Hub) openWeb(ctx context.Context, machines moonwake.MachineService, api *httpapi.Server) (http.Handler, error) {
	if !h.cfg.UI.On() {
		return nil, nil
	}
	w := &web.Server{
		Machines:       machines,
		Tokens:         h.tokens,
		Actions:        h.actions,
		Sessions:       sqlite.NewSessionService(h.db, h.cfg.UI.TTL()),
		Power:          h.power,
		Events:         h.events,
		Monitor:        h.monitor,
		Pairing:        h.agents,
		KeepAwake:      keepAwake{h.policyStore, h.policy},
		Sunshine:       api.Sunshine,
		PublicURL:      h.cfg.PublicURL,
		TrustedProxies: api.TrustedProxies,
		SessionTTL:     h.cfg.UI.TTL(),
		Logger:         h.log.With("component", "web"),
		// The neighbour table suggests devices when a machine is added.
		Neighbours: probe.ListNeighbours,
		// The machine page says which policies apply, as the engine runs them.
		Policies: h.policy.Describe,
	}
	if h.cfg.UI.ReverseDNSOn() {
		w.LookupAddr = net.DefaultResolver.LookupAddr
	}
	h.web = w
	return w.Handler(), nil
}
