package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/moonwake/moonwake"
)

func TestSecurityHeaders(t *testing.T) {
	h := newHarness(t, "pc")
	h.signIn()
	for _, path := range []string{"/login", "/", "/sessions", "/nope", "/offline"} {
		res, _ := h.get(path)
		hd := res.Header
		if hd.Get("Content-Security-Policy") != contentSecurityPolicy {
			t.Errorf("%s: CSP %q", path, hd.Get("Content-Security-Policy"))
		}
		for k, v := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin", "Cache-Control": "no-store", "X-Frame-Options": "DENY"} {
			if hd.Get(k) != v {
				t.Errorf("%s: %s %q, want %q", path, k, hd.Get(k), v)
			}
		}
	}
	for _, want := range []string{"default-src 'self'", "script-src 'self';", "style-src 'self';", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'"} {
		if !strings.Contains(contentSecurityPolicy, want) {
			t.Errorf("CSP lacks %s", want)
		}
	}
	if strings.Contains(contentSecurityPolicy, "unsafe") {
		t.Error("CSP allows something unsafe")
	}
}

func TestStaticAssets(t *testing.T) {
	h := newHarness(t)
	_, body := h.get("/setup")
	css := regexp.MustCompile(`href="(/static/app\.[0-9a-f]{8}\.css)"`).FindStringSubmatch(body)
	js := regexp.MustCompile(`src="(/static/app\.[0-9a-f]{8}\.js)" defer`).FindStringSubmatch(body)
	if css == nil || js == nil {
		t.Fatalf("no hashed app.css or deferred app.js in the page:\n%s", body)
	}
	for path, ctype := range map[string]string{css[1]: "text/css; charset=utf-8", js[1]: "text/javascript; charset=utf-8"} {
		res, got := h.get(path)
		if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != ctype ||
			res.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" || len(got) == 0 {
			t.Errorf("%s: %s %q %q", path, res.Status, res.Header.Get("Content-Type"), res.Header.Get("Cache-Control"))
		}
		// Revalidation by ETag.
		res, _ = h.do(h.client, http.MethodGet, path, nil, map[string]string{"If-None-Match": res.Header.Get("ETag")})
		if res.StatusCode != http.StatusNotModified {
			t.Errorf("%s with its ETag: %s", path, res.Status)
		}
	}
	for _, path := range []string{"/static/app.css", "/static/app.00000000.css", "/static/", "/static/../web.go", "/static/icons/icon-192.png"} {
		if res, _ := h.get(path); res.StatusCode != http.StatusNotFound && (res.StatusCode < 300 || res.StatusCode > 399) {
			t.Errorf("%s: %s, want 404 (or the mux's redirect to the clean path)", path, res.Status)
		}
	}
	// Every file under static/ has a hashed URL that serves it.
	for name, a := range h.srv.assets.byName {
		if !strings.HasPrefix(a.url, "/static/") || !strings.Contains(a.url, "."+a.sha256[:8]+".") {
			t.Errorf("%s: url %s", name, a.url)
		}
		if res, _ := h.get(a.url); res.StatusCode != http.StatusOK {
			t.Errorf("%s: %s", a.url, res.Status)
		}
	}
}

func TestPWA(t *testing.T) {
	h := newHarness(t)
	res, body := h.get("/manifest.webmanifest")
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "application/manifest+json" {
		t.Fatalf("manifest: %s %s", res.Status, res.Header.Get("Content-Type"))
	}
	var m webManifest
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatal(err)
	}
	if m.StartURL != "/" || m.Display != "standalone" || m.Name == "" || m.ShortName == "" || m.ThemeColor == "" || m.BackgroundColor == "" {
		t.Errorf("manifest %+v", m)
	}
	have := map[string]bool{}
	for _, ic := range m.Icons {
		have[ic.Sizes+" "+ic.Purpose+" "+ic.Type] = true
		if res, _ := h.get(ic.Src); res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != ic.Type {
			t.Errorf("icon %s: %s %s", ic.Src, res.Status, res.Header.Get("Content-Type"))
		}
	}
	for _, want := range []string{"192x192 any image/png", "512x512 any image/png", "192x192 maskable image/png", "512x512 maskable image/png", "any any image/svg+xml"} {
		if !have[want] {
			t.Errorf("manifest lacks icon %s", want)
		}
	}

	res, sw := h.get("/sw.js")
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/javascript; charset=utf-8" ||
		res.Header.Get("Service-Worker-Allowed") != "/" || res.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("sw.js: %s %v", res.Status, res.Header)
	}
	if strings.Contains(sw, "__ASSETS__") || strings.Contains(sw, "__VERSION__") || !strings.Contains(sw, h.srv.assets.byName["app.css"].url) {
		t.Errorf("sw.js was not filled in:\n%s", sw)
	}
	for _, want := range []string{`p.startsWith("/api/")`, `p.startsWith("/l/")`, `p === "/events"`, `"/offline"`} {
		if !strings.Contains(sw, want) {
			t.Errorf("sw.js lacks %s", want)
		}
	}

	_, page := h.get("/setup")
	for _, want := range []string{`<link rel="manifest" href="/manifest.webmanifest">`, `rel="apple-touch-icon"`, `name="theme-color"`, `name="viewport"`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s", want)
		}
	}
}

func TestErrorPages(t *testing.T) {
	h := newHarness(t)
	h.signIn()
	for code, status := range map[string]int{
		moonwake.EInvalid: 400, moonwake.EUnauthorized: 401, moonwake.EForbidden: 403, moonwake.ENotFound: 404,
		moonwake.EConflict: 409, moonwake.ERateLimited: 429, moonwake.EUnavailable: 503, moonwake.EInternal: 500,
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/x", nil)
		h.srv.fail(rec, req, moonwake.Errorf(code, "the %s message", code))
		if rec.Code != status {
			t.Errorf("%s: %d, want %d", code, rec.Code, status)
		}
		shown := strings.Contains(rec.Body.String(), "the "+code+" message")
		if shown != (code != moonwake.EInternal) {
			t.Errorf("%s: message shown %v", code, shown)
		}
	}
	rec := httptest.NewRecorder()
	h.srv.fail(rec, httptest.NewRequest(http.MethodGet, "/x", nil), errors.New("disk on fire at /var/lib"))
	if rec.Code != 500 || strings.Contains(rec.Body.String(), "disk on fire") {
		t.Errorf("internal error: %d\n%s", rec.Code, rec.Body.String())
	}
	// JSON for fetch.
	rec = httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/x", nil)
	req.Header.Set("Accept", "application/json")
	h.srv.fail(rec, req, moonwake.Errorf(moonwake.EConflict, "busy"))
	if rec.Code != 409 || !strings.Contains(rec.Body.String(), `"message":"busy"`) {
		t.Errorf("JSON error: %d %s", rec.Code, rec.Body.String())
	}
	// A template that fails is a clean 500, not half a page.
	rec = httptest.NewRecorder()
	h.srv.render(rec, httptest.NewRequest(http.MethodGet, "/", nil), 200, "dashboard.html", "not the dashboard's data")
	if rec.Code != 500 || strings.Contains(rec.Body.String(), "Machines</h1>") {
		t.Errorf("broken render: %d\n%s", rec.Code, rec.Body.String())
	}
}

// TestPagesRender renders each of this file's pages with empty and full
// data, signed in and out.
func TestPagesRender(t *testing.T) {
	h := newHarness(t)
	now := time.Now()
	for _, tc := range []struct {
		page string
		data any
	}{
		{"login.html", loginData{}},
		{"login.html", loginData{Next: "/x", Error: "wrong password"}},
		{"setup.html", setupData{}},
		{"setup.html", setupData{Reset: true, Error: "The two passwords differ."}},
		{"sessions.html", sessionsData{}},
		{"sessions.html", sessionsData{Current: "ses_1", TTL: time.Hour, Sessions: []*moonwake.Session{
			{ID: "ses_1", CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour), UserAgent: "Firefox", Addr: "10.0.0.2"},
			{ID: "ses_2", CreatedAt: now.Add(-time.Hour)},
		}}},
		{"dashboard.html", dashboardData{}},
		{"dashboard.html", dashboardData{Seq: 42, Machines: []card{
			{Name: "pc", State: moonwake.StateShuttingDown, Since: now, Reason: "r", Evidence: []string{"a", "b"},
				Action: &moonwake.Action{ID: "act_1", Kind: "shutdown", Status: "failed", Detail: "d"}, Progress: "shutdown failed: d", Outcome: "failed",
				KeepAwake: now.Add(time.Hour), CanKeep: true},
			{Name: "nas", State: moonwake.StateUnknown},
		}}},
		{"relays.html", &relaysView{}},
		{"relays.html", &relaysView{Name: "office", Confirm: "office", Error: "e", Relays: []relayRow{
			{Relay: &moonwake.Relay{Name: "office", Networks: []string{"10.0.0.0/24", "192.168.1.0/24"}, Standby: []string{"192.168.1.0/24"},
				Software: "moonwake v1", Hostname: "pi", Connected: true, Since: now, LastSeen: &now}, Serves: []string{"10.0.0.0/24"}, Machines: []string{"nas", "pc"}},
			{Relay: &moonwake.Relay{Name: "attic"}},
		}, Pairing: &relayPairingShown{Relay: "office", Code: "C", ExpiresAt: now.Add(time.Minute), Fingerprint: "SHA256:x", Command: "moonwake relay pair"}}},
		{"error.html", errorPage{Status: 404, Message: "no"}},
		{"error.html", errorPage{}},
		{"offline.html", nil},
	} {
		for _, signedIn := range []bool{false, true} {
			v := &view{Path: "/", Data: tc.data, Now: now, Version: "test", SignedIn: signedIn}
			if signedIn {
				v.CSRF = "tok"
			}
			rec := httptest.NewRecorder()
			h.srv.renderView(rec, httptest.NewRequest(http.MethodGet, "/", nil), 200, tc.page, v)
			body := rec.Body.String()
			if rec.Code != 200 || !strings.Contains(body, "</html>") {
				t.Errorf("%s %+v: %d\n%s", tc.page, tc.data, rec.Code, body)
			}
			if strings.Contains(body, "style=") || strings.Contains(body, "<style") || strings.Contains(body, "<script>") || strings.Contains(body, "javascript:") {
				t.Errorf("%s: inline style or script", tc.page)
			}
			if nav := strings.Contains(body, `id="logout"`); nav != signedIn {
				t.Errorf("%s: navigation shown %v when signed in %v", tc.page, nav, signedIn)
			}
		}
	}
}

// TestTemplatesHaveNoInlineStyle reads every template file: the CSP would
// block inline styles and scripts, so none may be written.
func TestTemplatesHaveNoInlineStyle(t *testing.T) {
	for _, dir := range []string{"templates", "static"} {
		entries, err := files.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if !strings.HasSuffix(e.Name(), ".html") {
				continue
			}
			b, _ := files.ReadFile(dir + "/" + e.Name())
			s := string(b)
			if regexp.MustCompile(`\sstyle=|<style|\son[a-z]+=|<script>|javascript:`).MatchString(s) {
				t.Errorf("%s/%s has an inline style, script or handler", dir, e.Name())
			}
		}
	}
}

func TestShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		-time.Second: "0 s", 41 * time.Second: "41 s", 3*time.Minute + 59*time.Second: "3 min",
		2 * time.Hour: "2 h", 47 * time.Hour: "47 h", 72 * time.Hour: "3 d",
	} {
		if got := shortDuration(d); got != want {
			t.Errorf("%s: %q, want %q", d, got, want)
		}
	}
}

func TestLocalPath(t *testing.T) {
	for in, want := range map[string]string{
		"/": "/", "/machines/pc?x=1": "/machines/pc?x=1", "": "/", "//evil": "/", "/\\evil": "/",
		"http://evil/": "/", "evil": "/", "/a\nb": "/", "/%2F%2Fevil": "/%2F%2Fevil",
	} {
		if got := localPath(in); got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestBrowserName(t *testing.T) {
	for ua, want := range map[string]string{
		"": "Unknown browser",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1": "Safari on iPhone",
		"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Mobile Safari/537.36":                   "Chrome on Android",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0":                                                        "Firefox on Windows",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 Edg/130.0.0.0":           "Edge on Windows",
		"Go-http-client/1.1": "Go-http-client/1.1",
	} {
		if got := browserName(ua); got != want {
			t.Errorf("%q: %q, want %q", ua, got, want)
		}
	}
}

// TestOfflinePageHoldsNoSecret: the service worker caches /offline, so it
// must be the same for everyone: no CSRF token, no navigation.
func TestOfflinePageHoldsNoSecret(t *testing.T) {
	h := newHarness(t)
	h.signIn()
	token := h.csrf()
	res, body := h.get("/offline")
	if res.StatusCode != http.StatusOK || strings.Contains(body, token) || strings.Contains(body, `id="logout"`) {
		t.Errorf("offline page for a signed-in browser: %s\n%s", res.Status, body)
	}
}

// BenchmarkParsePages measures parsing every page at start-up, which the
// hub does before it serves anything:
//
//	go test -run '^$' -bench ParsePages -benchmem ./hub/web/
func BenchmarkParsePages(b *testing.B) {
	s := &Server{}
	var err error
	if s.assets, err = loadAssets(files); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := parsePages(files, s.funcs()); err != nil {
			b.Fatal(err)
		}
	}
}
