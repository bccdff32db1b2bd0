//go:build linux

package agent

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moonwake/moonwake/internal/testbus"
)

// childDir makes a directory that anyone may enter, with a copy of the
// test binary in it: the notifier's child runs as another user.
func childDir(t *testing.T) (dir, exe string) {
	t.Helper()
	dir = t.TempDir()
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	exe = filepath.Join(dir, "agent.test")
	if err := os.WriteFile(exe, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir, exe
}

// TestSessionNotifier shows a countdown on a real session bus through the
// notifier's child, running with another user's credentials, and presses
// its Cancel button; then withdraws another.
func TestSessionNotifier(t *testing.T) {
	dir, exe := childDir(t)
	addr := testbus.Start(t, dir)
	srv := testbus.Serve(t, addr)
	uid, gid := os.Getuid(), os.Getgid()
	if uid == 0 {
		uid, gid = 65534, 65534 // nobody: the child drops root as it would for a desktop user
	}
	sn := &SessionNotifier{
		Find: func(context.Context) (SessionBus, error) { return SessionBus{Address: addr, UID: uid, GID: gid}, nil },
		Command: func() (*exec.Cmd, error) {
			cmd := exec.Command(exe)
			cmd.Env = []string{notifyChildEnv + "=1"}
			return cmd, nil
		},
	}
	type shown struct {
		cancelled bool
		err       error
	}
	res := make(chan shown, 1)
	n := Notification{ID: "act_1", Kind: CmdShutdown, Until: time.Now().Add(90 * time.Second), By: "token phone"}
	go func() { c, err := sn.Show(context.Background(), n); res <- shown{c, err} }()

	c := srv.Wait(t, func(c testbus.Notification) bool { return true })
	if !strings.HasPrefix(c.Summary, "This PC shuts down in 1:") || !strings.Contains(c.Body, "token phone") || !strings.Contains(c.Body, "Cancel") {
		t.Errorf("notification %q / %q", c.Summary, c.Body)
	}
	if fmt.Sprint(c.Actions) != "[cancel Cancel default Cancel]" || c.Expire != 0 || c.Urgency != 2 {
		t.Errorf("actions %q, expire %d, urgency %d", c.Actions, c.Expire, c.Urgency)
	}
	if c.UID != uint32(uid) {
		t.Errorf("Notify came from uid %d, want %d", c.UID, uid)
	}
	// The countdown is kept up to date in place.
	srv.Wait(t, func(u testbus.Notification) bool { return u.Replaces == c.ID })

	// The person presses Cancel.
	if err := srv.Invoke(c.ID, cancelAction); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-res:
		if !r.cancelled || r.err != nil {
			t.Fatalf("Show = %+v, want cancelled", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Show did not return after Cancel")
	}

	// Withdrawn: the notification is closed, and Show says no Cancel.
	ctx, withdraw := context.WithCancel(context.Background())
	go func() {
		c, err := sn.Show(ctx, Notification{ID: "act_2", Kind: CmdReboot, Until: time.Now().Add(time.Minute)})
		res <- shown{c, err}
	}()
	second := srv.Wait(t, func(c testbus.Notification) bool { return strings.HasPrefix(c.Summary, "This PC restarts in") })
	withdraw()
	select {
	case r := <-res:
		if r.cancelled || r.err != nil {
			t.Fatalf("withdrawn Show = %+v", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Show did not return when withdrawn")
	}
	if _, closed := srv.Calls(); len(closed) == 0 || closed[len(closed)-1] != second.ID {
		t.Errorf("closed %v, want %d last", closed, second.ID)
	}
}
