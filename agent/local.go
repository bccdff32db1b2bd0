package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/uplink"
)

// The local socket is how "moonwake-agent request", a short-lived process
// that a Sunshine app starts, reaches the running agent, which alone holds
// the link to the hub and the key that signs on it. It is a Unix domain
// socket (Windows 10 has them too, so one code path): nothing to listen on
// the network, and who may connect is the file's permission, owner-only,
// which the kernel checks. One JSON line each way.

// LocalRequest is what "moonwake-agent request" sends the agent, or
// "moonwake-agent cancel" (Name LocalCancel, no App).
type LocalRequest struct {
	Name string `json:"name"`          // "sleep", "shutdown", "reboot", "hibernate"; LocalCancel
	App  string `json:"app,omitempty"` // the Sunshine app's title
}

// LocalCancel is the name of the local request that cancels the
// countdowns running at the PC; the agent answers it itself.
const LocalCancel = "cancel"

// LocalReply is the agent's answer: the hub's, or why there is none.
type LocalReply struct {
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Bounds of the local socket.
const (
	maxLocalLine   = 4 << 10
	maxLocalConns  = 4
	localTimeout   = uplink.DefaultRequestTimeout + 5*time.Second
	localReadLimit = 5 * time.Second
)

// Requester sends a request to the hub: uplink.Client.Request.
type Requester func(ctx context.Context, r uplink.Request) (uplink.Result, error)

// ListenLocal listens on the Unix socket at path, replacing a stale socket
// left there. Only its owner may use it, and the members of group when it
// is not "" (Unix: a Sunshine that runs as the signed-in user).
func ListenLocal(path, group string) (*net.UnixListener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("local socket: %w", err)
	}
	// Listen on a name of our own, restrict it, then move it into place:
	// no moment where the socket is there and open to others.
	tmp := fmt.Sprintf("%s.%d", path, os.Getpid())
	_ = os.Remove(tmp)
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("local socket: %w", err)
	}
	l.SetUnlinkOnClose(false)
	mode := os.FileMode(0o600)
	if group != "" {
		if err := chownGroup(tmp, group); err != nil {
			l.Close()
			os.Remove(tmp)
			return nil, fmt.Errorf("local socket: socket_group %s: %w", group, err)
		}
		mode = 0o660
	}
	if err := os.Chmod(tmp, mode); err != nil {
		l.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("local socket: %w", err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		l.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("local socket: replace %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		l.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("local socket: %w", err)
	}
	return l, nil
}

// chownGroup gives path to the group named group.
func chownGroup(path, group string) error {
	if runtime.GOOS == "windows" {
		return errors.New("not on Windows: there the folder's permissions decide")
	}
	g, err := user.LookupGroup(group)
	if err != nil {
		return err
	}
	gid, err := strconv.Atoi(g.Gid)
	if err != nil {
		return err
	}
	return os.Chown(path, -1, gid)
}

// ServeLocal answers the requests that come on l until ctx ends, then
// closes l, removes path and waits for the requests being answered.
func ServeLocal(ctx context.Context, l *net.UnixListener, path string, send Requester, log *slog.Logger) {
	var wg sync.WaitGroup
	defer wg.Wait()
	defer context.AfterFunc(ctx, func() {
		l.Close()
		os.Remove(path)
	})()
	slots := make(chan struct{}, maxLocalConns)
	for {
		c, err := l.AcceptUnix()
		if err != nil {
			if ctx.Err() == nil {
				log.Error("local socket: accept failed; requests from Sunshine apps stop", "error", err)
			}
			return
		}
		select {
		case slots <- struct{}{}:
		default:
			c.Close() // too many at once: the requester says so
			continue
		}
		wg.Go(func() {
			defer func() { <-slots }()
			serveLocal(ctx, c, send, log)
		})
	}
}

func serveLocal(ctx context.Context, c *net.UnixConn, send Requester, log *slog.Logger) {
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, localTimeout)
	defer cancel()
	defer context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })()
	c.SetReadDeadline(time.Now().Add(localReadLimit))
	reply := func(r LocalReply) {
		b, _ := json.Marshal(r)
		c.SetWriteDeadline(time.Now().Add(localReadLimit))
		c.Write(append(b, '\n'))
	}
	req, err := readLocal(bufio.NewReaderSize(c, maxLocalLine))
	if err != nil {
		reply(LocalReply{Error: err.Error()})
		return
	}
	if req.Name == LocalCancel {
		log.Info("countdown cancel from the local socket")
	} else {
		log.Info("power request from a Sunshine app", "command", req.Name, "app", req.App)
	}
	res, err := send(ctx, uplink.Request{Name: req.Name, From: uplink.RequestFromSunshine, App: req.App})
	switch {
	case err != nil:
		log.Warn("power request not delivered", "command", req.Name, "app", req.App, "error", err)
		reply(LocalReply{Error: "the hub did not take it: " + moonwake.ErrorMessage(err)})
	case !res.OK:
		log.Warn("power request refused by the hub", "command", req.Name, "app", req.App, "error", res.Error)
		reply(LocalReply{Error: "the hub refused: " + res.Error})
	default:
		reply(LocalReply{OK: true, Detail: res.Detail})
	}
}

// readLocal reads and checks one request line.
func readLocal(r *bufio.Reader) (LocalRequest, error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		return LocalRequest{}, errors.New("no request line")
	}
	return ParseLocalRequest(line)
}

// ParseLocalRequest parses and checks one request line.
func ParseLocalRequest(line []byte) (LocalRequest, error) {
	var req LocalRequest
	dec := json.NewDecoder(strings.NewReader(string(line)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || dec.More() {
		return LocalRequest{}, errors.New("malformed request")
	}
	if req.Name == LocalCancel {
		if req.App != "" {
			return LocalRequest{}, errors.New("a cancel names no app")
		}
		return req, nil
	}
	if !slices.Contains(moonwake.PowerActions, req.Name) {
		return LocalRequest{}, fmt.Errorf("unknown power action %.32q; want one of %s", req.Name, strings.Join(moonwake.PowerActions, ", "))
	}
	req.App = strings.TrimSpace(req.App)
	if req.App == "" || len(req.App) > uplink.MaxRequestApp {
		return LocalRequest{}, fmt.Errorf("the app's title must have 1 to %d bytes", uplink.MaxRequestApp)
	}
	return req, nil
}

// Request asks the agent listening on the socket at path to have the hub
// carry out req, and returns the hub's words. Errors say what to tell
// Sunshine's log: the agent not running, the hub down, the hub's refusal.
func Request(ctx context.Context, path string, req LocalRequest) (string, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return "", moonwake.Errorf(moonwake.EUnavailable, "cannot reach the moonwake agent at %s (is its service running, and is this its user?): %v", path, err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	} else {
		c.SetDeadline(time.Now().Add(localTimeout))
	}
	b, err := json.Marshal(req)
	if err != nil {
		return "", err
	}
	if _, err := c.Write(append(b, '\n')); err != nil {
		return "", moonwake.Errorf(moonwake.EUnavailable, "send the request to the agent: %v", err)
	}
	line, err := bufio.NewReaderSize(c, maxLocalLine).ReadSlice('\n')
	if err != nil {
		return "", moonwake.Errorf(moonwake.EUnavailable, "the agent gave no answer (busy, or stopped): %v", err)
	}
	var r LocalReply
	if err := json.Unmarshal(line, &r); err != nil {
		return "", moonwake.Errorf(moonwake.EInternal, "the agent's answer is malformed")
	}
	if !r.OK {
		return "", moonwake.Errorf(moonwake.EUnavailable, "%s", r.Error)
	}
	return r.Detail, nil
}
