package sqlite

import (
	"context"
	"strings"
	"time"
)

// FlushLastUsed exposes the token use-time flush to tests.
func (db *DB) FlushLastUsed(ctx context.Context) error { return db.flushLastUsed(ctx) }

// SetFlushInterval sets how often use times are flushed; call before Open.
func (db *DB) SetFlushInterval(d time.Duration) { db.flushInterval = d }

// NewActionID exposes the ID generator to tests.
func NewActionID(ms int64) string { return newActionID(ms) }

// NewTokenID exposes the ID generator to tests.
func NewTokenID() (string, error) { return newID("tok_") }

// ValidID reports whether id is prefix followed by n Crockford base32 characters.
func ValidID(id, prefix string, n int) bool {
	rest, ok := strings.CutPrefix(id, prefix)
	if !ok || len(rest) != n {
		return false
	}
	for i := 0; i < len(rest); i++ {
		if strings.IndexByte(crockford, rest[i]) < 0 {
			return false
		}
	}
	return true
}

// SetWatchInterval sets how often writes by other processes are looked for;
// call before Open.
func (db *DB) SetWatchInterval(d time.Duration) { db.watchInterval = d }

// ReloadIfChanged exposes the watcher's check to tests.
func (db *DB) ReloadIfChanged(ctx context.Context) error { return db.reloadIfChanged(ctx) }

// DB returns the database the service writes to, so tests can add the
// machines a token names first.
func (s *TokenService) DB() *DB { return s.db }
