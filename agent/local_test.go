package agent

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/uplink"
)

// TestLocalRequest is "moonwake-agent request" end to end short of the
// hub's power service: a program on the PC asks the running agent, over
// its owner-only socket, and the hub's answer comes back; with the agent
// gone the program is told so.
func TestLocalRequest(t *testing.T) {
	h := newTestHub(t)
	var got []uplink.Request
	h.Server.OnRequest = func(ctx context.Context, p uplink.Peer, r uplink.Request) uplink.Result {
		got = append(got, r)
		if r.Name == "hibernate" {
			return uplink.Result{Error: "pc has no way to hibernate"}
		}
		return uplink.Result{OK: true, Detail: r.Name + " of " + p.Machine + " under way"}
	}
	dir := t.TempDir()
	st, err := Pair(t.Context(), PairOptions{Hub: h.url, Code: h.code(t, "pc"), StatePath: filepath.Join(dir, "state.json")})
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "agent.sock")
	a := &Agent{
		Config: Config{State: filepath.Join(dir, "state.json"), Commands: safeCommands(dir)},
		State:  st, Logger: slog.New(slog.NewTextHandler(t.Output(), nil)).With("side", "agent"),
	}
	if a.Config.SocketPath() != sock {
		t.Fatalf("socket path %s, want %s next to the state", a.Config.SocketPath(), sock)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	eventually(t, "the agent's link", func() bool { return h.Connected(st.ID) })

	fi, err := os.Stat(sock)
	if err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket %v %v: want an owner-only socket", fi, err)
	}
	// The uplink may be up on the hub's side a moment before the agent's.
	var said string
	eventually(t, "the hub's answer", func() bool {
		said, err = Request(t.Context(), sock, LocalRequest{Name: "sleep", App: "Sleep PC"})
		return err == nil
	})
	if said != "sleep of pc under way" {
		t.Errorf("said %q", said)
	}
	if len(got) < 1 || got[len(got)-1] != (uplink.Request{ID: got[len(got)-1].ID, Name: "sleep", From: "sunshine", App: "Sleep PC"}) {
		t.Errorf("the hub got %+v", got)
	}
	_, err = Request(t.Context(), sock, LocalRequest{Name: "hibernate", App: "Hibernate PC"})
	if err == nil || !strings.Contains(err.Error(), "the hub refused: pc has no way to hibernate") {
		t.Errorf("a refusal: %v", err)
	}
	_, err = Request(t.Context(), sock, LocalRequest{Name: "rm -rf", App: "x"})
	if err == nil || !strings.Contains(err.Error(), "unknown power action") {
		t.Errorf("a bad request: %v", err)
	}

	// The hub gone: the agent says the hub did not take it.
	h.Server.Close()
	eventually(t, "the link down", func() bool { return !h.Connected(st.ID) })
	eventually(t, "the agent to say the hub is down", func() bool {
		_, err = Request(t.Context(), sock, LocalRequest{Name: "sleep", App: "Sleep PC"})
		return err != nil && strings.Contains(err.Error(), "the hub did not take it")
	})

	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(sock); err == nil {
		t.Error("the socket outlived the agent")
	}
	_, err = Request(t.Context(), sock, LocalRequest{Name: "sleep", App: "Sleep PC"})
	if moonwake.ErrorCode(err) != moonwake.EUnavailable || !strings.Contains(err.Error(), "cannot reach the moonwake agent") {
		t.Errorf("with no agent: %v", err)
	}
}

func FuzzParseLocalRequest(f *testing.F) {
	f.Add([]byte(`{"name":"sleep","app":"Sleep PC"}` + "\n"))
	f.Add([]byte(`{"name":"shutdown","app":""}`))
	f.Add([]byte(`{"name":"sleep","app":"x","extra":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseLocalRequest(b)
		if err != nil {
			return
		}
		if r.Name == LocalCancel {
			if r.App != "" {
				t.Fatalf("accepted a cancel with an app: %+v", r)
			}
			return
		}
		if r.App == "" || len(r.App) > uplink.MaxRequestApp {
			t.Fatalf("accepted %+v", r)
		}
	})
}
