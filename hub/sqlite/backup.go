package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/moonwake/moonwake"
)

// Info describes a database file that passed Check.
type Info struct {
	// Schema is the last migration the file has, such as "0010_retention.sql".
	Schema string
	// Machines, Tokens and Actions count the rows of those tables, so that
	// a person can see at a glance what a backup holds.
	Machines, Tokens, Actions int
	// Size is the file's size in bytes.
	Size int64
}

// Backup writes a consistent copy of the database at src to dest, while a
// hub may be writing to src: VACUUM INTO reads one snapshot in a single
// read transaction, which WAL lets run beside the hub's writer without
// blocking it. The copy is written to a temporary file beside dest, checked
// (Check), synced and renamed into place, so dest is either the whole,
// checked copy or untouched. An existing dest is replaced only if replace
// is set. The copy is readable by its owner only: it holds token hashes and
// SecureOn passwords.
func Backup(ctx context.Context, src, dest string, replace bool) (Info, error) {
	if _, err := os.Stat(src); err != nil {
		return Info{}, fmt.Errorf("backup: no database: %w", err)
	}
	if !replace {
		if _, err := os.Lstat(dest); err == nil {
			return Info{}, moonwake.Errorf(moonwake.EConflict, "backup: %s exists; choose another name or replace it with --force", dest)
		}
	}
	// Opened beside the hub, as the CLI's token commands open it, but
	// without migrations: a backup changes no row in src. (Not query_only:
	// SQLite counts VACUUM INTO as a write. With no hub running, closing
	// this last connection folds the WAL into src, as any close does.)
	db, err := sql.Open("sqlite", src+"?_pragma=busy_timeout(5000)")
	if err != nil {
		return Info{}, fmt.Errorf("backup %s: %w", src, err)
	}
	defer db.Close()

	tmp, err := tempFile(dest, ".moonwake-backup-*.tmp")
	if err != nil {
		return Info{}, fmt.Errorf("backup: %w", err)
	}
	defer os.Remove(tmp)
	// VACUUM INTO writes into an empty file that exists, keeping its mode.
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, tmp); err != nil {
		return Info{}, fmt.Errorf("backup %s: %w", src, err)
	}
	if err := db.Close(); err != nil {
		return Info{}, fmt.Errorf("backup %s: %w", src, err)
	}
	info, err := checkFile(ctx, tmp, "the copy of "+src)
	if err != nil {
		return Info{}, fmt.Errorf("backup: %w", err)
	}
	if err := syncFile(tmp); err != nil {
		return Info{}, fmt.Errorf("backup: %w", err)
	}
	if err := os.Rename(tmp, dest); err != nil {
		return Info{}, fmt.Errorf("backup: %w", err)
	}
	if err := syncDir(filepath.Dir(dest)); err != nil {
		return Info{}, fmt.Errorf("backup: %w", err)
	}
	return info, nil
}

// Check reads the whole database at path and says whether this version of
// moonwake can use it: PRAGMA integrity_check must pass, and every
// migration the file has applied must be one this binary knows (a file
// written by a newer moonwake is refused: its schema may mean things this
// version would get wrong). An older schema is fine; the hub brings it up
// to date when it opens it. Check reads a copy in a temporary directory,
// so the file itself is never touched (SQLite would otherwise leave -wal
// and -shm files beside it, or fail in a read-only directory).
func Check(ctx context.Context, path string) (Info, error) {
	dir, err := os.MkdirTemp("", "moonwake-check-")
	if err != nil {
		return Info{}, fmt.Errorf("check %s: %w", path, err)
	}
	defer os.RemoveAll(dir)
	tmp := filepath.Join(dir, "moonwake.db")
	if err := copyFile(path, tmp); err != nil {
		return Info{}, fmt.Errorf("check %s: %w", path, err)
	}
	info, err := checkFile(ctx, tmp, path)
	if err != nil {
		return Info{}, err
	}
	if st, err := os.Stat(path); err == nil {
		info.Size = st.Size()
	}
	return info, nil
}

// checkFile is Check on the file at path itself, which nothing else may
// have open; its errors name the file name (a restore checks a staging
// copy but speaks of the backup the person gave).
func checkFile(ctx context.Context, path, name string) (Info, error) {
	st, err := os.Stat(path)
	if err != nil {
		return Info{}, fmt.Errorf("check %s: %w", name, err)
	}
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)&_pragma=query_only(1)")
	if err != nil {
		return Info{}, fmt.Errorf("check %s: %w", name, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)

	if err := integrityCheck(ctx, db, name); err != nil {
		return Info{}, err
	}
	known, err := knownMigrations()
	if err != nil {
		return Info{}, err
	}
	rows, err := db.QueryContext(ctx, `SELECT name FROM migrations ORDER BY name`)
	if err != nil {
		return Info{}, moonwake.Errorf(moonwake.EInvalid, "%s is not a moonwake database: %v", name, err)
	}
	defer rows.Close()
	info := Info{Size: st.Size()}
	for rows.Next() {
		var m string
		if err := rows.Scan(&m); err != nil {
			return Info{}, fmt.Errorf("check %s: %w", name, err)
		}
		if !known[m] {
			return Info{}, moonwake.Errorf(moonwake.EInvalid,
				"%s was written by a newer moonwake (schema migration %s is unknown to moonwake %s); upgrade moonwake first", name, m, moonwake.Version)
		}
		info.Schema = m
	}
	if err := rows.Err(); err != nil {
		return Info{}, fmt.Errorf("check %s: %w", name, err)
	}
	if info.Schema == "" {
		return Info{}, moonwake.Errorf(moonwake.EInvalid, "%s is not a moonwake database: it has no schema migrations", name)
	}
	for table, n := range map[string]*int{"machines": &info.Machines, "tokens": &info.Tokens, "actions": &info.Actions} {
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM `+table).Scan(n); err != nil {
			return Info{}, moonwake.Errorf(moonwake.EInvalid, "%s is not a sound moonwake database: count %s: %v", name, table, err)
		}
	}
	return info, nil
}

// integrityCheck runs PRAGMA integrity_check and turns its report into an
// error that quotes the first problems.
func integrityCheck(ctx context.Context, db *sql.DB, name string) error {
	rows, err := db.QueryContext(ctx, `PRAGMA integrity_check(20)`)
	if err != nil {
		return moonwake.Errorf(moonwake.EInvalid, "%s is not a readable SQLite database: %v", name, err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return moonwake.Errorf(moonwake.EInvalid, "%s is not a readable SQLite database: %v", name, err)
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	if err := rows.Err(); err != nil {
		return moonwake.Errorf(moonwake.EInvalid, "%s is not a readable SQLite database: %v", name, err)
	}
	if len(problems) > 0 {
		return moonwake.Errorf(moonwake.EInvalid, "%s failed SQLite's integrity check: %s", name, strings.Join(problems, "; "))
	}
	return nil
}

// knownMigrations is the set of migrations embedded in this binary.
func knownMigrations() (map[string]bool, error) {
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	known := make(map[string]bool, len(names))
	for _, n := range names {
		known[filepath.Base(n)] = true
	}
	return known, nil
}

// Restore installs the backup at src as the database at dest, and returns
// what it installed and where the database it replaced went (empty when
// there was none). The caller must make sure nothing has dest open: the
// CLI holds the data directory's lock, which a running hub holds too.
//
// The backup is copied beside dest and checked there (Check) before
// anything is replaced; a bad backup changes nothing. The database it
// replaces is kept, with its WAL, as dest.<time>.bak; the new file takes
// dest's name in one rename, so after a crash dest is the old database or
// the new one, never a mix and never missing.
func Restore(ctx context.Context, src, dest string, now time.Time) (Info, string, error) {
	tmp, err := tempFile(dest, ".moonwake-restore-*.tmp")
	if err != nil {
		return Info{}, "", fmt.Errorf("restore: %w", err)
	}
	defer os.Remove(tmp)
	if err := copyFile(src, tmp); err != nil {
		return Info{}, "", fmt.Errorf("restore: %w", err)
	}
	info, err := checkFile(ctx, tmp, src)
	if err != nil {
		return Info{}, "", err
	}
	// Check's connection is closed and left no WAL; the copy is one file.
	if err := syncFile(tmp); err != nil {
		return Info{}, "", fmt.Errorf("restore: %w", err)
	}

	bak := ""
	if _, err := os.Stat(dest); err == nil {
		bak = dest + "." + now.UTC().Format("20060102-150405") + ".bak"
		if err := keep(ctx, dest, bak); err != nil {
			return Info{}, "", fmt.Errorf("restore: keep the current database: %w", err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return Info{}, "", fmt.Errorf("restore: %w", err)
	}
	if err := os.Rename(tmp, dest); err != nil {
		return Info{}, bak, fmt.Errorf("restore: %w", err)
	}
	if err := syncDir(filepath.Dir(dest)); err != nil {
		return Info{}, bak, fmt.Errorf("restore: %w", err)
	}
	return info, bak, nil
}

// keep makes bak a second name of the database at path, and moves path's
// WAL with it, so that bak (with bak-wal) holds everything path did and
// path can be replaced by one rename. It first folds the WAL into the file
// (a checkpoint) when the file can be opened, so that bak is usually one
// file; a database too damaged for that is kept as it is, WAL and all.
func keep(ctx context.Context, path, bak string) error {
	if db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)"); err == nil {
		_, _ = db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
		db.Close()
	}
	if _, err := os.Lstat(bak); err == nil {
		return fmt.Errorf("%s exists", bak)
	}
	// A hard link keeps path in place until the new file replaces it.
	if err := os.Link(path, bak); err != nil {
		if err := copyFile(path, bak); err != nil {
			return err
		}
	}
	if err := os.Rename(path+"-wal", bak+"-wal"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	// The shared-memory index is rebuilt from the WAL; a stale one must not
	// meet the new file.
	if err := os.Remove(path + "-shm"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// tempFile creates an empty file, readable by its owner only, in the
// directory of path, and returns its name.
func tempFile(path, pattern string) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(path), pattern)
	if err != nil {
		return "", err
	}
	name := f.Name()
	if err := f.Close(); err != nil {
		os.Remove(name)
		return "", err
	}
	return name, nil
}

// copyFile copies src into dst (which may exist, empty), and syncs it.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	return out.Close()
}

// syncFile flushes path to the disk.
func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", path, err)
	}
	return f.Close()
}

// syncDir makes the renames in dir durable. Some systems (Windows) cannot
// sync a directory; there the rename is as durable as they make it.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) && !errors.Is(err, errors.ErrUnsupported) {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
