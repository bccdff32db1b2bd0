//go:build linux

package agent

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

// notificationServer plays the desktop's notification daemon on a test
// bus: it records Notify and CloseNotification, with the uid of the
// process that called.
type notificationServer struct {
	conn *dbus.Conn
	mu   sync.Mutex
	next uint32
	got  []notifyCall
	shut []uint32
	seen chan struct{}
}

type notifyCall struct {
	id            uint32
	summary, body string
	actions       []string
	replaces      uint32
	expire        int32
	urgency       byte
	sender        dbus.Sender
	senderUID     uint32
	senderUIDErr  error
}

func (s *notificationServer) Notify(sender dbus.Sender, app string, replaces uint32, icon, summary, body string,
	actions []string, hints map[string]dbus.Variant, expire int32) (uint32, *dbus.Error) {
	var uid uint32
	err := s.conn.BusObject().Call("org.freedesktop.DBus.GetConnectionUnixUser", 0, string(sender)).Store(&uid)
	s.mu.Lock()
	defer s.mu.Unlock()
	id := replaces
	if id == 0 {
		s.next++
		id = s.next
	}
	urgency, _ := hints["urgency"].Value().(byte)
	s.got = append(s.got, notifyCall{id: id, summary: summary, body: body, actions: actions, replaces: replaces, expire: expire,
		urgency: urgency, sender: sender, senderUID: uid, senderUIDErr: err})
	select {
	case s.seen <- struct{}{}:
	default:
	}
	return id, nil
}

func (s *notificationServer) CloseNotification(id uint32) *dbus.Error {
	s.mu.Lock()
	s.shut = append(s.shut, id)
	s.mu.Unlock()
	return nil
}

func (s *notificationServer) GetCapabilities() ([]string, *dbus.Error) {
	return []string{"actions", "body"}, nil
}

func (s *notificationServer) calls() ([]notifyCall, []uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]notifyCall(nil), s.got...), append([]uint32(nil), s.shut...)
}

// startSessionBus starts Debian's dbus-daemon on a socket in dir, with a
// policy that lets root (the test's server) and nobody (the notifier's
// child) in, as a user's session bus lets in that user.
func startSessionBus(t *testing.T, dir string) string {
	t.Helper()
	daemon, err := exec.LookPath("dbus-daemon")
	if err != nil {
		t.Skip("dbus-daemon is not installed (Debian package dbus-daemon): the session bus test needs it")
	}
	sock := filepath.Join(dir, "bus")
	cfg := filepath.Join(dir, "session.conf")
	if err := os.WriteFile(cfg, []byte(`<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=`+sock+`</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(daemon, "--config-file="+cfg, "--nofork", "--nopidfile", "--print-address")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard // as root it says it cannot raise its fd limit
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("dbus-daemon printed no address: %v", err)
	}
	go io.Copy(io.Discard, out)
	return strings.TrimSpace(addr)
}

// childDir makes a directory that nobody may enter, with a copy of the
// test binary in it: the notifier's child runs as nobody.
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
	addr := startSessionBus(t, dir)
	uid, gid := os.Getuid(), os.Getgid()
	if uid == 0 {
		uid, gid = 65534, 65534 // nobody: the child drops root as it would for a desktop user
	}

	conn, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	srv := &notificationServer{conn: conn, seen: make(chan struct{}, 1)}
	if err := conn.Export(srv, notifyPath, notifyInterface); err != nil {
		t.Fatal(err)
	}
	if reply, err := conn.RequestName(notifyService, dbus.NameFlagDoNotQueue); err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("own %s: %v, %v", notifyService, reply, err)
	}

	sn := &SessionNotifier{
		Find: func(context.Context) (SessionBus, error) { return SessionBus{Address: addr, UID: uid, GID: gid}, nil },
		Command: func() (*exec.Cmd, error) {
			cmd := exec.Command(exe)
			cmd.Env = []string{notifyChildEnv + "=1"}
			return cmd, nil
		},
	}
	n := Notification{ID: "act_1", Kind: CmdShutdown, Until: time.Now().Add(90 * time.Second), By: "token phone"}
	type shown struct {
		cancelled bool
		err       error
	}
	res := make(chan shown, 1)
	go func() { c, err := sn.Show(context.Background(), n); res <- shown{c, err} }()

	select {
	case <-srv.seen:
	case r := <-res:
		t.Fatalf("Show returned before notifying: %+v", r)
	case <-time.After(10 * time.Second):
		t.Fatal("no Notify on the bus")
	}
	got, _ := srv.calls()
	c := got[0]
	if !strings.HasPrefix(c.summary, "This PC shuts down in 1:") || !strings.Contains(c.body, "token phone") || !strings.Contains(c.body, "Cancel") {
		t.Errorf("notification %q / %q", c.summary, c.body)
	}
	if fmt.Sprint(c.actions) != "[cancel Cancel default Cancel]" || c.expire != 0 || c.urgency != 2 {
		t.Errorf("actions %q, expire %d, urgency %d", c.actions, c.expire, c.urgency)
	}
	if c.senderUIDErr != nil || c.senderUID != uint32(uid) {
		t.Errorf("Notify came from uid %d (%v), want %d", c.senderUID, c.senderUIDErr, uid)
	}
	// The countdown is kept up to date in place.
	time.Sleep(1500 * time.Millisecond)
	if got, _ := srv.calls(); len(got) < 2 || got[len(got)-1].replaces != c.id {
		t.Errorf("no update of notification %d: %+v", c.id, got)
	}

	// The person presses Cancel.
	if err := conn.Emit(notifyPath, notifyInterface+".ActionInvoked", c.id, cancelAction); err != nil {
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
	var second notifyCall
	for deadline := time.Now().Add(10 * time.Second); second.id == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no Notify for the second countdown")
		}
		got, _ = srv.calls()
		for _, c := range got {
			if strings.HasPrefix(c.summary, "This PC restarts in") {
				second = c
			}
		}
	}
	withdraw()
	select {
	case r := <-res:
		if r.cancelled || r.err != nil {
			t.Fatalf("withdrawn Show = %+v", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Show did not return when withdrawn")
	}
	if _, shut := srv.calls(); len(shut) == 0 || shut[len(shut)-1] != second.id {
		t.Errorf("closed %v, want %d last", shut, second.id)
	}
}
