package web

import "net/http"

// dashboard is GET /: one card per machine.
func (s *Server) dashboard(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "dashboard.html", nil)
}
