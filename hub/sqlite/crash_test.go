package sqlite_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/hub/sqlite"
)

// crashEnv, when set, makes TestCrash the child: it opens the database named
// by the variable and creates actions until it is killed.
const crashEnv = "MOONWAKE_SQLITE_CRASH_DB"

// TestCrash checks that an action is durable once CreateAction returns: a
// child process creates actions from several goroutines and prints each ID
// when CreateAction returns; once the parent has read N IDs it kills the
// child with SIGKILL, reopens the file and looks for every one of them.
func TestCrash(t *testing.T) {
	if path := os.Getenv(crashEnv); path != "" {
		crashChild(path)
		return
	}
	if runtime.GOOS == "windows" {
		t.Skip("no SIGKILL")
	}
	const n = 2000
	path := filepath.Join(t.TempDir(), "moonwake.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrash$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()

	var ids []string
	sc := bufio.NewScanner(out)
	for len(ids) < n && sc.Scan() {
		if id, ok := strings.CutPrefix(sc.Text(), "created "); ok {
			ids = append(ids, id)
		}
	}
	if len(ids) < n {
		t.Fatalf("child stopped after %d actions: %v", len(ids), sc.Err())
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed = true
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die of SIGKILL: %v", err)
	}

	db, _ := MustOpenDBAt(t, path, newClock())
	s := sqlite.NewActionService(db)
	for _, id := range ids {
		if _, err := s.FindAction(context.Background(), id); err != nil {
			t.Fatalf("action %s was reported created before the kill but is lost: %v", id, err)
		}
	}
	// The hub takes up at start what was still running.
	if _, err := s.RunningActions(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d reported actions survived SIGKILL", len(ids))
}

// crashChild creates actions forever, printing each ID once it is durable.
func crashChild(path string) {
	db := sqlite.NewDB(path)
	if err := db.Open(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	s := sqlite.NewActionService(db)
	w := bufio.NewWriter(os.Stdout)
	var mu sync.Mutex
	for range 16 {
		go func() {
			for {
				a := &moonwake.Action{Kind: moonwake.ActionWake, Machine: "pc", MAC: "02:00:00:00:00:01"}
				if err := s.CreateAction(context.Background(), a); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
				mu.Lock()
				fmt.Fprintln(w, "created", a.ID)
				w.Flush() // each line leaves the process as soon as its action is durable
				mu.Unlock()
			}
		}()
	}
	time.Sleep(time.Hour) // until killed
	os.Exit(3)
}
