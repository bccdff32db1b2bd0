//go:build !windows

package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestUntrustedConfigRefused checks that, running as root, the agent will
// not take commands from a file or directory other users can write.
func TestUntrustedConfigRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the check applies when running as root")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	os.WriteFile(path, []byte("commands: {shutdown: [\"/usr/bin/true\"]}\n"), 0o644)
	if _, err := ReadConfig(path); err != nil {
		t.Fatalf("a root-owned 0644 file in a private directory: %v", err)
	}
	os.Chmod(path, 0o666)
	if _, err := ReadConfig(path); err == nil || !strings.Contains(err.Error(), "other than root") {
		t.Fatalf("a world-writable config was accepted: %v", err)
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
