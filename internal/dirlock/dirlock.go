// Package dirlock marks a data directory as in use by one process: the hub
// holds it while it runs, and "moonwake restore" takes it before replacing
// the database, so a restore can never pull the file from under a running
// hub, nor two hubs share one directory.
//
// The lock is an advisory lock (flock) on a file in the directory, so the
// kernel drops it when the process dies, even by SIGKILL: a crashed hub
// never leaves a stale lock behind. The file also holds the holder's pid,
// for the message that names it. On a file system without locks (an NFSv3
// mount without lockd) Acquire succeeds without guarding anything.
package dirlock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// File is the lock file's name in the directory.
const File = "moonwake.lock"

// ErrHeld is wrapped by the error Acquire returns when another process holds
// the lock.
var ErrHeld = errors.New("data directory in use")

// Lock is a held lock on a directory. Release it when done.
type Lock struct {
	f *os.File
}

// Acquire takes the lock on dir, creating the directory and the lock file if
// needed, without waiting: if another process holds it, the error wraps
// ErrHeld and names that process.
func Acquire(dir string) (*Lock, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("lock data directory: %w", err)
	}
	path := filepath.Join(dir, File)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock data directory: %w", err)
	}
	if err := tryLock(f); unsupported(err) {
		// A file system without locks (an old NFS mount) must not stop the
		// hub: it runs unguarded, as it did before there was a lock.
		f.Close()
		return &Lock{}, nil
	} else if err != nil {
		who := "another process"
		if b, rerr := os.ReadFile(path); rerr == nil {
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil && pid > 0 {
				who = "process " + strconv.Itoa(pid)
			}
		}
		f.Close()
		if errors.Is(err, errWouldBlock) {
			return nil, fmt.Errorf("%w: %s is held by %s (a running moonwake serve?)", ErrHeld, dir, who)
		}
		return nil, fmt.Errorf("lock data directory %s: %w", dir, err)
	}
	// The pid is only for messages; a failure to write it costs nothing.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &Lock{f: f}, nil
}

// Release lets the directory go. The file stays: removing it would race
// with a process that has opened it and is about to lock it.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close() // closing the descriptor drops the lock
	l.f = nil
	if err != nil {
		return fmt.Errorf("release data directory lock: %w", err)
	}
	return nil
}
