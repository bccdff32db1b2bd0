//go:build linux

// Package testbus gives tests a private D-Bus session bus (Debian's
// dbus-daemon, started by the test on a socket in its own directory) and a
// desktop notification daemon on it (org.freedesktop.Notifications) that
// records what it is asked to show and can press a notification's buttons.
// Nothing touches the machine's own buses.
package testbus

import (
	"bufio"
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

// The freedesktop notification service, as the agent calls it.
const (
	Service   = "org.freedesktop.Notifications"
	Path      = "/org/freedesktop/Notifications"
	Interface = "org.freedesktop.Notifications"
)

// Start starts a session bus whose socket is in dir and returns its
// address; it skips t when dbus-daemon is not installed (Debian package
// dbus-daemon). Its policy lets every user in, as a user's session bus lets
// in that user: the test connects as root, the agent's notifier child as
// another user. The daemon is killed when t ends.
func Start(t testing.TB, dir string) string {
	t.Helper()
	daemon, err := exec.LookPath("dbus-daemon")
	if err != nil {
		t.Skip("dbus-daemon is not installed (Debian package dbus-daemon): the session bus tests need it")
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

// Notification is one Notify call.
type Notification struct {
	ID            uint32
	Summary, Body string
	Actions       []string
	Replaces      uint32
	Expire        int32
	Urgency       byte
	UID           uint32 // of the process that called, as the bus knows it
}

// Notifications is a notification daemon on a test bus.
type Notifications struct {
	conn   *dbus.Conn
	mu     sync.Mutex
	next   uint32
	calls  []Notification
	closed []uint32
	errs   []error
}

// Serve owns the notification service on the bus at addr until t ends.
func Serve(t testing.TB, addr string) *Notifications {
	t.Helper()
	conn, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	n := &Notifications{conn: conn}
	if err := conn.Export(server{n}, Path, Interface); err != nil {
		t.Fatal(err)
	}
	if reply, err := conn.RequestName(Service, dbus.NameFlagDoNotQueue); err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("own %s: %v, %v", Service, reply, err)
	}
	return n
}

// server holds the exported methods, apart from the test's own.
type server struct{ n *Notifications }

func (s server) Notify(sender dbus.Sender, app string, replaces uint32, icon, summary, body string,
	actions []string, hints map[string]dbus.Variant, expire int32) (uint32, *dbus.Error) {
	var uid uint32
	err := s.n.conn.BusObject().Call("org.freedesktop.DBus.GetConnectionUnixUser", 0, string(sender)).Store(&uid)
	s.n.mu.Lock()
	defer s.n.mu.Unlock()
	if err != nil {
		s.n.errs = append(s.n.errs, err)
	}
	id := replaces
	if id == 0 {
		s.n.next++
		id = s.n.next
	}
	urgency, _ := hints["urgency"].Value().(byte)
	s.n.calls = append(s.n.calls, Notification{ID: id, Summary: summary, Body: body, Actions: actions,
		Replaces: replaces, Expire: expire, Urgency: urgency, UID: uid})
	return id, nil
}

func (s server) CloseNotification(id uint32) *dbus.Error {
	s.n.mu.Lock()
	defer s.n.mu.Unlock()
	s.n.closed = append(s.n.closed, id)
	return nil
}

func (s server) GetCapabilities() ([]string, *dbus.Error) { return []string{"actions", "body"}, nil }

// Calls returns the Notify calls so far, and the ids closed.
func (n *Notifications) Calls() ([]Notification, []uint32) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]Notification(nil), n.calls...), append([]uint32(nil), n.closed...)
}

// Wait returns the first Notify call that ok accepts, failing t after 10 s.
func (n *Notifications) Wait(t testing.TB, ok func(Notification) bool) Notification {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		calls, _ := n.Calls()
		for _, c := range calls {
			if ok(c) {
				return c
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no such notification in %+v", calls)
		}
	}
}

// Invoke presses the button named action on notification id, as the
// person at the desktop would.
func (n *Notifications) Invoke(id uint32, action string) error {
	return n.conn.Emit(Path, Interface+".ActionInvoked", id, action)
}
