package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRequestWithoutAgent(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "agent.sock")
	code, out, errs := runCmd(context.Background(), nil, "request", "sleep", "--app", "Sleep PC", "--socket", sock)
	if code != exitError || out != "" || !strings.Contains(errs, "sleep not done: cannot reach the moonwake agent at "+sock) {
		t.Fatalf("exit %d, %q %q", code, out, errs)
	}
	for _, args := range [][]string{
		{"request"},
		{"request", "sleep"},
		{"sunshine"},
		{"sunshine", "apps", "explode"},
		{"sunshine", "apps", "install"}, // no credentials, no file
	} {
		if code, _, _ := runCmd(context.Background(), nil, args...); code != exitUsage {
			t.Errorf("%q: exit %d", args, code)
		}
	}
}

// TestSunshineAppsFile installs and removes the power apps in an
// apps.json from the command line.
func TestSunshineAppsFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "apps.json")
	if err := os.WriteFile(path, []byte(`{"env":{},"apps":[{"name":"Desktop"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCmd(context.Background(), nil, "sunshine", "apps", "install", "--apps-json", path, "--config", "/etc/moonwake-agent/config.yaml")
	if code != exitOK || !strings.Contains(out, "Sleep PC      added") || !strings.Contains(out, "Restart Sunshine") {
		t.Fatalf("install: exit %d, %q %q", code, out, errs)
	}
	b, _ := os.ReadFile(path)
	exe, _ := os.Executable()
	exe, _ = filepath.EvalSymlinks(exe)
	if !strings.Contains(string(b), `request sleep --app \"Sleep PC\" --config \"/etc/moonwake-agent/config.yaml\"`) || !strings.Contains(string(b), exe) {
		t.Fatalf("apps.json:\n%s", b)
	}
	code, out, _ = runCmd(context.Background(), nil, "sunshine", "apps", "install", "--apps-json", path, "--config", "/etc/moonwake-agent/config.yaml")
	if code != exitOK || !strings.Contains(out, "unchanged") || strings.Contains(out, "Restart Sunshine") {
		t.Fatalf("install again: exit %d, %q", code, out)
	}
	code, out, _ = runCmd(context.Background(), nil, "sunshine", "apps", "remove", "--apps-json", path)
	if code != exitOK || strings.Count(out, "removed") != 3 {
		t.Fatalf("remove: exit %d, %q", code, out)
	}
}

func TestCancelWithoutAgent(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "agent.sock")
	code, out, errs := runCmd(context.Background(), nil, "cancel", "--socket", sock)
	if code != exitError || out != "" || !strings.Contains(errs, "not cancelled: cannot reach the moonwake agent at "+sock) {
		t.Fatalf("exit %d, %q %q", code, out, errs)
	}
	if code, _, _ := runCmd(context.Background(), nil, "cancel", "now"); code != exitUsage {
		t.Errorf("cancel now: exit %d", code)
	}
}
