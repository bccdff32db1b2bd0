package web

import "net/http"

// tokenRoutes registers the tokens page, where one-tap links are made and
// revoked.
func (s *Server) tokenRoutes(mux *http.ServeMux) {}
