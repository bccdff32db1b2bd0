package web

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/internal/clientip"
)

// Cookie names. Over HTTPS the cookie takes the __Host- prefix, which
// browsers accept only with Secure, Path=/ and no Domain: a neighbour on a
// sibling subdomain cannot plant or overwrite it.
const (
	cookieSecure = "__Host-moonwake"
	cookiePlain  = "moonwake"
)

// csrfLabel is the message the CSRF token is an HMAC of, under the
// session's secret: the token is tied to the session and nothing extra is
// stored.
const csrfLabel = "moonwake csrf v1"

// session is the signed-in session of a request.
type session struct {
	*moonwake.Session
	csrf string // the CSRF token forms must send back
}

type sessionKey struct{}

// sessionFrom returns the request's session, or nil when signed out.
func sessionFrom(ctx context.Context) *session {
	s, _ := ctx.Value(sessionKey{}).(*session)
	return s
}

// csrfToken derives the CSRF token of a session from its secret.
func csrfToken(secret string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(csrfLabel))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// https reports whether the browser reaches the hub over HTTPS: the
// connection is TLS, or a trusted proxy says so, or the request is for the
// host of an https public URL (a proxy that terminates TLS). A browser
// that reaches the hub by its LAN address over plain HTTP gets a plain
// cookie: it would drop a Secure one.
func (s *Server) https(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	if (clientip.Resolver{Trusted: s.TrustedProxies}).FromTrustedProxy(r) && strings.EqualFold(strings.TrimSpace(r.Header.Get("X-Forwarded-Proto")), "https") {
		return true
	}
	if u, err := url.Parse(s.PublicURL); err == nil && u.Scheme == "https" && strings.EqualFold(u.Host, r.Host) {
		return true
	}
	return false
}

// cookieName is the name of the session cookie for this request.
func (s *Server) cookieName(r *http.Request) string {
	if s.https(r) {
		return cookieSecure
	}
	return cookiePlain
}

// setSessionCookie gives the browser its session secret.
//
// SameSite=Lax, not Strict: a PWA opened from the phone's home screen, or a
// link to the hub tapped in a chat, is a top-level navigation from outside
// the site, and Strict would send it without the cookie, so the person
// would find themselves signed out. Lax still withholds the cookie from
// cross-site POSTs, subrequests and frames; changes also need the CSRF
// token and pass Go's cross-origin protection.
func (s *Server) setSessionCookie(w http.ResponseWriter, r *http.Request, secret string) {
	http.SetCookie(w, &http.Cookie{
		Name:     s.cookieName(r),
		Value:    secret,
		Path:     "/",
		MaxAge:   int(s.ttl().Seconds()),
		HttpOnly: true,
		Secure:   s.https(r),
		SameSite: http.SameSiteLaxMode,
	})
}

// clearSessionCookie removes the session cookie.
func (s *Server) clearSessionCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{
		Name: s.cookieName(r), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.https(r), SameSite: http.SameSiteLaxMode,
	})
}

// sessionSecret returns the session secret the request carries, if any.
func (s *Server) sessionSecret(r *http.Request) string {
	if c, err := r.Cookie(s.cookieName(r)); err == nil && c.Value != "" {
		return c.Value
	}
	return ""
}

// authenticate returns the request's live session, or nil.
func (s *Server) authenticate(r *http.Request) *session {
	secret := s.sessionSecret(r)
	if secret == "" || s.Sessions == nil {
		return nil
	}
	sess, err := s.Sessions.AuthenticateSession(r.Context(), secret)
	if err != nil {
		return nil
	}
	return &session{Session: sess, csrf: csrfToken(secret)}
}

// unsafe reports whether the method may change something.
func unsafe(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return false
	}
	return true
}

// signedIn wraps a handler for signed-in people only: a GET without a
// session is sent to /login?next=…, anything else without one gets 401. A
// request that changes anything (any method but GET and HEAD) must also
// carry the session's CSRF token, as the form field "csrf" or the header
// X-CSRF-Token, and come from this origin; otherwise 403.
func (s *Server) signedIn(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess := s.authenticate(r)
		if sess == nil {
			if !unsafe(r.Method) {
				http.Redirect(w, r, "/login?next="+url.QueryEscape(localPath(r.URL.RequestURI())), http.StatusSeeOther)
				return
			}
			s.fail(w, r, moonwake.Errorf(moonwake.EUnauthorized, "You are signed out: sign in again."))
			return
		}
		if sess.LastSeenAt.After(sess.CreatedAt) && s.now().Sub(sess.LastSeenAt) < 2*time.Second {
			// The session's expiry just slid (at most once a minute):
			// slide the cookie's too, or it would end a TTL after sign-in.
			s.setSessionCookie(w, r, s.sessionSecret(r))
		}
		r = r.WithContext(context.WithValue(r.Context(), sessionKey{}, sess))
		if unsafe(r.Method) {
			if err := s.checkChange(r, sess.csrf); err != nil {
				s.fail(w, r, err)
				return
			}
		}
		h(w, r)
	})
}

// maxFormBody bounds the body of a form the signed-in pages read.
const maxFormBody = 64 << 10

// checkChange refuses a change that comes from another site, or that does
// not carry the token. The cross-origin check reads Sec-Fetch-Site and
// Origin; the token covers browsers that send neither.
func (s *Server) checkChange(r *http.Request, token string) error {
	if err := s.cop.Check(r); err != nil {
		return moonwake.Errorf(moonwake.EForbidden, "This request came from another site, so it was refused. Go back to the hub's page and try again.")
	}
	// Parse the body whichever way the token came, so a form sent with
	// the header is still read (handlers use r.PostForm). Bounded, as the
	// sign-in forms are.
	if r.PostForm == nil {
		r.Body = http.MaxBytesReader(nil, r.Body, maxFormBody)
		if err := r.ParseForm(); err != nil {
			return moonwake.Errorf(moonwake.EInvalid, "The form could not be read.")
		}
	}
	got := r.Header.Get("X-CSRF-Token")
	if got == "" {
		got = r.PostForm.Get("csrf")
	}
	if got == "" || !hmac.Equal([]byte(got), []byte(token)) {
		return moonwake.Errorf(moonwake.EForbidden, "The form had expired or did not come from this hub (missing or wrong CSRF token). Reload the page and try again.")
	}
	return nil
}

// localPath returns p when it is a path on this site, else "/". It keeps
// ?next= and Referer from sending anyone elsewhere: "//evil.example",
// "/\evil.example" and absolute URLs are refused.
func localPath(p string) string {
	if p == "" || p[0] != '/' || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\\r\n\t") {
		return "/"
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "/"
	}
	return p
}

// actor is who a signed-in request acts as, for the audit log.
func (s *Server) actor(r *http.Request) moonwake.Actor {
	return moonwake.Actor{Kind: "session", Name: "admin", Addr: s.clientAddr(r)}
}

// clientAddr returns the client's IP address, believing X-Forwarded-For
// only from a trusted proxy (see clientip).
func (s *Server) clientAddr(r *http.Request) string {
	return clientip.Resolver{Trusted: s.TrustedProxies}.Addr(r)
}

// wantsJSON reports whether the request is app.js asking for JSON.
func wantsJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json")
}

// writeJSON writes v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	buf, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"error":{"code":"internal","message":"internal error"}}`, http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(buf, '\n'))
}
