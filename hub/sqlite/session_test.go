package sqlite_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/hub/sqlite"
)

func TestSessionService_Password(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "moonwake.db")
	db, c := MustOpenDBAt(t, path, newClock())
	s := sqlite.NewSessionService(db, time.Hour)

	_, err := s.PasswordHash(ctx)
	wantCode(t, err, moonwake.ENotFound)
	wantCode(t, s.SetPasswordHash(ctx, ""), moonwake.EInvalid)
	if err := s.SetPasswordHash(ctx, "$argon2id$one"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPasswordHash(ctx, "$argon2id$two"); err != nil {
		t.Fatal(err)
	}
	if h, err := s.PasswordHash(ctx); err != nil || h != "$argon2id$two" {
		t.Fatalf("hash %q %v", h, err)
	}

	// It survives a restart, and so do sessions.
	secret, err := s.CreateSession(ctx, &moonwake.Session{UserAgent: "Firefox", Addr: "10.0.0.2"})
	if err != nil {
		t.Fatal(err)
	}
	db = Reopen(t, db, path, c)
	s = sqlite.NewSessionService(db, time.Hour)
	if h, err := s.PasswordHash(ctx); err != nil || h != "$argon2id$two" {
		t.Fatalf("after reopening: hash %q %v", h, err)
	}
	sess, err := s.AuthenticateSession(ctx, secret)
	if err != nil || sess.UserAgent != "Firefox" || sess.Addr != "10.0.0.2" || !sess.CreatedAt.Equal(t0) {
		t.Fatalf("after reopening: %+v %v", sess, err)
	}
}

func TestSessionService_Sessions(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "moonwake.db")
	db, c := MustOpenDBAt(t, path, newClock())
	s := sqlite.NewSessionService(db, time.Hour)

	sess := &moonwake.Session{UserAgent: "Safari", Addr: "10.0.0.3"}
	secret, err := s.CreateSession(ctx, sess)
	if err != nil {
		t.Fatal(err)
	}
	if !sqlite.ValidID(sess.ID, "ses_", 12) || !strings.HasPrefix(secret, "ms_") || len(secret) != 46 {
		t.Fatalf("id %q secret %q", sess.ID, secret)
	}
	if !sess.ExpiresAt.Equal(t0.Add(time.Hour)) || !sess.LastSeenAt.Equal(t0) {
		t.Fatalf("session %+v", sess)
	}
	// Only the hash is stored.
	var stored string
	if err := rawDB(t, path).QueryRow(`SELECT secret_hash FROM sessions WHERE id = ?`, sess.ID).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(secret))
	if stored != hex.EncodeToString(sum[:]) {
		t.Fatalf("stored %q", stored)
	}

	// Bad secrets.
	for _, bad := range []string{"", "ms_", secret[:len(secret)-1], secret + "x", "mw_" + secret[3:], "ms_" + strings.Repeat("A", 43)} {
		_, err := s.AuthenticateSession(ctx, bad)
		wantCode(t, err, moonwake.EUnauthorized)
	}

	// Use slides the expiry, written at most once a minute.
	c.Add(30 * time.Second)
	got, err := s.AuthenticateSession(ctx, secret)
	if err != nil || !got.LastSeenAt.Equal(t0) || !got.ExpiresAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("after 30 s: %+v %v", got, err)
	}
	now := c.Add(40 * time.Minute)
	got, err = s.AuthenticateSession(ctx, secret)
	if err != nil || !got.LastSeenAt.Equal(now) || !got.ExpiresAt.Equal(now.Add(time.Hour)) {
		t.Fatalf("after 40 min: %+v %v", got, err)
	}
	list, err := s.ListSessions(ctx)
	if err != nil || len(list) != 1 || !list[0].LastSeenAt.Equal(now) || !list[0].ExpiresAt.Equal(now.Add(time.Hour)) {
		t.Fatalf("list %+v %v", list, err)
	}
	// The slid expiry is stored: a reopened hub agrees.
	c.Add(50 * time.Minute) // 90 min after creation, 50 after the last use
	db = Reopen(t, db, path, c)
	s = sqlite.NewSessionService(db, time.Hour)
	if _, err := s.AuthenticateSession(ctx, secret); err != nil {
		t.Fatalf("after reopening: %v", err)
	}

	// Unused for the TTL: expired, and gone from the list.
	c.Add(61 * time.Minute)
	_, err = s.AuthenticateSession(ctx, secret)
	wantCode(t, err, moonwake.EUnauthorized)
	if list, _ := s.ListSessions(ctx); len(list) != 0 {
		t.Fatalf("expired session listed: %+v", list)
	}
}

func TestSessionService_Revoke(t *testing.T) {
	ctx := context.Background()
	db, c := MustOpenDB(t)
	s := sqlite.NewSessionService(db, 0)

	var secrets []string
	var ids []string
	for i := range 3 {
		sess := &moonwake.Session{UserAgent: "browser"}
		secret, err := s.CreateSession(ctx, sess)
		if err != nil {
			t.Fatal(err)
		}
		if !sess.ExpiresAt.Equal(c.Now().Add(sqlite.DefaultSessionTTL)) {
			t.Fatalf("default TTL: expires %s", sess.ExpiresAt)
		}
		secrets, ids = append(secrets, secret), append(ids, sess.ID)
		c.Add(time.Duration(i+1) * time.Second)
	}
	list, _ := s.ListSessions(ctx)
	if len(list) != 3 || list[0].ID != ids[2] || list[2].ID != ids[0] {
		t.Fatalf("not newest first: %+v", list)
	}

	// Revoking one ends it at once, even though it is cached.
	if _, err := s.AuthenticateSession(ctx, secrets[1]); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeSession(ctx, ids[1]); err != nil {
		t.Fatal(err)
	}
	_, err := s.AuthenticateSession(ctx, secrets[1])
	wantCode(t, err, moonwake.EUnauthorized)
	wantCode(t, s.RevokeSession(ctx, ids[1]), moonwake.ENotFound)
	wantCode(t, s.RevokeSession(ctx, "ses_nope"), moonwake.ENotFound)
	if _, err := s.AuthenticateSession(ctx, secrets[0]); err != nil {
		t.Fatalf("another session: %v", err)
	}

	// A new password revokes every session.
	if err := s.SetPasswordHash(ctx, "$argon2id$new"); err != nil {
		t.Fatal(err)
	}
	for _, secret := range secrets {
		_, err := s.AuthenticateSession(ctx, secret)
		wantCode(t, err, moonwake.EUnauthorized)
	}
	if list, _ := s.ListSessions(ctx); len(list) != 0 {
		t.Fatalf("sessions after a new password: %+v", list)
	}
}

// TestSessionService_Concurrent authenticates from many goroutines while
// sessions are created and revoked (run with -race).
func TestSessionService_Concurrent(t *testing.T) {
	ctx := context.Background()
	db, c := MustOpenDB(t)
	s := sqlite.NewSessionService(db, time.Hour)
	keep, err := s.CreateSession(ctx, &moonwake.Session{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 200 {
				if _, err := s.AuthenticateSession(ctx, keep); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			sess := &moonwake.Session{}
			secret, err := s.CreateSession(ctx, sess)
			if err != nil {
				t.Error(err)
				return
			}
			c.Add(time.Minute)
			if _, err := s.AuthenticateSession(ctx, secret); err != nil {
				t.Error(err)
			}
			if err := s.RevokeSession(ctx, sess.ID); err != nil {
				t.Error(err)
			}
			if _, err := s.AuthenticateSession(ctx, secret); err == nil {
				t.Error("a revoked session authenticated")
			}
		}
	})
	wg.Wait()
}

// BenchmarkSessionService_Authenticate measures the per-request check of a
// cached session.
func BenchmarkSessionService_Authenticate(b *testing.B) {
	ctx := context.Background()
	db, _ := MustOpenDB(b)
	s := sqlite.NewSessionService(db, time.Hour)
	secret, err := s.CreateSession(ctx, &moonwake.Session{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.AuthenticateSession(ctx, secret); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// A sign-in checked against the old password cannot create its session
// once the password has changed: the change evicts it too.
func TestSessionService_CreateAfterPasswordChange(t *testing.T) {
	ctx := context.Background()
	db, _ := MustOpenDBAt(t, filepath.Join(t.TempDir(), "moonwake.db"), newClock())
	s := sqlite.NewSessionService(db, time.Hour)
	if err := s.SetPasswordHash(ctx, "$argon2id$old"); err != nil {
		t.Fatal(err)
	}
	old, err := s.PasswordHash(ctx) // the sign-in checks against this…
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetPasswordHash(ctx, "$argon2id$new"); err != nil { // …while the password is reset
		t.Fatal(err)
	}
	_, err = s.CreateSession(ctx, &moonwake.Session{PasswordHash: old})
	wantCode(t, err, moonwake.EUnauthorized)
	if list, err := s.ListSessions(ctx); err != nil || len(list) != 0 {
		t.Fatalf("sessions after the refused sign-in: %v %v", list, err)
	}
	// Against the current hash, it works.
	secret, err := s.CreateSession(ctx, &moonwake.Session{PasswordHash: "$argon2id$new"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AuthenticateSession(ctx, secret); err != nil {
		t.Fatal(err)
	}
}
