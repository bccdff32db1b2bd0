package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/hub/sqlite"
)

// addMachine registers a machine named name, failing tb if it cannot.
func addMachine(tb testing.TB, db *sqlite.DB, name string, i int) {
	tb.Helper()
	m := &moonwake.Machine{Name: name, MAC: fmt.Sprintf("02:00:00:00:%02x:%02x", i>>8, i&0xff)}
	if err := sqlite.NewMachineService(db).CreateMachine(context.Background(), m); err != nil {
		tb.Fatal(err)
	}
}

// TestBackupWhileWriting copies the database while actions are being
// written to it: the copy passes its check, is the owner's only, holds
// every action created before the backup began, and opens as a database.
func TestBackupWhileWriting(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, c := MustOpenDBAt(t, filepath.Join(dir, "moonwake.db"), newClock())
	addMachine(t, db, "pc", 1)
	actions := sqlite.NewActionService(db)

	var created atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := actions.CreateAction(ctx, &moonwake.Action{Kind: moonwake.ActionWake, Machine: "pc", MAC: "02:00:00:00:00:01"}); err != nil {
					t.Error(err)
					return
				}
				created.Add(1)
			}
		})
	}
	for created.Load() < 200 {
		time.Sleep(time.Millisecond)
	}
	before := int(created.Load())
	dest := filepath.Join(dir, "backup.db")
	info, err := sqlite.Backup(ctx, filepath.Join(dir, "moonwake.db"), dest, false)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if info.Machines != 1 || info.Actions < before || info.Schema == "" || info.Size == 0 {
		t.Errorf("backup info %+v, want 1 machine and at least %d actions", info, before)
	}
	st, err := os.Stat(dest)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("backup mode %v, want 0600", st.Mode().Perm())
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".moonwake-backup-*")); len(left) > 0 {
		t.Errorf("temporary files left: %q", left)
	}
	copyDB, _ := MustOpenDBAt(t, dest, c)
	if _, err := sqlite.NewMachineService(copyDB).FindMachine(ctx, "pc"); err != nil {
		t.Errorf("machine in the backup: %v", err)
	}
	t.Logf("backup of %d actions taken while %d more were written", info.Actions, int(created.Load())-info.Actions)
}

// TestBackupRefusesToOverwrite keeps an existing file unless replace is
// set, and fails clearly when there is no database.
func TestBackupRefusesToOverwrite(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	src := filepath.Join(dir, "moonwake.db")
	db, _ := MustOpenDBAt(t, src, newClock())
	addMachine(t, db, "pc", 1)
	dest := filepath.Join(dir, "backup.db")
	if err := os.WriteFile(dest, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := sqlite.Backup(ctx, src, dest, false)
	wantCode(t, err, moonwake.EConflict)
	if b, _ := os.ReadFile(dest); string(b) != "precious" {
		t.Fatalf("refused backup changed the file: %q", b)
	}
	if _, err := sqlite.Backup(ctx, src, dest, true); err != nil {
		t.Fatalf("backup with replace: %v", err)
	}
	if _, err := sqlite.Check(ctx, dest); err != nil {
		t.Fatal(err)
	}
	if _, err := sqlite.Backup(ctx, filepath.Join(dir, "none.db"), filepath.Join(dir, "b2.db"), false); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("backup of a missing database: %v", err)
	}
}

// TestRestore installs a backup over a database whose last writes are still
// in its WAL (as a hub killed by SIGKILL leaves it): the backup's content
// replaces it, and the replaced database, with those last writes, is kept
// as a dated .bak that opens.
func TestRestore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "moonwake.db")
	db, c := MustOpenDBAt(t, path, newClock())
	addMachine(t, db, "old", 1)
	backup := filepath.Join(t.TempDir(), "backup.db")
	if _, err := sqlite.Backup(ctx, path, backup, false); err != nil {
		t.Fatal(err)
	}
	addMachine(t, db, "new", 2)

	// A crashed hub's files: the database and its WAL, copied while open.
	crashed := filepath.Join(t.TempDir(), "moonwake.db")
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(path + suffix)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(crashed+suffix, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(crashed + "-wal"); err != nil {
		t.Fatalf("no WAL to restore over: %v", err)
	}

	at := time.Date(2026, 12, 4, 21, 0, 5, 0, time.UTC)
	info, bak, err := sqlite.Restore(ctx, backup, crashed, at)
	if err != nil {
		t.Fatal(err)
	}
	if info.Machines != 1 {
		t.Errorf("restored info %+v, want 1 machine", info)
	}
	if want := crashed + ".20261204-210005.bak"; bak != want {
		t.Errorf("replaced database kept as %s, want %s", bak, want)
	}
	if _, err := os.Stat(crashed + "-wal"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the old WAL is still beside the restored file: %v", err)
	}
	restored, _ := MustOpenDBAt(t, crashed, c)
	ms, err := sqlite.NewMachineService(restored).ListMachines(ctx)
	if err != nil || len(ms) != 1 || ms[0].Name != "old" {
		t.Errorf("restored machines %v, %v; want [old]", ms, err)
	}
	kept, err := sqlite.Check(ctx, bak)
	if err != nil || kept.Machines != 2 {
		t.Errorf("kept database: %+v, %v; want 2 machines", kept, err)
	}

	// A restore needs no database to replace.
	fresh := filepath.Join(t.TempDir(), "moonwake.db")
	if _, bak, err := sqlite.Restore(ctx, backup, fresh, at); err != nil || bak != "" {
		t.Errorf("restore into an empty directory: %q, %v", bak, err)
	}
}

// TestRestoreRefuses leaves the database alone when the backup is not a
// sound moonwake database this version knows.
func TestRestoreRefuses(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "moonwake.db")
	db, _ := MustOpenDBAt(t, path, newClock())
	addMachine(t, db, "pc", 1)
	good := filepath.Join(t.TempDir(), "good.db")
	if _, err := sqlite.Backup(ctx, path, good, false); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	other := t.TempDir()
	bad := map[string]func(path string) error{
		"not a database": func(p string) error {
			return os.WriteFile(p, []byte(strings.Repeat("not sqlite ", 1000)), 0o600)
		},
		"empty": func(p string) error { return os.WriteFile(p, nil, 0o600) },
		"newer schema": func(p string) error {
			if err := copyTo(good, p); err != nil {
				return err
			}
			raw := rawDB(t, p)
			_, err := raw.Exec(`INSERT INTO migrations (name, applied_at) VALUES ('9999_future.sql', '2030-01-01T00:00:00Z')`)
			raw.Close()
			return err
		},
		"no migrations": func(p string) error {
			raw := rawDB(t, p)
			_, err := raw.Exec(`CREATE TABLE things (x INTEGER)`)
			raw.Close()
			return err
		},
		"corrupt": func(p string) error {
			if err := copyTo(good, p); err != nil {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			// Scribble over every page but the header page: the file
			// still opens, its tables do not add up.
			for i := 4096; i < len(b); i += 7 {
				b[i] ^= 0x5a
			}
			return os.WriteFile(p, b, 0o600)
		},
	}
	wantMsg := map[string]string{
		"not a database": "not-a-database.db is not a readable SQLite database",
		"empty":          "empty.db is not a moonwake database",
		"newer schema":   "newer-schema.db was written by a newer moonwake (schema migration 9999_future.sql",
		"no migrations":  "not a moonwake database",
		"corrupt":        "",
	}
	for name, make := range bad {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(other, strings.ReplaceAll(name, " ", "-")+".db")
			if err := make(p); err != nil {
				t.Fatal(err)
			}
			_, bak, err := sqlite.Restore(ctx, p, path, time.Now())
			if err == nil {
				t.Fatal("restored")
			}
			if !strings.Contains(err.Error(), wantMsg[name]) {
				t.Errorf("error %q, want it to say %q", err, wantMsg[name])
			}
			t.Logf("%s: %v", name, err)
			if bak != "" {
				t.Errorf("kept the database as %s", bak)
			}
			got, _ := os.ReadFile(path)
			if string(got) != string(want) {
				t.Error("the database changed")
			}
			if left, _ := filepath.Glob(filepath.Join(dir, "*.bak")); len(left) > 0 {
				t.Errorf("backup files made: %q", left)
			}
			if left, _ := filepath.Glob(filepath.Join(dir, ".moonwake-restore-*")); len(left) > 0 {
				t.Errorf("temporary files left: %q", left)
			}
		})
	}
}

func copyTo(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o600)
}
