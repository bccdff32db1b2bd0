// Package httpapi is the hub's HTTP interface: the JSON API under /api/v1,
// the compatibility route GET /wake?mac=, and health checks. Every route but
// /healthz and /readyz requires a token, whatever address the hub listens on.
package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/hub/events"
)

// Server serves the API. Fill in the fields, then call Handler once.
type Server struct {
	Machines  moonwake.MachineService
	Tokens    moonwake.TokenService
	Actions   moonwake.ActionService
	Power     moonwake.PowerService
	Events    *events.Broker
	Monitor   moonwake.Monitor          // nil: states are unknown
	Pairing   moonwake.AgentPairer      // nil: no agents
	Relays    moonwake.RelayService     // nil: no relays
	Uplink    http.Handler              // the agents' uplink (GET /api/v1/link); nil: none
	Pair      http.Handler              // agents redeem pairing codes here (POST /api/v1/agents/pair); nil: none
	KeepAwake moonwake.KeepAwakeService // keep-awake overrides of the power policies; nil: none
	Sunshine  moonwake.SunshinePairer   // pairs with machines' Sunshine hosts; nil: none
	Receipts  moonwake.ReceiptService   // the CloudEvents acted on; nil: a redelivered event acts again
	Groups    moonwake.GroupService     // power actions on groups of machines; nil: none
	Discovery moonwake.DiscoveryService // devices to add, relays' sweeps; nil: none
	// UI serves every path no API route claims: the web app. nil: those
	// paths are 404.
	UI     http.Handler
	Logger *slog.Logger

	// RatePerMinute and Burst bound action requests for each token and for
	// each client address separately.
	RatePerMinute float64
	Burst         int
	// MaxStreams caps the event streams open at once over all tokens
	// (each token may hold 8, each address 16); 0 means DefaultMaxStreams.
	MaxStreams int
	// TrustedProxies are the addresses of reverse proxies whose
	// X-Forwarded-For header names the real client.
	TrustedProxies []netip.Prefix
	// Ready reports whether the hub can serve; nil means always.
	Ready func(ctx context.Context) error

	byToken, byAddr, authFailures *limiter
	pairByAddr                    *limiter // unauthenticated pairing: its own buckets
	uplinkByAddr                  *limiter // uplink handshakes, before they authenticate

	streams     streamCount   // open event streams
	closing     chan struct{} // closed by CloseStreams
	closingOnce sync.Once

	patterns []string // the routes Handler registered, "METHOD /path"
}

// routes is a ServeMux that remembers the patterns of its routes, so that
// the OpenAPI description can be held against them.
type routes struct {
	*http.ServeMux
	patterns []string
}

func (m *routes) Handle(pattern string, h http.Handler) {
	m.patterns = append(m.patterns, pattern)
	m.ServeMux.Handle(pattern, h)
}

func (m *routes) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	m.Handle(pattern, http.HandlerFunc(h))
}

// Routes returns the method patterns of the routes Handler registered
// ("GET /api/v1/machines/{name}"), without the catch-alls for unknown paths.
// Call it after Handler.
func (s *Server) Routes() []string { return s.patterns }

// CloseStreams ends the event streams, which would otherwise hold a graceful
// shutdown until its timeout; clients reconnect and resume. Register it with
// http.Server.RegisterOnShutdown.
func (s *Server) CloseStreams() {
	s.closingOnce.Do(func() { close(s.closing) })
}

// Streams returns how many event streams are open now.
func (s *Server) Streams() int { return s.streams.count() }

// Handler returns the hub's HTTP handler with every route.
func (s *Server) Handler() http.Handler {
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	per := s.RatePerMinute
	if per <= 0 {
		per = 30
	}
	burst := max(s.Burst, 1)
	s.closing = make(chan struct{})
	s.streams.max = s.MaxStreams
	s.byToken = newLimiter(per, burst)
	s.byAddr = newAddrLimiter(per, burst)
	// Pairing needs no token; it must never drain the action buckets
	// that people share behind one address.
	s.pairByAddr = newAddrLimiter(10, 5)
	s.uplinkByAddr = newAddrLimiter(60, 20)
	// Bad tokens are cheap to try and expensive to log: an address gets a
	// few dozen a minute.
	s.authFailures = newAddrLimiter(max(30, per), max(30, burst))

	mux := &routes{ServeMux: http.NewServeMux()}
	// Health: no token, no body worth hiding.
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)

	// Reading: any valid token, limited to the machines in its scope.
	mux.Handle("GET /api/v1/openapi.json", s.auth(s.openAPI, authOpts{}))
	mux.Handle("GET /api/v1/me", s.auth(s.me, authOpts{}))
	mux.Handle("GET /api/v1/machines", s.auth(s.listMachines, authOpts{}))
	mux.Handle("GET /api/v1/machines/{name}", s.auth(s.getMachine, authOpts{}))
	mux.Handle("GET /api/v1/actions", s.auth(s.listActions, authOpts{}))
	mux.Handle("GET /api/v1/actions/{id}", s.auth(s.getAction, authOpts{}))
	mux.Handle("POST /api/v1/actions/{id}/cancel", s.auth(s.cancelAction, authOpts{action: true}))
	mux.Handle("GET /api/v1/events", s.auth(s.streamEvents, authOpts{}))

	// Changing the registry: admin tokens only.
	mux.Handle("POST /api/v1/machines", s.auth(s.createMachine, authOpts{admin: true}))
	mux.Handle("PATCH /api/v1/machines/{name}", s.auth(s.updateMachine, authOpts{admin: true}))
	mux.Handle("DELETE /api/v1/machines/{name}", s.auth(s.deleteMachine, authOpts{admin: true}))
	mux.Handle("GET /api/v1/tokens", s.auth(s.listTokens, authOpts{admin: true}))
	mux.Handle("POST /api/v1/tokens", s.auth(s.createToken, authOpts{admin: true}))
	mux.Handle("DELETE /api/v1/tokens/{id}", s.auth(s.revokeToken, authOpts{admin: true}))

	// Actions: scoped tokens, rate-limited, and the only routes that accept
	// the token in the query string, for tap links.
	mux.Handle("POST /api/v1/machines/{name}/wake", s.auth(s.wakeMachine, authOpts{action: true, queryToken: true}))
	for _, kind := range moonwake.PowerActions {
		// POST only, never a link that a preview could fire; and no token
		// in the URL.
		mux.Handle("POST /api/v1/machines/{name}/"+kind, s.auth(s.commandMachine(kind), authOpts{action: true}))
	}
	// CloudEvents asking for actions (Knative Triggers): scoped tokens as
	// above, and CloudEvents tokens, which may come in the URL.
	mux.Handle("POST /api/v1/cloudevents", s.auth(s.cloudEvent, authOpts{action: true, queryToken: true, cloudEvents: true}))
	mux.Handle("POST /api/v1/machines/{name}/keep-awake", s.auth(s.keepAwake, authOpts{action: true}))
	mux.Handle("DELETE /api/v1/machines/{name}/keep-awake", s.auth(s.clearKeepAwake, authOpts{action: true}))
	mux.Handle("GET /api/v1/machines/{name}/keep-awake", s.auth(s.getKeepAwake, authOpts{}))
	mux.Handle("GET /api/v1/machines/{name}/history", s.auth(s.machineHistory, authOpts{}))
	mux.Handle("POST /api/v1/machines/{name}/pair", s.auth(s.pairMachine, authOpts{admin: true}))
	mux.Handle("POST /api/v1/machines/{name}/sunshine/pair", s.auth(s.pairSunshine, authOpts{admin: true}))
	mux.Handle("GET /api/v1/relays", s.auth(s.listRelays, authOpts{admin: true}))
	mux.Handle("POST /api/v1/relays/{name}/pair", s.auth(s.pairRelay, authOpts{admin: true}))
	mux.Handle("DELETE /api/v1/relays/{name}", s.auth(s.deleteRelay, authOpts{admin: true}))
	mux.Handle("POST /api/v1/relays/{name}/sweep", s.auth(s.sweepRelay, authOpts{admin: true}))
	mux.Handle("GET /api/v1/discover", s.auth(s.discover, authOpts{admin: true}))
	// Agents authenticate with their own keys, not tokens.
	if s.Uplink != nil {
		mux.Handle("GET /api/v1/link", s.limitByAddr(s.uplinkByAddr, s.Uplink))
	}
	if s.Pair != nil {
		// The code is the credential; guessing is bounded per address.
		mux.Handle("POST /api/v1/agents/pair", s.limitByAddr(s.pairByAddr, s.Pair))
	}
	mux.Handle("GET /wake", s.auth(s.wakeByMAC, authOpts{action: true, queryToken: true}))
	if s.Groups != nil {
		// Groups: a tag's machines, or a list; POST only, no token in the
		// URL (a group is bigger than a tap link should reach).
		mux.Handle("GET /api/v1/groups", s.auth(s.listGroups, authOpts{}))
		mux.Handle("GET /api/v1/groups/actions/{id}", s.auth(s.getGroupAction, authOpts{}))
		for _, kind := range append([]string{moonwake.ActionWake}, moonwake.PowerActions...) {
			mux.Handle("POST /api/v1/groups/{tag}/"+kind, s.auth(s.groupAction(kind, true), authOpts{action: true}))
			mux.Handle("POST /api/v1/groups/"+kind, s.auth(s.groupAction(kind, false), authOpts{action: true}))
		}
	}
	s.patterns = mux.patterns

	notFound := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.error(w, r, moonwake.Errorf(moonwake.ENotFound, "no route %s %s", r.Method, r.URL.Path))
	})
	mux.Handle("/api/", notFound)
	if s.UI == nil {
		mux.Handle("/", notFound)
		return s.recoverer(s.headers(mux))
	}
	// The web app sets its own headers (caching of static files, its
	// content security policy). The split is a comparison, not a second
	// ServeMux: every wake request passes through it.
	api, ui := s.recoverer(s.headers(mux)), s.recoverer(s.UI)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isAPIPath(r.URL.Path) {
			api.ServeHTTP(w, r)
			return
		}
		ui.ServeHTTP(w, r)
	})
}

// isAPIPath reports whether the API, not the web app, answers path: what
// is under /api/, and /healthz, /readyz and /wake themselves.
func isAPIPath(path string) bool {
	switch path {
	case "/healthz", "/readyz", "/wake":
		return true
	}
	return strings.HasPrefix(path, "/api/")
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.Ready(ctx); err != nil {
			s.Logger.Warn("not ready", "error", err)
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// limitByAddr rate-limits next per client address with l.
func (s *Server) limitByAddr(l *limiter, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ok, wait := l.allow(s.clientAddr(r)); !ok {
			s.tooMany(w, r, wait, "rate limit for your address reached")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// headers sets what every answer carries: nothing here is for caches or for
// framing, and JSON is never sniffed into HTML.
func (s *Server) headers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		for _, kv := range securityHeaders {
			h[kv.key] = kv.value // shared, never changed: Set and Add replace the slice
		}
		next.ServeHTTP(w, r)
	})
}

// securityHeaders are set on every answer, in canonical form, each value
// a slice of capacity one, so that an Add makes a new one.
var securityHeaders = []struct {
	key   string
	value []string
}{
	{"Cache-Control", []string{"no-store"}[:1:1]},
	{"X-Content-Type-Options", []string{"nosniff"}[:1:1]},
	{"X-Frame-Options", []string{"DENY"}[:1:1]},
	{"Referrer-Policy", []string{"no-referrer"}[:1:1]},
}

// logPath is a request path as logs may show it: a tap link's path
// (/l/SECRET…) is its credential, and is cut before the secret.
func logPath(p string) string {
	if strings.HasPrefix(p, "/l/") {
		return "/l/…"
	}
	return p
}

// recoverer turns a panic in a handler into a logged 500.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.Logger.Error("panic", "method", r.Method, "path", logPath(r.URL.Path), "panic", v)
				s.error(w, r, moonwake.Errorf(moonwake.EInternal, "internal error"))
			}
		}()
		next.ServeHTTP(w, r)
	})
}
