package web

import "net/http"

// machineRoutes registers the machine pages: one machine, editing it,
// adding one.
func (s *Server) machineRoutes(mux *http.ServeMux) {}
