package dirlock_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/moonwake/moonwake/internal/dirlock"
)

// holdEnv, when set, makes TestHeldByAnotherProcess the child: it takes the
// lock on the directory the variable names, says so and waits to be killed.
const holdEnv = "MOONWAKE_DIRLOCK_HOLD"

func TestAcquireRelease(t *testing.T) {
	dir := t.TempDir()
	l, err := dirlock.Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	// A second descriptor, even in this process, is refused.
	if _, err := dirlock.Acquire(dir); !errors.Is(err, dirlock.ErrHeld) {
		t.Fatalf("second Acquire: %v, want ErrHeld", err)
	} else if !strings.Contains(err.Error(), fmt.Sprintf("process %d", os.Getpid())) {
		t.Errorf("error %q does not name the holder", err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(); err != nil {
		t.Fatalf("second Release: %v", err)
	}
	l, err = dirlock.Acquire(dir)
	if err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	l.Release()
}

// TestHeldByAnotherProcess checks the lock between processes, and that the
// kernel drops it when its holder is killed.
func TestHeldByAnotherProcess(t *testing.T) {
	if dir := os.Getenv(holdEnv); dir != "" {
		if _, err := dirlock.Acquire(dir); err != nil {
			fmt.Println(err)
			os.Exit(2)
		}
		fmt.Println("held")
		select {}
	}
	if runtime.GOOS == "windows" {
		t.Skip("no SIGKILL")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHeldByAnotherProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), holdEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	buf := make([]byte, 64)
	n, _ := out.Read(buf)
	if got := strings.TrimSpace(string(buf[:n])); got != "held" {
		t.Fatalf("child: %q", got)
	}
	_, err = dirlock.Acquire(dir)
	if !errors.Is(err, dirlock.ErrHeld) || !strings.Contains(err.Error(), fmt.Sprintf("process %d", cmd.Process.Pid)) {
		t.Fatalf("Acquire while another process holds it: %v", err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	l, err := dirlock.Acquire(dir)
	if err != nil {
		t.Fatalf("Acquire after the holder was killed: %v", err)
	}
	l.Release()
}
