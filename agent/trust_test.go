//go:build !windows

package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// needRoot skips a test of the checks that apply to an agent running as
// root, or fails it where CI requires it to run (MOONWAKE_TEST_REQUIRE
// names root).
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if strings.Contains(os.Getenv("MOONWAKE_TEST_REQUIRE"), "root") {
		t.Fatal("this test must run as root (MOONWAKE_TEST_REQUIRE=root)")
	}
	t.Skip("the check applies when running as root")
}

const someCommand = "commands: {shutdown: [\"/usr/bin/true\"]}\n"

// TestUntrustedConfigRefused checks that, running as root, the agent will
// not take commands from a file or directory other users can write.
func TestUntrustedConfigRefused(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	os.WriteFile(path, []byte(someCommand), 0o644)
	if _, err := ReadConfig(path); err != nil {
		t.Fatalf("a root-owned 0644 file in a private directory: %v", err)
	}
	for _, mode := range []os.FileMode{0o666, 0o664, 0o646} {
		os.Chmod(path, mode)
		if _, err := ReadConfig(path); err == nil || !strings.Contains(err.Error(), "other than root") {
			t.Fatalf("a config of mode %04o was accepted: %v", mode, err)
		}
	}
	os.Chmod(path, 0o644)
	os.Chmod(dir, 0o777)
	if _, err := ReadConfig(path); err == nil {
		t.Fatal("a config in a world-writable directory was accepted")
	}
	os.Chmod(dir, 0o755)
	os.Chown(path, 65534, 65534)
	if _, err := ReadConfig(path); err == nil {
		t.Fatal("a config owned by another user was accepted")
	}
}

// TestConfigSymlinkRefused: the configuration is opened without following
// a symbolic link, even one to a trusted file.
func TestConfigSymlinkRefused(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	real := filepath.Join(dir, "real.yaml")
	os.WriteFile(real, []byte(someCommand), 0o644)
	link := filepath.Join(dir, "config.yaml")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadConfig(link); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Fatalf("a symlinked config was read: %v", err)
	}
	if _, err := ReadConfig(real); err != nil {
		t.Fatalf("the file itself: %v", err)
	}
}

// TestConfigParentsChecked: every directory above the configuration
// counts, as named and as resolved: a writable grandparent, or a
// directory link that sits in a writable directory, could swap the file.
func TestConfigParentsChecked(t *testing.T) {
	needRoot(t)
	top := t.TempDir()
	deep := filepath.Join(top, "a", "b")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(deep, "config.yaml")
	os.WriteFile(path, []byte(someCommand), 0o644)
	if _, err := ReadConfig(path); err != nil {
		t.Fatalf("a trusted tree: %v", err)
	}
	os.Chmod(filepath.Join(top, "a"), 0o775)
	if _, err := ReadConfig(path); err == nil || !strings.Contains(err.Error(), filepath.Join(top, "a")) {
		t.Fatalf("a config under a group-writable grandparent was accepted: %v", err)
	}
	os.Chmod(filepath.Join(top, "a"), 0o755)

	// A directory anyone may write holds a link to the trusted directory.
	open := filepath.Join(top, "open")
	os.Mkdir(open, 0o755)
	os.Chmod(open, 0o777)
	if err := os.Symlink(deep, filepath.Join(open, "etc")); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadConfig(filepath.Join(open, "etc", "config.yaml")); err == nil || !strings.Contains(err.Error(), open) {
		t.Fatalf("a config reached through a link in a world-writable directory was accepted: %v", err)
	}
	// A trusted link to a directory someone else may write.
	os.Chmod(open, 0o755)
	os.Remove(filepath.Join(open, "etc"))
	loose := filepath.Join(top, "loose")
	os.Mkdir(loose, 0o755)
	os.WriteFile(filepath.Join(loose, "config.yaml"), []byte(someCommand), 0o644)
	os.Chown(loose, 65534, 65534)
	if err := os.Symlink(loose, filepath.Join(open, "etc")); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadConfig(filepath.Join(open, "etc", "config.yaml")); err == nil || !strings.Contains(err.Error(), loose) {
		t.Fatalf("a config in a directory another user owns, through a trusted link, was accepted: %v", err)
	}
}

// TestCheckBinary: install refuses a binary in a folder other users may
// write, or owned by another user.
func TestCheckBinary(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	exe := filepath.Join(dir, "moonwake-agent")
	os.WriteFile(exe, []byte("#!/bin/true\n"), 0o755)
	if err := checkBinary(exe); err != nil {
		t.Fatalf("a root-owned binary in a private folder: %v", err)
	}
	os.Chmod(dir, 0o777)
	if err := checkBinary(exe); err == nil || !strings.Contains(err.Error(), "/usr/local/bin") {
		t.Fatalf("a binary in a world-writable folder: %v", err)
	}
	os.Chmod(dir, 0o755)
	os.Chown(exe, 65534, 65534)
	if err := checkBinary(exe); err == nil {
		t.Fatal("a binary owned by another user was accepted")
	}
}
