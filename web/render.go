package web

import (
	"net/http"

	"github.com/moonwake/moonwake"
)

// view is what every page template gets: {{.Data}} is the page's own.
type view struct {
	Title string
	CSRF  string // the session's CSRF token; "" when signed out
	Path  string // the request path, for the navigation
	Data  any
}

// render executes the page template page (a file in templates/, such as
// "machine.html", which defines "title" and "content") inside the layout,
// with data as {{.Data}}.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, page string, data any) {
	// TODO(web foundation)
	w.WriteHeader(status)
}

// fail renders err as an error page, with the status its code calls for.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	// TODO(web foundation)
	http.Error(w, moonwake.ErrorMessage(err), http.StatusInternalServerError)
}
