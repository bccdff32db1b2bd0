package httpapi

import (
	"net/http"

	"github.com/moonwake/moonwake"
)

// relays returns the relay service, or answers that there is none.
func (s *Server) relays(w http.ResponseWriter, r *http.Request) moonwake.RelayService {
	if s.Relays == nil {
		s.error(w, r, moonwake.Errorf(moonwake.EUnavailable, "this hub has no relays"))
	}
	return s.Relays
}

// listRelays is GET /api/v1/relays: every relay, its networks, whether it
// is linked, and since when.
func (s *Server) listRelays(w http.ResponseWriter, r *http.Request) {
	rs := s.relays(w, r)
	if rs == nil {
		return
	}
	list, err := rs.ListRelays(r.Context())
	if err != nil {
		s.error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

// pairRelay is POST /api/v1/relays/{name}/pair: a one-time code for
// `moonwake relay pair`.
func (s *Server) pairRelay(w http.ResponseWriter, r *http.Request) {
	rs := s.relays(w, r)
	if rs == nil {
		return
	}
	p, err := rs.NewRelayPairing(r.Context(), r.PathValue("name"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	a, _ := moonwake.ActorFrom(r.Context())
	s.Logger.Info("relay pairing code issued", "relay", p.Relay, "expires", p.ExpiresAt, "actor", a.Name)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, p)
}

// deleteRelay is DELETE /api/v1/relays/{name}.
func (s *Server) deleteRelay(w http.ResponseWriter, r *http.Request) {
	rs := s.relays(w, r)
	if rs == nil {
		return
	}
	if err := rs.DeleteRelay(r.Context(), r.PathValue("name")); err != nil {
		s.error(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
