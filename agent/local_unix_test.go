//go:build !windows

package agent

import (
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestLocalSocketGroup: socket_group opens the socket to a group, and no
// further.
func TestLocalSocketGroup(t *testing.T) {
	g, err := user.LookupGroupId(strconv.Itoa(os.Getgid()))
	if err != nil {
		t.Skipf("no group name for gid %d: %v", os.Getgid(), err)
	}
	path := filepath.Join(t.TempDir(), "agent.sock")
	l, err := ListenLocal(path, g.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o660 || fi.Sys().(*syscall.Stat_t).Gid != uint32(os.Getgid()) {
		t.Fatalf("socket %v %v", fi, err)
	}
	if _, err := ListenLocal(filepath.Join(t.TempDir(), "b.sock"), "no-such-group-moonwake"); err == nil || !strings.Contains(err.Error(), "socket_group") {
		t.Fatalf("an unknown group: %v", err)
	}
}
