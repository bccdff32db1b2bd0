package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/moonwake/moonwake"
)

// Ensure the service implements the interface.
var _ moonwake.SessionService = (*SessionService)(nil)

// DefaultSessionTTL is how long a session lives unused when none is given.
const DefaultSessionTTL = 30 * 24 * time.Hour

// seenInterval is how often a session's last-seen time (and its sliding
// expiry) is written: at most once a minute, however often it is used.
const seenInterval = time.Minute

// SessionService stores the web app's admin password and sessions in
// SQLite. Sessions are found by the SHA-256 of their secret; the ones in
// use are cached, so AuthenticateSession does no SQL on most requests.
// Only the hub writes sessions: the cache is not shared with other
// processes, and revocation through this service empties it at once.
type SessionService struct {
	db  *DB
	ttl time.Duration

	mu     sync.Mutex
	byHash map[[32]byte]*moonwake.Session
	gen    uint64 // counts revocations, so a lookup racing one is not cached
}

// NewSessionService returns the session store of db. A session that is not
// used for ttl expires; ttl ≤ 0 means DefaultSessionTTL.
func NewSessionService(db *DB, ttl time.Duration) *SessionService {
	if ttl <= 0 {
		ttl = DefaultSessionTTL
	}
	return &SessionService{db: db, ttl: ttl, byHash: map[[32]byte]*moonwake.Session{}}
}

// PasswordHash returns the stored admin password hash, or ENotFound.
func (s *SessionService) PasswordHash(ctx context.Context) (string, error) {
	var hash string
	err := s.db.rdb.QueryRowContext(ctx, `SELECT hash FROM admin_password WHERE id = 1`).Scan(&hash)
	if errors.Is(err, sql.ErrNoRows) {
		return "", moonwake.Errorf(moonwake.ENotFound, "no admin password is set")
	} else if err != nil {
		return "", fmt.Errorf("read password hash: %w", err)
	}
	return hash, nil
}

// SetPasswordHash stores a new admin password hash and revokes every
// session, in one transaction.
func (s *SessionService) SetPasswordHash(ctx context.Context, hash string) error {
	if hash == "" {
		return moonwake.Errorf(moonwake.EInvalid, "empty password hash")
	}
	db := s.db
	db.wmu.Lock()
	defer db.wmu.Unlock()
	err := func() error {
		tx, err := db.wdb.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO admin_password (id, hash, set_at) VALUES (1, ?, ?)
			ON CONFLICT (id) DO UPDATE SET hash = excluded.hash, set_at = excluded.set_at`,
			hash, formatTime(db.now())); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions`); err != nil {
			return err
		}
		return tx.Commit()
	}()
	if err != nil {
		return fmt.Errorf("set password hash: %w", err)
	}
	s.mu.Lock()
	clear(s.byHash)
	s.gen++
	s.mu.Unlock()
	return nil
}

// CreateSession stores sess with a new ID and a hash of a new secret, and
// returns the secret. It also deletes the sessions that have expired.
func (s *SessionService) CreateSession(ctx context.Context, sess *moonwake.Session) (string, error) {
	id, err := newID("ses_")
	if err != nil {
		return "", fmt.Errorf("create session: %w", err)
	}
	secret, err := newSecret(sessionSecretPrefix)
	if err != nil {
		return "", fmt.Errorf("create session: %w", err)
	}
	hash := sha256.Sum256([]byte(secret))
	db := s.db
	now := db.now()
	sess.ID = id
	sess.CreatedAt, sess.LastSeenAt, sess.ExpiresAt = now, now, now.Add(s.ttl)

	db.wmu.Lock()
	defer db.wmu.Unlock()
	if _, err := db.wdb.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at <= ?`, formatTime(now)); err != nil {
		return "", fmt.Errorf("create session: %w", err)
	}
	// One statement, under the write lock SetPasswordHash also takes: the
	// session exists only if the password it was checked against is still
	// the one set.
	res, err := db.wdb.ExecContext(ctx, `
		INSERT INTO sessions (id, secret_hash, created_at, last_seen_at, expires_at, user_agent, addr)
		SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7
		WHERE ?8 = '' OR (SELECT hash FROM admin_password WHERE id = 1) = ?8`,
		sess.ID, hex.EncodeToString(hash[:]), formatTime(sess.CreatedAt), formatTime(sess.LastSeenAt),
		formatTime(sess.ExpiresAt), sess.UserAgent, sess.Addr, sess.PasswordHash)
	if err != nil {
		return "", fmt.Errorf("create session: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return "", fmt.Errorf("create session: %w", err)
	} else if n == 0 {
		return "", moonwake.Errorf(moonwake.EUnauthorized, "the password changed during the sign-in")
	}
	c := *sess
	s.mu.Lock()
	s.byHash[hash] = &c
	s.mu.Unlock()
	return secret, nil
}

// errNoSession is the one answer to every bad session secret.
func errNoSession() error {
	return moonwake.Errorf(moonwake.EUnauthorized, "invalid, expired or revoked session")
}

// AuthenticateSession returns a copy of the live session whose secret this
// is, and slides its expiry; EUnauthorized when it is unknown, revoked or
// expired. A cached session costs a map lookup; its last-seen time is
// written at most once a minute.
func (s *SessionService) AuthenticateSession(ctx context.Context, secret string) (*moonwake.Session, error) {
	if !wellFormedSecret(secret, sessionSecretPrefix) {
		return nil, errNoSession()
	}
	hash := sha256.Sum256([]byte(secret))
	now := s.db.now()

	s.mu.Lock()
	cached := s.byHash[hash]
	gen := s.gen
	var c moonwake.Session
	if cached != nil {
		c = *cached
	}
	s.mu.Unlock()

	if cached == nil {
		found, err := s.load(ctx, hash)
		if err != nil {
			return nil, errNoSession()
		}
		c = *found
		s.mu.Lock()
		if s.gen == gen { // no revocation since the read: safe to cache
			s.byHash[hash] = found
		}
		s.mu.Unlock()
	}

	if !now.Before(c.ExpiresAt) {
		s.forget(hash)
		return nil, errNoSession()
	}
	if now.Sub(c.LastSeenAt) < seenInterval {
		return &c, nil
	}
	c.LastSeenAt, c.ExpiresAt = now, now.Add(s.ttl)
	db := s.db
	db.wmu.Lock()
	found, err := execOne(ctx, db.wdb, `UPDATE sessions SET last_seen_at = ?, expires_at = ? WHERE id = ?`,
		formatTime(c.LastSeenAt), formatTime(c.ExpiresAt), c.ID)
	if err == nil && found {
		s.mu.Lock()
		if e := s.byHash[hash]; e != nil && e.ID == c.ID {
			e.LastSeenAt, e.ExpiresAt = c.LastSeenAt, c.ExpiresAt
		}
		s.mu.Unlock()
	}
	db.wmu.Unlock()
	if err != nil {
		// The session is still valid; its last-seen time is written later.
		return &c, nil
	}
	if !found { // revoked meanwhile
		s.forget(hash)
		return nil, errNoSession()
	}
	return &c, nil
}

// forget drops a session from the cache.
func (s *SessionService) forget(hash [32]byte) {
	s.mu.Lock()
	delete(s.byHash, hash)
	s.gen++
	s.mu.Unlock()
}

// load reads the session with that secret hash.
func (s *SessionService) load(ctx context.Context, hash [32]byte) (*moonwake.Session, error) {
	row := s.db.rdb.QueryRowContext(ctx, `
		SELECT id, created_at, last_seen_at, expires_at, user_agent, addr
		FROM sessions WHERE secret_hash = ?`, hex.EncodeToString(hash[:]))
	return scanSession(row)
}

// scanSession reads one row of sessions.
func scanSession(row interface{ Scan(...any) error }) (*moonwake.Session, error) {
	var (
		sess               moonwake.Session
		created, seen, exp string
	)
	if err := row.Scan(&sess.ID, &created, &seen, &exp, &sess.UserAgent, &sess.Addr); err != nil {
		return nil, err
	}
	var err error
	if sess.CreatedAt, err = parseTime(created); err != nil {
		return nil, err
	}
	if sess.LastSeenAt, err = parseTime(seen); err != nil {
		return nil, err
	}
	if sess.ExpiresAt, err = parseTime(exp); err != nil {
		return nil, err
	}
	return &sess, nil
}

// ListSessions returns the live sessions, newest first. Last-seen times
// are at most a minute old.
func (s *SessionService) ListSessions(ctx context.Context) ([]*moonwake.Session, error) {
	rows, err := s.db.rdb.QueryContext(ctx, `
		SELECT id, created_at, last_seen_at, expires_at, user_agent, addr
		FROM sessions WHERE expires_at > ? ORDER BY created_at DESC, id DESC`, formatTime(s.db.now()))
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	defer rows.Close()
	list := []*moonwake.Session{}
	for rows.Next() {
		sess, err := scanSession(rows)
		if err != nil {
			return nil, fmt.Errorf("list sessions: %w", err)
		}
		list = append(list, sess)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	return list, nil
}

// RevokeSession ends the session with that ID at once. ENotFound.
func (s *SessionService) RevokeSession(ctx context.Context, id string) error {
	db := s.db
	db.wmu.Lock()
	defer db.wmu.Unlock()
	found, err := execOne(ctx, db.wdb, `DELETE FROM sessions WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	s.mu.Lock()
	for h, e := range s.byHash {
		if e.ID == id {
			delete(s.byHash, h)
		}
	}
	s.gen++
	s.mu.Unlock()
	if !found {
		return moonwake.Errorf(moonwake.ENotFound, "no session %q", id)
	}
	return nil
}
