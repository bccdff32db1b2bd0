//go:build linux

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mw "github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/agent"
	mwhub "github.com/moonwake/moonwake/hub"
	"github.com/moonwake/moonwake/hub/config"
	"github.com/moonwake/moonwake/internal/testbus"
	"github.com/moonwake/moonwake/wol"
)

// TestCountdownCancelButton is the countdown's whole path with every part
// real: a hub on loopback asks for a shutdown with a grace; the agent,
// linked over the uplink, starts the moonwake-agent binary's notifier child
// as another user on a session bus of the test's own, which shows the
// countdown to a notification daemon there; pressing its Cancel button
// comes back through the child, the agent and the uplink, and the action
// ends cancelled at the PC, its shutdown never carried out.
func TestCountdownCancelButton(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the notifier's child runs as another user")
	}
	// The child runs as nobody: its binary and the bus in a directory it
	// may enter.
	dir := t.TempDir()
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	addr := testbus.Start(t, dir)
	desktop := testbus.Serve(t, addr)
	b, err := os.ReadFile(moonwakeAgent(t))
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "moonwake-agent")
	if err := os.WriteFile(exe, b, 0o755); err != nil {
		t.Fatal(err)
	}

	// The hub, on loopback: this test sends no packet at all.
	cfg := config.Default()
	cfg.Listen, cfg.Data = "127.0.0.1:0", t.TempDir()
	off := false
	cfg.UI.ReverseDNS = &off
	h := mwhub.New(cfg, slog.New(slog.DiscardHandler))
	h.Interfaces = func() ([]wol.Iface, error) { return []wol.Iface{{Name: "lo", Up: true, Loopback: true}}, nil }
	if err := h.Open(context.Background()); err != nil {
		h.Close()
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- h.Serve(ctx) }()
	t.Cleanup(func() {
		stop()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
		h.Close()
	})
	url, admin := "http://"+h.Addr().String(), h.AdminSecret
	do := func(want int, method, path string, body, v any) {
		t.Helper()
		var r io.Reader
		if body != nil {
			j, _ := json.Marshal(body)
			r = bytes.NewReader(j)
		}
		req, _ := http.NewRequest(method, url+path, r)
		req.Header.Set("Authorization", "Bearer "+admin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		got, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %d, want %d: %s", method, path, resp.StatusCode, want, got)
		}
		if v != nil {
			if err := json.Unmarshal(got, v); err != nil {
				t.Fatal(err)
			}
		}
	}
	do(201, "POST", "/api/v1/machines", map[string]any{"name": "gaming-pc", "mac": "02:00:00:00:14:01"}, nil)
	var p mw.AgentPairing
	do(201, "POST", "/api/v1/machines/gaming-pc/pair", nil, &p)

	// The agent, in this process, with the real notifier.
	st, err := agent.Pair(context.Background(), agent.PairOptions{Hub: url, Code: p.Code, StatePath: filepath.Join(dir, "state.json")})
	if err != nil {
		t.Fatal(err)
	}
	executed := filepath.Join(t.TempDir(), "shutdown")
	a := &agent.Agent{
		Config: agent.Config{
			AckDelay: 50 * time.Millisecond, Socket: filepath.Join(t.TempDir(), "agent.sock"),
			Commands: map[string][]string{agent.CmdShutdown: {"/usr/bin/touch", executed}},
		},
		State:  st,
		Logger: slog.New(slog.DiscardHandler),
		Notifier: &agent.SessionNotifier{
			Find: func(context.Context) (agent.SessionBus, error) {
				return agent.SessionBus{Address: addr, UID: 65534, GID: 65534}, nil
			},
			Command: func() (*exec.Cmd, error) { return exec.Command(exe, agent.NotifyChildArg), nil },
		},
		Idle:    idleSince(time.Now().Add(-time.Hour)), // nobody touches it
		Session: func() (bool, error) { return true, nil },
		Uptime:  func() (time.Duration, error) { return time.Hour, nil },
	}
	actx, astop := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- a.Run(actx) }()
	t.Cleanup(func() {
		astop()
		if err := <-ran; err != nil {
			t.Errorf("agent: %v", err)
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var m struct {
			Power mw.PowerInfo `json:"power"`
		}
		do(200, "GET", "/api/v1/machines/gaming-pc", nil, &m)
		if m.Power.Agent != nil && m.Power.Agent.Connected {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the agent did not link")
		}
	}

	var act mw.Action
	do(202, "POST", "/api/v1/machines/gaming-pc/shutdown?grace=30s", nil, &act)
	n := desktop.Wait(t, func(n testbus.Notification) bool { return strings.HasPrefix(n.Summary, "This PC shuts down in 0:") })
	if n.UID != 65534 || !strings.Contains(n.Body, "asked by token admin") {
		t.Fatalf("notification %+v", n)
	}
	if err := desktop.Invoke(n.ID, "cancel"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		do(200, "GET", "/api/v1/actions/"+act.ID, nil, &act)
		if act.Done() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("action still %s: %+v", act.Status, act.Steps)
		}
	}
	if act.Status != mw.StatusCancelled || act.Detail != "cancelled at the PC (button)" {
		t.Fatalf("action %s %q", act.Status, act.Detail)
	}
	if _, closed := desktop.Calls(); len(closed) == 0 || closed[len(closed)-1] != n.ID {
		t.Errorf("the notification was not closed: %v", closed)
	}
	if _, err := os.Stat(executed); err == nil {
		t.Fatal("the shutdown was carried out")
	}
}

// idleSince is an idle source whose last input was at last: its idle time
// grows with the clock, as an OS's does while nobody touches the PC (a
// constant one would read as input after each poll).
func idleSince(last time.Time) func() (time.Duration, error) {
	return func() (time.Duration, error) { return time.Since(last), nil }
}
