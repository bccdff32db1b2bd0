package uplink

import (
	"context"
	"crypto/ed25519"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// Everything here runs on 127.0.0.1: real HTTP servers from httptest, real
// WebSockets.

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func newKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

func pub(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

// hub is a link.Server and a Pairer behind a real HTTP server.
type hub struct {
	*Server
	store  *MemoryStore
	key    ed25519.PrivateKey
	http   *httptest.Server
	pairer *Pairer

	mu       sync.Mutex
	reports  []Report
	outcomes []Result
	events   []string // "up peer" / "down peer"
}

func newHub(t *testing.T, store *MemoryStore, key ed25519.PrivateKey, opts ...func(*Server)) *hub {
	t.Helper()
	h := &hub{store: store, key: key}
	h.Server = &Server{
		Keys: store, HubKey: key, Logger: testLogger(t).With("side", "hub"),
		PingInterval: time.Second, PingTimeout: 2 * time.Second,
		HandshakeTimeout: 2 * time.Second, ResultTimeout: 2 * time.Second,
		OnConnect: func(p Peer) { h.event("up " + p.ID) },
		OnDisconnect: func(p Peer, err error) {
			h.event("down " + p.ID)
		},
		OnReport: func(p Peer, r Report) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.reports = append(h.reports, r)
		},
		OnOutcome: func(p Peer, r Result) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.outcomes = append(h.outcomes, r)
		},
	}
	for _, o := range opts {
		o(h.Server)
	}
	h.pairer = &Pairer{Store: store, HubKey: key, Logger: h.Server.Logger}
	mux := http.NewServeMux()
	mux.Handle("GET "+Path, h.Server)
	mux.Handle("POST "+PairPath, h.pairer)
	h.http = httptest.NewServer(mux)
	t.Cleanup(h.http.Close)
	t.Cleanup(func() { h.Server.Close() })
	return h
}

func (h *hub) event(e string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, e)
}

func (h *hub) count(what string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch what {
	case "reports":
		return len(h.reports)
	case "outcomes":
		return len(h.outcomes)
	}
	n := 0
	for _, e := range h.events {
		if e == what {
			n++
		}
	}
	return n
}

// addAgent registers an agent for machine "pc" and returns its id and key.
func (h *hub) addAgent(t *testing.T) (string, ed25519.PrivateKey) {
	key := newKey(t)
	id := NewPeerID(PurposeAgent)
	h.store.AddPeer(Peer{ID: id, Purpose: PurposeAgent, Machine: "pc", PublicKey: pub(key)})
	return id, key
}

// executor records the commands a client carried out.
type executor struct {
	mu   sync.Mutex
	done []string // command ids, in order
}

func (e *executor) handle(ctx context.Context, cmd Command) (Result, Then) {
	if cmd.Name != "shutdown" && cmd.Name != "reboot" {
		return Result{Error: "unknown command " + cmd.Name}, nil
	}
	return Result{OK: true, Detail: "will " + cmd.Name}, func(ctx context.Context) error {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.done = append(e.done, cmd.Name+":"+cmd.ID)
		return nil
	}
}

func (e *executor) executed() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.done...)
}

// client returns a Client for the agent id with key, pinned to hubKey,
// dialing url, with short timings.
func client(t *testing.T, url, id string, key ed25519.PrivateKey, hubKey ed25519.PublicKey, e *executor) *Client {
	c := &Client{
		HubURL: url, ID: id, Key: key, HubKey: hubKey,
		Report:         func(ctx context.Context) Report { return Report{OS: "test"} },
		ReportInterval: 100 * time.Millisecond,
		PingInterval:   time.Second, PingTimeout: 2 * time.Second,
		HandshakeTimeout: 2 * time.Second,
		MinBackoff:       20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		Software: "test", Logger: testLogger(t).With("side", "peer"),
	}
	if e != nil {
		c.Handle = e.handle
	}
	return c
}

// start runs c until the test ends.
func start(t *testing.T, c *Client) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// never checks that cond stays false for d.
func never(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			t.Fatalf("%s happened", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// mitm sits between a peer and the hub, as an attacker on the LAN path
// would: it forwards frames, records them, can inject recorded ones, and
// can stop forwarding (a dead uplink).
type mitm struct {
	target string // ws URL of the hub's uplink route
	http   *httptest.Server
	frozen atomic.Bool

	mu     sync.Mutex
	toPeer [][]byte
	toHub  [][]byte
	peer   *websocket.Conn // the current connection to the peer
	hub    *websocket.Conn // and to the hub
}

func newMITM(t *testing.T, hubURL string) *mitm {
	m := &mitm{target: strings.Replace(hubURL, "http", "ws", 1) + Path}
	m.http = httptest.NewServer(m)
	t.Cleanup(m.http.Close)
	return m
}

func (m *mitm) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// A frozen uplink answers no ping either.
	alive := func(context.Context, []byte) bool { return !m.frozen.Load() }
	pc, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{Subprotocol}, OnPingReceived: alive})
	if err != nil {
		return
	}
	defer pc.CloseNow()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	hc, _, err := websocket.Dial(ctx, m.target, &websocket.DialOptions{Subprotocols: []string{Subprotocol}, OnPingReceived: alive})
	if err != nil {
		return
	}
	defer hc.CloseNow()
	m.mu.Lock()
	m.peer, m.hub = pc, hc
	m.mu.Unlock()
	pump := func(from, to *websocket.Conn, log *[][]byte) {
		defer cancel()
		for {
			for m.frozen.Load() {
				select {
				case <-ctx.Done():
					return
				case <-time.After(5 * time.Millisecond):
				}
			}
			typ, b, err := from.Read(ctx)
			if err != nil {
				return
			}
			m.mu.Lock()
			*log = append(*log, b)
			m.mu.Unlock()
			if to.Write(ctx, typ, b) != nil {
				return
			}
		}
	}
	go pump(hc, pc, &m.toPeer)
	pump(pc, hc, &m.toHub)
}

// recorded returns the frames of type typ seen so far in one direction.
func (m *mitm) recorded(toPeer bool, typ string) [][]byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	src := m.toHub
	if toPeer {
		src = m.toPeer
	}
	var out [][]byte
	for _, b := range src {
		if f, err := decodeFrame(b); err == nil && f.Type == typ {
			out = append(out, b)
		}
	}
	return out
}

// inject writes b as if it came from the hub (toPeer) or from the peer.
func (m *mitm) inject(toPeer bool, b []byte) error {
	m.mu.Lock()
	c := m.hub
	if toPeer {
		c = m.peer
	}
	m.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return c.Write(ctx, websocket.MessageText, b)
}
