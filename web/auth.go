package web

import (
	"net/http"

	"github.com/moonwake/moonwake"
)

// signedIn wraps a handler for signed-in people only: a GET without a
// session is sent to /login?next=…, anything else without one gets 401. A
// request that changes anything (any method but GET and HEAD) must also
// carry the session's CSRF token, as the form field "csrf" or the header
// X-CSRF-Token, and come from this origin; otherwise 403.
func (s *Server) signedIn(h http.HandlerFunc) http.Handler {
	// TODO(web foundation)
	return h
}

// actor is who a signed-in request acts as, for the audit log.
func (s *Server) actor(r *http.Request) moonwake.Actor {
	// TODO(web foundation)
	return moonwake.Actor{Kind: "session", Name: "admin"}
}
