package web

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/internal/httperr"
	"github.com/moonwake/moonwake/internal/ratelimit"
	"github.com/moonwake/moonwake/internal/sse"
)

// tapRoutes registers the tap links' pages, which need no session:
// the link's token, in the path, is the credential.
//
// A wake link wakes on GET, since waking twice is harmless (a wake joins
// the one under way) and a phone's home-screen shortcut can only GET. Any
// other link (shutdown, reboot, sleep, hibernate) never acts on GET or
// HEAD, so that a link preview, a prefetch or a crawler cannot turn a PC
// off: the page asks, and its one button POSTs.
//
// The secret is in the path, so these handlers never give the request to
// anything that may log its path: they pass a copy whose path is redacted.
func (s *Server) tapRoutes(mux *http.ServeMux) {
	lp := &tapPages{
		s:        s,
		byToken:  newTapBuckets(10, 6),
		byAddr:   newTapBuckets(30, 10),
		failures: newTapBuckets(20, 10),
		streams:  map[string]int{},
	}
	mux.HandleFunc("GET /l/{secret}", lp.page)
	mux.HandleFunc("POST /l/{secret}", lp.page)
	mux.HandleFunc("GET /l/{secret}/events", lp.events)
	// Anything else under /l/ (/l/SECRET/, /l/SECRET/x …) is a gone link
	// too: never the catch-all, which would echo the path or send the
	// secret on to the sign-in page.
	mux.HandleFunc("/l/", lp.gone)
}

// gone answers a path under /l/ that no link page serves.
func (lp *tapPages) gone(w http.ResponseWriter, r *http.Request) {
	tapHeaders(w)
	lp.s.render(w, redacted(r), http.StatusNotFound, "link_gone.html", nil)
}

// tapPages serves the tap links, with their own rate limits.
type tapPages struct {
	s *Server
	// byToken and byAddr bound actions; failures bounds unknown or
	// revoked secrets per client address.
	byToken, byAddr, failures tapBuckets

	// streams counts the open event streams per token ("t"+ID) and per
	// client address ("a"+address).
	mu      sync.Mutex
	streams map[string]int
}

// maxTapStreams bounds the open event streams of one link, and of one
// client address.
const maxTapStreams = 4

// openStream counts a stream of the token from the address, and returns
// its release; false when either has maxTapStreams open already.
func (lp *tapPages) openStream(tokenID, addr string) (func(), bool) {
	kt, ka := "t"+tokenID, "a"+addr
	lp.mu.Lock()
	defer lp.mu.Unlock()
	if lp.streams[kt] >= maxTapStreams || lp.streams[ka] >= maxTapStreams {
		return nil, false
	}
	lp.streams[kt]++
	lp.streams[ka]++
	return func() {
		lp.mu.Lock()
		defer lp.mu.Unlock()
		for _, k := range []string{kt, ka} {
			if lp.streams[k]--; lp.streams[k] <= 0 {
				delete(lp.streams, k)
			}
		}
	}, true
}

// tapView is the data of link.html and link_confirm.html.
type tapView struct {
	Title    string // "Wake gaming-pc": the home-screen shortcut's name
	Machine  string
	Kind     string // the link's action
	Verb     string // "Wake", "Shut down" …
	State    moonwake.PowerState
	Since    time.Time
	Goal     string           // the state the action aims for: on or off
	Action   *moonwake.Action // the action started (or joined), if any
	Progress string           // what is going on, in words
	Seq      int64            // the last event before the page: the stream resumes after it
	Path     string           // the link's own path, which the confirm form posts to
	Error    string
}

// tapVerbs names the actions for people.
var tapVerbs = map[string]string{
	moonwake.ActionWake:      "Wake",
	moonwake.ActionShutdown:  "Shut down",
	moonwake.ActionReboot:    "Restart",
	moonwake.ActionSleep:     "Sleep",
	moonwake.ActionHibernate: "Hibernate",
}

// tapGoal is the state an action is done in.
func tapGoal(kind string) string {
	if kind == moonwake.ActionWake || kind == moonwake.ActionReboot {
		return string(moonwake.StateOn)
	}
	return string(moonwake.StateOff)
}

// redacted returns a copy of r whose URL no longer holds the link's
// secret: what the layout, errors and logs see.
func redacted(r *http.Request) *http.Request {
	c := r.Clone(r.Context())
	c.URL.Path, c.URL.RawPath, c.URL.RawQuery = "/l/…", "", ""
	c.RequestURI = "/l/…"
	c.SetPathValue("secret", "")
	return c
}

// tapHeaders keeps link pages out of referrers, caches and indexes.
func tapHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Robots-Tag", "noindex")
}

// token authenticates the link in the path. It answers (a 404 page, or 429
// for an address that keeps trying wrong ones) and returns nil when it is
// not a live link; a live link works whatever its address tried before. Unknown, revoked and non-link secrets get the same answer after the
// same work.
func (lp *tapPages) token(w http.ResponseWriter, r, rr *http.Request) (*moonwake.Token, *moonwake.Machine, string) {
	s := lp.s
	addr := s.clientAddr(r)
	// The link first: wrong links from an address (a CGNAT, an office)
	// lock out wrong links only, never a live one.
	tok, err := s.Tokens.Authenticate(r.Context(), r.PathValue("secret"))
	var m *moonwake.Machine
	if err == nil && isTapLink(tok) {
		m, err = s.Machines.FindMachine(r.Context(), tok.Machines[0])
	} else if err == nil {
		err = moonwake.Errorf(moonwake.EUnauthorized, "not a link")
	}
	if err != nil {
		if code := moonwake.ErrorCode(err); code != moonwake.EUnauthorized && code != moonwake.ENotFound {
			s.log().Error("web: link", "err", err) // never the secret: the services do not put it in errors
		}
		if lp.failures.exhausted(ratelimit.AddrKey(addr)) {
			lp.tooMany(w, rr, "Too many wrong links from your address; wait a minute.")
			return nil, nil, addr
		}
		lp.failures.allow(ratelimit.AddrKey(addr))
		s.render(w, rr, http.StatusNotFound, "link_gone.html", nil)
		return nil, nil, addr
	}
	return tok, m, addr
}

func (lp *tapPages) tooMany(w http.ResponseWriter, rr *http.Request, msg string) {
	w.Header().Set("Retry-After", "60")
	lp.s.fail(w, rr, moonwake.Errorf(moonwake.ERateLimited, "%s", msg))
}

// page is GET, HEAD and POST /l/{secret}.
func (lp *tapPages) page(w http.ResponseWriter, r *http.Request) {
	s := lp.s
	tapHeaders(w)
	rr := redacted(r)
	if r.Method == http.MethodPost {
		// No session and no CSRF token: the secret is the credential. But
		// the form must come from this origin.
		if err := s.cop.Check(r); err != nil {
			s.fail(w, rr, moonwake.Errorf(moonwake.EForbidden, "This request came from another site, so it was refused. Open the link again and press the button."))
			return
		}
	}
	tok, m, addr := lp.token(w, r, rr)
	if tok == nil {
		return
	}
	kind := tok.Actions[0]
	v := lp.view(r.Context(), m, kind)
	v.Path = "/l/" + url.PathEscape(r.PathValue("secret"))
	act := r.Method == http.MethodPost || (r.Method == http.MethodGet && kind == moonwake.ActionWake)
	if !act {
		// GET or HEAD of a link that powers down, and HEAD of a wake
		// link: show, never act.
		page := "link_confirm.html"
		if kind == moonwake.ActionWake {
			page = "link.html"
			v.Progress = "Open this page to wake " + m.Name + "."
		}
		s.render(w, rr, http.StatusOK, page, v)
		return
	}
	if !lp.byToken.allow(tok.ID) || !lp.byAddr.allow(ratelimit.AddrKey(addr)) {
		w.Header().Set("Retry-After", "60")
		v.Error = "Too many presses; wait a minute and try again. What was asked before goes on."
		s.render(w, rr, http.StatusTooManyRequests, "link.html", v)
		return
	}
	ctx := moonwake.WithActor(r.Context(), moonwake.Actor{Kind: moonwake.ActorToken, Name: tok.Name, TokenID: tok.ID, Addr: addr})
	var a *moonwake.Action
	var err error
	if kind == moonwake.ActionWake {
		a, err = s.Power.Wake(ctx, m)
	} else {
		a, err = s.Power.Command(ctx, m, kind)
	}
	s.log().Info("link used", "token", tok.ID, "name", tok.Name, "machine", m.Name, "action", kind, "addr", addr)
	status := http.StatusOK
	if a != nil {
		v.Action = a
		v.Progress = tapProgress(a, m.Name)
	}
	if err != nil {
		code := moonwake.ErrorCode(err)
		if code == moonwake.EInternal {
			s.log().Error("web: link action", "machine", m.Name, "action", kind, "err", err)
		}
		v.Error = moonwake.ErrorMessage(err)
		if a == nil {
			status = httperr.Status(code)
		}
	}
	s.render(w, rr, status, "link.html", v)
}

// view is what a link page shows of m before anything is done.
func (lp *tapPages) view(ctx context.Context, m *moonwake.Machine, kind string) *tapView {
	s := lp.s
	verb := tapVerbs[kind]
	v := &tapView{Title: verb + " " + m.Name, Machine: m.Name, Kind: kind, Verb: verb, State: moonwake.StateUnknown, Goal: tapGoal(kind)}
	if s.Events != nil {
		v.Seq = s.Events.Seq()
	}
	if s.Monitor != nil {
		info := s.Monitor.Info(ctx, m.Name)
		if info.State != "" {
			v.State, v.Since = info.State, info.Since
		}
	}
	return v
}

// tapProgress says where an action is, in words.
func tapProgress(a *moonwake.Action, machine string) string {
	switch {
	case a.Status == moonwake.StatusRunning && a.Kind == moonwake.ActionWake:
		return "Magic packets sent; waiting for " + machine + " to answer…"
	case a.Status == moonwake.StatusRunning:
		return "Asked " + machine + " to " + strings.ToLower(tapVerbs[a.Kind]) + "; waiting until it has…"
	case a.Detail != "":
		return a.Detail
	case a.Status == moonwake.StatusSucceeded:
		return "Done."
	}
	return "It did not work."
}

// tapStreamMax ends a link's event stream after a while; the page
// reconnects if it still follows something.
const tapStreamMax = 30 * time.Minute

// maxTapReplay bounds the events a link's stream replays.
const maxTapReplay = 200

// events is GET /l/{secret}/events: server-sent events about the link's
// machine only (its state changes and actions). A revoked link ends the
// stream at the next heartbeat, with an event "gone".
func (lp *tapPages) events(w http.ResponseWriter, r *http.Request) {
	s := lp.s
	tapHeaders(w)
	rr := redacted(r)
	tok, m, addr := lp.token(w, r, rr)
	if tok == nil {
		return
	}
	release, ok := lp.openStream(tok.ID, ratelimit.AddrKey(addr))
	if !ok {
		lp.tooMany(w, rr, "Too many pages follow this link; close some and try again.")
		return
	}
	defer release()
	secret := r.PathValue("secret")
	if s.Events == nil {
		http.Error(w, "no events on this hub", http.StatusServiceUnavailable)
		return
	}
	machine := m.Name
	after, err := sse.After(r, s.Events.Seq(), maxTapReplay)
	if err != nil {
		http.Error(w, "bad event number", http.StatusBadRequest)
		return
	}
	filter := func(e *moonwake.Event) bool {
		return e.Machine == machine && (e.Type == moonwake.EventState || e.Type == moonwake.EventAction)
	}
	ctx, cancel := context.WithTimeout(r.Context(), tapStreamMax)
	defer cancel()
	past, sub, err := s.Events.Subscribe(ctx, after, filter)
	if err != nil {
		s.fail(w, rr, err)
		return
	}
	defer sub.Close()

	beat := sse.Heartbeat
	if s.heartbeat > 0 {
		beat = s.heartbeat
	}
	sse.Stream[*moonwake.Event]{
		Retry:     3 * time.Second,
		Heartbeat: beat,
		Closing:   s.closing,
		Write:     writeTapEvent,
		// The heartbeat also checks that the link was not revoked meanwhile.
		Alive: func() bool {
			t, err := s.Tokens.Authenticate(ctx, secret)
			return err == nil && isTapLink(t)
		},
		Goodbye: "gone",
	}.Serve(ctx, w, past, sub.C)
}

// tapState is what a link page is told of a state change.
type tapState struct {
	To moonwake.PowerState `json:"to"`
	At time.Time           `json:"at"`
}

// tapAction is what a link page is told of an action: never who asked
// (token, address), the MAC, the steps or the probes' evidence.
type tapAction struct {
	ID         string     `json:"id"`
	Kind       string     `json:"kind"`
	Machine    string     `json:"machine"`
	Status     string     `json:"status"`
	Detail     string     `json:"detail,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

// tapEventData reduces an event's payload to what link.js uses.
func tapEventData(e *moonwake.Event) any {
	switch e.Type {
	case moonwake.EventState:
		var sc moonwake.StateChange
		if json.Unmarshal(e.Data, &sc) != nil {
			return struct{}{}
		}
		return tapState{To: sc.To, At: sc.At}
	case moonwake.EventAction:
		var a moonwake.Action
		if json.Unmarshal(e.Data, &a) != nil {
			return struct{}{}
		}
		// link.js shows the detail as text: its times made readable here.
		return tapAction{ID: a.ID, Kind: a.Kind, Machine: a.Machine, Status: a.Status, Detail: readableTimes(a.Detail, time.Now()), CreatedAt: a.CreatedAt, FinishedAt: a.FinishedAt}
	}
	return struct{}{}
}

// writeTapEvent writes e as the API's event stream does, with a payload
// reduced to what the link page uses.
func writeTapEvent(w io.Writer, e *moonwake.Event) {
	data, err := json.Marshal(struct {
		Seq     int64     `json:"seq"`
		At      time.Time `json:"at"`
		Type    string    `json:"type"`
		Machine string    `json:"machine"`
		Data    any       `json:"data"`
	}{e.Seq, e.At, e.Type, e.Machine, tapEventData(e)})
	if err != nil {
		return
	}
	sse.Event(w, e.Seq, e.Type, data)
}

// tapBuckets keeps one token bucket per key: a token ID, or a client
// address keyed by ratelimit.AddrKey.
type tapBuckets struct{ *ratelimit.Keyed }

// maxTapBuckets bounds the keys remembered.
const maxTapBuckets = 10000

func newTapBuckets(perMinute float64, burst int) tapBuckets {
	return tapBuckets{ratelimit.New(perMinute, burst, maxTapBuckets)}
}

// allow takes one request from key's bucket, and reports whether there
// was one.
func (b tapBuckets) allow(key string) bool {
	ok, _ := b.Allow(key, time.Now())
	return ok
}

// exhausted reports whether key's bucket is empty, without taking from it.
func (b tapBuckets) exhausted(key string) bool { return b.Exhausted(key) }
