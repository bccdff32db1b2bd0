//go:build linux

package main

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// needRoot skips t without root, except where MOONWAKE_TEST_REQUIRE names
// root (CI, which runs as root), where it fails.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if strings.Contains(os.Getenv("MOONWAKE_TEST_REQUIRE"), "root") {
		t.Fatal("MOONWAKE_TEST_REQUIRE asks for root: run the tests as root")
	}
	t.Skip("needs root (mounts a tmpfs)")
}

// smallDisk mounts a tmpfs of size bytes on a new directory and returns
// it; it is unmounted when the test ends, after the cleanups registered
// later (the hub's) have run.
func smallDisk(t *testing.T, size int) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
		t.Fatalf("mount a tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount the tmpfs: %v", err)
		}
	})
	return dir
}

// fill writes a file in dir until the file system is full, and returns it.
func fill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill the disk: %v", err)
			}
			return path
		}
	}
}

// TestDiskFull runs a hub on a small tmpfs and fills it: wakes then fail
// with 507 and a message that says why, the hub logs it, the database stays
// sound, and wakes work again once there is space, without a restart.
func TestDiskFull(t *testing.T) {
	if testing.Short() {
		t.Skip("starts hub processes")
	}
	needRoot(t)
	_, port := udpReceiver(t)
	dir := smallDisk(t, 8<<20)
	hp := startHubProcess(t, dir)
	const machines = 50
	for i := range machines {
		if code, body := hp.req(t, "POST", "/api/v1/machines", hp.admin, map[string]any{
			"name": fmt.Sprintf("pc%02d", i), "mac": fmt.Sprintf("02:00:00:00:00:%02x", i), "broadcast": "127.0.0.1", "port": port,
		}); code != 201 {
			t.Fatalf("create machine: %d %s", code, body)
		}
	}
	if code, body := hp.req(t, "POST", "/api/v1/machines/pc00/wake", hp.admin, nil); code != 202 {
		t.Fatalf("wake with space: %d %s", code, body)
	}

	filler := fill(t, dir)
	// SQLite reuses the space its WAL already has, so the first writes may
	// still succeed; the hub must fail as soon as one needs more.
	var code int
	var body []byte
	for i := 0; i < 5000; i++ {
		code, body = hp.req(t, "POST", fmt.Sprintf("/api/v1/machines/pc%02d/wake", i%machines), hp.admin, nil)
		if code != 202 {
			break
		}
	}
	var e struct{ Error, Code string }
	if code != http.StatusInsufficientStorage || json.Unmarshal(body, &e) != nil || e.Code != "full" ||
		!strings.Contains(e.Error, "the disk that holds the hub's database is full") {
		t.Fatalf("wake on a full disk: %d %s; want 507 saying the disk is full", code, body)
	}
	t.Logf("on a full disk: %d %s", code, body)
	waitFor(t, func() bool { return strings.Contains(hp.stderr(), `msg="disk full"`) }, "a log line saying the disk is full")
	// Reads still work.
	if code, body := hp.req(t, "GET", "/api/v1/machines/pc00", hp.admin, nil); code != 200 {
		t.Errorf("read on a full disk: %d %s", code, body)
	}
	integrity(t, filepath.Join(dir, "moonwake.db"))

	// Space is back: the same hub stores wakes again.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if code, body := hp.req(t, "POST", "/api/v1/machines/pc01/wake?wait=true", hp.admin, nil); code != 200 {
		t.Fatalf("wake once space is back: %d %s", code, body)
	}
	hp.cmd.Process.Signal(syscall.SIGTERM)
	if err := hp.cmd.Wait(); err != nil {
		t.Fatalf("SIGTERM after a full disk: %v\n%s", err, hp.stderr())
	}
	integrity(t, filepath.Join(dir, "moonwake.db"))
}

// integrity fails t unless the database at path passes PRAGMA
// integrity_check. A hub may have it open.
func integrity(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)&_pragma=query_only(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var res string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&res); err != nil || res != "ok" {
		t.Fatalf("integrity check of %s: %q, %v", path, res, err)
	}
}

// waitFor polls ok for up to 10 s, failing t with what if it never holds.
func waitFor(t *testing.T, ok func() bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s after 10 s", what)
		}
	}
}
