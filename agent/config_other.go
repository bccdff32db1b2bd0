//go:build !windows

package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
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

// checkTrusted refuses a configuration that another user could have
// written: the agent runs as root and carries out the commands the file
// names. It checks the file and its directory when running as root.
func checkTrusted(path string) error {
	if os.Geteuid() != 0 {
		return nil // not root: nothing to escalate to
	}
	for _, p := range []string{path, filepath.Dir(path)} {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("configuration: %w", err)
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			continue
		}
		if st.Uid != 0 || fi.Mode().Perm()&0o022 != 0 {
			return fmt.Errorf("configuration %s: %s may be changed by users other than root (owner uid %d, mode %04o), and the agent runs its commands as root: chown root and chmod go-w it",
				path, p, st.Uid, fi.Mode().Perm())
		}
	}
	return nil
}

// secureConfig makes a configuration file the agent wrote trusted.
func secureConfig(path string) error { return nil }
