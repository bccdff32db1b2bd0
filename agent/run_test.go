package agent

import (
	"context"
	"crypto/ed25519"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/uplink"
)

// testHub is a hub's uplink side on 127.0.0.1: pairing and the uplink route.
type testHub struct {
	*uplink.Server
	store *uplink.MemoryStore
	key   ed25519.PrivateKey
	url   string
	srv   *httptest.Server

	mu       sync.Mutex
	reports  []uplink.Report
	outcomes []uplink.Result
}

func newTestHub(t *testing.T) *testHub {
	return newTestHubOn(t, (*httptest.Server).Start)
}

// newTestHubOn is newTestHub with the server started by start, such as
// (*httptest.Server).StartTLS.
func newTestHubOn(t *testing.T, start func(*httptest.Server)) *testHub {
	_, key, _ := ed25519.GenerateKey(nil)
	h := &testHub{store: &uplink.MemoryStore{}, key: key}
	log := slog.New(slog.NewTextHandler(t.Output(), nil)).With("side", "hub")
	h.Server = &uplink.Server{
		Keys: h.store, HubKey: key, Logger: log,
		OnReport: func(p uplink.Peer, r uplink.Report) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.reports = append(h.reports, r)
		},
		OnOutcome: func(p uplink.Peer, r uplink.Result) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.outcomes = append(h.outcomes, r)
		},
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+uplink.Path, h.Server)
	mux.Handle("POST "+uplink.PairPath, &uplink.Pairer{Store: h.store, HubKey: key, Logger: log})
	srv := httptest.NewUnstartedServer(mux)
	start(srv)
	t.Cleanup(srv.Close)
	h.srv = srv
	t.Cleanup(func() { h.Server.Close() })
	h.url = srv.URL
	return h
}

func (h *testHub) code(t *testing.T, machine string) string {
	code, p := uplink.NewPairing(machine, uplink.PurposeAgent, time.Now(), 0)
	if err := h.store.CreatePairing(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	return code
}

// safeCommands overrides every command with a program that touches a file
// in dir: whatever a test sends, this machine's power state is not touched.
func safeCommands(dir string) map[string][]string {
	m := map[string][]string{}
	for _, name := range CommandNames {
		m[name] = []string{"touch", filepath.Join(dir, name)}
	}
	return m
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

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// TestPairRunShutdown is the agent end to end: pair, run, the hub sends
// "shutdown", the override runs after the signed result has arrived.
func TestPairRunShutdown(t *testing.T) {
	h := newTestHub(t)
	dir := t.TempDir()
	statePath := filepath.Join(dir, "state", "state.json")
	st, err := Pair(context.Background(), PairOptions{Hub: h.url, Code: h.code(t, "gaming-pc"), StatePath: statePath})
	if err != nil {
		t.Fatal(err)
	}
	if st.Machine != "gaming-pc" || st.Hub != h.url {
		t.Fatalf("state = %+v", st)
	}
	fi, err := os.Stat(statePath)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v, %v", fi, err)
	}
	st, err = ReadState(statePath)
	if err != nil {
		t.Fatal(err)
	}

	const idle, uptime = 42 * time.Second, time.Hour
	a := &Agent{
		Config: Config{AckDelay: 300 * time.Millisecond, ReportInterval: time.Second, Commands: safeCommands(dir)},
		State:  st,
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil)).With("side", "agent"),
		Idle:   func() (time.Duration, error) { return idle, nil },
		// Errors of measurements are reported, not fatal.
		Session: func() (bool, error) { return false, errors.New("no logind") },
		Uptime:  func() (time.Duration, error) { return uptime, nil },
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	eventually(t, "the agent's link", func() bool { return h.Connected(st.ID) })

	off := filepath.Join(dir, CmdShutdown)
	r, err := h.Send(context.Background(), st.ID, uplink.Command{ID: "act-1", Name: CmdShutdown})
	if err != nil {
		t.Fatal(err)
	}
	// The answer comes first, the command after it.
	if exists(off) {
		t.Fatal("the command ran before its result reached the hub")
	}
	if !r.OK || r.CommandID != "act-1" || !strings.Contains(r.Detail, "accepted") || !strings.Contains(r.Detail, off) {
		t.Fatalf("result = %+v", r)
	}
	eventually(t, "the override to run", func() bool { return exists(off) })
	eventually(t, "the outcome", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.outcomes) == 1 && h.outcomes[0].OK && h.outcomes[0].CommandID == "act-1"
	})

	r, err = h.Send(context.Background(), st.ID, uplink.Command{Name: "format-disk"})
	if err != nil {
		t.Fatal(err)
	}
	if r.OK || !strings.Contains(r.Error, "unknown command") {
		t.Fatalf("unknown command: %+v", r)
	}

	eventually(t, "a report", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.reports) > 0
	})
	h.mu.Lock()
	rep := h.reports[0]
	h.mu.Unlock()
	if rep.IdleSeconds == nil || *rep.IdleSeconds != 42 || rep.UptimeSeconds == nil || *rep.UptimeSeconds != 3600 ||
		rep.UserSession != nil || len(rep.Errors) != 1 || !strings.Contains(rep.Errors[0], "no logind") {
		t.Errorf("report = %+v", rep)
	}
}

func TestPairFailures(t *testing.T) {
	h := newTestHub(t)
	dir := t.TempDir()
	statePath := filepath.Join(dir, "state.json")
	code := h.code(t, "pc")

	_, err := Pair(context.Background(), PairOptions{Hub: h.url, Code: code, StatePath: statePath, HubFingerprint: "SHA256:not-the-hub"})
	if moonwake.ErrorCode(err) != moonwake.EUnauthorized || !strings.Contains(err.Error(), "not the expected") {
		t.Fatalf("Pair with a wrong fingerprint: %v", err)
	}
	if exists(statePath) {
		t.Fatal("state written after a refused pairing")
	}
	// That code was used up by the hub; a new one, with the right print.
	st, err := Pair(context.Background(), PairOptions{Hub: h.url, Code: h.code(t, "pc"), StatePath: statePath,
		HubFingerprint: uplink.Fingerprint(h.key.Public().(ed25519.PublicKey))})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Pair(context.Background(), PairOptions{Hub: h.url, Code: code, StatePath: statePath})
	if moonwake.ErrorCode(err) != moonwake.EUnauthorized || strings.Contains(err.Error(), code) {
		t.Fatalf("Pair with a used code: %v", err)
	}
	if again, err := ReadState(statePath); err != nil || again.ID != st.ID {
		t.Fatalf("a failed pairing changed the state: %+v, %v", again, err)
	}
	if _, err := Pair(context.Background(), PairOptions{Hub: "ftp://x", Code: code, StatePath: statePath}); moonwake.ErrorCode(err) != moonwake.EInvalid {
		t.Fatalf("Pair with a bad URL: %v", err)
	}
}

func TestRunNeedsState(t *testing.T) {
	if err := (&Agent{}).Run(context.Background()); !errors.Is(err, ErrNotPaired) {
		t.Fatalf("Run without state = %v", err)
	}
}
