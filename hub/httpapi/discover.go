package httpapi

import (
	"net/http"

	"github.com/moonwake/moonwake"
)

// discovery returns the discovery service, or answers that there is none.
func (s *Server) discovery(w http.ResponseWriter, r *http.Request) moonwake.DiscoveryService {
	if s.Discovery == nil {
		s.error(w, r, moonwake.Errorf(moonwake.EUnavailable, "this hub does not discover devices"))
	}
	return s.Discovery
}

// discover is GET /api/v1/discover: the devices in the neighbour tables
// of the hub and its relays, named, with their makers, and those that are
// machines already.
func (s *Server) discover(w http.ResponseWriter, r *http.Request) {
	ds := s.discovery(w, r)
	if ds == nil {
		return
	}
	d, err := ds.Discover(r.Context())
	if err != nil {
		s.error(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, d)
}

// sweepRelay is POST /api/v1/relays/{name}/sweep: the relay sweeps one of
// its subnets (body {"network": "192.168.1.0/24"}, or none for its only
// one), so that the devices on it show in its neighbour table. 202: it
// has started.
func (s *Server) sweepRelay(w http.ResponseWriter, r *http.Request) {
	ds := s.discovery(w, r)
	if ds == nil {
		return
	}
	var in struct {
		Network string `json:"network"`
	}
	if r.ContentLength != 0 {
		if err := decode(w, r, &in); err != nil {
			s.error(w, r, err)
			return
		}
	}
	sw, err := ds.Sweep(r.Context(), r.PathValue("name"), in.Network)
	if err != nil {
		s.error(w, r, err)
		return
	}
	a, _ := moonwake.ActorFrom(r.Context())
	s.Logger.Info("relay sweep started", "relay", sw.Relay, "network", sw.Network, "addresses", sw.Addresses, "actor", a.Name)
	writeJSON(w, http.StatusAccepted, sw)
}
