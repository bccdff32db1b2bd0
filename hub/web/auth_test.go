package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/moonwake/moonwake"
)

func TestSetupThenSignInAndOut(t *testing.T) {
	h := newHarness(t, "pc")

	// Signed out, with no password yet: / → /login → /setup.
	res, _ := h.get("/")
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login?next=%2F" {
		t.Fatalf("GET / signed out: %s to %q", res.Status, res.Header.Get("Location"))
	}
	res, _ = h.get("/login")
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/setup" {
		t.Fatalf("GET /login without a password: %s to %q", res.Status, res.Header.Get("Location"))
	}
	res, body := h.get("/setup")
	if res.StatusCode != http.StatusOK || !strings.Contains(body, `<form id="setup" method="post" action="/setup"`) ||
		!strings.Contains(body, `name="token"`) || !strings.Contains(body, `name="confirm"`) {
		t.Fatalf("GET /setup: %s\n%s", res.Status, body)
	}

	// Refused: no token, a wrong one, a token that is not admin, two
	// different passwords, a short one.
	user, err := h.tokens.CreateToken(context.Background(), &moonwake.Token{Name: "phone", Actions: []string{"wake"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		token, pw, confirm string
		status             int
		want               string
	}{
		{"", "long enough password", "long enough password", 403, "not a valid admin token"},
		{"mw_" + strings.Repeat("A", 43), "long enough password", "long enough password", 403, "not a valid admin token"},
		{user, "long enough password", "long enough password", 403, "not a valid admin token"},
		{h.admin, "long enough password", "long enough passwort", 400, "differ"},
		{h.admin, "short", "short", 400, "at least 10"},
		{h.admin, strings.Repeat("x", 257), strings.Repeat("x", 257), 400, "at most 256"},
	} {
		res, body := h.do(h.client, http.MethodPost, "/setup", url.Values{"token": {tc.token}, "password": {tc.pw}, "confirm": {tc.confirm}}, nil)
		if res.StatusCode != tc.status || !strings.Contains(body, tc.want) {
			t.Errorf("setup with %q/%q: %s, want %d with %q", tc.token, tc.pw, res.Status, tc.status, tc.want)
		}
		if _, err := h.sessions.PasswordHash(context.Background()); moonwake.ErrorCode(err) != moonwake.ENotFound {
			t.Fatalf("a refused setup set the password (%v)", err)
		}
	}

	// Set: this browser is signed in.
	h.setPassword(h.client, harnessPassword)
	res, body = h.get("/")
	if res.StatusCode != http.StatusOK || !strings.Contains(body, `data-machine="pc"`) ||
		!strings.Contains(body, `<a href="/tokens"`) || !strings.Contains(body, `<form id="logout"`) {
		t.Fatalf("dashboard after setup: %s\n%s", res.Status, body)
	}
	stored, _ := h.sessions.PasswordHash(context.Background())
	if !strings.HasPrefix(stored, "$argon2id$v=19$") || strings.Contains(stored, harnessPassword) {
		t.Fatalf("stored hash %q", stored)
	}

	// Sign out: the session is revoked, the cookie cleared.
	res, _ = h.post("/logout", nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login" {
		t.Fatalf("logout: %s to %q", res.Status, res.Header.Get("Location"))
	}
	if list, _ := h.sessions.ListSessions(context.Background()); len(list) != 0 {
		t.Fatalf("%d sessions after logout", len(list))
	}
	if res, _ = h.get("/"); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("GET / after logout: %s", res.Status)
	}

	// Sign in again, landing on next.
	res, body = h.get("/login?next=%2Fsessions")
	if res.StatusCode != http.StatusOK || !strings.Contains(body, `<form id="login" method="post" action="/login"`) ||
		!strings.Contains(body, `name="password"`) || !strings.Contains(body, `value="/sessions"`) {
		t.Fatalf("login page: %s\n%s", res.Status, body)
	}
	if to := h.login(h.client, harnessPassword, "/sessions"); to != "/sessions" {
		t.Fatalf("signed in to %q", to)
	}
	// Signed in, /login goes straight on.
	if res, _ = h.get("/login?next=/sessions"); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/sessions" {
		t.Fatalf("GET /login signed in: %s to %q", res.Status, res.Header.Get("Location"))
	}
}

func TestSessionCookie(t *testing.T) {
	h := newHarness(t)
	res, _ := h.do(h.client, http.MethodPost, "/setup", url.Values{"token": {h.admin}, "password": {harnessPassword}, "confirm": {harnessPassword}}, nil)
	var c *http.Cookie
	for _, x := range res.Cookies() {
		if x.Name == "moonwake" {
			c = x
		}
	}
	if c == nil {
		t.Fatalf("no moonwake cookie: %v", res.Header.Values("Set-Cookie"))
	}
	if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.MaxAge != 3600 || c.Secure {
		t.Errorf("cookie %+v", c)
	}
	if !strings.HasPrefix(c.Value, "ms_") {
		t.Errorf("secret %q", c.Value)
	}

	// Behind a trusted proxy that says HTTPS: the __Host- cookie, Secure.
	h.srv.TrustedProxies = mustPrefixes(t, "127.0.0.0/8")
	res, _ = h.do(h.newClient(), http.MethodPost, "/login", url.Values{"password": {harnessPassword}}, map[string]string{"X-Forwarded-Proto": "https"})
	c = nil
	for _, x := range res.Cookies() {
		if x.Name == "__Host-moonwake" {
			c = x
		}
	}
	if c == nil || !c.Secure || !c.HttpOnly || c.Path != "/" || c.Domain != "" {
		t.Fatalf("over HTTPS: %v", res.Header.Values("Set-Cookie"))
	}
	if res.Header.Get("Strict-Transport-Security") == "" {
		t.Error("no HSTS over HTTPS")
	}
}

func TestWrongPasswordIsRateLimited(t *testing.T) {
	h := newHarness(t)
	h.signIn()
	c := h.newClient()
	for i := range loginBurst {
		res, body := h.do(c, http.MethodPost, "/login", url.Values{"password": {"not the password"}}, nil)
		if res.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "wrong password") {
			t.Fatalf("try %d: %s", i, res.Status)
		}
	}
	// Out of tries: even the right password waits.
	res, body := h.do(c, http.MethodPost, "/login", url.Values{"password": {harnessPassword}}, nil)
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" || !strings.Contains(body, "Too many tries") {
		t.Fatalf("after %d failures: %s %q", loginBurst, res.Status, res.Header.Get("Retry-After"))
	}
	// Setup is counted the same way.
	res, _ = h.do(c, http.MethodPost, "/setup", url.Values{"token": {h.admin}, "password": {harnessPassword}, "confirm": {harnessPassword}}, nil)
	if res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("setup after the failures: %s", res.Status)
	}
}

func TestNextStaysLocal(t *testing.T) {
	h := newHarness(t)
	h.signIn()
	for next, want := range map[string]string{
		"/machines/pc":          "/machines/pc",
		"/tokens?x=1":           "/tokens?x=1",
		"//evil.example/":       "/",
		"https://evil.example/": "/",
		"/\\evil.example":       "/",
		"javascript:alert(1)":   "/",
		"":                      "/",
	} {
		if got := h.login(h.newClient(), harnessPassword, next); got != want {
			t.Errorf("next %q: sent to %q, want %q", next, got, want)
		}
	}
}

func TestSessionsRevoke(t *testing.T) {
	h := newHarness(t)
	h.signIn()
	other := h.newClient()
	h.login(other, harnessPassword, "")

	res, body := h.get("/sessions")
	if res.StatusCode != http.StatusOK || strings.Count(body, `data-session=`) != 2 || strings.Count(body, "this browser") != 1 {
		t.Fatalf("sessions page: %s\n%s", res.Status, body)
	}
	list, _ := h.sessions.ListSessions(context.Background())
	mine := sessionIDOf(t, h, h.client)
	var theirs string
	for _, s := range list {
		if s.ID != mine {
			theirs = s.ID
		}
	}
	if res, _ := h.post("/sessions/"+theirs+"/revoke", nil); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/sessions" {
		t.Fatalf("revoke: %s", res.Status)
	}
	if res, _ := h.do(other, http.MethodGet, "/", nil, nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoked browser: %s", res.Status)
	}
	if res, _ := h.get("/"); res.StatusCode != http.StatusOK {
		t.Fatalf("this browser after revoking the other: %s", res.Status)
	}
	if res, _ := h.post("/sessions/ses_nope/revoke", nil); res.StatusCode != http.StatusNotFound {
		t.Fatalf("revoke unknown: %s", res.Status)
	}

	// A new password signs everyone out, and the browser that set it in.
	h.login(other, harnessPassword, "")
	third := h.newClient()
	h.setPassword(third, "another long password")
	for i, c := range []*http.Client{h.client, other} {
		if res, _ := h.do(c, http.MethodGet, "/", nil, nil); res.StatusCode != http.StatusSeeOther {
			t.Errorf("client %d after a new password: %s", i, res.Status)
		}
	}
	if res, _ := h.do(third, http.MethodGet, "/", nil, nil); res.StatusCode != http.StatusOK {
		t.Errorf("the browser that set it: %s", res.Status)
	}
	if to := h.login(h.client, "another long password", ""); to != "/" {
		t.Errorf("sign in with the new password: sent to %q", to)
	}
}

// sessionIDOf finds the ID of c's session on the sessions page.
func sessionIDOf(t *testing.T, h *harness, c *http.Client) string {
	t.Helper()
	_, body := h.do(c, http.MethodGet, "/sessions", nil, nil)
	i := strings.Index(body, `session current" data-session="`)
	if i < 0 {
		t.Fatalf("no current session on the page:\n%s", body)
	}
	rest := body[i+len(`session current" data-session="`):]
	return rest[:strings.IndexByte(rest, '"')]
}

func TestEveryRouteNeedsASession(t *testing.T) {
	h := newHarness(t, "pc")
	h.signIn()
	c := h.newClient() // signed out
	for _, path := range []string{"/", "/sessions", "/events", "/machines/new", "/machines/pc", "/tokens", "/relays", "/nope"} {
		res, _ := h.do(c, http.MethodGet, path, nil, nil)
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login?next="+url.QueryEscape(path) {
			t.Errorf("GET %s signed out: %s to %q", path, res.Status, res.Header.Get("Location"))
		}
	}
	for _, path := range []string{"/logout", "/machines/pc/wake", "/machines/pc/shutdown", "/machines/pc/keep-awake",
		"/sessions/x/revoke", "/machines/new", "/machines/pc", "/tokens", "/relays/pair", "/relays/office/forget", "/nope"} {
		res, _ := h.do(c, http.MethodPost, path, url.Values{"csrf": {"x"}}, nil)
		if res.StatusCode != http.StatusUnauthorized && res.StatusCode != http.StatusForbidden && res.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("POST %s signed out: %s", path, res.Status)
		}
	}
	if calls := h.power.Calls(); len(calls) != 0 {
		t.Fatalf("signed-out requests did %v", calls)
	}
	if paired, deleted := h.relays.calls(); len(paired)+len(deleted) != 0 {
		t.Fatalf("signed-out requests paired %v and forgot %v", paired, deleted)
	}
	// Open to everyone: the sign-in pages, static files, the PWA files.
	for _, path := range []string{"/login", "/setup", "/offline", "/manifest.webmanifest", "/sw.js", "/favicon.ico", "/robots.txt"} {
		if res, _ := h.do(c, http.MethodGet, path, nil, nil); res.StatusCode != http.StatusOK {
			t.Errorf("GET %s signed out: %s", path, res.Status)
		}
	}
}

func TestCSRF(t *testing.T) {
	h := newHarness(t, "pc")
	h.signIn()
	token := h.csrf()
	for _, tc := range []struct {
		name   string
		form   url.Values
		header map[string]string
		status int
	}{
		{"no token", url.Values{}, nil, 403},
		{"wrong token", url.Values{"csrf": {"x" + token}}, nil, 403},
		{"another session's token", url.Values{"csrf": {csrfToken("ms_" + strings.Repeat("a", 43))}}, nil, 403},
		{"cross-site fetch", url.Values{"csrf": {token}}, map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"foreign origin", url.Values{"csrf": {token}}, map[string]string{"Origin": "http://evil.example"}, 403},
		{"form token", url.Values{"csrf": {token}}, map[string]string{"Sec-Fetch-Site": "same-origin"}, 303},
		{"header token", url.Values{}, map[string]string{"X-CSRF-Token": token, "Accept": "application/json"}, 202},
	} {
		before := len(h.power.Calls())
		res, body := h.do(h.client, http.MethodPost, "/machines/pc/wake", tc.form, tc.header)
		if res.StatusCode != tc.status {
			t.Errorf("%s: %s, want %d\n%s", tc.name, res.Status, tc.status, body)
		}
		did := len(h.power.Calls()) > before
		if did != (tc.status < 400) {
			t.Errorf("%s: woke %v", tc.name, did)
		}
		if tc.status == 403 && !strings.Contains(body, "refused") && !strings.Contains(body, "CSRF") {
			t.Errorf("%s: the page does not say why:\n%s", tc.name, body)
		}
	}
	// Cross-site sign-ins are refused too (login CSRF).
	res, _ := h.do(h.newClient(), http.MethodPost, "/login", url.Values{"password": {harnessPassword}}, map[string]string{"Sec-Fetch-Site": "cross-site"})
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site login: %s", res.Status)
	}
}

func TestCookieSlides(t *testing.T) {
	h := newHarness(t)
	h.signIn()
	// Within the minute: no new cookie.
	res, _ := h.get("/sessions")
	if len(res.Cookies()) != 0 {
		t.Fatalf("cookie re-set at once: %v", res.Header.Values("Set-Cookie"))
	}
	// A minute later the session slides, and the cookie with it.
	h.skew.Store(int64(90 * time.Second))
	res, _ = h.get("/sessions")
	if len(res.Cookies()) != 1 || res.Cookies()[0].MaxAge != 3600 {
		t.Fatalf("cookie after a minute: %v", res.Header.Values("Set-Cookie"))
	}
}

func TestHTTPSByPublicURL(t *testing.T) {
	s := &Server{PublicURL: "https://wake.example.net"}
	for host, want := range map[string]bool{"wake.example.net": true, "WAKE.example.net": true, "192.168.1.5:8080": false} {
		r := httptest.NewRequest(http.MethodGet, "http://"+host+"/", nil)
		if got := s.https(r); got != want {
			t.Errorf("%s: https %v", host, got)
		}
	}
	// X-Forwarded-Proto from anyone but a trusted proxy is ignored.
	r := httptest.NewRequest(http.MethodGet, "http://192.168.1.5/", nil)
	r.Header.Set("X-Forwarded-Proto", "https")
	if (&Server{}).https(r) {
		t.Error("an untrusted X-Forwarded-Proto was believed")
	}
}

// FuzzLocalPath: whatever ?next= or Referer says, the redirect stays on
// this site.
func FuzzLocalPath(f *testing.F) {
	for _, s := range []string{"/", "/machines/pc?x=1", "//evil.example", "/\\evil", "https://evil/", "/%2f%2fevil", "/a\tb", " /x", "/\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := localPath(in)
		if out != "/" && out != in {
			t.Fatalf("%q became %q", in, out)
		}
		if !strings.HasPrefix(out, "/") || strings.HasPrefix(out, "//") || strings.HasPrefix(out, "/\\") {
			t.Fatalf("%q: %q is not a local path", in, out)
		}
		// As a browser would resolve the Location header against the hub.
		base, _ := url.Parse("https://hub.example/")
		u, err := base.Parse(out)
		if err != nil || u.Host != "hub.example" || u.Scheme != "https" {
			t.Fatalf("%q: %q resolves to %v (%v)", in, out, u, err)
		}
	})
}
