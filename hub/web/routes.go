package web

import (
	"html/template"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/moonwake/moonwake"
)

// contentSecurityPolicy allows the hub's own scripts, styles, images and
// connections only: no inline script or style anywhere, no frames of the
// hub elsewhere, forms post to the hub only.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; manifest-src 'self'; worker-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// Handler returns the web app's handler. It parses the templates and reads
// the static files first, and panics if they are broken: they are embedded
// in the binary, so that is a bug the tests catch, not a runtime condition.
func (s *Server) Handler() http.Handler {
	if err := s.setup(); err != nil {
		panic(err)
	}
	mux := http.NewServeMux()

	// Files: hashed static assets, and the few that must keep their names.
	mux.HandleFunc("GET /static/", s.serveStatic)
	mux.HandleFunc("GET /sw.js", s.serviceWorker)
	mux.HandleFunc("GET /manifest.webmanifest", s.manifest)
	mux.HandleFunc("GET /favicon.ico", s.favicon)
	mux.HandleFunc("GET /offline", s.offline)
	mux.HandleFunc("GET /robots.txt", robots)

	// Signing in.
	mux.HandleFunc("GET /login", s.loginPage)
	mux.HandleFunc("POST /login", s.login)
	mux.HandleFunc("GET /setup", s.setupPage)
	mux.HandleFunc("POST /setup", s.setupPassword)
	mux.Handle("POST /logout", s.signedIn(s.logout))
	mux.Handle("GET /sessions", s.signedIn(s.sessionsPage))
	mux.Handle("POST /sessions/{id}/revoke", s.signedIn(s.revokeSession))

	// The dashboard, its live updates and its buttons.
	mux.Handle("GET /{$}", s.signedIn(s.dashboard))
	mux.Handle("GET /events", s.signedIn(s.streamEvents))
	mux.Handle("POST /machines/{name}/wake", s.signedIn(s.wake))
	mux.Handle("POST /machines/{name}/shutdown", s.signedIn(s.shutdown))
	mux.Handle("POST /machines/{name}/keep-awake", s.signedIn(s.keepAwake))
	mux.Handle("POST /groups/{tag}/wake", s.signedIn(s.groupAction(moonwake.ActionWake)))
	mux.Handle("POST /groups/{tag}/shutdown", s.signedIn(s.groupAction(moonwake.ActionShutdown)))

	s.machineRoutes(mux)
	s.tokenRoutes(mux)
	s.relayRoutes(mux)
	s.tapRoutes(mux)

	// Anything else: a signed-in 404 page, or the sign-in page.
	mux.Handle("/", s.signedIn(func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, notFound(r))
	}))
	return s.headers(mux)
}

// parsePagesAfter is how long after its start a hub parses its pages.
const parsePagesAfter = 250 * time.Millisecond

// setup prepares what Handler needs.
func (s *Server) setup() error {
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	var err error
	if s.assets, err = loadAssets(files); err != nil {
		return err
	}
	// The pages are parsed in the background, a moment after the start:
	// a hub that has just started answers the API (a wake) before it
	// spends the 3 ms of CPU the pages take, and a page asked for sooner
	// parses them itself. Embedded templates that do not parse are a
	// build's bug, which the tests catch; a hub that has one still serves
	// the API.
	s.pages = sync.OnceValues(func() (map[string]*template.Template, error) {
		pages, err := parsePages(files, s.funcs())
		if err != nil {
			s.log().Error("web: pages", "error", err)
		}
		return pages, err
	})
	time.AfterFunc(parsePagesAfter, func() { s.pages() })
	if err = s.buildPWA(); err != nil {
		return err
	}
	s.loginLimit = newAddrLimiter(loginRate, loginBurst)
	s.cop = http.NewCrossOriginProtection()
	if s.PublicURL != "" {
		// A proxy that rewrites Host would otherwise make every change
		// look cross-origin.
		_ = s.cop.AddTrustedOrigin(strings.TrimSuffix(s.PublicURL, "/"))
	}
	s.closing = make(chan struct{})
	return nil
}

// robots is GET /robots.txt: a hub's pages are nobody's search results.
func robots(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("User-agent: *\nDisallow: /\n"))
}

// log returns the logger.
func (s *Server) log() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// headers sets the security headers of every answer.
func (s *Server) headers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cache-Control", "no-store") // the static files say otherwise
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
		if s.https(r) {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r)
	})
}
