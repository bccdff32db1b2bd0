//go:build linux

package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/godbus/dbus/v5"
)

// On Linux a countdown is a desktop notification on the session bus of
// the active graphical session (org.freedesktop.Notifications), with a
// Cancel action. The agent runs as root, as a system service, and a
// session bus lets in only its own user: its EXTERNAL authentication
// checks the connecting process's uid, which the kernel gives. So the
// agent starts a short-lived child of its own binary ("moonwake-agent
// notify-session") with the user's uid and gid and no other privilege,
// which talks to the bus and tells the agent over a pipe what the person
// did. The agent itself never joins the user's bus, the child never
// holds the agent's key, and nothing of the user's environment is read
// (the bus is found from logind: /run/user/UID/bus).

// SessionBus is where a user's notifications go: their bus, and the
// credentials to talk to it with.
type SessionBus struct {
	Address  string // a D-Bus address: "unix:path=/run/user/1000/bus"
	UID, GID int
}

// SessionNotifier shows countdowns through a child process that joins a
// user's session bus.
type SessionNotifier struct {
	// Find returns the bus of the session to show a countdown in; nil:
	// the active graphical session's, from logind.
	Find func(ctx context.Context) (SessionBus, error)
	// Command returns the child to start; nil: this binary with the
	// argument "notify-session".
	Command func() (*exec.Cmd, error)
	Logger  *slog.Logger
}

func osNotifier(log *slog.Logger) Notifier { return &SessionNotifier{Logger: log} }

// childGrace is how long the notifier's child has to close its
// notification and end once told to; and how long one bus call may take.
const childGrace = 5 * time.Second

// NotifyChildArg is the argument that makes moonwake-agent the notifier's
// child: cmd/moonwake-agent calls RunNotifier for it.
const NotifyChildArg = "notify-session"

// Show implements Notifier.
func (sn *SessionNotifier) Show(ctx context.Context, n Notification) (bool, error) {
	find := sn.Find
	if find == nil {
		find = activeSessionBus
	}
	bus, err := find(ctx)
	if err != nil {
		return false, err
	}
	newCmd := sn.Command
	if newCmd == nil {
		newCmd = func() (*exec.Cmd, error) {
			exe, err := os.Executable()
			if err != nil {
				return nil, err
			}
			return exec.Command(exe, NotifyChildArg), nil
		}
	}
	cmd, err := newCmd()
	if err != nil {
		return false, fmt.Errorf("notifier: %w", err)
	}
	// Only what the child needs: no environment of the agent's (its
	// configuration, a token) reaches a process of the user's.
	cmd.Env = append(cmd.Env, "DBUS_SESSION_BUS_ADDRESS="+bus.Address, "PATH=/usr/bin:/bin", "LANG=C.UTF-8")
	cmd.Dir = "/"
	if bus.UID != os.Getuid() || bus.GID != os.Getgid() {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(bus.UID), Gid: uint32(bus.GID), Groups: []uint32{}}}
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return false, err
	}
	// The child's stdout is a pipe of our own, not StdoutPipe's: its
	// end in the child is open to the user (through /proc, the child is
	// theirs), and a process of theirs holding it open must not keep the
	// countdown waiting for an end of file.
	out, w, err := os.Pipe()
	if err != nil {
		stdin.Close()
		return false, fmt.Errorf("notifier: %w", err)
	}
	defer out.Close()
	errOut, errW, err := os.Pipe() // stderr, the same way
	if err != nil {
		stdin.Close()
		w.Close()
		return false, fmt.Errorf("notifier: %w", err)
	}
	defer errOut.Close()
	cmd.Stdout, cmd.Stderr = w, errW
	err = cmd.Start()
	w.Close()
	errW.Close()
	if err != nil {
		stdin.Close()
		return false, fmt.Errorf("notifier: %w", err)
	}
	var stderr strings.Builder
	stderrRead := make(chan struct{})
	go func() {
		defer close(stderrRead)
		io.Copy(&limitedWriter{w: &stderr, n: 1 << 10}, errOut)
	}()
	b, _ := json.Marshal(n)
	stdin.Write(append(b, '\n'))
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	lines := make(chan string)
	go func() { // ends at the end of the pipe, or its deadline once the child is gone
		defer close(lines)
		sc := bufio.NewScanner(io.LimitReader(out, 4<<10))
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	// Withdrawn: closing the child's stdin takes the notification down;
	// a child that does not end soon after (a bus that stopped
	// answering) is killed.
	defer context.AfterFunc(ctx, func() {
		stdin.Close()
		time.AfterFunc(childGrace, func() { cmd.Process.Kill() })
	})()
	cancelled, gone := false, false
	var werr error
	for lines != nil {
		select {
		case line, ok := <-lines:
			if !ok {
				lines = nil
				continue
			}
			cancelled = cancelled || line == "cancel"
		case werr = <-exited:
			// What the child wrote before it ended is in the pipe: read
			// it, but not what another process may still write.
			gone = true
			out.SetReadDeadline(time.Now().Add(time.Second))
			errOut.SetReadDeadline(time.Now().Add(time.Second))
		}
	}
	stdin.Close() // the child's notification comes down, and it ends
	if !gone {
		werr = <-exited
		errOut.SetReadDeadline(time.Now().Add(time.Second))
	}
	<-stderrRead
	if werr != nil && !cancelled && ctx.Err() == nil {
		return false, fmt.Errorf("notifier: %w: %s", werr, strings.TrimSpace(stderr.String()))
	}
	return cancelled, nil
}

type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		l.w.Write(p[:k])
		l.n -= k
	}
	return len(p), nil
}

// activeSessionBus finds the active graphical session's user and bus.
func activeSessionBus(ctx context.Context) (SessionBus, error) {
	ctx, cancel := context.WithTimeout(ctx, sysQueryTimeout)
	defer cancel()
	sessions, err := loginctlSessions(ctx, sysOutput)
	if err != nil {
		return SessionBus{}, fmt.Errorf("no graphical session %w: logind: %w", ErrUnavailable, err)
	}
	s, ok := graphical(sessions)
	if !ok {
		return SessionBus{}, fmt.Errorf("no graphical session %w: nobody is at the desktop", ErrUnavailable)
	}
	return sessionBusAt("/run/user/"+strconv.Itoa(s.uid)+"/bus", s.uid, user.LookupId)
}

// sessionBusAt returns the session bus of the user uid at path, and the
// group the notifier's child runs with: the user's primary group, as
// lookup (user.LookupId) gives it. The runtime directory is the user's,
// so nothing in it decides a group: a "bus" that is a symbolic link to
// another's socket (/run/docker.sock, root:docker) would otherwise have
// the child run in that socket's group. Only a socket that is the user's
// own is a bus; its group is the fallback when lookup knows no such user
// (a directory service that a static agent cannot read), and a user can
// give their own files only a group they are in.
func sessionBusAt(path string, uid int, lookup func(uid string) (*user.User, error)) (SessionBus, error) {
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode().Type() != os.ModeSocket {
		return SessionBus{}, fmt.Errorf("no session bus %w at %s", ErrUnavailable, path)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || int(st.Uid) != uid {
		return SessionBus{}, fmt.Errorf("no session bus %w at %s: the socket is not the user's", ErrUnavailable, path)
	}
	gid := int(st.Gid)
	if u, err := lookup(strconv.Itoa(uid)); err == nil {
		if g, err := strconv.ParseUint(u.Gid, 10, 31); err == nil {
			gid = int(g)
		}
	}
	return SessionBus{Address: "unix:path=" + path, UID: uid, GID: gid}, nil
}

// The freedesktop notification service.
const (
	notifyService   = "org.freedesktop.Notifications"
	notifyPath      = "/org/freedesktop/Notifications"
	notifyInterface = "org.freedesktop.Notifications"
	cancelAction    = "cancel"
)

// RunNotifier is the notifier's child: it reads one Notification as a
// JSON line from in, shows it on the session bus that
// DBUS_SESSION_BUS_ADDRESS names, updates its countdown every second,
// writes "cancel" to out when the person presses Cancel (or clicks the
// notification), and closes it when in is closed.
func RunNotifier(in io.Reader, out io.Writer) error {
	line, err := bufio.NewReaderSize(io.LimitReader(in, 4<<10), 4<<10).ReadSlice('\n')
	if err != nil {
		return errors.New("no notification to show")
	}
	var n Notification
	if err := json.Unmarshal(line, &n); err != nil {
		return errors.New("malformed notification")
	}
	conn, err := dbus.ConnectSessionBus()
	if err != nil {
		return fmt.Errorf("session bus: %w", err)
	}
	defer conn.Close()
	if err := conn.AddMatchSignal(dbus.WithMatchObjectPath(notifyPath), dbus.WithMatchInterface(notifyInterface)); err != nil {
		return fmt.Errorf("session bus: %w", err)
	}
	signals := make(chan *dbus.Signal, 16)
	conn.Signal(signals)
	obj := conn.Object(notifyService, notifyPath)
	call := func(method string, args ...any) *dbus.Call {
		ctx, cancel := context.WithTimeout(context.Background(), childGrace)
		defer cancel()
		return obj.CallWithContext(ctx, notifyInterface+"."+method, 0, args...)
	}

	var id uint32
	show := func() error {
		hints := map[string]dbus.Variant{"urgency": dbus.MakeVariant(byte(2)), "resident": dbus.MakeVariant(true)}
		return call("Notify", "moonwake", id, "system-shutdown",
			n.Title(time.Now()), n.Body(), []string{cancelAction, "Cancel", "default", "Cancel"}, hints, int32(0)).Store(&id)
	}
	// Signals are heard only from the notification service: any other
	// program of the user's may send one that looks like Cancel pressed.
	// It is the user's own bus, so they could press Cancel anyway; but
	// a program must not do it for them. The owner is read after each
	// Notify, which may have started (or restarted) the service.
	var server string
	owner := func() {
		ctx, cancel := context.WithTimeout(context.Background(), childGrace)
		defer cancel()
		var o string
		if conn.BusObject().CallWithContext(ctx, "org.freedesktop.DBus.GetNameOwner", 0, notifyService).Store(&o) == nil {
			server = o
		}
	}
	if err := show(); err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	owner()
	fmt.Fprintln(out, "shown")
	closed := make(chan struct{})
	go func() { io.Copy(io.Discard, in); close(closed) }()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-closed:
			call("CloseNotification", id)
			return nil
		case <-tick.C:
			if time.Now().Before(n.Until.Add(time.Second)) {
				// The countdown in the text; a server that lost it
				// shows it anew.
				if show() == nil {
					owner()
				}
			}
		case sig := <-signals:
			if sig == nil {
				return errors.New("session bus closed")
			}
			if len(sig.Body) < 2 || server == "" || sig.Sender != server {
				continue
			}
			if sid, _ := sig.Body[0].(uint32); sid != id {
				continue
			}
			switch sig.Name {
			case notifyInterface + ".ActionInvoked":
				if a, _ := sig.Body[1].(string); a == cancelAction || a == "default" {
					fmt.Fprintln(out, "cancel")
					call("CloseNotification", id)
					return nil
				}
			case notifyInterface + ".NotificationClosed":
				// Dismissed, or expired: not a cancel; input still is.
				fmt.Fprintln(out, "closed")
				return nil
			}
		}
	}
}
