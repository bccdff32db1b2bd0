package uplink

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moonwake/moonwake"
)

func TestCommandResultOutcomeAndReports(t *testing.T) {
	h := newHub(t, &MemoryStore{}, newKey(t))
	id, key := h.addAgent(t)
	var e executor
	start(t, client(t, h.http.URL, id, key, pub(h.key), &e))
	eventually(t, "the agent's link", func() bool { return h.Connected(id) })

	r, err := h.Send(context.Background(), id, Command{ID: "a1", Name: "shutdown"})
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK || r.CommandID != "a1" || r.Detail != "will shutdown" {
		t.Fatalf("result = %+v", r)
	}
	eventually(t, "the command carried out", func() bool { return slices.Equal(e.executed(), []string{"shutdown:a1"}) })
	eventually(t, "its outcome", func() bool { return h.count("outcomes") == 1 })
	h.mu.Lock()
	o := h.outcomes[0]
	h.mu.Unlock()
	if !o.OK || o.CommandID != "a1" {
		t.Errorf("outcome = %+v", o)
	}

	// Unknown commands are refused, and nothing runs.
	r, err = h.Send(context.Background(), id, Command{Name: "format-c"})
	if err != nil {
		t.Fatal(err)
	}
	if r.OK || !strings.Contains(r.Error, "unknown command") || r.CommandID == "" {
		t.Fatalf("result = %+v", r)
	}
	eventually(t, "reports", func() bool { return h.count("reports") >= 3 })
	h.mu.Lock()
	rep := h.reports[0]
	h.mu.Unlock()
	if rep.OS != "test" || rep.At.IsZero() {
		t.Errorf("report = %+v", rep)
	}
	if got := e.executed(); len(got) != 1 {
		t.Errorf("executed %v", got)
	}
}

func TestSendErrors(t *testing.T) {
	h := newHub(t, &MemoryStore{}, newKey(t))
	id, key := h.addAgent(t)
	if _, err := h.Send(context.Background(), id, Command{Name: "shutdown"}); moonwake.ErrorCode(err) != moonwake.EUnavailable {
		t.Fatalf("Send to a peer without link: %v", err)
	}
	if _, err := h.Send(context.Background(), id, Command{}); moonwake.ErrorCode(err) != moonwake.EInvalid {
		t.Fatalf("Send without a name: %v", err)
	}
	release := make(chan struct{})
	c := client(t, h.http.URL, id, key, pub(h.key), nil)
	c.Handle = func(ctx context.Context, cmd Command) (Result, Then) {
		select { // a handler that is too slow
		case <-release:
		case <-ctx.Done():
		}
		return Result{OK: true}, nil
	}
	start(t, c)
	defer close(release)
	eventually(t, "the agent's link", func() bool { return h.Connected(id) })
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := h.Send(ctx, id, Command{Name: "shutdown"})
	if moonwake.ErrorCode(err) != moonwake.EUnavailable || !strings.Contains(err.Error(), "in time") {
		t.Fatalf("Send to a slow peer: %v", err)
	}
}

func TestWrongAgentKeyIsRefused(t *testing.T) {
	h := newHub(t, &MemoryStore{}, newKey(t))
	id, _ := h.addAgent(t)
	var e executor
	var ups atomic.Int32
	impostor := client(t, h.http.URL, id, newKey(t), pub(h.key), &e) // right id, wrong key
	impostor.OnState = func(up bool, err error) {
		if up {
			ups.Add(1)
		}
	}
	unknown := client(t, h.http.URL, "agent_nobody", newKey(t), pub(h.key), &e)
	unknown.OnState = impostor.OnState
	start(t, impostor)
	start(t, unknown)
	never(t, "an impostor's link", 700*time.Millisecond, func() bool {
		return h.Connected(id) || h.Connected("agent_nobody") || ups.Load() > 0 || h.count("up "+id) > 0
	})
}

func TestWrongHubKeyIsRefused(t *testing.T) {
	store := &MemoryStore{}
	fake := newHub(t, store, newKey(t)) // a server that knows the agent, but not the hub's key
	id, key := fake.addAgent(t)
	realHubKey := newKey(t)
	var e executor
	c := client(t, fake.http.URL, id, key, pub(realHubKey), &e)
	var mu sync.Mutex
	var errs []error
	c.OnState = func(up bool, err error) {
		mu.Lock()
		defer mu.Unlock()
		if up {
			errs = append(errs, errors.New("link came up"))
		}
	}
	start(t, c)
	// The fake hub never gets an authenticated session, so it cannot send
	// a command at all.
	never(t, "a link to the fake hub", 700*time.Millisecond, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return fake.Connected(id) || len(errs) > 0
	})
	if _, err := fake.Send(context.Background(), id, Command{Name: "shutdown"}); err == nil {
		t.Fatal("the fake hub sent a command")
	}
	if len(e.executed()) != 0 {
		t.Fatal("a command ran")
	}
}

func TestHandshakeAgainstWrongKeyReportsErrHubKey(t *testing.T) {
	h := newHub(t, &MemoryStore{}, newKey(t))
	id, key := h.addAgent(t)
	c := client(t, h.http.URL, id, key, pub(newKey(t)), nil)
	c.Logger = testLogger(t)
	c.Purpose = PurposeAgent
	u, _ := endpoint(c.HubURL, Path)
	up, err := c.session(context.Background(), u)
	if up || !errors.Is(err, ErrHubKey) {
		t.Fatalf("session = %v, %v; want ErrHubKey", up, err)
	}
}

// TestReplayAndTamperAreRejected records a real command on the wire, then
// plays it again to the agent in the same session and in a new one, and
// sends altered copies: none is carried out.
func TestReplayAndTamperAreRejected(t *testing.T) {
	h := newHub(t, &MemoryStore{}, newKey(t))
	id, key := h.addAgent(t)
	m := newMITM(t, h.http.URL)
	var e executor
	var clientUps atomic.Int32
	c := client(t, m.http.URL, id, key, pub(h.key), &e)
	c.OnState = func(up bool, err error) {
		if up {
			clientUps.Add(1)
		}
	}
	start(t, c)
	eventually(t, "the agent's link", func() bool { return clientUps.Load() == 1 && h.Connected(id) })

	if r, err := h.Send(context.Background(), id, Command{ID: "a1", Name: "shutdown"}); err != nil || !r.OK {
		t.Fatalf("Send: %+v, %v", r, err)
	}
	eventually(t, "the command carried out", func() bool { return len(e.executed()) == 1 })
	cmds := m.recorded(true, typeCommand)
	if len(cmds) != 1 {
		t.Fatalf("recorded %d commands", len(cmds))
	}
	captured := cmds[0]
	// injectAndWait plays b to the peer, which must end that session (and
	// open a new one) without carrying anything out.
	injectAndWait := func(what string, b []byte) {
		t.Helper()
		hubUps, ups := h.count("up "+id), clientUps.Load()
		if err := m.inject(true, b); err != nil {
			t.Fatal(err)
		}
		eventually(t, "a new session after "+what, func() bool {
			return h.count("up "+id) > hubUps && clientUps.Load() > ups && h.Connected(id)
		})
	}

	// 1. The same frame again, in the same session: old sequence number.
	injectAndWait("a replay in the same session", captured)
	// 2. The same frame in a new session: other session and nonces.
	injectAndWait("a replay in a new session", captured)
	// 3. Moved into the current session, with a higher sequence number:
	// the signature covers both.
	challenges := m.recorded(true, typeChallenge)
	cur, err := decodeFrame(challenges[len(challenges)-1])
	if err != nil {
		t.Fatal(err)
	}
	f, _ := decodeFrame(captured)
	f.Session, f.Seq = cur.Session, 99
	injectAndWait("a replay moved into the session", encodeFrame(f))

	// 4. A tampered payload in a live session, signature kept.
	if r, err := h.Send(context.Background(), id, Command{ID: "a2", Name: "shutdown"}); err != nil || !r.OK {
		t.Fatalf("Send: %+v, %v", r, err)
	}
	eventually(t, "the second command carried out", func() bool { return len(e.executed()) == 2 })
	cmds = m.recorded(true, typeCommand)
	f, _ = decodeFrame(cmds[len(cmds)-1])
	f.Seq++
	f.Payload = json.RawMessage(strings.Replace(string(f.Payload), `"shutdown"`, `"reboot"`, 1))
	injectAndWait("a tampered command", encodeFrame(f))

	time.Sleep(100 * time.Millisecond)
	if got := e.executed(); !slices.Equal(got, []string{"shutdown:a1", "shutdown:a2"}) {
		t.Fatalf("executed %v; want only the two commands the hub sent", got)
	}

	// The other way: a report replayed to the hub ends that session too,
	// and is not delivered.
	reports := m.recorded(false, typeReport)
	replayed := mustReport(t, reports[0])
	before, hubUps := h.count("reports"), h.count("up "+id)
	if err := m.inject(false, reports[0]); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a new session after a replayed report", func() bool { return h.count("up "+id) > hubUps })
	h.mu.Lock()
	for _, r := range h.reports[before:] {
		if r.At.Equal(replayed.At) {
			t.Error("a replayed report was delivered")
		}
	}
	h.mu.Unlock()
}

func mustReport(t *testing.T, b []byte) Report {
	f, err := decodeFrame(b)
	if err != nil {
		t.Fatal(err)
	}
	var r Report
	if err := json.Unmarshal(f.Payload, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestReconnectAfterHubRestart(t *testing.T) {
	store, key := &MemoryStore{}, newKey(t)
	h1 := newHub(t, store, key)
	id, akey := h1.addAgent(t)
	addr := h1.http.Listener.Addr().String()
	var e executor
	start(t, client(t, h1.http.URL, id, akey, pub(key), &e))
	eventually(t, "the first link", func() bool { return h1.Connected(id) })

	// Stop the hub, and keep it down a while: the client retries with
	// backoff against a closed port.
	h1.Server.Close()
	h1.http.Close()
	time.Sleep(300 * time.Millisecond)

	// A new hub process on the same address, same key and database.
	h2 := &hub{store: store, key: key}
	h2.Server = &Server{Keys: store, HubKey: key, Logger: testLogger(t), OnConnect: func(p Peer) { h2.event("up " + p.ID) }}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s again: %v", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+Path, h2.Server)
	srv := httptest.NewUnstartedServer(mux)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	t.Cleanup(func() { h2.Server.Close() })

	eventually(t, "the link to the restarted hub", func() bool { return h2.Connected(id) })
	if r, err := h2.Send(context.Background(), id, Command{ID: "b", Name: "reboot"}); err != nil || !r.OK {
		t.Fatalf("Send after restart: %+v, %v", r, err)
	}
}

func TestDeadLinkIsNoticed(t *testing.T) {
	h := newHub(t, &MemoryStore{}, newKey(t), func(s *Server) {
		s.PingInterval, s.PingTimeout = 200*time.Millisecond, 200*time.Millisecond
	})
	id, key := h.addAgent(t)
	m := newMITM(t, h.http.URL)
	c := client(t, m.http.URL, id, key, pub(h.key), nil)
	c.PingInterval, c.PingTimeout = 200*time.Millisecond, 200*time.Millisecond
	start(t, c)
	eventually(t, "the agent's link", func() bool { return h.Connected(id) })
	m.frozen.Store(true) // nothing gets through any more, not even pongs
	begin := time.Now()
	eventually(t, "the hub to notice", func() bool { return h.count("down "+id) == 1 })
	if d := time.Since(begin); d > 2*time.Second {
		t.Errorf("noticed after %v; ping interval and timeout are 200 ms each", d)
	}
	m.frozen.Store(false)
	eventually(t, "a new link", func() bool { return h.Connected(id) })
}

func TestNewSessionReplacesOld(t *testing.T) {
	h := newHub(t, &MemoryStore{}, newKey(t))
	id, key := h.addAgent(t)
	start(t, client(t, h.http.URL, id, key, pub(h.key), nil))
	eventually(t, "the first link", func() bool { return h.count("up "+id) == 1 })
	start(t, client(t, h.http.URL, id, key, pub(h.key), nil))
	eventually(t, "the second link", func() bool { return h.count("up "+id) >= 2 })
	if !h.Connected(id) {
		t.Fatal("not connected")
	}
	h.Drop(id)
	eventually(t, "a link again after the drop", func() bool { return h.count("up "+id) >= 3 && h.Connected(id) })
}

func TestServerCloseEndsLinks(t *testing.T) {
	h := newHub(t, &MemoryStore{}, newKey(t))
	id, key := h.addAgent(t)
	var downs atomic.Int32
	c := client(t, h.http.URL, id, key, pub(h.key), nil)
	c.OnState = func(up bool, err error) {
		if !up {
			downs.Add(1)
		}
	}
	start(t, c)
	eventually(t, "the link", func() bool { return h.Connected(id) })
	done := make(chan struct{})
	go func() { h.Server.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("Close did not return")
	}
	eventually(t, "the client to see the link go", func() bool { return downs.Load() >= 1 })
	if h.Connected(id) {
		t.Fatal("still connected after Close")
	}
	resp, err := http.Get(h.http.URL + Path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("after Close: %s", resp.Status)
	}
}

func TestBackoff(t *testing.T) {
	lo, hi := time.Second, 60*time.Second
	for n, want := range []time.Duration{1, 2, 4, 8, 16, 32, 60, 60, 60} {
		want *= time.Second
		if got := backoff(n, lo, hi, 1); got != want {
			t.Errorf("backoff(%d, max jitter) = %v, want %v", n, got, want)
		}
		if got := backoff(n, lo, hi, 0); got != want/2 {
			t.Errorf("backoff(%d, no jitter) = %v, want %v", n, got, want/2)
		}
	}
	if got := backoff(1000, lo, hi, 0.5); got != 45*time.Second {
		t.Errorf("backoff(1000) = %v", got)
	}
}

func TestClientRefusesBadConfig(t *testing.T) {
	k := newKey(t)
	for name, c := range map[string]*Client{
		"no id":       {HubURL: "http://127.0.0.1:1", Key: k, HubKey: pub(k)},
		"no key":      {HubURL: "http://127.0.0.1:1", ID: "agent_x", HubKey: pub(k)},
		"bad url":     {HubURL: "ftp://x", ID: "agent_x", Key: k, HubKey: pub(k)},
		"bad purpose": {HubURL: "http://127.0.0.1:1", ID: "agent_x", Key: k, HubKey: pub(k), Purpose: "spy"},
	} {
		if err := c.Run(context.Background()); moonwake.ErrorCode(err) != moonwake.EInvalid {
			t.Errorf("%s: Run = %v", name, err)
		}
	}
}

// TestReconnectBacksOff makes the hub refuse the first attempts and checks
// that the client waits longer each time instead of hammering it.
func TestReconnectBacksOff(t *testing.T) {
	h := newHub(t, &MemoryStore{}, newKey(t))
	id, key := h.addAgent(t)
	var mu sync.Mutex
	var attempts []time.Time
	gate := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		attempts = append(attempts, time.Now())
		n := len(attempts)
		mu.Unlock()
		if n <= 5 {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		h.Server.ServeHTTP(w, r)
	}))
	t.Cleanup(gate.Close)
	c := client(t, gate.URL, id, key, pub(h.key), nil)
	c.MinBackoff, c.MaxBackoff = 50*time.Millisecond, time.Second
	start(t, c)
	eventually(t, "the link after the refusals", func() bool { return h.Connected(id) })
	mu.Lock()
	defer mu.Unlock()
	// Attempt n+1 comes at least half of 50 ms × 2^n after attempt n.
	for n := 0; n < 5; n++ {
		gap := attempts[n+1].Sub(attempts[n])
		if least := (50 * time.Millisecond << n) / 2; gap < least {
			t.Errorf("attempt %d came %v after the one before; want at least %v", n+2, gap, least)
		}
	}
}

// TestLinkOutlivesServerTimeouts mounts the uplink on an http.Server with
// short read and write timeouts, as the hub's are for ordinary requests:
// they must not cut an uplink that is in use.
func TestLinkOutlivesServerTimeouts(t *testing.T) {
	h := newHub(t, &MemoryStore{}, newKey(t))
	id, key := h.addAgent(t)
	srv := httptest.NewUnstartedServer(h.Server)
	srv.Config.ReadTimeout, srv.Config.WriteTimeout = 300*time.Millisecond, 300*time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)
	var e executor
	start(t, client(t, srv.URL, id, key, pub(h.key), &e))
	eventually(t, "the link", func() bool { return h.Connected(id) })
	time.Sleep(time.Second)
	if r, err := h.Send(context.Background(), id, Command{ID: "late", Name: "shutdown"}); err != nil || !r.OK {
		t.Fatalf("Send after the timeouts: %+v, %v", r, err)
	}
	if n := h.count("up " + id); n != 1 {
		t.Fatalf("%d sessions; the first one was cut", n)
	}
}

// TestCheck: a link check answers at once while the peer is there, and
// says so within its deadline when the peer went silent, long before the
// periodic ping would notice; it leaves the uplink to that ping.
func TestCheck(t *testing.T) {
	h := newHub(t, &MemoryStore{}, newKey(t), func(s *Server) {
		s.PingInterval, s.PingTimeout = time.Hour, time.Hour
	})
	id, key := h.addAgent(t)
	m := newMITM(t, h.http.URL)
	c := client(t, m.http.URL, id, key, pub(h.key), nil)
	c.PingInterval, c.PingTimeout = time.Hour, time.Hour
	start(t, c)
	eventually(t, "the agent's link", func() bool { return h.Connected(id) })

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Check(ctx, id); err != nil {
		t.Fatalf("check of a live link: %v", err)
	}
	if err := h.Check(ctx, "agent_nobody"); moonwake.ErrorCode(err) != moonwake.EUnavailable {
		t.Errorf("check of an unknown peer: %v", err)
	}

	m.frozen.Store(true) // the peer's address is gone: nothing answers
	short, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	err := h.Check(short, id)
	if moonwake.ErrorCode(err) != moonwake.EUnavailable || !strings.Contains(err.Error(), "did not answer a link check") {
		t.Fatalf("check of a silent link: %v", err)
	}
	if !h.Connected(id) || h.count("down "+id) != 0 {
		t.Error("a failed check ended the uplink; the periodic ping decides that")
	}
	m.frozen.Store(false)
	if err := h.Check(ctx, id); err != nil {
		t.Errorf("check once the peer answers again: %v", err)
	}
}
