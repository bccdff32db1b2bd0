package sqlite

import (
	"context"
	"fmt"
)

// The caches assume that this process is the only writer, but the CLI's
// token commands open the same file on the hub host: a token created there
// must work in the running hub at once, and a token revoked there must stop
// working soon. PRAGMA data_version on a connection changes only when
// another connection commits; all of this process's writes go through wdb's
// one connection, so on wdb it changes exactly when another process has
// written. The watcher asks once per watchInterval, one cheap query, and
// reloads the caches when it changed; that bounds how long a revoked token
// keeps working. An unknown secret asks at once (catchUp), so a new token
// works at once.

// readDataVersion returns PRAGMA data_version of the write connection.
func (db *DB) readDataVersion(ctx context.Context) (int64, error) {
	var v int64
	if err := db.wdb.QueryRowContext(ctx, `PRAGMA data_version`).Scan(&v); err != nil {
		return 0, fmt.Errorf("data version: %w", err)
	}
	return v, nil
}

// reloadIfChanged reloads machines and tokens if another process wrote to
// the file since they were loaded. Use times not yet flushed are kept.
func (db *DB) reloadIfChanged(ctx context.Context) error {
	db.wmu.Lock() // no write of ours in between
	defer db.wmu.Unlock()
	v, err := db.readDataVersion(ctx)
	if err != nil || v == db.dataVersion {
		return err
	}
	c, err := loadCaches(ctx, db.wdb)
	if err != nil {
		return fmt.Errorf("reload: %w", err)
	}

	db.flushMu.Lock() // a flush must not mark the old entries flushed meanwhile
	defer db.flushMu.Unlock()
	db.mu.Lock()
	defer db.mu.Unlock()
	for _, e := range c.tokens {
		if old := db.tokensByID[e.tok.ID]; old != nil {
			if n := old.lastUsed.Load(); n > e.lastUsed.Load() {
				e.lastUsed.Store(n) // e.flushed stays the stored time, so the next flush writes it
			}
		}
	}
	db.caches = c
	db.dataVersion = v
	return nil
}

// check is one run of reloadIfChanged that others may wait for.
type check struct {
	done chan struct{} // closed when err is set
	err  error
}

// catchUp reloads the caches if another process wrote since they were
// loaded, by a check that starts after catchUp is called. Callers at the
// same time share one check, so a flood of bad secrets costs one query at
// a time, not one each.
func (db *DB) catchUp(ctx context.Context) error {
	db.chkMu.Lock()
	if c := db.chk; c != nil {
		// A check is running, but it may have read the version before
		// our caller's miss: wait for it, then run or join the next one.
		db.chkMu.Unlock()
		select {
		case <-c.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		db.chkMu.Lock()
	}
	if c := db.chk; c != nil {
		// This one started after the miss: its answer will do.
		db.chkMu.Unlock()
		select {
		case <-c.done:
			return c.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	c := &check{done: make(chan struct{})}
	db.chk = c
	db.chkMu.Unlock()

	// Not the caller's ctx: others may be waiting on this check.
	c.err = db.reloadIfChanged(context.Background())
	db.chkMu.Lock()
	db.chk = nil
	db.chkMu.Unlock()
	close(c.done)
	return c.err
}
