package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestBackupRestoreCommands backs up a running hub's database, is refused a
// restore while that hub runs, restores once it is stopped, and starts a hub
// on the restored database: it has what the backup had and nothing after.
func TestBackupRestoreCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("starts hub processes")
	}
	dir := t.TempDir()
	hp := startHubProcess(t, dir)
	addPC := func(hp *hubProcess, name string) {
		t.Helper()
		if code, body := hp.req(t, "POST", "/api/v1/machines", hp.admin, map[string]any{"name": name, "mac": "aa:bb:cc:dd:ee:" + fmt.Sprintf("%02x", len(name))}); code != 201 {
			t.Fatalf("create %s: %d %s", name, code, body)
		}
	}
	addPC(hp, "pc")

	backup := filepath.Join(t.TempDir(), "moonwake-backup.db")
	code, out, errOut := cli(t, nil, "backup", "--data", dir, backup)
	if code != 0 || !strings.Contains(out, "1 machines, 1 tokens") {
		t.Fatalf("backup: exit %d %q %s", code, out, errOut)
	}
	if code, _, errOut = cli(t, nil, "backup", "--data", dir, backup); code != 1 || !strings.Contains(errOut, "exists") {
		t.Errorf("backup over an existing file: exit %d %s", code, errOut)
	}
	if code, out, errOut = cli(t, nil, "restore", "--check", backup); code != 0 || !strings.Contains(out, "is sound: 1 machines") {
		t.Errorf("restore --check: exit %d %q %s", code, out, errOut)
	}
	addPC(hp, "later")

	code, _, errOut = cli(t, nil, "restore", "--data", dir, backup)
	if want := fmt.Sprintf("held by process %d", hp.cmd.Process.Pid); code != 1 || !strings.Contains(errOut, "cannot restore while the hub runs") || !strings.Contains(errOut, want) {
		t.Fatalf("restore beside a running hub: exit %d %s", code, errOut)
	}
	// A second hub on the same directory is refused too.
	if code, _, errOut := cli(t, nil, "serve", "--listen", "127.0.0.1:0", "--data", dir); code != 1 || !strings.Contains(errOut, "in use") {
		t.Errorf("second hub on one data directory: exit %d %s", code, errOut)
	}

	hp.cmd.Process.Signal(syscall.SIGTERM)
	if err := hp.cmd.Wait(); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	garbage := filepath.Join(t.TempDir(), "garbage.db")
	os.WriteFile(garbage, []byte(strings.Repeat("x", 5000)), 0o600)
	if code, _, errOut = cli(t, nil, "restore", "--data", dir, garbage); code != 2 || !strings.Contains(errOut, "garbage.db is not a readable SQLite database") {
		t.Errorf("restore of garbage: exit %d %s", code, errOut)
	}
	code, out, errOut = cli(t, nil, "restore", "--data", dir, backup)
	if code != 0 || !strings.Contains(out, "restored") || !strings.Contains(out, "kept as "+filepath.Join(dir, "moonwake.db.")) {
		t.Fatalf("restore: exit %d %q %s", code, out, errOut)
	}
	baks, _ := filepath.Glob(filepath.Join(dir, "moonwake.db.*.bak"))
	if len(baks) != 1 {
		t.Fatalf("kept databases: %q", baks)
	}

	hp2 := startHubProcess(t, dir)
	hp2.admin = hp.admin
	code, body := hp2.req(t, "GET", "/api/v1/machines", hp.admin, nil)
	var ms struct{ Machines []struct{ Name string } }
	if code != 200 || json.Unmarshal(body, &ms) != nil || len(ms.Machines) != 1 || ms.Machines[0].Name != "pc" {
		t.Fatalf("machines after restore: %d %s; want only pc", code, body)
	}
	// The kept database has what the hub had when it stopped.
	code, out, _ = cli(t, nil, "restore", "--check", baks[0])
	if code != 0 || !strings.Contains(out, "2 machines") {
		t.Errorf("kept database: %q", out)
	}
}
