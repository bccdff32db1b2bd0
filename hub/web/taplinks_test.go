package web

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/moonwake/moonwake"
)

// newTap makes a link token directly and returns its secret.
func newTap(t *testing.T, h *harness, machine, action string) (string, *moonwake.Token) {
	t.Helper()
	tok := &moonwake.Token{Name: tapName(machine, action), Machines: []string{machine}, Actions: []string{action}, TapLink: true}
	secret, err := h.tokens.CreateToken(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	return secret, tok
}

// anon is a browser with no session.
func anon(h *harness) *http.Client { return h.newClient() }

// checkTapHeaders checks what keeps a link page out of referrers, caches
// and search engines.
func checkTapHeaders(t *testing.T, res *http.Response) {
	t.Helper()
	for k, v := range map[string]string{"Referrer-Policy": "no-referrer", "Cache-Control": "no-store", "X-Robots-Tag": "noindex"} {
		if got := res.Header.Get(k); got != v {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
}

func TestWakeTapWakesOncePerGet(t *testing.T) {
	h := newHarness(t, "pc")
	h.monitor.set("pc", moonwake.PowerInfo{State: moonwake.StateOff, Since: time.Now().Add(-time.Hour)})
	secret, tok := newTap(t, h, "pc", "wake")
	c := anon(h)
	for i := 1; i <= 3; i++ {
		res, body := h.do(c, http.MethodGet, "/l/"+secret, nil, nil)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET %d: %s\n%s", i, res.Status, body)
		}
		checkTapHeaders(t, res)
		if n := len(h.power.Calls()); n != i {
			t.Fatalf("after GET %d: %d wake calls", i, n)
		}
		card := machineCard(t, body)
		for k, want := range map[string]string{"data-machine": "pc", "data-state": "off", "data-outcome": "running", "data-goal": "on"} {
			if v, _ := attr(card, k); v != want {
				t.Errorf("%s=%q, want %q", k, v, want)
			}
		}
		if !strings.Contains(body, "<title>Wake pc") {
			t.Error("the title does not say what the link does")
		}
		if !strings.Contains(body, "apple-touch-icon") || !strings.Contains(body, "/static/link.") {
			t.Error("no home-screen icon or no link.js")
		}
	}
	// A HEAD (a link preview) never acts, not even a wake.
	if res, _ := h.do(c, http.MethodHead, "/l/"+secret, nil, nil); res.StatusCode != http.StatusOK {
		t.Errorf("HEAD: %s", res.Status)
	}
	if calls := h.power.Calls(); !slices.Equal(calls, []string{"wake pc", "wake pc", "wake pc"}) {
		t.Errorf("calls %v", calls)
	}
	h.power.mu.Lock()
	a := h.power.actors[0]
	h.power.mu.Unlock()
	if a.Kind != "token" || a.Name != tok.Name || a.TokenID != tok.ID || a.Addr != "127.0.0.1" {
		t.Errorf("actor %+v", a)
	}
}

func TestWakeTapRateLimited(t *testing.T) {
	h := newHarness(t, "pc")
	secret, _ := newTap(t, h, "pc", "wake")
	c := anon(h)
	limited := false
	for range 20 {
		res, _ := h.do(c, http.MethodGet, "/l/"+secret, nil, nil)
		if res.StatusCode == http.StatusTooManyRequests {
			limited = true
			break
		}
	}
	if !limited {
		t.Error("20 wakes in a row were never limited")
	}
	if n := len(h.power.Calls()); n >= 20 || n == 0 {
		t.Errorf("%d wake calls", n)
	}
}

func TestShutdownTapActsOnlyOnPost(t *testing.T) {
	for _, kind := range moonwake.PowerActions {
		t.Run(kind, func(t *testing.T) {
			h := newHarness(t, "pc")
			h.monitor.set("pc", moonwake.PowerInfo{State: moonwake.StateOn})
			secret, _ := newTap(t, h, "pc", kind)
			c := anon(h)
			for _, method := range []string{http.MethodGet, http.MethodHead, http.MethodGet} {
				res, body := h.do(c, method, "/l/"+secret, nil, nil)
				if res.StatusCode != http.StatusOK {
					t.Fatalf("%s: %s", method, res.Status)
				}
				checkTapHeaders(t, res)
				if method == http.MethodGet {
					forms := findAll(doc(t, body), byID("confirm"))
					if len(forms) != 1 {
						t.Fatalf("%d form#confirm", len(forms))
					}
					f := forms[0]
					if v, _ := attr(f, "method"); v != "post" {
						t.Errorf("form method %q", v)
					}
					if v, _ := attr(f, "action"); v != "/l/"+secret {
						t.Errorf("form action %q", v)
					}
					buttons := findAll(f, is("button", ""))
					if len(buttons) != 1 {
						t.Fatalf("%d buttons", len(buttons))
					}
					if v, _ := attr(buttons[0], "type"); v != "submit" {
						t.Errorf("button type %q", v)
					}
					if card := machineCard(t, body); card != nil {
						if v, _ := attr(card, "data-state"); v != "on" {
							t.Errorf("data-state %q", v)
						}
					}
				}
			}
			if calls := h.power.Calls(); len(calls) != 0 {
				t.Fatalf("GET and HEAD called the power service: %v", calls)
			}
			// A POST from another site is refused.
			res, _ := h.do(c, http.MethodPost, "/l/"+secret, url.Values{}, map[string]string{"Sec-Fetch-Site": "cross-site"})
			if res.StatusCode != http.StatusForbidden || len(h.power.Calls()) != 0 {
				t.Fatalf("cross-site POST: %s, calls %v", res.Status, h.power.Calls())
			}
			// The button's POST acts, and shows the progress page.
			res, body := h.do(c, http.MethodPost, "/l/"+secret, url.Values{}, map[string]string{"Origin": h.ts.URL, "Sec-Fetch-Site": "same-origin"})
			if res.StatusCode != http.StatusOK {
				t.Fatalf("POST: %s\n%s", res.Status, body)
			}
			checkTapHeaders(t, res)
			if calls := h.power.Calls(); !slices.Equal(calls, []string{kind + " pc"}) {
				t.Errorf("calls %v", calls)
			}
			card := machineCard(t, body)
			if v, _ := attr(card, "data-outcome"); v != "running" {
				t.Errorf("data-outcome %q", v)
			}
		})
	}
}

func TestTapPowerFailureShown(t *testing.T) {
	h := newHarness(t, "pc")
	h.power.err = moonwake.Errorf(moonwake.EUnavailable, "pc has no way to be shut down: pair its agent")
	secret, _ := newTap(t, h, "pc", "shutdown")
	res, body := h.do(anon(h), http.MethodPost, "/l/"+secret, url.Values{}, nil)
	if res.StatusCode != http.StatusOK || !strings.Contains(body, "pair its agent") {
		t.Fatalf("%s\n%s", res.Status, body)
	}
	if v, _ := attr(machineCard(t, body), "data-outcome"); v != "failed" {
		t.Errorf("data-outcome %q", v)
	}
}

func TestTapGone(t *testing.T) {
	h := newHarness(t, "pc")
	revoked, tok := newTap(t, h, "pc", "wake")
	if _, err := h.tokens.RevokeToken(context.Background(), tok.ID); err != nil {
		t.Fatal(err)
	}
	twoActions, err := h.tokens.CreateToken(context.Background(), &moonwake.Token{Name: "link-pc-both", Machines: []string{"pc"}, Actions: []string{"wake", "shutdown"}})
	if err != nil {
		t.Fatal(err)
	}
	// A link for a machine deleted since is revoked with it: the same 404.
	if err := h.machines.CreateMachine(context.Background(), &moonwake.Machine{Name: "gone", MAC: "02:00:00:00:99:99"}); err != nil {
		t.Fatal(err)
	}
	deleted, _ := newTap(t, h, "gone", "wake")
	if err := h.machines.DeleteMachine(context.Background(), "gone"); err != nil {
		t.Fatal(err)
	}
	// Through a trusted proxy, each try from an address of its own: the
	// failure limit per address is tested below. The server's clock stands
	// still, so that the pages' data-now cannot differ across a second.
	at := h.now()
	h.reconfigure(func(s *Server) {
		s.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
		s.Now = func() time.Time { return at }
	})
	c := anon(h)
	var bodies []string
	n := 0
	from := func() map[string]string {
		n++
		return map[string]string{"X-Forwarded-For": fmt.Sprintf("192.0.2.%d", n)}
	}
	for _, secret := range []string{revoked, "mw_" + strings.Repeat("A", 43), "nonsense", h.admin, twoActions, deleted} {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			res, body := h.do(c, method, "/l/"+secret, url.Values{}, from())
			if res.StatusCode != http.StatusNotFound {
				t.Errorf("%s %.8s…: %s", method, secret, res.Status)
			}
			checkTapHeaders(t, res)
			if !strings.Contains(body, "This link was revoked or never existed") {
				t.Errorf("%s %.8s…: not the gone page", method, secret)
			}
			if strings.Contains(body, secret) {
				t.Errorf("the page repeats the secret")
			}
			bodies = append(bodies, body)
		}
		if res, _ := h.do(c, http.MethodGet, "/l/"+secret+"/events", nil, from()); res.StatusCode != http.StatusNotFound {
			t.Errorf("events of %.8s…: %s", secret, res.Status)
		}
	}
	for _, b := range bodies[1:] {
		if b != bodies[0] {
			t.Errorf("the answers differ:\n%s\n---\n%s", bodies[0], b)
			break
		}
	}
	if n := len(h.power.Calls()); n != 0 {
		t.Errorf("%d power calls", n)
	}
}

func TestTapFailuresLimited(t *testing.T) {
	h := newHarness(t, "pc")
	good, _ := newTap(t, h, "pc", "shutdown")
	c := anon(h)
	// Wrong links from an address are limited; a live link from the same
	// address (a CGNAT, an office) still works: wrong links lock out
	// wrong links only.
	limited := false
	for i := range 60 {
		res, _ := h.do(c, http.MethodGet, "/l/mw_wrong"+strings.Repeat("x", i), nil, nil)
		if res.StatusCode == http.StatusTooManyRequests {
			limited = true
			break
		}
	}
	if !limited {
		t.Fatal("60 wrong links were never limited")
	}
	if res, _ := h.do(c, http.MethodGet, "/l/"+good, nil, nil); res.StatusCode != http.StatusOK {
		t.Errorf("a live link from a limited address: %s, want 200", res.Status)
	}
	if res, _ := h.do(c, http.MethodGet, "/l/mw_wrong-again", nil, nil); res.StatusCode != http.StatusTooManyRequests {
		t.Errorf("a wrong link from a limited address: %s, want 429", res.Status)
	}
}

func TestTapSecretNeverLogged(t *testing.T) {
	h := newHarness(t, "pc")
	var logs *logBuffer
	h.reconfigure(func(s *Server) { logs = captureLogs(s) })
	wake, _ := newTap(t, h, "pc", "wake")
	shut, shutTok := newTap(t, h, "pc", "shutdown")
	c := anon(h)
	h.do(c, http.MethodGet, "/l/"+wake, nil, nil)
	h.do(c, http.MethodGet, "/l/"+shut, nil, nil)
	h.do(c, http.MethodPost, "/l/"+shut, url.Values{}, nil)
	h.do(c, http.MethodPost, "/l/"+shut, url.Values{}, map[string]string{"Sec-Fetch-Site": "cross-site"})
	h.power.mu.Lock()
	h.power.err = moonwake.Errorf(moonwake.EInternal, "boom")
	h.power.mu.Unlock()
	h.do(c, http.MethodPost, "/l/"+shut, url.Values{}, nil) // an internal error is logged
	if _, err := h.tokens.RevokeToken(context.Background(), shutTok.ID); err != nil {
		t.Fatal(err)
	}
	h.do(c, http.MethodPost, "/l/"+shut, url.Values{}, nil)
	h.do(c, http.MethodGet, "/l/"+shut+"/events", nil, nil)
	out := logs.String()
	if !strings.Contains(out, "link used") {
		t.Errorf("nothing was logged:\n%s", out)
	}
	for _, s := range []string{wake, shut} {
		if strings.Contains(out, s) || strings.Contains(out, s[3:20]) {
			t.Fatalf("a secret is in the log:\n%s", out)
		}
	}
}

// sseEvent is one server-sent event.
type sseEvent struct{ typ, data string }

// readEvents sends the events of the stream r to a channel until it ends.
func readEvents(r *bufio.Reader) <-chan sseEvent {
	c := make(chan sseEvent, 100)
	go func() {
		defer close(c)
		var ev sseEvent
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimRight(line, "\n")
			switch {
			case line == "":
				if ev.typ != "" || ev.data != "" {
					c <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "event: "):
				ev.typ = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.data = strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	return c
}

func TestTapEvents(t *testing.T) {
	h := newHarness(t, "pc", "nas")
	secret, tok := newTap(t, h, "pc", "wake")
	c := anon(h)
	// The page names the last event; the stream resumes after it, so what
	// the wake published is not lost between the page and the stream.
	_, body := h.do(c, http.MethodGet, "/l/"+secret, nil, nil)
	seq, _ := attr(machineCard(t, body), "data-seq")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.ts.URL+"/l/"+secret+"/events?after="+seq, nil)
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("%s %s", res.Status, res.Header.Get("Content-Type"))
	}
	checkTapHeaders(t, res)
	evs := readEvents(bufio.NewReader(res.Body))
	next := func() sseEvent {
		t.Helper()
		select {
		case ev, ok := <-evs:
			if !ok {
				t.Fatal("the stream ended")
			}
			return ev
		case <-ctx.Done():
			t.Fatal("no event")
		}
		return sseEvent{}
	}
	if ev := next(); ev.typ != "action" || !strings.Contains(ev.data, `"kind":"wake"`) {
		t.Fatalf("first event %+v, want the wake", ev)
	}
	// Another machine's events are not shown; this one's are.
	h.broker.Publish(moonwake.EventState, "nas", moonwake.StateChange{Machine: "nas", From: "off", To: "on"})
	h.broker.Publish(moonwake.EventMachine, "pc", moonwake.MachineChange{Machine: "pc", Op: moonwake.MachineChanged})
	h.broker.Publish(moonwake.EventState, "pc", moonwake.StateChange{Machine: "pc", From: "waking", To: "on"})
	if ev := next(); ev.typ != "state" || !strings.Contains(ev.data, `"machine":"pc"`) || !strings.Contains(ev.data, `"to":"on"`) {
		t.Fatalf("event %+v, want pc's state", ev)
	}
	// Revoking the link ends the stream.
	if _, err := h.tokens.RevokeToken(context.Background(), tok.ID); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case ev, ok := <-evs:
			if !ok {
				t.Fatal("the stream ended without saying why")
			}
			if ev.typ == "gone" {
				return
			}
			if strings.Contains(ev.data, `"nas"`) {
				t.Fatalf("another machine's event: %+v", ev)
			}
		case <-ctx.Done():
			t.Fatal("the stream outlived its link")
		}
	}
}

// TestLinkPagesAreStatic: the confirm page has no script that could act,
// and link.js is served.
func TestTapPagesAssets(t *testing.T) {
	h := newHarness(t, "pc")
	secret, _ := newTap(t, h, "pc", "shutdown")
	_, body := h.do(anon(h), http.MethodGet, "/l/"+secret, nil, nil)
	for _, s := range findAll(doc(t, body), is("script", "")) {
		if src, _ := attr(s, "src"); src == "" {
			t.Error("an inline script")
		}
	}
	if strings.Contains(body, "style=") {
		t.Error("an inline style")
	}
	var pagesCSS string
	for _, s := range findAll(doc(t, body), func(n *html.Node) bool { return n.Data == "link" || n.Data == "script" }) {
		for _, k := range []string{"href", "src"} {
			if v, _ := attr(s, k); strings.HasPrefix(v, "/static/pages.") {
				pagesCSS = v
			}
		}
	}
	if pagesCSS == "" {
		t.Fatal("no pages.css")
	}
	if res, _ := h.do(anon(h), http.MethodGet, pagesCSS, nil, nil); res.StatusCode != http.StatusOK {
		t.Errorf("%s: %s", pagesCSS, res.Status)
	}
}

// A link page saved to a home screen must stay that link: no manifest (which
// would install the dashboard instead), its own home-screen title, and one
// referrer policy, no-referrer, so its secret never leaves in a Referer.
func TestTapPagesKeepTheLink(t *testing.T) {
	h := newHarness(t, "pc")
	for _, action := range []string{"wake", "shutdown"} {
		secret, _ := newTap(t, h, "pc", action)
		_, body := h.do(anon(h), http.MethodGet, "/l/"+secret, nil, nil)
		root := doc(t, body)
		for _, l := range findAll(root, is("link", "")) {
			if rel, _ := attr(l, "rel"); rel == "manifest" {
				t.Errorf("%s link page has a manifest", action)
			}
		}
		var referrers, titles []string
		for _, m := range findAll(root, is("meta", "")) {
			name, _ := attr(m, "name")
			content, _ := attr(m, "content")
			switch name {
			case "referrer":
				referrers = append(referrers, content)
			case "apple-mobile-web-app-title":
				titles = append(titles, content)
			}
		}
		if len(referrers) != 1 || referrers[0] != "no-referrer" {
			t.Errorf("%s link page: referrer metas %q, want just no-referrer", action, referrers)
		}
		if len(titles) != 1 || !strings.Contains(titles[0], "pc") {
			t.Errorf("%s link page: home-screen titles %q, want one naming the machine", action, titles)
		}
	}
}
