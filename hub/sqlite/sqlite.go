// Package sqlite implements the moonwake services on an SQLite file, with the
// pure-Go driver modernc.org/sqlite so that moonwake builds without cgo.
//
// The hub is the main writer of the file, so machines and tokens are kept
// in memory and read from there: the wake route authenticates and finds a
// machine without touching SQL. The CLI's token commands may write the same
// file; the hub notices within a second and reloads (see watch.go). Actions,
// which are written on every wake, go through one writer goroutine that
// commits many at once.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/moonwake/moonwake"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// pragmas apply to every connection. WAL lets readers run beside the writer;
// synchronous=NORMAL makes a commit durable against a crash of the process
// (not of the machine) without an fsync per commit; busy_timeout covers the
// moments another process (the CLI) holds the write lock.
const pragmas = "_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)"

// DB is an open moonwake database: the SQLite file, the in-memory copies of
// machines and tokens, and the goroutines that write actions and flush token
// use times. Create it with NewDB, then Open it.
type DB struct {
	// Now returns the current time. Tests replace it, before Open, to
	// control the timestamps that are stored.
	Now func() time.Time
	// OnAsyncError, if set, is told about writes that failed with nobody
	// waiting for them (QueueEvent); set it before Open.
	OnAsyncError func(error)

	path string

	// wdb holds the single connection that writes. SQLite allows one writer
	// at a time; queueing for it in Go is cheaper than SQLite's busy sleeps.
	wdb *sql.DB
	// rdb serves the queries that the caches do not answer (actions).
	rdb *sql.DB

	// mu guards the caches. Readers take it shared; writers change the maps
	// only after their SQL has committed.
	mu sync.RWMutex
	caches

	// wmu serializes writes to machines and tokens, so that the conflict
	// checks made against the caches still hold when the SQL runs.
	wmu sync.Mutex

	// The action writer, see action.go.
	queue      chan *actionOp
	qmu        sync.RWMutex // held shared while sending on queue, exclusively to close it
	closed     bool
	insertStmt *sql.Stmt
	updateStmt *sql.Stmt
	eventStmt  *sql.Stmt

	// flushMu serializes flushes of token use times, see token.go.
	flushMu       sync.Mutex
	flushInterval time.Duration

	// dataVersion is the write connection's PRAGMA data_version when the
	// caches were last loaded; see watch.go. Guarded by wmu.
	dataVersion   int64
	watchInterval time.Duration
	chkMu         sync.Mutex
	chk           *check // the catchUp check running, if any

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewDB returns a DB for the SQLite file at path; nothing is opened until
// Open. The path must name a file: ":memory:" would give each connection its
// own empty database.
func NewDB(path string) *DB {
	return &DB{
		Now:           time.Now,
		path:          path,
		flushInterval: time.Minute,
		watchInterval: time.Second,
	}
}

// Open creates the file if needed, brings its schema up to date and loads
// the caches. It does nothing more, because the hub must answer its first
// request within milliseconds of starting.
func (db *DB) Open(ctx context.Context) (err error) {
	if db.path == "" {
		return fmt.Errorf("open database: path required")
	}
	if db.path == ":memory:" || strings.ContainsAny(db.path, "?#") || strings.HasPrefix(db.path, "file:") {
		return fmt.Errorf("open database %q: want a plain file path", db.path)
	}
	if db.wdb != nil {
		return fmt.Errorf("open database: already open")
	}
	if db.Now == nil {
		db.Now = time.Now
	}
	if db.flushInterval <= 0 {
		db.flushInterval = time.Minute
	}
	if db.watchInterval <= 0 {
		db.watchInterval = time.Second
	}
	defer func() {
		if err != nil {
			db.closeSQL()
			db.insertStmt, db.updateStmt, db.eventStmt, db.rdb, db.wdb = nil, nil, nil, nil, nil
		}
	}()

	// The file holds SecureOn passwords and token hashes: create it readable
	// by its owner only. SQLite gives the -wal and -shm files the same mode.
	if err := os.MkdirAll(filepath.Dir(db.path), 0o700); err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	f, err := os.OpenFile(db.path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	f.Close()

	// BEGIN IMMEDIATE takes the write lock at once, so a transaction never
	// fails half-way when it turns from reading to writing.
	if db.wdb, err = sql.Open("sqlite", db.path+"?_txlock=immediate&"+pragmas); err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	db.wdb.SetMaxOpenConns(1)
	db.wdb.SetMaxIdleConns(1)
	db.wdb.SetConnMaxLifetime(0)
	db.wdb.SetConnMaxIdleTime(0)

	if db.rdb, err = sql.Open("sqlite", db.path+"?_pragma=query_only(1)&"+pragmas); err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	db.rdb.SetMaxIdleConns(4)
	db.rdb.SetConnMaxIdleTime(0)

	if err := db.migrate(ctx); err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	if db.caches, err = loadCaches(ctx, db.wdb); err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	if db.dataVersion, err = db.readDataVersion(ctx); err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	if err := db.prepareActionStmts(ctx); err != nil {
		return fmt.Errorf("open database: %w", err)
	}

	bg, cancel := context.WithCancel(context.Background())
	db.cancel = cancel
	db.queue = make(chan *actionOp, maxBatch*4)
	db.wg.Add(1)
	go db.runWriter()
	// Token use times are written at most once per flushInterval however
	// often a token is used; a failed flush is retried at the next tick,
	// and at Close.
	db.every(bg, db.flushInterval, db.flushLastUsed)
	// Writes by other processes (the CLI on the hub host) are looked for
	// once per watchInterval; a failure is retried at the next tick.
	db.every(bg, db.watchInterval, db.reloadIfChanged)
	return nil
}

// Ping reports whether the database is open and can be read. The hub's
// readiness check calls it.
func (db *DB) Ping(ctx context.Context) error {
	db.qmu.RLock()
	closed := db.closed || db.queue == nil
	db.qmu.RUnlock()
	if closed || db.rdb == nil {
		return fmt.Errorf("ping database: %w", errClosed)
	}
	var n int
	if err := db.rdb.QueryRowContext(ctx, `SELECT count(*) FROM migrations`).Scan(&n); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	return nil
}

// Close waits for queued actions to be committed, stops the background
// goroutines, writes the last token use times and closes the file. Writes
// through the services fail after Close.
func (db *DB) Close() error {
	if db.wdb == nil {
		return nil
	}
	db.qmu.Lock()
	alreadyClosed := db.closed
	db.closed = true
	if !alreadyClosed && db.queue != nil {
		close(db.queue)
	}
	db.qmu.Unlock()
	if alreadyClosed {
		return nil
	}
	if db.cancel != nil {
		db.cancel()
	}
	db.wg.Wait()

	var errs []error
	if err := db.flushLastUsed(context.Background()); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, db.closeSQL())
	return errors.Join(errs...)
}

// closeSQL closes the statements and pools that are open.
func (db *DB) closeSQL() error {
	var errs []error
	for _, s := range []*sql.Stmt{db.insertStmt, db.updateStmt, db.eventStmt} {
		if s != nil {
			errs = append(errs, s.Close())
		}
	}
	if db.rdb != nil {
		errs = append(errs, db.rdb.Close())
	}
	if db.wdb != nil {
		// Closing the last connection checkpoints the WAL into the file.
		errs = append(errs, db.wdb.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close database: %w", err)
	}
	return nil
}

// migrate runs, in name order, each embedded migration that the migrations
// table does not list, each in its own transaction. When all are applied it
// costs one read, no write.
func (db *DB) migrate(ctx context.Context) error {
	if _, err := db.wdb.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL) STRICT`); err != nil {
		return fmt.Errorf("migrations table: %w", err)
	}
	applied := map[string]bool{}
	rows, err := db.wdb.QueryContext(ctx, `SELECT name FROM migrations`)
	if err != nil {
		return fmt.Errorf("read migrations: %w", err)
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return fmt.Errorf("read migrations: %w", err)
		}
		applied[name] = true
	}
	if err := rows.Close(); err != nil {
		return fmt.Errorf("read migrations: %w", err)
	}

	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		base := filepath.Base(name)
		if applied[base] {
			continue
		}
		if err := db.migrateFile(ctx, name, base); err != nil {
			return fmt.Errorf("migration %s: %w", base, err)
		}
	}
	return nil
}

// migrateFile runs one migration and records it, all or nothing.
func (db *DB) migrateFile(ctx context.Context, name, base string) error {
	buf, err := fs.ReadFile(migrationFS, name)
	if err != nil {
		return err
	}
	tx, err := db.wdb.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	// Ask again under the write lock: another process (the CLI, starting
	// beside the hub) may have run it since the list was read.
	var done int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM migrations WHERE name = ?`, base).Scan(&done); err != nil {
		return err
	}
	if done > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, string(buf)); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO migrations (name, applied_at) VALUES (?, ?)`, base, formatTime(db.now())); err != nil {
		return err
	}
	return tx.Commit()
}

// caches is the in-memory copy of the machines and tokens tables.
type caches struct {
	machines      map[string]*moonwake.Machine // by name
	machinesByMAC map[string]*moonwake.Machine
	tokens        []*tokenEntry // every token, oldest first
	tokensByID    map[string]*tokenEntry
	tokensByHash  map[[32]byte]*tokenEntry // active tokens only
}

// loadCaches reads the machines and tokens tables.
func loadCaches(ctx context.Context, q *sql.DB) (caches, error) {
	c := caches{
		machines:      map[string]*moonwake.Machine{},
		machinesByMAC: map[string]*moonwake.Machine{},
		tokensByID:    map[string]*tokenEntry{},
		tokensByHash:  map[[32]byte]*tokenEntry{},
	}
	if err := c.loadMachines(ctx, q); err != nil {
		return caches{}, err
	}
	if err := c.loadTokens(ctx, q); err != nil {
		return caches{}, err
	}
	return c, nil
}

// now returns db.Now in UTC, which is how every time is stored.
func (db *DB) now() time.Time { return db.Now().UTC() }

// timeLayout is fixed width so that stored times sort as text.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

// formatTime renders t for storage.
func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// parseTime reads a stored time.
func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("bad time %q in database: %w", s, err)
	}
	return t.UTC(), nil
}

// nullTime renders an optional time for storage: nil is NULL.
func nullTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return formatTime(*t)
}

// parseNullTime reads an optional stored time.
func parseNullTime(s sql.NullString) (*time.Time, error) {
	if !s.Valid {
		return nil, nil
	}
	t, err := parseTime(s.String)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// every runs f every interval, in a goroutine that Close waits for, until
// ctx ends.
func (db *DB) every(ctx context.Context, interval time.Duration, f func(context.Context) error) {
	db.wg.Add(1)
	go func() {
		defer db.wg.Done()
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				_ = f(ctx)
			}
		}
	}()
}
