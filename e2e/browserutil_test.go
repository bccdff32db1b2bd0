//go:build linux

package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/moonwake/moonwake/internal/testlan"
)

// The browser tests drive the web app in Debian's chromium, headless, from
// the host's namespace. The browser never joins a test LAN and never
// leaves the machine: it browses http://127.0.0.1:PORT only, where a
// forwarder written here carries each connection into the hub's namespace
// (as nsClient's dialer does), and its host resolver answers no name at
// all, so not even a DNS lookup leaves it.

// chromiumPath is Debian's chromium.
const chromiumPath = "/usr/bin/chromium"

// browserTimeout bounds one browser step (a navigation, a click, a read);
// the waits for a machine's state have their own, longer bounds.
const browserTimeout = 30 * time.Second

// webPassword is the admin password the tests choose at /setup.
const webPassword = "correct horse battery staple 42"

// needChromium skips t without chromium, or fails it when
// MOONWAKE_TEST_REQUIRE names "chromium" (as CI does, which installs it).
func needChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if strings.Contains(os.Getenv("MOONWAKE_TEST_REQUIRE"), "chromium") {
			t.Fatalf("MOONWAKE_TEST_REQUIRE asks for chromium: %v", err)
		}
		t.Skipf("chromium is not installed (%v)", err)
	}
}

// forwarder listens on a loopback port of the host's namespace and carries
// each connection to target, dialled inside host's namespace.
type forwarder struct {
	ln     net.Listener
	host   *testlan.Host
	target string

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// forward starts a forwarder to target (an address in h's namespace) and
// returns its URL, http://127.0.0.1:PORT. It is closed, with every
// connection it carries, when the test ends.
func forward(t *testing.T, h *testlan.Host, target string) string {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &forwarder{ln: ln, host: h, target: target, conns: map[net.Conn]struct{}{}}
	f.wg.Add(1)
	go f.serve()
	t.Cleanup(f.close)
	return "http://" + ln.Addr().String()
}

// hubURL returns the hub's web app as the browser sees it: through a
// forwarder on a loopback port.
func hubURL(t *testing.T, hp *hub) string {
	t.Helper()
	return forward(t, hp.host, netip.AddrPortFrom(hp.host.Addr(), hubPort).String())
}

func (f *forwarder) serve() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		if !f.track(c) {
			c.Close()
			return
		}
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			f.pipe(c)
		}()
	}
}

// track remembers an open connection; false once the forwarder is closed.
func (f *forwarder) track(c net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	f.conns[c] = struct{}{}
	return true
}

func (f *forwarder) untrack(c net.Conn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.conns, c)
}

// pipe carries one connection both ways until either side closes.
func (f *forwarder) pipe(c net.Conn) {
	defer c.Close()
	defer f.untrack(c)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	var up net.Conn
	err := f.host.Do(func() error {
		var err error
		up, err = (&net.Dialer{}).DialContext(ctx, "tcp", f.target)
		return err
	})
	cancel()
	if err != nil {
		return
	}
	defer up.Close()
	if !f.track(up) {
		return
	}
	defer f.untrack(up)
	done := make(chan struct{}, 2)
	go func() {
		_, _ = io.Copy(up, c)
		done <- struct{}{}
	}()
	go func() {
		_, _ = io.Copy(c, up)
		done <- struct{}{}
	}()
	<-done
	c.Close()
	up.Close()
	<-done
}

// close stops accepting, closes every connection and waits for the
// goroutines.
func (f *forwarder) close() {
	f.mu.Lock()
	f.closed = true
	for c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	f.ln.Close()
	f.wg.Wait()
}

// browserFlags are chromium's flags beyond chromedp's defaults (which are
// headless, no first run, no background networking, sync, default apps,
// extensions, breakpad or phishing detection): nothing that phones home,
// no proxy (and so no proxy auto-detection), and a host resolver that
// resolves no name, so a stray lookup fails inside the browser instead of
// reaching a DNS server. The tests browse IP addresses only.
var browserFlags = []chromedp.ExecAllocatorOption{
	chromedp.ExecPath(chromiumPath),
	chromedp.NoSandbox, // as root, in a container
	chromedp.DisableGPU,
	chromedp.Flag("disable-quic", true),
	chromedp.Flag("no-first-run", true),
	chromedp.Flag("disable-background-networking", true),
	chromedp.Flag("disable-component-update", true),
	chromedp.Flag("disable-sync", true),
	chromedp.Flag("disable-default-apps", true),
	chromedp.Flag("disable-extensions", true),
	chromedp.Flag("disable-domain-reliability", true),
	chromedp.Flag("no-pings", true),
	chromedp.Flag("no-proxy-server", true),
	chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
	chromedp.Flag("disable-features", strings.Join([]string{
		"Translate", "BlinkGenPropertyTrees", // chromedp's defaults, kept
		"OptimizationHints", "MediaRouter", "DialMediaRouteProvider",
		"AutofillServerCommunication", "CertificateTransparencyComponentUpdater",
		"InterestFeedContentSuggestions", "HttpsUpgrades", "PrivacySandboxSettings4",
	}, ",")),
	chromedp.Flag("lang", "en-US"),
	chromedp.Env("TZ=UTC", "LANG=en_US.UTF-8"),
}

// browser is a tab of a headless chromium, with the hub's web app at base.
type browser struct {
	t    *testing.T
	ctx  context.Context // the tab's
	base string          // http://127.0.0.1:PORT: the hub, through a forwarder

	mu       sync.Mutex
	problems []string // uncaught exceptions and CSP violations in the page
	console  []string // everything the page logged
	dialogs  []string // confirm() and alert() messages, all accepted
}

// newBrowser starts chromium with a fresh profile, and opens a tab on the
// hub at base. The browser is closed (chromedp kills what it started and
// removes the profile) when the test ends; the test fails if a page threw
// an exception or broke the content security policy.
func newBrowser(t *testing.T, base string) *browser {
	t.Helper()
	needChromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], browserFlags...)
	// The profile is chromedp's own temporary directory (not t.TempDir):
	// when chromedp made the directory, it also ends any chromium helper
	// process still using it, and only those, before it removes it.
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	start, cancelStart := context.WithTimeout(context.Background(), browserTimeout)
	defer cancelStart()
	// The first Do binds the browser's life to its context: ctx, not a
	// context with a timeout.
	errc := make(chan error, 1)
	go func() { errc <- chromedp.Do(ctx) }()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("start chromium: %v", err)
		}
	case <-start.Done():
		t.Fatalf("chromium did not start in %s", browserTimeout)
	}
	return watchTab(t, ctx, base)
}

// watchTab wraps a tab's context: it accepts the page's dialogs and
// collects its console, and checks, when the test ends, that the page
// threw nothing.
func watchTab(t *testing.T, ctx context.Context, base string) *browser {
	t.Helper()
	b := &browser{t: t, ctx: ctx, base: base}
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.dialogs = append(b.dialogs, fmt.Sprintf("%s: %s", ev.Type, ev.Message))
			b.mu.Unlock()
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	console := chromedp.Console(ctx)
	go func() {
		for m, err := range console {
			if err != nil {
				return
			}
			line := fmt.Sprintf("%s:%d %s %s", m.URL, m.Line+1, m.Type, m)
			b.mu.Lock()
			b.console = append(b.console, line)
			if m.IsException() || strings.Contains(m.Text, "Content Security Policy") {
				b.problems = append(b.problems, line)
			}
			b.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, p := range b.problems {
			t.Errorf("the page: %s", p)
		}
		if t.Failed() && len(b.console) > 0 {
			t.Logf("the browser's console:\n%s", strings.Join(b.console, "\n"))
		}
	})
	return b
}

// fresh opens a tab in a new browser context of the same browser: no
// cookie, no cache, as another person's browser.
func (b *browser) fresh() *browser {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	b.t.Cleanup(cancel)
	nb := watchTab(b.t, ctx, b.base)
	nb.do() // opens the tab
	return nb
}

// dialogsSeen returns the dialogs the page opened.
func (b *browser) dialogsSeen() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.dialogs...)
}

// do runs actions in the tab, failing the test on an error.
func (b *browser) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("browser at %s: %v", b.location(), err)
	}
}

// runIn runs one action in the tab and returns its value.
func runIn[T any](b *browser, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("browser at %s: %v", b.location(), err)
	}
	return v
}

// eval evaluates a JavaScript expression in the page (awaiting a promise)
// and returns its value.
// An evaluation that fails for another reason than an exception (the page
// is navigating: its execution context went away) is tried again.
func eval[T any](b *browser, js string) T {
	b.t.Helper()
	deadline := time.Now().Add(browserTimeout)
	for {
		ctx, cancel := context.WithTimeout(b.ctx, browserTimeout)
		v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
		cancel()
		var exc *chromedp.ExceptionError
		if err == nil {
			return v
		}
		if errors.As(err, &exc) || b.ctx.Err() != nil || time.Now().After(deadline) {
			b.t.Fatalf("browser at %s: evaluate %s: %v", b.location(), firstLines(js, 2), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// location is the page's URL, for messages ("" if it cannot be read).
func (b *browser) location() string {
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	u, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return "?"
	}
	return u
}

// path is the page's path.
func (b *browser) path() string {
	b.t.Helper()
	return eval[string](b, `location.pathname`)
}

// open navigates to a path of the hub and waits for the page to load.
func (b *browser) open(path string) {
	b.t.Helper()
	b.do(chromedp.Navigate(b.base + path))
}

// waitJS polls a JavaScript expression until it is true, across
// navigations (an evaluation that fails while a page loads is retried).
// It returns how long that took.
func (b *browser) waitJS(what, js string, timeout time.Duration) time.Duration {
	b.t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	var lastErr error
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!!(`+js+`)`))
		cancel()
		if err == nil && ok {
			return time.Since(start)
		}
		lastErr = err
		if time.Now().After(deadline) {
			b.t.Fatalf("%s: not within %s (last error: %v); the page at %s:\n%s", what, timeout, lastErr, b.location(), b.bodyText())
		}
		select {
		case <-b.ctx.Done():
			b.t.Fatalf("%s: %v", what, b.ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitFor waits until an element matching a CSS selector is in the page.
func (b *browser) waitFor(sel string, timeout time.Duration) time.Duration {
	b.t.Helper()
	return b.waitJS("an element "+sel, `document.querySelector(`+jsString(sel)+`)`, timeout)
}

// has reports whether an element matching a CSS selector is in the page.
func (b *browser) has(sel string) bool {
	b.t.Helper()
	return eval[bool](b, `!!document.querySelector(`+jsString(sel)+`)`)
}

// text returns the trimmed text of the first element matching sel, or ""
// when there is none.
func (b *browser) text(sel string) string {
	b.t.Helper()
	return eval[string](b, `(e => e ? e.textContent.replace(/\s+/g, " ").trim() : "")(document.querySelector(`+jsString(sel)+`))`)
}

// attr returns an attribute of the first element matching sel ("" when
// the element or the attribute is missing).
func (b *browser) attr(sel, name string) string {
	b.t.Helper()
	return eval[string](b, `(e => e ? (e.getAttribute(`+jsString(name)+`) || "") : "")(document.querySelector(`+jsString(sel)+`))`)
}

// bodyText is the page's text, for failure messages.
func (b *browser) bodyText() string {
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : document.documentElement.outerHTML`))
	if err != nil {
		return "(" + err.Error() + ")"
	}
	if len(s) > 2000 {
		s = s[:2000] + "…"
	}
	return s
}

// jsString quotes s for JavaScript.
func jsString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x2028 || r == 0x2029:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// submitOf selects a form's submit button.
func submitOf(form string) string {
	return form + ` button:not([type=button]):not([type=reset]), ` + form + ` input[type=submit]`
}

// fill types values into a form's inputs (by name) and clicks its submit
// button.
func (b *browser) fill(form string, values ...string) {
	b.t.Helper()
	b.waitFor(form, browserTimeout)
	var acts []chromedp.Action[chromedp.Void]
	for i := 0; i+1 < len(values); i += 2 {
		sel := chromedp.CSS(form + ` [name="` + values[i] + `"]`)
		acts = append(acts, chromedp.Clear(sel), chromedp.SendKeys(sel, values[i+1]))
	}
	b.do(acts...)
	b.click(submitOf(form))
}

// click scrolls the first element matching sel to the middle of the
// viewport (away from a sticky header), checks that nothing covers it, and
// clicks it as a person would, with the mouse.
func (b *browser) click(sel string) {
	b.t.Helper()
	b.waitFor(sel, browserTimeout)
	covered := eval[string](b, `(e => {
		e.scrollIntoView({block: "center", inline: "center"});
		const r = e.getBoundingClientRect();
		const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
		if (!hit || e === hit || e.contains(hit)) return "";
		return hit.outerHTML.slice(0, 200);
	})(document.querySelector(`+jsString(sel)+`))`)
	if covered != "" {
		b.t.Fatalf("%s cannot be clicked: its middle is covered by %s", sel, covered)
	}
	b.do(chromedp.Click(chromedp.CSS(sel)))
}

// setup signs in the first time: /setup with the admin token, and a
// password; it waits for the dashboard.
func (b *browser) setup(admin string) {
	b.t.Helper()
	b.open("/setup")
	b.fill("form#setup", "token", admin, "password", webPassword, "confirm", webPassword)
	b.waitDashboard()
}

// login signs in at /login and waits for the dashboard.
func (b *browser) login() {
	b.t.Helper()
	b.open("/login")
	b.fill("form#login", "password", webPassword)
	b.waitDashboard()
}

// waitDashboard waits until the page is the dashboard, and live.
func (b *browser) waitDashboard() {
	b.t.Helper()
	b.waitJS("the dashboard", `location.pathname === "/" && document.querySelector('form#logout') && document.querySelector('a[href="/tokens"]')`, browserTimeout)
	b.waitLive()
}

// waitLive waits until the page's script runs and its event stream is
// open, when it has machines to stream (app.js opens none for an empty
// list). The parsed page is there before its deferred app.js runs: a click
// in between submits a card's form without the script (no dialog, a page
// of the hub's own), and the card hears of nothing.
func (b *browser) waitLive() {
	b.t.Helper()
	b.waitJS("the live event stream", `!(document.querySelector("article.machine[data-machine]") || document.getElementById("machines")) ||
		(e => e && e.dataset.live === "on")(document.getElementById("live"))`, browserTimeout)
}

// card selects a machine's article, with extra attribute selectors.
func card(machine string, extra ...string) string {
	return `article.machine[data-machine="` + machine + `"]` + strings.Join(extra, "")
}

// recordStates starts recording, in the page, every data-state and
// data-outcome a machine's card takes (whether the card is changed or
// replaced), with the time since recording began; and marks the document,
// so a reload can be detected.
func (b *browser) recordStates(machine string) {
	b.t.Helper()
	eval[chromedp.Void](b, `(() => {
		window.__mwMark = "no reload";
		const rec = window.__mwStates = [];
		const t0 = performance.now();
		let last = "";
		const look = () => {
			const e = document.querySelector(`+jsString(card(machine))+`);
			const s = e ? (e.dataset.state || "") + "/" + (e.dataset.outcome || "") : "(no card)";
			if (s !== last) {
				last = s;
				rec.push({state: s, ms: Math.round(performance.now() - t0), progress: e && e.querySelector(".progress") ? e.querySelector(".progress").textContent.trim() : ""});
			}
		};
		look();
		new MutationObserver(look).observe(document.documentElement, {subtree: true, childList: true, attributes: true, characterData: true});
	})()`)
}

// stateRecord is one entry of recordStates.
type stateRecord struct {
	State    string `json:"state"`
	MS       int    `json:"ms"`
	Progress string `json:"progress"`
}

// recordedStates returns what recordStates saw, failing the test if the
// page was reloaded since.
func (b *browser) recordedStates() []stateRecord {
	b.t.Helper()
	if mark := eval[string](b, `window.__mwMark || "reloaded"`); mark != "no reload" {
		b.t.Fatalf("the page was reloaded (or navigated) while the states were recorded")
	}
	return eval[[]stateRecord](b, `window.__mwStates`)
}

// setMedia sets the emulated prefers-color-scheme ("light" or "dark").
func (b *browser) setMedia(scheme string) {
	b.t.Helper()
	b.do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
		})
		return err
	}))
}

// phoneUA is a phone's user agent.
const phoneUA = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36"

// phone emulates a 390×844 phone with touch, at a device scale.
func (b *browser) phone(scale float64) {
	b.t.Helper()
	b.do(
		chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(scale), chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait),
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := cdp.Call(ctx, t, emulation.SetUserAgentOverride, emulation.SetUserAgentOverrideParams{UserAgent: phoneUA})
			return err
		}),
	)
}

// desktop emulates a 1280×800 window.
func (b *browser) desktop() {
	b.t.Helper()
	b.do(chromedp.EmulateViewport(1280, 800))
}

// screenshot saves the viewport as dir/name.png: scrolled to the top, or
// with the element focus selects in the middle; no hover, no focus ring
// left from a click.
func (b *browser) screenshot(dir, name string, focus ...string) {
	b.t.Helper()
	scroll := `window.scrollTo(0, 0)`
	if len(focus) > 0 {
		scroll = `document.querySelector(` + jsString(focus[0]) + `).scrollIntoView({block: "center"})`
	}
	eval[chromedp.Void](b, `(() => {
		if (document.activeElement && document.activeElement.matches("button, a")) document.activeElement.blur();
		`+scroll+`;
	})()`)
	b.do(chromedp.MouseEvent(chromedp.MouseMoved, 1, 1))
	// Let transitions and the event stream's first update settle.
	b.do(chromedp.Sleep(400 * time.Millisecond))
	png := runIn(b, chromedp.Action[[]byte](func(ctx context.Context, t *chromedp.Target) ([]byte, error) {
		r, err := cdp.Call(ctx, t, page.CaptureScreenshot, page.CaptureScreenshotParams{Format: page.CaptureScreenshotFormatPng})
		return r.Data, err
	}))
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot %s (%d KiB)", path, len(png)>>10)
}

// actions lists the hub's actions through the API.
func (hp *hub) actions(t *testing.T) []wireAction {
	t.Helper()
	var list struct{ Actions []wireAction }
	hp.must(t, http.StatusOK, "GET", "/api/v1/actions", hp.admin, nil).decode(t, &list)
	return list.Actions
}

// actionsOf lists the actions of a kind on a machine.
func (hp *hub) actionsOf(t *testing.T, machine, kind string) []wireAction {
	t.Helper()
	var out []wireAction
	for _, a := range hp.actions(t) {
		if a.Machine == machine && a.Kind == kind {
			out = append(out, a)
		}
	}
	return out
}

// plainClient is an HTTP client of the host's namespace for the loopback
// forwarders: no proxy, no redirects followed, no keep-alives.
func plainClient() *http.Client {
	return &http.Client{
		Timeout:       10 * time.Second,
		Transport:     &http.Transport{Proxy: nil, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// webLAN is a LAN with only a hub, and a browser on its web app.
func webLAN(t *testing.T, env ...string) (*hub, *browser) {
	t.Helper()
	needChromium(t)
	lan := testlan.New(t)
	hp := startHub(t, lan.AddHost("hub"), t.TempDir(), append([]string{"MOONWAKE_RATE_LIMIT_BURST=100"}, env...)...)
	return hp, newBrowser(t, hubURL(t, hp))
}

// lowContrast is text whose contrast with its background is under WCAG
// 2's AA minimum (4.5:1, or 3:1 for large text).
type lowContrast struct {
	Text  string  `json:"text"`
	Color string  `json:"color"`
	Bg    string  `json:"bg"`
	Ratio float64 `json:"ratio"`
	Need  float64 `json:"need"`
}

// contrastJS finds the page's visible text with too little contrast. The
// background is the blend of the element's and its ancestors' background
// colours (images and gradients are not looked at); disabled controls are
// left out, as WCAG does.
const contrastJS = `(() => {
	const parse = c => {
		const m = /rgba?\(([^)]+)\)/.exec(c);
		if (!m) return null;
		const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number);
		return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1};
	};
	const blend = (top, under) => ({r: top.r * top.a + under.r * (1 - top.a), g: top.g * top.a + under.g * (1 - top.a), b: top.b * top.a + under.b * (1 - top.a), a: 1});
	const lum = c => {
		const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
		return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
	};
	const background = e => {
		const chain = [];
		for (let x = e; x; x = x.parentElement) chain.unshift(x);
		let c = matchMedia("(prefers-color-scheme: dark)").matches && getComputedStyle(document.documentElement).colorScheme.includes("dark") ? {r: 18, g: 18, b: 18, a: 1} : {r: 255, g: 255, b: 255, a: 1};
		for (const x of chain) {
			const b = parse(getComputedStyle(x).backgroundColor);
			if (b && b.a > 0) c = blend(b, c);
		}
		return c;
	};
	const hex = c => "#" + [c.r, c.g, c.b].map(v => Math.round(v).toString(16).padStart(2, "0")).join("");
	const out = [];
	for (const e of document.body.querySelectorAll("*")) {
		const own = [...e.childNodes].filter(n => n.nodeType === 3).map(n => n.textContent).join("").trim();
		if (!own || e.closest("[disabled], [hidden], details:not([open]) > :not(summary)")) continue;
		const r = e.getBoundingClientRect(), s = getComputedStyle(e);
		if (r.width === 0 || r.height === 0 || s.visibility === "hidden" || Number(s.opacity) === 0) continue;
		const bg = background(e);
		const fg = blend(parse(s.color), bg);
		const l1 = lum(fg), l2 = lum(bg);
		const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
		const size = parseFloat(s.fontSize), bold = Number(s.fontWeight) >= 700;
		const need = size >= 24 || (size >= 18.66 && bold) ? 3 : 4.5;
		if (ratio < need) out.push({text: own.slice(0, 40), color: hex(fg), bg: hex(bg), ratio: Math.round(ratio * 100) / 100, need});
	}
	return out;
})()`

// checkContrast fails the test for text under the AA minimum on the page.
func (b *browser) checkContrast(what string) {
	b.t.Helper()
	for _, c := range eval[[]lowContrast](b, contrastJS) {
		b.t.Errorf("%s: %q is %s on %s, contrast %.2f:1, want at least %.1f:1", what, c.Text, c.Color, c.Bg, c.Ratio, c.Need)
	}
}
