package web

import "net/http"

//go:generate go run ./internal/mkicons -out static/icons

func (s *Server) serviceWorker(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }
func (s *Server) manifest(w http.ResponseWriter, r *http.Request)      { http.NotFound(w, r) }
func (s *Server) favicon(w http.ResponseWriter, r *http.Request)       { http.NotFound(w, r) }
func (s *Server) offline(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "offline.html", nil)
}
