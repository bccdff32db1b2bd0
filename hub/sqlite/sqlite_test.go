package sqlite_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/hub/sqlite"
)

// t0 is when every test clock starts.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)

// clock is a settable time source for DB.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: t0} }

// Now returns the clock's time.
func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Add moves the clock on by d and returns the new time.
func (c *clock) Add(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

// paths remembers where each test database lives.
var paths sync.Map // *sqlite.DB → string

// MustOpenDB opens a new database in a temporary directory, with a test
// clock, and closes it at the end of the test.
func MustOpenDB(tb testing.TB) (*sqlite.DB, *clock) {
	tb.Helper()
	return MustOpenDBAt(tb, filepath.Join(tb.TempDir(), "moonwake.db"), newClock())
}

// MustOpenDBAt opens the database at path with clock c.
func MustOpenDBAt(tb testing.TB, path string, c *clock) (*sqlite.DB, *clock) {
	tb.Helper()
	db := sqlite.NewDB(path)
	db.Now = c.Now
	if err := db.Open(context.Background()); err != nil {
		tb.Fatal(err)
	}
	paths.Store(db, path)
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Error(err)
		}
	})
	return db, c
}

// Reopen closes db and opens the file at path again.
func Reopen(tb testing.TB, db *sqlite.DB, path string, c *clock) *sqlite.DB {
	tb.Helper()
	if err := db.Close(); err != nil {
		tb.Fatal(err)
	}
	db2, _ := MustOpenDBAt(tb, path, c)
	return db2
}

// rawDB opens the file with plain database/sql, to look behind the caches.
func rawDB(tb testing.TB, path string) *sql.DB {
	tb.Helper()
	raw, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { raw.Close() })
	return raw
}

// wantCode fails the test unless err carries the moonwake error code want.
func wantCode(tb testing.TB, err error, want string) {
	tb.Helper()
	if got := moonwake.ErrorCode(err); got != want {
		tb.Fatalf("error code = %q, want %q (err: %v)", got, want, err)
	}
}

func TestDB_Open(t *testing.T) {
	ctx := context.Background()
	t.Run("MigratesOnce", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "sub", "dir", "moonwake.db")
		db, c := MustOpenDBAt(t, path, newClock())
		db = Reopen(t, db, path, c)
		_ = Reopen(t, db, path, c)

		var n int
		if err := rawDB(t, path).QueryRowContext(ctx, `SELECT count(*) FROM migrations WHERE name = '0001_init.sql'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Fatalf("0001_init.sql recorded %d times", n)
		}
	})

	t.Run("Pragmas", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "moonwake.db")
		MustOpenDBAt(t, path, newClock())
		var mode string
		if err := rawDB(t, path).QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
			t.Fatal(err)
		}
		if mode != "wal" {
			t.Fatalf("journal_mode = %q, want wal", mode)
		}
	})

	t.Run("FileMode", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "moonwake.db")
		MustOpenDBAt(t, path, newClock())
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Fatalf("mode = %v, want 0600", fi.Mode().Perm())
		}
	})

	t.Run("BadPath", func(t *testing.T) {
		for _, path := range []string{"", ":memory:", "file:x.db", "x.db?mode=ro"} {
			if err := sqlite.NewDB(path).Open(ctx); err == nil {
				t.Errorf("Open(%q) succeeded", path)
			}
		}
	})

	t.Run("CloseTwice", func(t *testing.T) {
		db := sqlite.NewDB(filepath.Join(t.TempDir(), "moonwake.db"))
		if err := db.Open(ctx); err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	})
}
