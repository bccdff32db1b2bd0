package web

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/internal/ratelimit"
)

// Sign-in attempts: failures cost one token of a bucket per client
// address, which refills at loginRate per second up to loginBurst; a
// correct password costs nothing.
const (
	loginRate  = rate.Limit(5.0 / 60) // five failures a minute…
	loginBurst = 10                   // …after ten in a row
)

// addrLimiter keeps a token bucket per client address (per /64 for IPv6,
// see ratelimit.AddrKey), for at most maxAddrBuckets addresses.
type addrLimiter struct{ k *ratelimit.Keyed }

// maxAddrBuckets bounds the addresses an addrLimiter remembers.
const maxAddrBuckets = 4096

func newAddrLimiter(limit rate.Limit, burst int) *addrLimiter {
	return &addrLimiter{ratelimit.New(float64(limit)*60, burst, maxAddrBuckets)}
}

// get returns the address's bucket.
func (l *addrLimiter) get(addr string, now time.Time) *rate.Limiter {
	return l.k.Bucket(ratelimit.AddrKey(addr), now)
}

// blocked reports whether the address has no attempt left, and how long
// until it has one.
func (l *addrLimiter) blocked(addr string, now time.Time) (bool, time.Duration) {
	b := l.get(addr, now)
	if t := b.TokensAt(now); t < 1 {
		return true, time.Duration((1 - t) / float64(l.k.Limit()) * float64(time.Second))
	}
	return false, 0
}

// fail spends one attempt of the address.
func (l *addrLimiter) fail(addr string, now time.Time) { l.get(addr, now).AllowN(now, 1) }

// take spends one attempt of the address before the attempt is checked,
// so that attempts under way count: it returns a refund to call when the
// attempt succeeds, or false and how long to wait when none is left.
func (l *addrLimiter) take(addr string, now time.Time) (refund func(), ok bool, wait time.Duration) {
	res := l.get(addr, now).ReserveN(now, 1)
	if !res.OK() {
		return nil, false, time.Minute
	}
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return nil, false, d
	}
	return func() { res.CancelAt(now) }, true, 0
}

// tooBusy answers a request that found every argon2 slot taken.
func (s *Server) tooBusy(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Retry-After", "2")
	s.fail(w, r, moonwake.Errorf(moonwake.ERateLimited, "The hub is busy checking other passwords: wait a moment, then try again."))
}

// loginData is the data of login.html.
type loginData struct {
	Next  string
	Error string
}

// setupData is the data of setup.html.
type setupData struct {
	Reset bool // a password is set already: this replaces it
	Error string
}

// hasPassword reports whether the admin password is set.
func (s *Server) hasPassword(r *http.Request) (bool, error) {
	_, err := s.Sessions.PasswordHash(r.Context())
	if moonwake.ErrorCode(err) == moonwake.ENotFound {
		return false, nil
	}
	return err == nil, err
}

// loginPage is GET /login. Before a password is set it sends people to
// /setup; a signed-in browser goes straight on.
func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	next := localPath(r.URL.Query().Get("next"))
	if ok, err := s.hasPassword(r); err != nil {
		s.fail(w, r, err)
		return
	} else if !ok {
		http.Redirect(w, r, "/setup", http.StatusSeeOther)
		return
	}
	if s.authenticate(r) != nil {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	s.render(w, r, http.StatusOK, "login.html", loginData{Next: next})
}

// tooMany renders page with the rate-limit error.
func (s *Server) tooMany(w http.ResponseWriter, r *http.Request, wait time.Duration) {
	secs := int(wait/time.Second) + 1
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	s.fail(w, r, moonwake.Errorf(moonwake.ERateLimited, "Too many tries from your address: wait %d s, then try again.", secs))
}

// login is POST /login.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if err := s.cop.Check(r); err != nil {
		s.fail(w, r, moonwake.Errorf(moonwake.EForbidden, "This sign-in came from another site, so it was refused."))
		return
	}
	addr, now := s.clientAddr(r), s.now()
	// The attempt is paid for before the password is checked, so that
	// attempts checked at the same time all count; a right one is refunded.
	refund, ok, wait := s.loginLimit.take(addr, now)
	if !ok {
		s.tooMany(w, r, wait)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	next := localPath(r.PostFormValue("next"))
	stored, err := s.Sessions.PasswordHash(r.Context())
	if moonwake.ErrorCode(err) == moonwake.ENotFound {
		http.Redirect(w, r, "/setup", http.StatusSeeOther)
		return
	} else if err != nil {
		s.fail(w, r, err)
		return
	}
	release, got := acquireArgon(r.Context())
	if !got {
		refund() // not checked: not an attempt
		s.tooBusy(w, r)
		return
	}
	ok, err = verifyPassword(stored, r.PostFormValue("password"))
	release()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !ok {
		s.log().Warn("web: wrong password", "addr", addr)
		s.render(w, r, http.StatusUnauthorized, "login.html", loginData{Next: next, Error: "wrong password"})
		return
	}
	if err := s.startSession(w, r, stored); moonwake.ErrorCode(err) == moonwake.EUnauthorized {
		// The password changed while this one was checked against the old.
		s.render(w, r, http.StatusUnauthorized, "login.html", loginData{Next: next, Error: "wrong password"})
		return
	} else if err != nil {
		s.fail(w, r, err)
		return
	}
	refund()
	s.log().Info("web: signed in", "addr", addr)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// startSession creates a session for this browser and sets its cookie.
// verified is the password hash the sign-in was checked against: the
// session is refused if it is no longer the stored one.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, verified string) error {
	ua := r.UserAgent()
	if len(ua) > 200 {
		ua = strings.ToValidUTF8(ua[:200], "")
	}
	secret, err := s.Sessions.CreateSession(r.Context(), &moonwake.Session{UserAgent: ua, Addr: s.clientAddr(r), PasswordHash: verified})
	if err != nil {
		return err
	}
	s.setSessionCookie(w, r, secret)
	return nil
}

// setupPage is GET /setup: set the admin password, with an admin token.
func (s *Server) setupPage(w http.ResponseWriter, r *http.Request) {
	if sess := s.authenticate(r); sess != nil {
		// Signed in (changing the password): keep the navigation.
		r = r.WithContext(context.WithValue(r.Context(), sessionKey{}, sess))
	}
	has, err := s.hasPassword(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "setup.html", setupData{Reset: has})
}

// setupPassword is POST /setup: an admin token sets a new password, which
// signs every other browser out and this one in.
func (s *Server) setupPassword(w http.ResponseWriter, r *http.Request) {
	if err := s.cop.Check(r); err != nil {
		s.fail(w, r, moonwake.Errorf(moonwake.EForbidden, "This form came from another site, so it was refused."))
		return
	}
	addr, now := s.clientAddr(r), s.now()
	if blocked, wait := s.loginLimit.blocked(addr, now); blocked {
		s.tooMany(w, r, wait)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	has, err := s.hasPassword(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	again := func(status int, msg string) {
		s.render(w, r, status, "setup.html", setupData{Reset: has, Error: msg})
	}
	tok, err := s.Tokens.Authenticate(r.Context(), strings.TrimSpace(r.PostFormValue("token")))
	if err != nil || !tok.Admin {
		s.loginLimit.fail(addr, now)
		s.log().Warn("web: setup refused: not an admin token", "addr", addr)
		again(http.StatusForbidden, "That is not a valid admin token.")
		return
	}
	pw := r.PostFormValue("password")
	if pw != r.PostFormValue("confirm") {
		again(http.StatusBadRequest, "The two passwords differ.")
		return
	}
	release, got := acquireArgon(r.Context())
	if !got {
		s.tooBusy(w, r)
		return
	}
	hash, err := hashPassword(pw)
	release()
	if moonwake.ErrorCode(err) == moonwake.EInvalid {
		again(http.StatusBadRequest, moonwake.ErrorMessage(err))
		return
	} else if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.Sessions.SetPasswordHash(r.Context(), hash); err != nil {
		s.fail(w, r, err)
		return
	}
	s.log().Info("web: admin password set; every session was revoked", "token", tok.Name, "addr", addr)
	if err := s.startSession(w, r, hash); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// logout is POST /logout: this session ends.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	sess := sessionFrom(r.Context())
	if err := s.Sessions.RevokeSession(r.Context(), sess.ID); err != nil && moonwake.ErrorCode(err) != moonwake.ENotFound {
		s.fail(w, r, err)
		return
	}
	s.clearSessionCookie(w, r)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// sessionsData is the data of sessions.html.
type sessionsData struct {
	Sessions []*moonwake.Session
	Current  string // the ID of this browser's session
	TTL      time.Duration
}

// sessionsPage is GET /sessions: the signed-in browsers.
func (s *Server) sessionsPage(w http.ResponseWriter, r *http.Request) {
	list, err := s.Sessions.ListSessions(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "sessions.html", sessionsData{Sessions: list, Current: sessionFrom(r.Context()).ID, TTL: s.ttl()})
}

// revokeSession is POST /sessions/{id}/revoke. Revoking this browser's own
// session signs it out.
func (s *Server) revokeSession(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := s.Sessions.RevokeSession(r.Context(), id); err != nil {
		s.fail(w, r, err)
		return
	}
	if id == sessionFrom(r.Context()).ID {
		s.clearSessionCookie(w, r)
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/sessions", http.StatusSeeOther)
}

// notFound is the error of a path nothing serves.
func notFound(r *http.Request) error {
	if strings.HasPrefix(r.URL.Path, "/l/") || strings.HasPrefix(r.URL.EscapedPath(), "/l/") {
		return moonwake.Errorf(moonwake.ENotFound, "There is no such page.") // never a link's secret
	}
	return moonwake.Errorf(moonwake.ENotFound, "There is no page at %s.", r.URL.Path)
}

// browserName sums a User-Agent up for the sessions page: "Safari on
// iPhone", "Firefox on Windows"; the raw string when it is unfamiliar.
func browserName(ua string) string {
	if ua == "" {
		return "Unknown browser"
	}
	var b, os string
	switch {
	case strings.Contains(ua, "Edg/"):
		b = "Edge"
	case strings.Contains(ua, "Firefox/") || strings.Contains(ua, "FxiOS/"):
		b = "Firefox"
	case strings.Contains(ua, "CriOS/") || strings.Contains(ua, "Chrome/"):
		b = "Chrome"
	case strings.Contains(ua, "Safari/"):
		b = "Safari"
	}
	switch {
	case strings.Contains(ua, "iPhone"):
		os = "iPhone"
	case strings.Contains(ua, "iPad"):
		os = "iPad"
	case strings.Contains(ua, "Android"):
		os = "Android"
	case strings.Contains(ua, "Windows"):
		os = "Windows"
	case strings.Contains(ua, "Mac OS X"):
		os = "Mac"
	case strings.Contains(ua, "CrOS"):
		os = "ChromeOS"
	case strings.Contains(ua, "Linux"):
		os = "Linux"
	}
	switch {
	case b != "" && os != "":
		return b + " on " + os
	case b != "":
		return b
	}
	return ua
}
