// Package web is the hub's web app: server-rendered pages (html/template),
// with the stylesheet, the script, the icons and the service worker
// embedded in the binary and served under content-hashed URLs. There is no
// front-end build step.
//
// One person administers a hub: the web app signs in with the admin
// password and a session cookie, and a session may do what an admin token
// may. Tap links are tokens scoped to one action on one machine.
package web

import (
	"embed"
	"html/template"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/hub/events"
)

//go:embed templates static templates/_*.html
var files embed.FS

// Server serves the web app. Fill in the fields, then call Handler once.
type Server struct {
	Machines  moonwake.MachineService
	Tokens    moonwake.TokenService
	Actions   moonwake.ActionService
	Sessions  moonwake.SessionService
	Power     moonwake.PowerService
	Events    *events.Broker
	Monitor   moonwake.Monitor          // nil: states are unknown
	Pairing   moonwake.AgentPairer      // nil: no agents
	KeepAwake moonwake.KeepAwakeService // nil: no keep-awake
	Sunshine  moonwake.SunshinePairer   // nil: no Sunshine pairing
	Relays    moonwake.RelayService     // nil: no relays page
	Groups    moonwake.GroupService     // nil: no group buttons
	// Policies says, in sentences for people, which schedules and idle
	// auto-off rules apply to a machine; nil: the hub does not say.
	Policies func(m *moonwake.Machine) []string
	// Discovery suggests devices when a machine is added, and sweeps a
	// relay's subnet; nil: no suggestions.
	Discovery moonwake.DiscoveryService
	// PublicURL, such as https://wake.example.net, makes tap links;
	// empty: they are made from the request's host.
	PublicURL string
	// TrustedProxies are the reverse proxies whose X-Forwarded-For and
	// X-Forwarded-Proto are believed.
	TrustedProxies []netip.Prefix
	// SessionTTL is how long a session lives unused; 0: 30 days.
	SessionTTL time.Duration
	Logger     *slog.Logger
	Now        func() time.Time // nil: time.Now

	// Set by Handler.
	pages       func() (map[string]*template.Template, error) // by file name, each with the layout; parsed once, off the start-up path
	assets      *assetSet
	loginLimit  *addrLimiter // failed sign-ins and setups, per client address
	cop         *http.CrossOriginProtection
	closing     chan struct{} // closed by CloseStreams
	closingOnce sync.Once
	heartbeat   time.Duration // of event streams; 0: 15 s (tests shorten it)
	streams     atomic.Int64  // event streams open now

	manifestBody []byte // /manifest.webmanifest
	swBody       []byte // /sw.js
}

// now returns the current time.
func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// ttl returns how long a session lives unused.
func (s *Server) ttl() time.Duration {
	if s.SessionTTL > 0 {
		return s.SessionTTL
	}
	return DefaultSessionTTL
}

// DefaultSessionTTL is how long a session lives unused when SessionTTL is 0.
const DefaultSessionTTL = 30 * 24 * time.Hour

// Streams returns how many event streams are open now.
func (s *Server) Streams() int { return int(s.streams.Load()) }

// CloseStreams ends the event streams, which would otherwise hold a graceful
// shutdown until its timeout; browsers reconnect on their own. Register it
// with http.Server.RegisterOnShutdown.
func (s *Server) CloseStreams() {
	s.closingOnce.Do(func() {
		if s.closing != nil {
			close(s.closing)
		}
	})
}
