package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/moonwake/moonwake"
)

// Ensure the service implements the interface.
var _ moonwake.TokenService = (*TokenService)(nil)

// TokenService stores tokens in SQLite and checks secrets against the DB's
// in-memory copy: Authenticate runs on every request and does no SQL.
type TokenService struct {
	db *DB
}

// NewTokenService returns a TokenService on an open db.
func NewTokenService(db *DB) *TokenService {
	return &TokenService{db: db}
}

// tokenEntry is a cached token. tok never changes once cached, except
// tok.RevokedAt and tok.Machines (when machines are deleted), which are
// replaced under db.mu; the use time changes on every
// request, so it is an atomic instead and tok.LastUsedAt is unused.
type tokenEntry struct {
	tok      moonwake.Token
	hash     [32]byte
	lastUsed atomic.Int64 // unix nanoseconds, 0 for never
	flushed  int64        // lastUsed as last written to SQL; guarded by db.flushMu
}

// tokenCopy is a Token and its use time in one allocation.
type tokenCopy struct {
	t        moonwake.Token
	lastUsed time.Time
	revoked  time.Time
}

// token returns a copy of the cached token that shares no memory with it.
// db.mu is held, at least shared.
func (e *tokenEntry) token() *moonwake.Token {
	c := &tokenCopy{t: e.tok}
	t := &c.t
	// One backing array for both lists; the caps keep an append to one from
	// writing into the other.
	nm, na := len(e.tok.Machines), len(e.tok.Actions)
	t.Machines, t.Actions = []string{}, []string{}
	if nm+na > 0 {
		buf := make([]string, nm+na)
		copy(buf, e.tok.Machines)
		copy(buf[nm:], e.tok.Actions)
		t.Machines, t.Actions = buf[:nm:nm], buf[nm:]
	}
	if n := e.lastUsed.Load(); n != 0 {
		c.lastUsed = time.Unix(0, n).UTC()
		t.LastUsedAt = &c.lastUsed
	}
	if e.tok.RevokedAt != nil {
		c.revoked = *e.tok.RevokedAt
		t.RevokedAt = &c.revoked
	}
	return t
}

// CreateToken normalizes t, gives it an ID and a creation time, stores it
// with a hash of a new secret, and returns the secret. EInvalid, or
// EConflict when an active token has that name.
func (s *TokenService) CreateToken(ctx context.Context, t *moonwake.Token) (string, error) {
	secret, err := newSecret(tokenSecretPrefix)
	if err != nil {
		return "", fmt.Errorf("create token: %w", err)
	}
	return secret, s.create(ctx, t, secret)
}

// ImportToken stores t, as CreateToken does, with a secret made elsewhere:
// the first admin token or a relay enrolment token that a deployment keeps
// in a secret store (a Kubernetes Secret). The secret must look like one
// CreateToken makes ("mw_" and 43 characters of A-Z, a-z, 0-9, '-', '_');
// EInvalid otherwise, without repeating it. EConflict when an active token
// has that name or that secret.
func (s *TokenService) ImportToken(ctx context.Context, t *moonwake.Token, secret string) error {
	if !wellFormedSecret(secret, tokenSecretPrefix) {
		return moonwake.Errorf(moonwake.EInvalid, "token %q: a secret is %q and 43 characters of A-Z, a-z, 0-9, '-' or '_'", t.Name, tokenSecretPrefix)
	}
	hash := sha256.Sum256([]byte(secret))
	s.db.mu.RLock()
	known := s.db.tokensByHash[hash] != nil
	s.db.mu.RUnlock()
	if known {
		return moonwake.Errorf(moonwake.EConflict, "token %q: that secret is taken", t.Name)
	}
	return s.create(ctx, t, secret)
}

// create normalizes and stores t with the hash of secret.
func (s *TokenService) create(ctx context.Context, t *moonwake.Token, secret string) error {
	if err := t.Normalize(); err != nil {
		return err
	}
	db := s.db
	db.wmu.Lock()
	defer db.wmu.Unlock()
	if db.activeTokenByName(t.Name) != nil {
		return moonwake.Errorf(moonwake.EConflict, "an active token named %q exists", t.Name)
	}
	// A token is bound to the machines that exist when it is made (see
	// scopeAfterDelete), so it cannot name one that does not exist yet.
	db.mu.RLock()
	for _, m := range t.Machines {
		if db.machines[m] == nil {
			db.mu.RUnlock()
			return moonwake.Errorf(moonwake.EInvalid, "token scope: no machine %q (add it first: a token is bound to the machines that exist when it is made)", m)
		}
	}
	db.mu.RUnlock()

	id, err := newID("tok_")
	if err != nil {
		return fmt.Errorf("create token: %w", err)
	}
	hash := sha256.Sum256([]byte(secret))
	t.ID = id
	t.CreatedAt = db.now()
	t.LastUsedAt, t.RevokedAt = nil, nil

	if _, err := db.wdb.ExecContext(ctx, `
		INSERT INTO tokens (id, name, secret_hash, machines, actions, admin, link, relay_enrol, cloudevents, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		t.ID, t.Name, hex.EncodeToString(hash[:]), jsonList(t.Machines), jsonList(t.Actions), t.Admin, t.TapLink, t.RelayEnrol, t.CloudEvents, formatTime(t.CreatedAt),
	); err != nil {
		if isConstraint(err) { // another process wrote since the caches were loaded
			return moonwake.Errorf(moonwake.EConflict, "an active token named %q exists", t.Name)
		}
		return fmt.Errorf("create token: %w", err)
	}

	e := &tokenEntry{tok: *t, hash: hash}
	e.tok.Machines, e.tok.Actions = slices.Clone(t.Machines), slices.Clone(t.Actions)
	db.mu.Lock()
	db.cacheToken(e)
	db.mu.Unlock()
	return nil
}

// errUnauthorized is the one answer to every bad secret: it says nothing
// about which part was wrong, and never repeats the secret.
func errUnauthorized() error {
	return moonwake.Errorf(moonwake.EUnauthorized, "invalid or revoked token")
}

// Authenticate returns the active token whose secret this is, or
// EUnauthorized. It hashes the secret and looks the hash up in memory; the
// use time is recorded in memory and written to SQL by the flusher. Only an
// unknown secret costs a query, to see whether another process created it
// (see catchUp). Looking up a SHA-256 in a map leaks no useful timing: an
// attacker cannot steer the hash of a guess towards a stored one.
func (s *TokenService) Authenticate(ctx context.Context, secret string) (*moonwake.Token, error) {
	if secret == "" || len(secret) > 1024 {
		return nil, errUnauthorized()
	}
	hash := sha256.Sum256([]byte(secret))
	if t := s.db.useToken(hash); t != nil {
		return t, nil
	}
	// Perhaps the CLI made this token since the caches were loaded: look
	// before refusing. Secrets this package cannot have made skip the look.
	if !wellFormedSecret(secret, tokenSecretPrefix) {
		return nil, errUnauthorized()
	}
	if err := s.db.catchUp(ctx); err != nil {
		return nil, errUnauthorized()
	}
	if t := s.db.useToken(hash); t != nil {
		return t, nil
	}
	return nil, errUnauthorized()
}

// useToken returns a copy of the active token with that secret hash and
// records its use, or returns nil.
func (db *DB) useToken(hash [32]byte) *moonwake.Token {
	now := db.Now().UnixNano()
	db.mu.RLock()
	defer db.mu.RUnlock()
	e := db.tokensByHash[hash]
	if e == nil {
		return nil
	}
	// Load first: storing on every request would bounce the cache line
	// between cores for nothing when the clock has not moved.
	if now > e.lastUsed.Load() {
		e.lastUsed.Store(now)
	}
	return e.token()
}

// ListTokens returns copies of every token, revoked ones included, oldest first.
func (s *TokenService) ListTokens(ctx context.Context) ([]*moonwake.Token, error) {
	s.db.mu.RLock()
	defer s.db.mu.RUnlock()
	ts := make([]*moonwake.Token, len(s.db.tokens))
	for i, e := range s.db.tokens {
		ts[i] = e.token()
	}
	return ts, nil
}

// RevokeToken revokes the active token with that ID, or else with that
// name, and returns it. The secret stops working at once. ENotFound.
func (s *TokenService) RevokeToken(ctx context.Context, idOrName string) (*moonwake.Token, error) {
	db := s.db
	db.wmu.Lock()
	defer db.wmu.Unlock()

	db.mu.RLock()
	e := db.tokensByID[idOrName]
	db.mu.RUnlock()
	if e == nil || e.tok.RevokedAt != nil {
		e = db.activeTokenByName(idOrName)
	}
	if e == nil {
		return nil, moonwake.Errorf(moonwake.ENotFound, "no active token %q", idOrName)
	}

	now := db.now()
	found, err := execOne(ctx, db.wdb, `UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, formatTime(now), e.tok.ID)
	if err != nil {
		return nil, fmt.Errorf("revoke token: %w", err)
	}
	if !found {
		return nil, moonwake.Errorf(moonwake.ENotFound, "no active token %q", idOrName)
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	e.tok.RevokedAt = &now
	delete(db.tokensByHash, e.hash)
	return e.token(), nil
}

// HasAdminToken reports whether an active admin token exists, so the hub
// can tell a fresh install, which needs one made, from a running one.
func (s *TokenService) HasAdminToken(ctx context.Context) (bool, error) {
	s.db.mu.RLock()
	defer s.db.mu.RUnlock()
	for _, e := range s.db.tokensByHash {
		if e.tok.Admin {
			return true, nil
		}
	}
	return false, nil
}

// activeTokenByName returns the cached active token called name, or nil.
func (db *DB) activeTokenByName(name string) *tokenEntry {
	db.mu.RLock()
	defer db.mu.RUnlock()
	for _, e := range db.tokensByHash {
		if e.tok.Name == name {
			return e
		}
	}
	return nil
}

// cacheToken adds e to the token cache. db.mu is held.
func (c *caches) cacheToken(e *tokenEntry) {
	c.tokens = append(c.tokens, e)
	c.tokensByID[e.tok.ID] = e
	if e.tok.RevokedAt == nil {
		c.tokensByHash[e.hash] = e
	}
}

// loadTokens fills the token cache from the table.
func (c *caches) loadTokens(ctx context.Context, q *sql.DB) error {
	rows, err := q.QueryContext(ctx, `
		SELECT id, name, secret_hash, machines, actions, admin, link, relay_enrol, cloudevents, created_at, last_used_at, revoked_at
		FROM tokens ORDER BY created_at, rowid`)
	if err != nil {
		return fmt.Errorf("load tokens: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			e                 = &tokenEntry{}
			hash, ms, as, cr  string
			lastUsed, revoked sql.NullString
		)
		t := &e.tok
		if err := rows.Scan(&t.ID, &t.Name, &hash, &ms, &as, &t.Admin, &t.TapLink, &t.RelayEnrol, &t.CloudEvents, &cr, &lastUsed, &revoked); err != nil {
			return fmt.Errorf("load tokens: %w", err)
		}
		if n, err := hex.Decode(e.hash[:], []byte(hash)); err != nil || n != len(e.hash) {
			return fmt.Errorf("load tokens: %s: bad secret hash", t.ID)
		}
		if err := json.Unmarshal([]byte(ms), &t.Machines); err != nil {
			return fmt.Errorf("load tokens: %s: machines: %w", t.ID, err)
		}
		if err := json.Unmarshal([]byte(as), &t.Actions); err != nil {
			return fmt.Errorf("load tokens: %s: actions: %w", t.ID, err)
		}
		if t.CreatedAt, err = parseTime(cr); err != nil {
			return fmt.Errorf("load tokens: %s: %w", t.ID, err)
		}
		lu, err := parseNullTime(lastUsed)
		if err != nil {
			return fmt.Errorf("load tokens: %s: %w", t.ID, err)
		}
		if lu != nil {
			e.lastUsed.Store(lu.UnixNano())
			e.flushed = lu.UnixNano()
		}
		if t.RevokedAt, err = parseNullTime(revoked); err != nil {
			return fmt.Errorf("load tokens: %s: %w", t.ID, err)
		}
		c.cacheToken(e)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load tokens: %w", err)
	}
	return nil
}

// flushLastUsed writes, in one transaction, the use time of every token used
// since the last flush.
func (db *DB) flushLastUsed(ctx context.Context) error {
	db.flushMu.Lock()
	defer db.flushMu.Unlock()
	type pending struct {
		e *tokenEntry
		n int64
	}
	var ps []pending
	db.mu.RLock()
	for _, e := range db.tokens {
		if n := e.lastUsed.Load(); n != e.flushed {
			ps = append(ps, pending{e, n})
		}
	}
	db.mu.RUnlock()
	if len(ps) == 0 {
		return nil
	}

	err := func() error {
		tx, err := db.wdb.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		stmt, err := tx.PrepareContext(ctx, `UPDATE tokens SET last_used_at = ? WHERE id = ?`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, p := range ps {
			if _, err := stmt.ExecContext(ctx, formatTime(time.Unix(0, p.n)), p.e.tok.ID); err != nil {
				return err
			}
		}
		return tx.Commit()
	}()
	if err != nil {
		return fmt.Errorf("flush token use times: %w", err)
	}
	for _, p := range ps {
		p.e.flushed = p.n
	}
	return nil
}

// tokenScopeChange is what deleting machines does to one token: it is
// revoked, or it keeps the machines it has left.
type tokenScopeChange struct {
	id       string
	machines []string // nil: revoked
}

// scopeAfterDelete works out, in tx, what happens to the active tokens
// scoped to machines about to be deleted, and writes it. A token is bound
// to the machines it was made for, not to their names: a new machine of
// the same name must not inherit it. So a token scoped only to deleted
// machines is revoked (scoped to none, it would otherwise read as scoped
// to all), and one scoped to others as well loses the deleted ones. Admin
// tokens and tokens for every machine are not scoped by name and stay.
// It reads the table, not the cache, so a token another process (the CLI)
// made a moment ago is bound too.
func scopeAfterDelete(ctx context.Context, tx *sql.Tx, names []string, now time.Time) ([]tokenScopeChange, error) {
	var out []tokenScopeChange
	for _, name := range names {
		rows, err := tx.QueryContext(ctx, `
			SELECT id, machines FROM tokens
			WHERE revoked_at IS NULL AND admin = 0
			AND EXISTS (SELECT 1 FROM json_each(tokens.machines) WHERE value = ?)`, name)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id, ms string
			if err := rows.Scan(&id, &ms); err != nil {
				rows.Close()
				return nil, err
			}
			var machines []string
			if err := json.Unmarshal([]byte(ms), &machines); err != nil {
				rows.Close()
				return nil, fmt.Errorf("token %s: machines: %w", id, err)
			}
			out = append(out, tokenScopeChange{id: id, machines: machines})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	// One change per token, whatever the number of its deleted machines.
	seen := map[string]bool{}
	var changes []tokenScopeChange
	for _, c := range out {
		if seen[c.id] {
			continue
		}
		seen[c.id] = true
		left := slices.DeleteFunc(slices.Clone(c.machines), func(m string) bool { return slices.Contains(names, m) })
		if len(left) == 0 {
			left = nil
		}
		changes = append(changes, tokenScopeChange{id: c.id, machines: left})
	}
	for _, c := range changes {
		var err error
		if c.machines == nil {
			_, err = tx.ExecContext(ctx, `UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, formatTime(now), c.id)
		} else {
			_, err = tx.ExecContext(ctx, `UPDATE tokens SET machines = ? WHERE id = ?`, jsonList(c.machines), c.id)
		}
		if err != nil {
			return nil, fmt.Errorf("token %s: %w", c.id, err)
		}
	}
	return changes, nil
}

// applyScopeChanges updates the cache once changes are committed. db.mu is
// held. The entry's fields are replaced, never changed in place, so copies
// made before stay as they were.
// A token not cached yet (made by another process) is read as changed
// when the cache catches up.
func (c *caches) applyScopeChanges(changes []tokenScopeChange, now time.Time) {
	for _, ch := range changes {
		e := c.tokensByID[ch.id]
		if e == nil {
			continue
		}
		if ch.machines == nil {
			t := now
			e.tok.RevokedAt = &t
			delete(c.tokensByHash, e.hash)
			continue
		}
		e.tok.Machines = ch.machines
	}
}
