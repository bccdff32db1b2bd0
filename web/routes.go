package web

import "net/http"

// Handler returns the web app's handler.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	// TODO(web foundation): assets, login, dashboard, events, PWA.
	s.machineRoutes(mux)
	s.tokenRoutes(mux)
	s.linkRoutes(mux)
	return mux
}
