//go:build !windows

package agent

import (
	"errors"
	"fmt"
	"io/fs"
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

// openConfig opens the configuration without following a symbolic link in
// its last element, so that what checkTrusted inspects is what is read.
func openConfig(path string) (*os.File, error) {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC|syscall.O_NONBLOCK, 0)
	if errors.Is(err, syscall.ELOOP) {
		return nil, fmt.Errorf("configuration %s is a symbolic link: give the file itself, so no one can point the agent elsewhere", path)
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// checkTrusted refuses a configuration that another user could have
// written: the agent runs as root and carries out the commands the file
// names. Running as root, it checks the open file itself (a regular file
// owned by root, writable by no one else) and every directory above it,
// both as named and with symbolic links resolved: another user who may
// write any of them could swap the file.
func checkTrusted(f *os.File, path string) error {
	if os.Geteuid() != 0 {
		return nil // not root: nothing to escalate to
	}
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("configuration %s is not a regular file", path)
	}
	if err := judge(path, path, fi); err != nil {
		return err
	}
	real, err := filepath.EvalSymlinks(filepath.Dir(path))
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	dirs := append(ancestors(path), ancestors(filepath.Join(real, filepath.Base(path)))...)
	for _, d := range dirs {
		di, err := os.Lstat(d)
		if err != nil {
			return fmt.Errorf("configuration: %w", err)
		}
		if di.Mode()&fs.ModeSymlink != 0 {
			continue // the link is judged by the directory it sits in, its target below
		}
		if err := judge(path, d, di); err != nil {
			return err
		}
	}
	return nil
}

// judge refuses p (the configuration at path, or a directory above it)
// when users other than root may change it.
func judge(path, p string, fi fs.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("configuration %s: cannot read the owner of %s", path, p)
	}
	if !unixTrusted(st.Uid, fi.Mode()) {
		return fmt.Errorf("configuration %s: %s may be changed by users other than root (owner uid %d, mode %04o), and the agent runs its commands as root: chown root and chmod go-w it",
			path, p, st.Uid, fi.Mode().Perm())
	}
	return nil
}

// secureConfig makes a configuration file the agent wrote trusted.
func secureConfig(path string) error { return nil }

// checkBinary refuses to register a service binary that users other than
// root could replace (a download folder, a home directory): the service
// runs it as root at every boot.
func checkBinary(exe string) error {
	for _, p := range append([]string{exe}, ancestors(exe)...) {
		fi, err := os.Lstat(p)
		if err != nil {
			return fmt.Errorf("install: %w", err)
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return fmt.Errorf("install: cannot read the owner of %s", p)
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			continue // exe is resolved; a link above it is judged by its directory
		}
		if !unixTrusted(st.Uid, fi.Mode()) {
			return fmt.Errorf("install: %s may be changed by users other than root (owner uid %d, mode %04o), and the service would run %s as root at every start: copy it to a root-owned folder first, such as /usr/local/bin",
				p, st.Uid, fi.Mode().Perm(), exe)
		}
	}
	return nil
}

// secureConfigDir does nothing here: the directory's mode does.
func secureConfigDir(dir string) error { return nil }
