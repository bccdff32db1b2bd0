// Package privfile writes files that hold a private key: atomically (a
// reader sees the old file or the new, never half of one), readable by
// their owner only, with the directory created if needed.
package privfile

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

// Write writes b to path. restrict, if not nil, is given the temporary
// file's path before anything is written to it (the agent narrows the ACL
// on Windows, where the mode bits say little).
func Write(path string, b []byte, restrict func(path string) error) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create directory of %s: %w", path, err)
	}
	f, err := os.CreateTemp(dir, ".state-*.tmp")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	fail := func(err error) error {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Chmod(0o600); err != nil && runtime.GOOS != "windows" {
		return fail(err)
	}
	if restrict != nil {
		if err := restrict(tmp); err != nil {
			return fail(err)
		}
	}
	if _, err := f.Write(b); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
