//go:build linux

package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/moonwake/moonwake/internal/testlan"
)

// The browser tests: the web app of a real "moonwake serve" in a real
// browser (see browserutil_test.go), against the DOM the web app promises:
//
//   - the dashboard, /, has per machine <article class="machine"
//     data-machine="NAME" data-state="STATE"> with .state, .since and
//     .progress, data-outcome (running, succeeded, failed) once an action
//     exists, and buttons button[data-action=wake|shutdown|keep-awake],
//     updated live by server-sent events; the navigation has
//     a[href="/tokens"] and form#logout;
//   - /machines/NAME shows the same article;
//   - /tokens has form#new-link (select[name=machine], select[name=action])
//     and shows the link it made in #link-url;
//   - /l/SECRET: a wake link wakes on GET; a shutdown link shows
//     form#confirm and acts on its POST only;
//   - every form that changes something carries input[name=csrf], and a
//     change without it, or from another origin, gets 403.

// TestBrowserForwarder checks the harness: a page served in a namespace
// loads in the browser through the loopback forwarder, and the browser
// resolves no name.
func TestBrowserForwarder(t *testing.T) {
	t.Parallel()
	needChromium(t)
	h := testlan.New(t).AddHost("web")
	var ln net.Listener
	err := h.Do(func() error {
		var err error
		ln, err = net.Listen("tcp", fmt.Sprintf("%s:%d", h.Addr(), hubPort))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if r.URL.Path == "/shift" {
			// Content pushed down by a late banner: a layout shift.
			fmt.Fprint(w, `<!doctype html><meta name="viewport" content="width=device-width"><title>shift</title>
<p style="font-size:40px">Lorem ipsum dolor sit amet, consectetur adipiscing elit.</p><p>More text.</p>
<script>setTimeout(() => { const d = document.createElement("div"); d.style.height = "300px"; document.body.prepend(d); }, 800)</script>`)
			return
		}
		fmt.Fprintf(w, `<!doctype html><title>ns</title><p id="host">%s</p>`, r.Host)
	})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	base := forward(t, h, fmt.Sprintf("%s:%d", h.Addr(), hubPort))
	b := newBrowser(t, base)
	b.open("/")
	if got, want := b.text("#host"), strings.TrimPrefix(base, "http://"); got != want {
		t.Errorf("the page says Host %q, want %q", got, want)
	}
	// The layout shift measure sees a shift.
	b.phone(3)
	b.open("/shift")
	if ls := b.layoutShift(); ls.CLS < 0.1 {
		t.Errorf("a page pushed down by a late banner: CLS %.3f %+v, want ≥ 0.1", ls.CLS, ls.Shifts)
	} else {
		t.Logf("a page pushed down by a late banner: CLS %.3f", ls.CLS)
	}
	// A name: the host resolver refuses it at once, with no lookup.
	ctx, cancel := context.WithTimeout(b.ctx, browserTimeout)
	defer cancel()
	err = chromedp.Do(ctx, chromedp.Navigate("http://moonwake.invalid/"))
	if err == nil || !strings.Contains(err.Error(), "NAME_NOT_RESOLVED") {
		t.Errorf("navigating to a name: %v, want ERR_NAME_NOT_RESOLVED", err)
	}
}

// TestBrowserLogin: the first sign-in at /setup with the admin token lands
// on the dashboard; signing out leads to /login, where a wrong password
// shows an error and the right one signs in.
func TestBrowserLogin(t *testing.T) {
	t.Parallel()
	hp, b := webLAN(t)

	// Signed out, the dashboard sends to a sign-in page.
	b.open("/")
	if p := b.path(); p != "/login" && p != "/setup" {
		t.Errorf("signed out, / went to %s, want /login or /setup", p)
	}
	b.setup(hp.admin)
	if !b.has(`form#logout input[name=csrf]`) {
		t.Errorf("form#logout has no csrf input")
	}

	b.click(submitOf("form#logout"))
	b.waitJS("the sign-in page after signing out", `location.pathname === "/login" && document.querySelector("form#login")`, browserTimeout)
	b.open("/")
	if p := b.path(); p != "/login" {
		t.Errorf("after signing out, / went to %s, want /login", p)
	}

	b.open("/login")
	b.fill("form#login", "password", "not the password")
	b.waitJS("an error for a wrong password", `location.pathname === "/login" && document.querySelector("form#login") &&
		/wrong|incorrect|invalid|not right|try again/i.test(document.body.innerText)`, browserTimeout)
	t.Logf("wrong password: %q", firstLines(b.bodyText(), 6))
	if v := eval[string](b, `document.querySelector('form#login [name=password]').value`); v != "" {
		t.Errorf("the password field kept the wrong password")
	}

	b.login()
}

// firstLines returns the first n lines of s, joined with " | ".
func firstLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, " | ")
}

// onRE finds "on" as a word, as in "on after 3 s".
var onRE = regexp.MustCompile(`(?i)\bon\b`)

// TestBrowserWakeLive: the emulated PC is off on the dashboard; a click on
// Wake, and the card goes off → waking → on by itself, no reload, and its
// progress says it is on.
func TestBrowserWakeLive(t *testing.T) {
	t.Parallel()
	needChromium(t)
	l := newPCLAN(t, pcOptions{BootDelay: 3 * time.Second})
	b := newBrowser(t, hubURL(t, l.hp))
	b.setup(l.hp.admin)
	b.waitFor(card("pc", `[data-state="off"]`), 10*time.Second)
	if !b.has(card("pc") + ` .state`) {
		t.Errorf("the card has no .state")
	}
	b.recordStates("pc")
	clicked := time.Now()
	b.click(card("pc") + ` button[data-action="wake"]`)
	waking := b.waitFor(card("pc", `[data-state="waking"]`), 10*time.Second)
	on := b.waitFor(card("pc", `[data-state="on"]`), 20*time.Second)
	b.waitJS("the card's outcome", `(e => e && e.dataset.outcome === "succeeded")(document.querySelector(`+jsString(card("pc"))+`))`, 10*time.Second)
	progress := b.text(card("pc") + ` .progress`)
	recs := b.recordedStates()
	t.Logf("wake in the browser: waking seen %s after the click, on %s after it; PC up %s after the click; progress %q; the card went %v",
		waking.Round(time.Millisecond), (waking + on).Round(time.Millisecond),
		l.pc.Stats().UpAt.Sub(clicked).Round(time.Millisecond), progress, recs)
	if !onRE.MatchString(progress) {
		t.Errorf("progress %q does not say the PC is on", progress)
	}
	var seq []string
	for _, r := range recs {
		st, _, _ := strings.Cut(r.State, "/")
		if len(seq) == 0 || seq[len(seq)-1] != st {
			seq = append(seq, st)
		}
	}
	if !containsRun(seq, []string{"off", "waking", "on"}) {
		t.Errorf("the card went %q, want off → waking → on", seq)
	}
	if n := len(l.hp.actionsOf(t, "pc", "wake")); n != 1 {
		t.Errorf("%d wake actions, want 1", n)
	}
}

// TestBrowserShutdownFailed: the PC's agent accepts the shutdown and does
// nothing. The card must end saying so: data-outcome="failed" and a
// progress that says it failed.
func TestBrowserShutdownFailed(t *testing.T) {
	t.Parallel()
	needChromium(t)
	l := newPCLAN(t, pcOptions{BrokenShutdown: true})
	l.bootAndPair(t)
	b := newBrowser(t, hubURL(t, l.hp))
	b.setup(l.hp.admin)
	b.waitJS("the PC up on its card", `(e => e && ["on", "idle"].includes(e.dataset.state))(document.querySelector(`+jsString(card("pc"))+`))`, 10*time.Second)
	b.recordStates("pc")
	b.click(card("pc") + ` button[data-action="shutdown"]`)
	// A confirmation in the page, if the UI asks for one (a dialog is
	// accepted by the harness): wait for it, or for the shutdown to start.
	confirmed := false
	deadline := time.Now().Add(browserTimeout)
confirm:
	for len(l.hp.actionsOf(t, "pc", "shutdown")) == 0 {
		for _, sel := range []string{card("pc") + ` form#confirm`, `form#confirm`, `dialog[open]`} {
			if b.has(sel) {
				b.click(submitOf(sel))
				confirmed = true
				break confirm
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no shutdown and no confirmation %s after the click; dialogs %q", browserTimeout, b.dialogsSeen())
		}
		b.do(chromedp.Sleep(50 * time.Millisecond))
	}
	took := b.waitJS("the failed outcome on the card", `(e => e && e.dataset.outcome === "failed")(document.querySelector(`+jsString(card("pc"))+`))`, 4*shutdownDeadline+20*time.Second)
	progress := b.text(card("pc") + ` .progress`)
	recs := b.recordedStates()
	t.Logf("failed shutdown in the browser: seen %s after the click (deadline %s); confirmation: dialogs %q, in-page %v; progress %q; the card went %v",
		took.Round(time.Millisecond), shutdownDeadline, b.dialogsSeen(), confirmed, progress, recs)
	if !regexp.MustCompile(`(?i)fail`).MatchString(progress) {
		t.Errorf("progress %q does not say the shutdown failed", progress)
	}
	if st := l.pc.State(); st != pcOn {
		t.Errorf("the PC is %s", st)
	}
	as := l.hp.actionsOf(t, "pc", "shutdown")
	if len(as) != 1 || as[0].Status != "failed" {
		t.Errorf("shutdown actions %+v, want one that failed", as)
	}
}

// TestBrowserShutdownLinkNeedsPost makes a shutdown tap link on
// /tokens and opens it in another browser (no session): the GET shows a
// confirmation and does nothing; so do a HEAD and a GET from a program (a
// link preview); the confirmation's POST shuts the PC down.
func TestBrowserShutdownLinkNeedsPost(t *testing.T) {
	t.Parallel()
	needChromium(t)
	l := newPCLAN(t, pcOptions{})
	l.bootAndPair(t)
	b := newBrowser(t, hubURL(t, l.hp))
	b.setup(l.hp.admin)

	b.open("/tokens")
	b.waitFor("form#new-link", browserTimeout)
	if !b.has(`form#new-link input[name=csrf]`) {
		t.Errorf("form#new-link has no csrf input")
	}
	b.do(
		chromedp.SetValue(chromedp.CSS(`form#new-link select[name=machine]`), "pc"),
		chromedp.SetValue(chromedp.CSS(`form#new-link select[name=action]`), "shutdown"),
	)
	b.click(submitOf("form#new-link"))
	b.waitFor("#link-url", browserTimeout)
	link := eval[string](b, `(e => (e.value || e.getAttribute("href") || e.textContent).trim())(document.querySelector("#link-url"))`)
	t.Logf("link: %s…", link[:min(len(link), len(b.base)+6)])
	if !strings.HasPrefix(link, b.base+"/l/") {
		t.Fatalf("#link-url %q, want %s/l/…", link, b.base)
	}

	noShutdown := func(when string) {
		t.Helper()
		if as := l.hp.actionsOf(t, "pc", "shutdown"); len(as) != 0 {
			t.Fatalf("%s: %d shutdown actions, want none: %+v", when, len(as), as)
		}
		if p := l.hp.power(t, "pc"); !up(p.State) || l.pc.State() != pcOn {
			t.Fatalf("%s: the hub says %s, the PC is %s", when, p, l.pc.State())
		}
	}

	// A link preview: HEAD and GET, with a program's headers.
	c := plainClient()
	for _, method := range []string{"HEAD", "GET"} {
		req, _ := http.NewRequestWithContext(t.Context(), method, link, nil)
		req.Header.Set("User-Agent", "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Logf("%s link: %s, %d bytes", method, resp.Status, len(body))
		if resp.StatusCode >= 500 {
			t.Errorf("%s link: %s", method, resp.Status)
		}
		if method == "GET" && !strings.Contains(string(body), `id="confirm"`) {
			t.Errorf("GET link: no form#confirm in the page:\n%s", body)
		}
	}
	time.Sleep(500 * time.Millisecond) // an action would be recorded by now
	noShutdown("after a HEAD and a GET")

	// Another person's phone: no session cookie.
	other := b.fresh()
	other.do(chromedp.Navigate(link))
	other.waitFor("form#confirm", browserTimeout)
	if n := eval[int](other, `document.querySelectorAll("form#confirm button:not([type=button]):not([type=reset]), form#confirm input[type=submit]").length`); n != 1 {
		t.Errorf("form#confirm has %d submit buttons, want 1", n)
	}
	if m := strings.ToUpper(other.attr("form#confirm", "method")); m != "POST" {
		t.Errorf("form#confirm method %q, want POST", m)
	}
	time.Sleep(500 * time.Millisecond)
	noShutdown("after the browser opened the link")

	other.click(submitOf("form#confirm"))
	deadline := time.Now().Add(10 * time.Second)
	for len(l.hp.actionsOf(t, "pc", "shutdown")) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no shutdown action 10 s after the confirmation; the page:\n%s", other.bodyText())
		}
		time.Sleep(50 * time.Millisecond)
	}
	as := l.hp.actionsOf(t, "pc", "shutdown")
	if len(as) != 1 || as[0].Actor.Kind == "session" {
		t.Errorf("shutdown actions after the confirmation: %+v, want one, by the link's token", as)
	}
	l.pc.waitState(t, pcOff, 15*time.Second)
	// The page the confirmation leads to shows the card, live.
	other.waitFor(card("pc", `[data-state="off"]`), 15*time.Second)
	// The link is a credential: the hub never logs it.
	secret := link[strings.LastIndex(link, "/")+1:]
	for name, out := range map[string]string{"stdout": l.hp.stdout.String(), "stderr": l.hp.stderr.String()} {
		if strings.Contains(out, secret) {
			t.Errorf("the hub's %s holds the link's secret", name)
		}
	}
}

// TestBrowserCSRF: a page of another origin (another port of 127.0.0.1:
// the same site, so the browser sends the session cookie with its POST)
// submits forms to the hub, with no token and with the real one; a page of
// the hub posts with fetch and no token. All get 403 and nothing happens;
// a control with the token from the hub's page succeeds.
func TestBrowserCSRF(t *testing.T) {
	t.Parallel()
	needChromium(t)
	l := newPCLAN(t, pcOptions{})
	b := newBrowser(t, hubURL(t, l.hp))
	b.setup(l.hp.admin)
	b.waitFor(card("pc"), browserTimeout)
	token := b.attr(card("pc")+` input[name=csrf]`, "value")
	if token == "" {
		token = b.attr(`input[name=csrf]`, "value")
	}
	if token == "" {
		t.Fatal("no csrf input in the dashboard")
	}

	target := b.base + "/machines/pc/wake"
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		field := ""
		if tok := r.URL.Query().Get("csrf"); tok != "" {
			field = `<input type="hidden" name="csrf" value="` + tok + `">`
		}
		fmt.Fprintf(w, `<!doctype html><title>free games</title>
<form id="f" method="post" action="%s">%s<button>win</button></form>
<script>document.getElementById("f").submit()</script>`, target, field)
	}))
	t.Cleanup(evil.Close)

	for _, c := range []struct{ name, query string }{{"no token", ""}, {"the session's token", "?csrf=" + token}} {
		// The first answer from the hub is the one to the form's POST
		// (a redirect would show as an answer from elsewhere than
		// target).
		b.do(chromedp.Navigate("about:blank"))
		ctx, cancel := context.WithTimeout(b.ctx, browserTimeout)
		responses := chromedp.Events(ctx, network.ResponseReceived)
		b.do(chromedp.Navigate(evil.URL + "/" + c.query))
		var status int64
		var url string
		for ev, err := range responses {
			if err != nil {
				break
			}
			if ev.Type == network.ResourceTypeDocument && strings.HasPrefix(ev.Response.URL, b.base+"/") {
				status, url = ev.Response.Status, ev.Response.URL
				break
			}
		}
		err := ctx.Err()
		cancel()
		if err != nil {
			t.Fatalf("%s: no response from the hub to the cross-origin form: %v", c.name, err)
		}
		if url != target {
			t.Errorf("%s: the first answer from the hub is for %s, want %s", c.name, url, target)
		}
		t.Logf("cross-origin form POST (%s): %d, the page says %q", c.name, status, firstLines(b.bodyText(), 3))
		if status != http.StatusForbidden {
			t.Errorf("cross-origin form POST (%s): %d, want 403", c.name, status)
		}
	}

	b.open("/")
	b.waitFor(card("pc"), browserTimeout)
	status := eval[int](b, `fetch("/machines/pc/wake", {method: "POST"}).then(r => r.status)`)
	if status != http.StatusForbidden {
		t.Errorf("same-origin fetch POST without X-CSRF-Token: %d, want 403", status)
	}
	status = eval[int](b, `fetch("/machines/pc/wake", {method: "POST", headers: {"X-CSRF-Token": "not-the-token"}}).then(r => r.status)`)
	if status != http.StatusForbidden {
		t.Errorf("same-origin fetch POST with a wrong X-CSRF-Token: %d, want 403", status)
	}
	time.Sleep(300 * time.Millisecond)
	if as := l.hp.actionsOf(t, "pc", "wake"); len(as) != 0 {
		t.Fatalf("refused requests made %d wake actions: %+v", len(as), as)
	}

	// The control: the same fetch with the page's token is accepted.
	status = eval[int](b, `fetch("/machines/pc/wake", {method: "POST", headers: {"X-CSRF-Token": `+jsString(token)+`, "Accept": "application/json"}}).then(r => r.status)`)
	if status >= 400 {
		t.Errorf("same-origin fetch POST with the token: %d, want success", status)
	}
	if as := l.hp.actionsOf(t, "pc", "wake"); len(as) != 1 {
		t.Errorf("after the control: %d wake actions, want 1", len(as))
	}
}

// TestBrowserPhoneLayout loads the pages as a 390×844 phone: no
// horizontal scroll, buttons at least 44 px tall (a finger's target), and
// no layout shift while a page loads (cumulative layout shift under 0.1).
func TestBrowserPhoneLayout(t *testing.T) {
	t.Parallel()
	needChromium(t)
	l := newPCLAN(t, pcOptions{})
	// Two of them a group, whose buttons the dashboard shows too.
	for i, name := range []string{"media-box", "living-room-htpc-with-a-long-name"} {
		l.hp.addMachine(t, map[string]any{"name": name, "mac": fmt.Sprintf("02:00:00:00:00:%02x", i+1), "tags": []string{"living-room"}})
	}
	b := newBrowser(t, hubURL(t, l.hp))
	b.setup(l.hp.admin)
	b.phone(3)
	b.open("/")
	b.waitFor(card("pc"), browserTimeout)
	if n := eval[int](b, `document.querySelectorAll("article.machine").length`); n != 3 {
		t.Errorf("%d cards on the dashboard, want 3", n)
	}
	if !b.has(`#groups li[data-group="living-room"] button[data-action="group-shutdown"]`) {
		t.Errorf("no group living-room on the dashboard")
	}
	b.checkPhone("/", card("pc"))
	b.checkPhone("/machines/living-room-htpc-with-a-long-name", card("living-room-htpc-with-a-long-name"))
	b.checkPhone("/machines/pc", card("pc"))
	link := b.makeLink("pc", "shutdown")
	b.checkPhone("/tokens", "form#new-link")
	b.checkPhone("/relays", "form#pair-relay")
	b.checkPhone("/sessions", "main")
	other := b.fresh()
	other.phone(3)
	other.checkPhone(strings.TrimPrefix(link, b.base), "form#confirm")
	other.checkPhone("/login", "form#login")
}

// makeLink makes a tap link on /tokens and returns its URL.
func (b *browser) makeLink(machine, action string) string {
	b.t.Helper()
	b.open("/tokens")
	b.waitFor("form#new-link", browserTimeout)
	b.do(
		chromedp.SetValue(chromedp.CSS(`form#new-link select[name=machine]`), machine),
		chromedp.SetValue(chromedp.CSS(`form#new-link select[name=action]`), action),
	)
	b.click(submitOf("form#new-link"))
	b.waitFor("#link-url", browserTimeout)
	link := eval[string](b, `(e => (e.value || e.getAttribute("href") || e.textContent).trim())(document.querySelector("#link-url"))`)
	if !strings.HasPrefix(link, b.base+"/l/") {
		b.t.Fatalf("#link-url %q, want %s/l/…", link, b.base)
	}
	return link
}

// checkPhone loads a page (as a phone: see phone) and checks its layout:
// no sideways scroll, buttons 44 px tall or more, and a cumulative layout
// shift under 0.1 in the page's first 2 s.
func (b *browser) checkPhone(path, ready string) {
	b.t.Helper()
	what := path
	if strings.HasPrefix(what, "/l/") {
		what = "/l/SECRET"
	}
	b.open(path)
	b.waitFor(ready, browserTimeout)
	type smallButton struct {
		Text   string  `json:"text"`
		Height float64 `json:"height"`
	}
	type layout struct {
		ScrollWidth int           `json:"scrollWidth"`
		InnerWidth  int           `json:"innerWidth"`
		Wide        []string      `json:"wide"`
		Small       []smallButton `json:"small"`
		Buttons     int           `json:"buttons"`
	}
	lay := eval[layout](b, `(() => {
		const visible = e => { const r = e.getBoundingClientRect(), s = getComputedStyle(e); return r.width > 0 && r.height > 0 && s.visibility !== "hidden"; };
		const buttons = [...document.querySelectorAll('button, input[type=submit], input[type=button], [role=button]')].filter(visible);
		const name = e => e.nodeName.toLowerCase() + (e.id ? "#" + e.id : "") + (e.className && typeof e.className === "string" ? "." + e.className.trim().replace(/\s+/g, ".") : "");
		return {
			scrollWidth: Math.max(document.documentElement.scrollWidth, document.body.scrollWidth),
			innerWidth: innerWidth,
			wide: [...document.body.querySelectorAll("*")].filter(e => { const r = e.getBoundingClientRect(); return r.width > 0 && r.right > innerWidth + 0.5; }).slice(0, 5).map(name),
			buttons: buttons.length,
			small: buttons.map(e => ({text: (e.textContent || e.value || "").trim().slice(0, 40), height: e.getBoundingClientRect().height})).filter(x => x.height < 44),
		};
	})()`)
	cls := b.layoutShift()
	b.t.Logf("phone %s: scrollWidth %d (innerWidth %d), %d buttons, %d under 44 px; CLS %.4f %+v",
		what, lay.ScrollWidth, lay.InnerWidth, lay.Buttons, len(lay.Small), cls.CLS, cls.Shifts)
	if lay.InnerWidth != 390 {
		b.t.Errorf("%s: innerWidth %d, want 390 (a <meta name=viewport content=\"width=device-width\">?)", what, lay.InnerWidth)
	}
	if lay.ScrollWidth > 390 {
		b.t.Errorf("%s scrolls sideways on a phone: scrollWidth %d > 390; too wide: %q", what, lay.ScrollWidth, lay.Wide)
	}
	for _, s := range lay.Small {
		b.t.Errorf("%s: button %q is %.1f px tall, want at least 44", what, s.Text, s.Height)
	}
	if cls.CLS >= 0.1 {
		b.t.Errorf("%s: cumulative layout shift %.3f while loading, want < 0.1: %+v", what, cls.CLS, cls.Shifts)
	}
}

// layoutShift is a page's cumulative layout shift in its first 2 s,
// from the Layout Instability API, with the shifts.
type layoutShift struct {
	CLS    float64 `json:"cls"`
	Shifts []struct {
		Value   float64  `json:"value"`
		At      float64  `json:"at"`
		Sources []string `json:"sources"`
	} `json:"shifts"`
}

// layoutShift measures the page's layout shift until 2 s after it began
// to load (shifts right after an input are left out, as the API does).
func (b *browser) layoutShift() layoutShift {
	b.t.Helper()
	return eval[layoutShift](b, `new Promise(resolve => {
		let cls = 0; const shifts = [];
		const po = new PerformanceObserver(list => {
			for (const e of list.getEntries()) {
				if (e.hadRecentInput) continue;
				cls += e.value;
				shifts.push({value: e.value, at: e.startTime, sources: (e.sources || []).map(s => s.node ? (s.node.nodeName + (s.node.className ? "." + String(s.node.className).replace(/ /g, ".") : "")) : "?")});
			}
		});
		po.observe({type: "layout-shift", buffered: true});
		setTimeout(() => { po.disconnect(); resolve({cls, shifts}); }, Math.max(0, 2000 - performance.now()));
	})`)
}

// TestBrowserScreenshots saves the README's screenshots when
// MOONWAKE_SCREENSHOTS names a directory:
//
//	sudo MOONWAKE_SCREENSHOTS=$PWD/docs/screenshots go test -run BrowserScreenshots ./e2e
func TestBrowserScreenshots(t *testing.T) {
	dir := os.Getenv("MOONWAKE_SCREENSHOTS")
	if dir == "" {
		t.Skip("MOONWAKE_SCREENSHOTS is not set")
	}
	t.Parallel()
	needChromium(t)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s := newShotScene(t)
	b := newBrowser(t, hubURL(t, s.hp))

	// Signed out.
	b.desktop()
	b.open("/setup")
	b.waitFor("form#setup", browserTimeout)
	b.screenshot(dir, "setup")
	b.setup(s.hp.admin)
	b.click(submitOf("form#logout"))
	b.waitFor("form#login", browserTimeout)
	b.phone(2)
	b.open("/login")
	b.waitFor("form#login", browserTimeout)
	b.screenshot(dir, "login-phone")
	b.login()

	// The dashboard, at rest.
	b.waitJS("the cards settled", `document.querySelector(`+jsString(card("gaming-pc", `[data-state="on"]`))+`) && document.querySelector(`+jsString(card("basement-pc", `[data-state="off"]`))+`)`, 20*time.Second)
	b.screenshot(dir, "dashboard-phone")
	b.setMedia("dark")
	b.screenshot(dir, "dashboard-phone-dark")
	b.setMedia("light")
	b.desktop()
	b.screenshot(dir, "dashboard-desktop")
	b.setMedia("dark")
	b.screenshot(dir, "dashboard-desktop-dark")
	b.setMedia("light")

	// A wake under way.
	b.phone(2)
	b.open("/")
	b.waitFor(card("basement-pc", `[data-state="off"]`), browserTimeout)
	b.click(card("basement-pc") + ` button[data-action="wake"]`)
	b.waitFor(card("basement-pc", `[data-state="waking"]`), 10*time.Second)
	b.screenshot(dir, "waking-phone")

	// A shutdown that did not happen.
	b.click(card("gaming-pc") + ` button[data-action="shutdown"]`)
	b.do(chromedp.Sleep(300 * time.Millisecond))
	if b.has("form#confirm") {
		b.click(submitOf("form#confirm"))
	}
	b.waitFor(card("gaming-pc", `[data-outcome="failed"]`), 4*shutdownDeadline+20*time.Second)
	b.waitFor(card("basement-pc", `[data-state="on"]`), 20*time.Second)
	b.screenshot(dir, "shutdown-failed-phone", card("gaming-pc"))
	b.setMedia("dark")
	b.screenshot(dir, "shutdown-failed-phone-dark", card("gaming-pc"))
	b.setMedia("light")

	// A machine's page.
	b.desktop()
	b.open("/machines/gaming-pc")
	b.waitFor(card("gaming-pc"), browserTimeout)
	b.screenshot(dir, "machine-desktop")

	// The tokens page with a link, and the link's confirmation.
	b.open("/tokens")
	b.waitFor("form#new-link", browserTimeout)
	b.do(
		chromedp.SetValue(chromedp.CSS(`form#new-link select[name=machine]`), "basement-pc"),
		chromedp.SetValue(chromedp.CSS(`form#new-link select[name=action]`), "shutdown"),
	)
	b.click(submitOf("form#new-link"))
	b.waitFor("#link-url", browserTimeout)
	link := eval[string](b, `(e => (e.value || e.getAttribute("href") || e.textContent).trim())(document.querySelector("#link-url"))`)
	b.screenshot(dir, "tokens-desktop")
	other := b.fresh()
	other.phone(2)
	other.do(chromedp.Navigate(link))
	other.waitFor("form#confirm", browserTimeout)
	other.screenshot(dir, "link-confirm-phone")
	other.setMedia("dark")
	other.screenshot(dir, "link-confirm-phone-dark")

	// Add machine: the PCs the hub sees, one of them not added yet,
	// whose Add has filled in the form below.
	b.desktop()
	b.open("/machines/new")
	row := `#suggestions tr[data-mac="` + msiMAC.String() + `"]`
	b.waitFor(row, browserTimeout)
	b.click(row + ` a.suggestion`)
	b.waitJS("the form filled in", `new URLSearchParams(location.search).get("mac") === `+jsString(msiMAC.String()), browserTimeout)
	b.waitFor(row, browserTimeout)
	b.screenshot(dir, "add-machine-desktop")

	// A group: the machines tagged "den" get buttons of their own.
	for _, name := range []string{"gaming-pc", "basement-pc"} {
		s.hp.must(t, http.StatusOK, "PATCH", "/api/v1/machines/"+name, s.hp.admin, map[string]any{"tags": []string{"den"}})
	}
	b.open("/")
	b.waitFor(`#groups li[data-group="den"]`, browserTimeout)
	b.waitFor(card("gaming-pc", `[data-state="on"]`), 20*time.Second)
	b.screenshot(dir, "groups-desktop")

	// A shutdown with a grace, cancelled at the PC with "moonwake-agent
	// cancel" while its countdown runs: the card says so, and the
	// machine's history.
	var a wireAction
	s.hp.must(t, http.StatusAccepted, "POST", "/api/v1/machines/gaming-pc/shutdown?grace=5m", s.hp.admin, nil).decode(t, &a)
	for deadline := time.Now().Add(15 * time.Second); !shownAtPC(a); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the countdown was not shown at the PC: %+v", a.Steps)
		}
		s.hp.must(t, http.StatusOK, "GET", "/api/v1/actions/"+a.ID, s.hp.admin, nil).decode(t, &a)
	}
	s.gaming.cancelCountdown(t)
	b.waitFor(card("gaming-pc", `[data-outcome="cancelled"]`), 10*time.Second)
	if p := b.text(card("gaming-pc") + " .progress"); p != "shutdown cancelled at the PC (command)" {
		t.Errorf("the card says %q", p)
	}
	b.open("/machines/gaming-pc")
	b.waitFor(`.history li[data-outcome="cancelled"]`, browserTimeout)
	b.screenshot(dir, "cancelled-at-pc-desktop", "#history-h")
}

// shownAtPC reports whether an action's countdown has reached the PC's
// agent.
func shownAtPC(a wireAction) bool {
	for _, s := range a.Steps {
		if s.Kind == "countdown" && s.Via == "agent" && s.Error == "" {
			return true
		}
	}
	return false
}

// shotScene is the screenshots' hub: a gaming PC whose shutdown fails
// (paired, on), an office PC that takes a while to boot (off), and a media
// box the hub cannot see; and, not added yet, a living-room PC on the same
// LAN that the hub has talked to, which answers mDNS.
type shotScene struct {
	hp             *hub
	gaming, office *pc
	living         *testlan.Host
}

func newShotScene(t *testing.T) *shotScene {
	t.Helper()
	lan := testlan.New(t)
	h := lan.AddHost("hub")
	s := &shotScene{}
	s.gaming = newPC(t, lan, "gaming", pcOptions{BrokenShutdown: true})
	s.office = newPC(t, lan, "office", pcOptions{BootDelay: 6 * time.Second})
	s.living = lan.AddHost("living")
	if _, err := s.living.Run(t.Context(), "ip", "link", "set", testlan.Iface, "address", msiMAC.String()); err != nil {
		t.Fatal(err)
	}
	respondMDNS(t, s.living, "living-room-pc.local.")
	resolvConf(t, h, s.living.Addr()) // no DNS server there: reverse DNS fails at once, inside the LAN
	cfg := t.TempDir() + "/moonwake.yaml"
	if err := os.WriteFile(cfg, []byte("probe:\n  fast_interval: 100ms\n  timeout: 300ms\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.hp = startHub(t, h, t.TempDir(),
		"MOONWAKE_CONFIG="+cfg,
		"MOONWAKE_WAKE_DEADLINE=20s",
		"MOONWAKE_SHUTDOWN_DEADLINE="+shutdownDeadline.String(),
		"MOONWAKE_PROBE_INTERVAL=500ms",
		"MOONWAKE_RATE_LIMIT_BURST=100",
		"MOONWAKE_UI_REVERSE_DNS=on", // names for Add machine's suggestions, asked inside the LAN
	)
	if err := h.Reach(s.living); err != nil {
		t.Fatal(err)
	}
	for _, m := range []struct {
		name string
		pc   *pc
	}{{"gaming-pc", s.gaming}, {"basement-pc", s.office}} {
		s.hp.addMachine(t, map[string]any{"name": m.name, "mac": m.pc.MAC().String(), "host": m.pc.Addr().String(), "interface": "eth0"})
	}
	s.hp.addMachine(t, map[string]any{"name": "media-box", "mac": "02:11:22:33:44:55"})
	s.gaming.PowerOn(t)
	s.gaming.pair(t, s.hp, "gaming-pc")
	s.hp.waitPower(t, "gaming-pc", 10*time.Second, "on with its agent", func(p wirePower) bool {
		return p.Agent != nil && p.Agent.Connected && up(p.State)
	})
	s.hp.waitPower(t, "basement-pc", 10*time.Second, "off", func(p wirePower) bool { return p.State == "off" })
	return s
}

// TestBrowserContrast checks that the text of the main pages has the
// contrast WCAG AA asks for, in the light and the dark theme.
func TestBrowserContrast(t *testing.T) {
	t.Parallel()
	hp, b := webLAN(t)
	hp.addMachine(t, map[string]any{"name": "pc", "mac": "02:00:00:00:00:01", "tags": []string{"den"}}) // and a group on the dashboard
	b.setup(hp.admin)
	b.open("/tokens")
	b.waitFor("form#new-link", browserTimeout)
	b.do(
		chromedp.SetValue(chromedp.CSS(`form#new-link select[name=machine]`), "pc"),
		chromedp.SetValue(chromedp.CSS(`form#new-link select[name=action]`), "shutdown"),
	)
	b.click(submitOf("form#new-link"))
	b.waitFor("#link-url", browserTimeout)
	link := eval[string](b, `(e => (e.value || e.getAttribute("href") || e.textContent).trim())(document.querySelector("#link-url"))`)
	for _, scheme := range []string{"light", "dark"} {
		b.setMedia(scheme)
		b.phone(1)
		for _, page := range []struct{ path, ready string }{
			{"/", card("pc")},
			{"/machines/pc", card("pc")},
			{"/tokens", "form#new-link"},
			{strings.TrimPrefix(link, b.base), "form#confirm"},
		} {
			b.open(page.path)
			b.waitFor(page.ready, browserTimeout)
			what := page.path
			if strings.HasPrefix(what, "/l/") {
				what = "/l/SECRET"
			}
			b.checkContrast(what + " (" + scheme + ")")
		}
	}
}

// TestBrowserWakeLink makes a wake tap link and opens it in another
// browser: the GET wakes the PC, and the page follows it live to "on".
func TestBrowserWakeLink(t *testing.T) {
	t.Parallel()
	needChromium(t)
	l := newPCLAN(t, pcOptions{BootDelay: 2 * time.Second})
	b := newBrowser(t, hubURL(t, l.hp))
	b.setup(l.hp.admin)
	b.open("/tokens")
	b.waitFor("form#new-link", browserTimeout)
	b.do(
		chromedp.SetValue(chromedp.CSS(`form#new-link select[name=machine]`), "pc"),
		chromedp.SetValue(chromedp.CSS(`form#new-link select[name=action]`), "wake"),
	)
	b.click(submitOf("form#new-link"))
	b.waitFor("#link-url", browserTimeout)
	link := eval[string](b, `(e => (e.value || e.getAttribute("href") || e.textContent).trim())(document.querySelector("#link-url"))`)
	if !strings.HasPrefix(link, b.base+"/l/") {
		t.Fatalf("#link-url %q, want %s/l/…", link, b.base)
	}

	other := b.fresh()
	other.do(chromedp.Navigate(link))
	other.waitFor(card("pc"), browserTimeout)
	other.recordStates("pc")
	l.pc.waitState(t, pcOn, 15*time.Second)
	up := time.Now()
	other.waitFor(card("pc", `[data-state="on"][data-outcome="succeeded"]`), 15*time.Second)
	t.Logf("wake link: the page said on %s after the PC came up; progress %q; the card went %v",
		time.Since(up).Round(time.Millisecond), other.text(card("pc")+" .progress"), other.recordedStates())
	as := l.hp.actionsOf(t, "pc", "wake")
	if len(as) != 1 || as[0].Status != "succeeded" || as[0].Actor.Kind == "session" {
		t.Errorf("wake actions %+v, want one by the link's token, succeeded", as)
	}
}

// TestBrowserReconnect restarts the hub under an open dashboard: the page
// reconnects to the event stream by itself, and a PC switched on after
// the restart shows up on its card without a reload.
func TestBrowserReconnect(t *testing.T) {
	t.Parallel()
	needChromium(t)
	l := newPCLAN(t, pcOptions{})
	b := newBrowser(t, hubURL(t, l.hp))
	b.setup(l.hp.admin)
	b.waitFor(card("pc", `[data-state="off"]`), 10*time.Second)
	b.recordStates("pc")
	if code := l.hp.signal(syscall.SIGTERM); code != 0 {
		t.Fatalf("hub exited %d at SIGTERM", code)
	}
	l.restartHub(t)
	restarted := time.Now()
	l.pc.PowerOn(t)
	b.waitFor(card("pc", `[data-state="on"]`), 20*time.Second)
	t.Logf("after a restart of the hub: the card said on %s after it was back; the card went %v",
		time.Since(restarted).Round(time.Millisecond), b.recordedStates())
}

// TestBrowserAsleepLive: a PC whose network card answers ARP while it
// sleeps is put to sleep; its card, live, turns off and says "asleep
// (network card answers)", and its progress says the sleep left it
// asleep. Woken, the card is on and says asleep no more.
func TestBrowserAsleepLive(t *testing.T) {
	t.Parallel()
	needChromium(t)
	l := newPCLAN(t, pcOptions{ARPOffload: true})
	l.bootAndPair(t)
	b := newBrowser(t, hubURL(t, l.hp))
	b.setup(l.hp.admin)
	sel := jsString(card("pc"))
	b.waitJS("the PC up on its card", `(e => e && ["on", "idle"].includes(e.dataset.state))(document.querySelector(`+sel+`))`, 10*time.Second)
	if !b.has(card("pc") + ` .asleep[hidden]`) {
		t.Errorf("a PC that is on: the card's asleep note is not hidden")
	}

	a, _ := l.hp.act(t, "pc", "sleep")
	took := b.waitJS("asleep on the card", `(e => e && e.dataset.state === "off" && !e.querySelector(".asleep").hidden)(document.querySelector(`+sel+`))`, 10*time.Second)
	b.waitJS("the sleep's outcome", `(e => e && e.dataset.outcome === "succeeded")(document.querySelector(`+sel+`))`, 10*time.Second)
	note, progress := b.text(card("pc")+` .asleep`), b.text(card("pc")+` .progress`)
	t.Logf("sleep in the browser: %q; the card says %q, %q, %s after the action ended", a.Detail, note, progress, took.Round(time.Millisecond))
	if note != "asleep (network card answers)" || !strings.HasPrefix(progress, "asleep after") {
		t.Errorf("card: note %q, progress %q", note, progress)
	}

	l.hp.act(t, "pc", "wake")
	b.waitJS("on, and no longer asleep", `(e => e && ["on", "idle"].includes(e.dataset.state) && e.querySelector(".asleep").hidden)(document.querySelector(`+sel+`))`, 10*time.Second)
}
