package main

import (
	"strings"
	"testing"
)

// TestGroupCommand wakes a tag's machines through a real hub and follows
// them to the end.
func TestGroupCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a hub process")
	}
	_, port := udpReceiver(t)
	hp := startHubProcess(t, t.TempDir())
	for i, name := range []string{"pc-a", "pc-b"} {
		body := map[string]any{"name": name, "mac": "aa:bb:cc:dd:ee:0" + string(rune('1'+i)), "broadcast": "127.0.0.1", "port": port, "tags": []string{"den"}}
		if code, b := hp.req(t, "POST", "/api/v1/machines", hp.admin, body); code != 201 {
			t.Fatalf("create: %d %s", code, b)
		}
	}
	env := map[string]string{"MOONWAKE_TOKEN": hp.admin, "MOONWAKE_HUB": hp.url}
	code, out, errOut := cli(t, env, "group", "list")
	if code != 0 || !strings.Contains(out, "den") || !strings.Contains(out, "pc-a, pc-b") {
		t.Fatalf("group list: %d %s %s", code, out, errOut)
	}
	code, out, errOut = cli(t, env, "group", "wake", "den", "--stagger", "100ms")
	if code != 0 || !strings.Contains(out, "wake of 2 machines, 100ms apart") || !strings.Contains(out, "pc-b") || !strings.Contains(out, "succeeded: 2 of 2 succeeded") {
		t.Fatalf("group wake: %d\n%s\n%s", code, out, errOut)
	}
	for _, args := range [][]string{
		{"group", "wake"},
		{"group", "wake", "den", "--machines", "pc-a"},
		{"group", "wake", "den", "--stagger", "1s", "--per-second", "2"},
	} {
		if code, _, _ := cli(t, env, args...); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
	if code, _, errOut := cli(t, env, "group", "shutdown", "attic"); code == 0 || !strings.Contains(errOut, "no machine has the tag") {
		t.Errorf("an unknown tag: %d %s", code, errOut)
	}
}
