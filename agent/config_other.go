//go:build !windows

package agent

import (
	"fmt"
	"os"
)

// restrictToAdmins does nothing here: the file's mode (0600) is enough.
func restrictToAdmins(path string) error { return nil }

// checkPrivate refuses a file that its group or others may read or write.
func checkPrivate(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("read state: %w", err)
	}
	if m := fi.Mode().Perm(); m&0o077 != 0 {
		return fmt.Errorf("state %s holds the agent's private key but others may read it (mode %04o): chmod 600 it, or pair again", path, m)
	}
	return nil
}
