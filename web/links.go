package web

import "net/http"

// linkRoutes registers the one-tap links' pages, which need no session:
// the link's token is the credential.
func (s *Server) linkRoutes(mux *http.ServeMux) {}
