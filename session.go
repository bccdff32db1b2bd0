package moonwake

import (
	"context"
	"time"
)

// Session is a signed-in browser of the web app. Its secret lives only in
// the browser's cookie; the hub keeps a hash of it.
type Session struct {
	ID         string    `json:"id"` // public, safe to log and show
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	UserAgent  string    `json:"user_agent"` // as the browser said at sign-in, cut short
	Addr       string    `json:"addr"`       // the client address at sign-in

	// PasswordHash, when set, is the admin password hash the sign-in was
	// checked against: CreateSession refuses (EUnauthorized) unless it is
	// still the stored one, so a sign-in racing a password change cannot
	// outlive it. Never stored or shown.
	PasswordHash string `json:"-"`
}

// SessionService keeps the web app's admin password and its sessions.
type SessionService interface {
	// PasswordHash returns the stored hash of the admin password, or
	// ENotFound when none is set yet.
	PasswordHash(ctx context.Context) (string, error)
	// SetPasswordHash stores a new admin password hash and revokes every
	// session.
	SetPasswordHash(ctx context.Context, hash string) error
	// CreateSession stores s, fills in its ID, and returns the secret for
	// the cookie, which cannot be recovered later. EUnauthorized when
	// s.PasswordHash is set and is no longer the stored hash.
	CreateSession(ctx context.Context, s *Session) (secret string, err error)
	// Authenticate returns the live session whose secret this is, and
	// extends it; EUnauthorized when it is unknown, revoked or expired. It
	// is called on every request and must be fast.
	AuthenticateSession(ctx context.Context, secret string) (*Session, error)
	// ListSessions returns the live sessions, newest first.
	ListSessions(ctx context.Context) ([]*Session, error)
	// RevokeSession ends the session with that ID. ENotFound.
	RevokeSession(ctx context.Context, id string) error
}
