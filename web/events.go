package web

import "net/http"

// streamEvents is GET /events.
func (s *Server) streamEvents(w http.ResponseWriter, r *http.Request) {
	http.Error(w, "not yet", http.StatusNotImplemented)
}
