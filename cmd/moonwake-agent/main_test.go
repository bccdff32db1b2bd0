package main

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moonwake/moonwake/agent"
	"github.com/moonwake/moonwake/internal/testlan"
	"github.com/moonwake/moonwake/uplink"
)

func runCmd(ctx context.Context, env map[string]string, args ...string) (int, string, string) {
	var out, errb testlan.Buffer
	code := run(ctx, args, &out, &errb, func(k string) string { return env[k] })
	return code, out.String(), errb.String()
}

func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"version"}, exitOK, "moonwake-agent"},
		{[]string{"help"}, exitOK, "moonwake-agent pair"},
		{nil, exitUsage, ""},
		{[]string{"explode"}, exitUsage, ""},
		{[]string{"pair", "--hub", "http://127.0.0.1:1"}, exitUsage, ""},
		{[]string{"pair", "--code", "AAAA-BBBB-CCCC"}, exitUsage, ""},
		{[]string{"pair", "--bogus"}, exitUsage, ""},
		{[]string{"run", "extra"}, exitUsage, ""},
		{[]string{"pair", "--hub", "ftp://x", "--code", "AAAA-BBBB-CCCC", "--state", "/nonexistent/x"}, exitUsage, ""},
	} {
		code, out, _ := runCmd(context.Background(), nil, tc.args...)
		if code != tc.code || !strings.Contains(out, tc.out) {
			t.Errorf("%q: exit %d, output %q", tc.args, code, out)
		}
	}
}

func TestRunWithoutPairing(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	os.WriteFile(cfg, []byte("state: "+filepath.Join(dir, "state.json")+"\n"), 0o644)
	code, _, errs := runCmd(context.Background(), nil, "run", "--config", cfg)
	if code != exitError || !strings.Contains(errs, "not paired") {
		t.Fatalf("exit %d, %q", code, errs)
	}
	code, _, errs = runCmd(context.Background(), nil, "run", "--config", filepath.Join(dir, "missing.yaml"))
	if code != exitError || !strings.Contains(errs, "missing.yaml") {
		t.Fatalf("exit %d, %q", code, errs)
	}
}

// TestPairThenRun drives the binary's commands against a hub's uplink side
// on 127.0.0.1. Every power command is overridden to touch a file.
func TestPairThenRun(t *testing.T) {
	_, hubKey, _ := ed25519.GenerateKey(nil)
	store := &uplink.MemoryStore{}
	srv := &uplink.Server{Keys: store, HubKey: hubKey}
	mux := http.NewServeMux()
	mux.Handle("GET "+uplink.Path, srv)
	mux.Handle("POST "+uplink.PairPath, &uplink.Pairer{Store: store, HubKey: hubKey})
	hts := httptest.NewServer(mux)
	t.Cleanup(hts.Close)
	t.Cleanup(func() { srv.Close() })

	pairCode, p := uplink.NewPairing("pc", uplink.PurposeAgent, time.Now(), 0)
	store.CreatePairing(context.Background(), p)

	dir := t.TempDir()
	statePath := filepath.Join(dir, "state.json")
	cfg := filepath.Join(dir, "config.yaml")
	var yaml strings.Builder
	fmt.Fprintf(&yaml, "state: %s\nack_delay: 10ms\ncommands:\n", statePath)
	for _, name := range []string{"shutdown", "reboot", "sleep", "hibernate"} {
		fmt.Fprintf(&yaml, "  %s: [touch, %q]\n", name, filepath.Join(dir, name))
	}
	os.WriteFile(cfg, []byte(yaml.String()), 0o644)

	// The code from the environment, the state path from the configuration.
	code, out, errs := runCmd(context.Background(), map[string]string{"MOONWAKE_PAIR_CODE": pairCode},
		"pair", "--hub", hts.URL, "--config", cfg)
	if code != exitOK {
		t.Fatalf("pair: exit %d: %s", code, errs)
	}
	if !strings.Contains(out, uplink.Fingerprint(hubKey.Public().(ed25519.PublicKey))) || strings.Contains(out+errs, pairCode) {
		t.Errorf("pair output: %q %q", out, errs)
	}
	if fi, err := os.Stat(statePath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state: %v, %v", fi, err)
	}
	// The code is used up.
	if code, _, errs := runCmd(context.Background(), nil, "pair", "--hub", hts.URL, "--code", pairCode, "--state", filepath.Join(dir, "other.json")); code != exitError || strings.Contains(errs, pairCode) {
		t.Errorf("pair again: exit %d: %s", code, errs)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var logs testlan.Buffer
	go func() { done <- run(ctx, []string{"run", "--config", cfg}, &logs, &logs, os.Getenv) }()
	st, err := agent.ReadState(statePath)
	if err != nil {
		t.Fatal(err)
	}
	peer := st.ID
	deadline := time.Now().Add(5 * time.Second)
	for !srv.Connected(peer) {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("no link; agent said:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	r, err := srv.Send(context.Background(), peer, uplink.Command{Name: "shutdown"})
	if err != nil || !r.OK {
		t.Fatalf("Send: %+v, %v", r, err)
	}
	for !exists(filepath.Join(dir, "shutdown")) {
		if time.Now().After(deadline) {
			t.Fatalf("the override did not run; agent said:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Fatalf("run: exit %d:\n%s", code, logs.String())
	}
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
