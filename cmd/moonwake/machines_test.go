package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/moonwake/moonwake/hub"
	"github.com/moonwake/moonwake/hub/config"
	"github.com/moonwake/moonwake/wol"
)

// startInProcessHub runs a hub in-process on loopback and returns its URL and
// first admin token.
func startInProcessHub(t *testing.T) (string, string) {
	t.Helper()
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.Data = t.TempDir()
	off := false
	cfg.UI.ReverseDNS = &off
	h := hub.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	h.Interfaces = func() ([]wol.Iface, error) { return []wol.Iface{{Name: "lo", Up: true, Loopback: true}}, nil }
	if err := h.Open(context.Background()); err != nil {
		h.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		h.Close()
	})
	return "http://" + h.Addr().String(), h.AdminSecret
}

func TestMachinesAddRelay(t *testing.T) {
	url, admin := startInProcessHub(t)
	env := map[string]string{"MOONWAKE_HUB": url, "MOONWAKE_TOKEN": admin}
	if code, out, errOut := cli(t, env, "machines", "add", "office-pc", "02:00:00:00:00:01", "--host", "10.20.0.15", "--relay", "office"); code != 0 {
		t.Fatalf("add: exit %d: %s %s", code, out, errOut)
	}
	if code, out, errOut := cli(t, env, "machines", "add", "home-pc", "02:00:00:00:00:02"); code != 0 {
		t.Fatalf("add: exit %d: %s %s", code, out, errOut)
	}
	// A bad name is refused before anything is sent.
	code, _, errOut := cli(t, env, "machines", "add", "bad-pc", "02:00:00:00:00:03", "--relay", "Office Relay")
	if code != exitUsage || !strings.Contains(errOut, "relay") {
		t.Fatalf("bad relay: exit %d: %s", code, errOut)
	}

	code, out, errOut := cli(t, env, "machines", "list")
	if code != 0 {
		t.Fatalf("list: exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "RELAY") {
		t.Fatalf("list printed %q", out)
	}
	col := strings.Index(lines[0], "RELAY")
	relays := map[string]string{}
	for _, l := range lines[1:] {
		relays[strings.Fields(l)[0]] = strings.Fields(l[col:])[0]
	}
	if relays["office-pc"] != "office" || relays["home-pc"] != "-" || relays["bad-pc"] != "" {
		t.Errorf("relays %v from\n%s", relays, out)
	}
	code, out, _ = cli(t, env, "machines", "list", "--json")
	if code != 0 || !strings.Contains(out, `"relay": "office"`) || strings.Count(out, `"relay"`) != 1 {
		t.Errorf("list --json: %s", out)
	}
}
