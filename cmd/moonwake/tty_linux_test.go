package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/moonwake/moonwake/internal/testlan"
)

// openPTY returns a new pseudo-terminal's two ends.
func openPTY(t *testing.T) (master, term *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	rc, err := m.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	var ioErr error
	rc.Control(func(fd uintptr) {
		if ioErr = unix.IoctlSetPointerInt(int(fd), unix.TIOCSPTLCK, 0); ioErr == nil {
			n, ioErr = unix.IoctlGetInt(int(fd), unix.TIOCGPTN)
		}
	})
	if ioErr != nil {
		t.Fatal(ioErr)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return m, s
}

// TestServePrintsTokenOnTerminal: a person running moonwake serve in a
// terminal sees the first admin token, and where its file is.
func TestServePrintsTokenOnTerminal(t *testing.T) {
	master, term := openPTY(t)
	dir := t.TempDir()
	var stderr testlan.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--data", dir}, strings.NewReader(""), term, &stderr,
			func(string) string { return "" })
	}()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exited %d: %s", code, stderr.String())
		}
	}()
	var shown testlan.Buffer
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			shown.Write(buf[:n])
			if err != nil {
				return
			}
		}
	}()
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	if err := shown.WaitFor(wctx, "admin-token", nil); err != nil {
		t.Fatalf("nothing shown on the terminal: %v\nstderr: %s", err, stderr.String())
	}
	if err := shown.WaitFor(wctx, "/setup", nil); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(dir + "/admin-token")
	if err != nil {
		t.Fatal(err)
	}
	if tok := strings.TrimSpace(string(b)); !strings.Contains(shown.String(), tok) {
		t.Errorf("the terminal shows:\n%s\nnot the token %s", shown.String(), tok)
	}
}
