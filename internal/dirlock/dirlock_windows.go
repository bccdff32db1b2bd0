//go:build windows

package dirlock

import (
	"errors"
	"os"

	"golang.org/x/sys/windows"
)

var errWouldBlock = windows.ERROR_LOCK_VIOLATION

// unsupported reports whether err says the file system has no locks.
func unsupported(err error) bool { return errors.Is(err, windows.ERROR_NOT_SUPPORTED) }

// tryLock takes an exclusive lock on f's first byte, or fails at once.
func tryLock(f *os.File) error {
	var ol windows.Overlapped
	return windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, &ol)
}
