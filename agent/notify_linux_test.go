//go:build linux

package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

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

	// Another program on the bus says Cancel was pressed: not heard.
	other, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.Emit(testbus.Path, testbus.Interface+".ActionInvoked", c.ID, cancelAction); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-res:
		t.Fatalf("Show = %+v after a signal from another program", r)
	case <-time.After(500 * time.Millisecond):
	}

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

// TestSessionBusAt: the notifier's child runs in the user's own group,
// never in one that a file in their runtime directory names: a "bus"
// that links to another's socket is no bus, and the group comes from the
// user database when it knows the user.
func TestSessionBusAt(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to give sockets to other users")
	}
	dir := t.TempDir()
	listen := func(name string, uid, gid int) string {
		path := filepath.Join(dir, name)
		l, err := net.Listen("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		if err := os.Chown(path, uid, gid); err != nil {
			t.Fatal(err)
		}
		return path
	}
	const nobody = 65534
	nobodyUser := func(string) (*user.User, error) { return &user.User{Uid: "65534", Gid: "65534"}, nil }
	unknown := func(uid string) (*user.User, error) { return nil, user.UnknownUserIdError(nobody) }

	// The user's socket in the root group: the child still gets the
	// user's group.
	own := listen("bus", nobody, 0)
	bus, err := sessionBusAt(own, nobody, nobodyUser)
	if err != nil || bus.UID != nobody || bus.GID != nobody || bus.Address != "unix:path="+own {
		t.Errorf("own socket: %+v, %v", bus, err)
	}
	// Without a user record, the group of the user's own socket.
	own2 := listen("bus2", nobody, 1234)
	if bus, err := sessionBusAt(own2, nobody, unknown); err != nil || bus.GID != 1234 {
		t.Errorf("own socket, unknown user: %+v, %v", bus, err)
	}
	// Another's socket, named directly or through a link the user made.
	other := listen("docker.sock", 0, 999)
	link := filepath.Join(dir, "link")
	if err := os.Symlink(other, link); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(link, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{other, link, filepath.Join(dir, "none")} {
		if bus, err := sessionBusAt(path, nobody, unknown); !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s: %+v, %v; want ErrUnavailable", filepath.Base(path), bus, err)
		}
	}
}

// TestSessionNotifierPipeHeldOpen: the child's stdout is open to the
// desktop user (the child is theirs); a process of theirs that keeps it
// open after the child has ended does not keep the countdown waiting, and
// what the child said before it ended counts.
func TestSessionNotifierPipeHeldOpen(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "holder.pid")
	t.Cleanup(func() {
		if b, err := os.ReadFile(pidFile); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				if p, err := os.FindProcess(pid); err == nil {
					p.Kill()
				}
			}
		}
	})
	sn := &SessionNotifier{
		Find: func(context.Context) (SessionBus, error) {
			return SessionBus{Address: "unix:path=/nonexistent", UID: os.Getuid(), GID: os.Getgid()}, nil
		},
		Command: func() (*exec.Cmd, error) {
			// A child that says cancel and ends, leaving behind a process
			// that holds its stdout and stderr for 20 s.
			return exec.Command("/bin/sh", "-c", `echo shown; echo cancel; sleep 20 & echo $! >"$0"`, pidFile), nil
		},
	}
	start := time.Now()
	cancelled, err := sn.Show(context.Background(), Notification{ID: "act_1", Kind: CmdShutdown, Until: time.Now().Add(time.Minute)})
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("Show returned after %s", took)
	}
	if err != nil || !cancelled {
		t.Errorf("Show = %v, %v; want cancelled", cancelled, err)
	}
}
