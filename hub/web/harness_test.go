package web

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/hub/events"
	"github.com/moonwake/moonwake/hub/sqlite"
	"github.com/moonwake/moonwake/mock"
)

// Tests hash passwords with tiny argon2id costs: the race detector makes
// the real ones take seconds. TestPasswordRealCost checks the real ones.
func init() { argonMemory, argonTime = 64, 1 }

// harness is a web app on real SQLite behind a real HTTP server, with the
// mock doubles of the power service, monitor, keep-awake store and relays
// (power, monitor, keep and relays hold what is behind them), and a
// browser-like client (a cookie jar, redirects not followed).
type harness struct {
	t        *testing.T
	srv      *Server
	ts       *httptest.Server
	db       *sqlite.DB
	machines *sqlite.MachineService
	tokens   *sqlite.TokenService
	sessions *sqlite.SessionService
	broker   *events.Broker
	power    *powerRecorder
	monitor  *powerStates
	keep     *keepAwakes
	relays   *relayBook
	admin    string // an admin token's secret
	client   *http.Client
	skew     atomic.Int64 // added to the clock of the server and the DB
}

// now is the harness's clock: the real time plus the skew a test set.
func (h *harness) now() time.Time { return time.Now().Add(time.Duration(h.skew.Load())) }

// harnessPassword is the admin password harness.signIn sets.
const harnessPassword = "correct horse battery"

// newHarness starts a web app with no password set, one admin token and
// the given machines.
func newHarness(t *testing.T, machines ...string) *harness {
	t.Helper()
	ctx := context.Background()
	db := sqlite.NewDB(filepath.Join(t.TempDir(), "moonwake.db"))
	h := &harness{t: t, db: db}
	db.Now = h.now
	if err := db.Open(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	h.machines = sqlite.NewMachineService(db)
	h.tokens = sqlite.NewTokenService(db)
	h.sessions = sqlite.NewSessionService(db, time.Hour)
	h.monitor = newPowerStates()
	h.keep = newKeepAwakes()
	h.relays = &relayBook{}
	var err error
	if h.broker, err = events.NewBroker(ctx, sqlite.NewEventService(db), nil); err != nil {
		t.Fatal(err)
	}
	h.power = newPowerRecorder(h.broker)
	if h.admin, err = h.tokens.CreateToken(ctx, &moonwake.Token{Name: "admin", Admin: true}); err != nil {
		t.Fatal(err)
	}
	for i, name := range machines {
		m := &moonwake.Machine{Name: name, MAC: fmt.Sprintf("02:00:00:00:00:%02x", i+1), Host: fmt.Sprintf("127.0.0.%d", i+2)}
		if err := h.machines.CreateMachine(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	h.srv = &Server{
		Machines: h.machines, Tokens: h.tokens, Actions: sqlite.NewActionService(db), Sessions: h.sessions,
		Power: h.power.service(), Events: h.broker, Monitor: h.monitor.monitor(), KeepAwake: h.keep.service(),
		Relays:     h.relays.service(),
		SessionTTL: time.Hour,
		Now:        h.now,
		heartbeat:  50 * time.Millisecond,
	}
	h.ts = httptest.NewServer(h.srv.Handler())
	t.Cleanup(h.ts.Close)
	t.Cleanup(h.srv.CloseStreams)
	h.client = h.newClient()
	return h
}

// newClient returns a client with its own cookie jar that does not follow
// redirects.
func (h *harness) newClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{
		Jar:           jar,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// do sends a request with c and returns the response and its body.
func (h *harness) do(c *http.Client, method, path string, form url.Values, header map[string]string) (*http.Response, string) {
	h.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, h.ts.URL+path, body)
	if err != nil {
		h.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := c.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return res, string(b)
}

// get is a GET with the harness's client.
func (h *harness) get(path string) (*http.Response, string) {
	h.t.Helper()
	return h.do(h.client, http.MethodGet, path, nil, nil)
}

// post is a form POST with the harness's client, carrying the CSRF token.
func (h *harness) post(path string, form url.Values) (*http.Response, string) {
	h.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if form.Get("csrf") == "" {
		form.Set("csrf", h.csrf())
	}
	return h.do(h.client, http.MethodPost, path, form, nil)
}

var csrfRE = regexp.MustCompile(`data-csrf="([^"]*)"`)

// csrf returns the CSRF token of the client's session, as pages show it.
func (h *harness) csrf() string {
	h.t.Helper()
	_, body := h.do(h.client, http.MethodGet, "/sessions", nil, nil)
	m := csrfRE.FindStringSubmatch(body)
	if m == nil || m[1] == "" {
		h.t.Fatalf("no CSRF token on /sessions (signed in?):\n%s", body)
	}
	return m[1]
}

// setPassword sets the admin password through /setup with the admin
// token, which signs c in.
func (h *harness) setPassword(c *http.Client, pw string) {
	h.t.Helper()
	res, body := h.do(c, http.MethodPost, "/setup", url.Values{"token": {h.admin}, "password": {pw}, "confirm": {pw}}, nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		h.t.Fatalf("setup: %s %s\n%s", res.Status, res.Header.Get("Location"), body)
	}
}

// signIn sets the password (if not yet) and signs the harness's client in.
func (h *harness) signIn() {
	h.t.Helper()
	if _, err := h.sessions.PasswordHash(context.Background()); err != nil {
		h.setPassword(h.client, harnessPassword)
		return
	}
	h.login(h.client, harnessPassword, "")
}

// login signs c in with pw and returns where it was sent.
func (h *harness) login(c *http.Client, pw, next string) string {
	h.t.Helper()
	form := url.Values{"password": {pw}}
	if next != "" {
		form.Set("next", next)
	}
	res, body := h.do(c, http.MethodPost, "/login", form, nil)
	if res.StatusCode != http.StatusSeeOther {
		h.t.Fatalf("login: %s\n%s", res.Status, body)
	}
	return res.Header.Get("Location")
}

// eventually polls cond until it holds or 20 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// powerRecorder is the state behind the harness's mock.PowerService: it
// records what it is asked, starts actions that stay running until the
// test ends them, and publishes them as the power service does.
type powerRecorder struct {
	broker *events.Broker

	mu      sync.Mutex
	calls   []string // "wake pc", "shutdown pc"
	actors  []moonwake.Actor
	actions map[string]*moonwake.Action
	n       int
	err     error // returned, with a failed action, when set
}

func newPowerRecorder(broker *events.Broker) *powerRecorder {
	return &powerRecorder{broker: broker, actions: map[string]*moonwake.Action{}}
}

// service returns the power service that p stands behind.
func (p *powerRecorder) service() *mock.PowerService {
	return &mock.PowerService{
		WakeFn: func(ctx context.Context, m *moonwake.Machine) (*moonwake.Action, error) {
			return p.start(ctx, m, moonwake.ActionWake)
		},
		CommandFn:    p.start,
		FindActionFn: p.findAction,
	}
}

func (p *powerRecorder) start(ctx context.Context, m *moonwake.Machine, kind string) (*moonwake.Action, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n++
	actor, _ := moonwake.ActorFrom(ctx)
	p.calls = append(p.calls, kind+" "+m.Name)
	p.actors = append(p.actors, actor)
	a := &moonwake.Action{ID: fmt.Sprintf("act_%d", p.n), Kind: kind, Machine: m.Name, MAC: m.MAC, Actor: actor,
		Status: moonwake.StatusRunning, Steps: []moonwake.Step{}, CreatedAt: time.Now().UTC()}
	if p.err != nil {
		now := time.Now().UTC()
		a.Status, a.Detail, a.FinishedAt = moonwake.StatusFailed, moonwake.ErrorMessage(p.err), &now
	}
	p.actions[a.ID] = a
	c := *a
	_, _ = p.broker.Publish(moonwake.EventAction, m.Name, &c)
	return &c, p.err
}

func (p *powerRecorder) findAction(ctx context.Context, id string) (*moonwake.Action, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if a := p.actions[id]; a != nil {
		c := *a
		return &c, nil
	}
	return nil, moonwake.Errorf(moonwake.ENotFound, "no action %q", id)
}

// Calls returns the actions asked for so far.
func (p *powerRecorder) Calls() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.calls...)
}

// powerStates is the state behind the harness's mock.Monitor: the states a
// test sets.
type powerStates struct {
	mu     sync.Mutex
	states map[string]moonwake.PowerInfo
}

func newPowerStates() *powerStates {
	return &powerStates{states: map[string]moonwake.PowerInfo{}}
}

// monitor returns the monitor that m stands behind.
func (m *powerStates) monitor() *mock.Monitor { return &mock.Monitor{InfoFn: m.info} }

func (m *powerStates) set(name string, info moonwake.PowerInfo) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.states[name] = info
}

func (m *powerStates) info(ctx context.Context, name string) moonwake.PowerInfo {
	m.mu.Lock()
	defer m.mu.Unlock()
	if info, ok := m.states[name]; ok {
		return info
	}
	return moonwake.PowerInfo{State: moonwake.StateUnknown}
}

// keepAwakes is the state behind the harness's mock.KeepAwakeService: the
// overrides, in memory.
type keepAwakes struct {
	mu    sync.Mutex
	until map[string]time.Time
}

func newKeepAwakes() *keepAwakes { return &keepAwakes{until: map[string]time.Time{}} }

// service returns the keep-awake service that k stands behind.
func (k *keepAwakes) service() *mock.KeepAwakeService {
	return &mock.KeepAwakeService{
		KeepAwakeFn: func(_ context.Context, machine string) (time.Time, error) { return k.get(machine), nil },
		SetKeepAwakeFn: func(_ context.Context, machine string, until time.Time, _ string) error {
			k.mu.Lock()
			defer k.mu.Unlock()
			k.until[machine] = until
			return nil
		},
		ClearKeepAwakeFn: func(_ context.Context, machine string) error {
			k.mu.Lock()
			defer k.mu.Unlock()
			delete(k.until, machine)
			return nil
		},
	}
}

func (k *keepAwakes) get(machine string) time.Time {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.until[machine]
}

// relayBook is the state behind the harness's mock.RelayService: the
// relays a test sets, the pairings asked for and the relays forgotten.
type relayBook struct {
	mu      sync.Mutex
	relays  []*moonwake.Relay
	paired  []string
	deleted []string
	listErr error // ListRelays fails with it when set
	pairErr error // NewRelayPairing fails with it when set
}

// relayCode and relayFingerprint are what the harness's relay pairings
// hand out.
const (
	relayCode        = "RLAY-WXYZ-2345"
	relayFingerprint = "SHA256:hubKEY42"
)

// service returns the relay service that b stands behind.
func (b *relayBook) service() *mock.RelayService {
	return &mock.RelayService{
		ListRelaysFn: func(context.Context) ([]*moonwake.Relay, error) {
			b.mu.Lock()
			defer b.mu.Unlock()
			if b.listErr != nil {
				return nil, b.listErr
			}
			out := make([]*moonwake.Relay, len(b.relays))
			for i, r := range b.relays {
				c := *r
				out[i] = &c
			}
			return out, nil
		},
		NewRelayPairingFn: func(_ context.Context, name string) (moonwake.RelayPairing, error) {
			b.mu.Lock()
			defer b.mu.Unlock()
			b.paired = append(b.paired, name)
			if b.pairErr != nil {
				return moonwake.RelayPairing{}, b.pairErr
			}
			return moonwake.RelayPairing{Relay: name, Code: relayCode, ExpiresAt: time.Now().Add(10 * time.Minute), HubFingerprint: relayFingerprint}, nil
		},
		DeleteRelayFn: func(_ context.Context, name string) error {
			b.mu.Lock()
			defer b.mu.Unlock()
			i := slices.IndexFunc(b.relays, func(r *moonwake.Relay) bool { return r.Name == name })
			if i < 0 {
				return moonwake.Errorf(moonwake.ENotFound, "no relay %q", name)
			}
			b.relays = slices.Delete(b.relays, i, i+1)
			b.deleted = append(b.deleted, name)
			return nil
		},
	}
}

// set replaces the relays.
func (b *relayBook) set(rs ...*moonwake.Relay) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.relays = rs
}

// setErrs makes ListRelays fail with list, and NewRelayPairing with
// pair; nil: they succeed.
func (b *relayBook) setErrs(list, pair error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.listErr, b.pairErr = list, pair
}

// calls returns the pairings asked for and the relays forgotten so far.
func (b *relayBook) calls() (paired, deleted []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.paired), slices.Clone(b.deleted)
}

// mustPrefixes parses CIDR prefixes.
func mustPrefixes(t *testing.T, ps ...string) []netip.Prefix {
	t.Helper()
	var out []netip.Prefix
	for _, p := range ps {
		x, err := netip.ParsePrefix(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, x)
	}
	return out
}
