package web

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/internal/ratelimit"
)

// A form whose CSRF token comes in the X-CSRF-Token header is still read.
func TestHeaderCSRFFormIsRead(t *testing.T) {
	h := newHarness(t, "pc1")
	h.signIn()
	token := h.csrf()
	form := url.Values{"mac": {"02:00:00:00:00:aa"}, "host": {"pc1.lan"}, "port": {"9"}}
	res, body := h.do(h.client, http.MethodPost, "/machines/pc1/edit", form, map[string]string{"X-CSRF-Token": token})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("edit with header token: %s\n%s", res.Status, body)
	}
	m, err := h.machines.FindMachine(context.Background(), "pc1")
	if err != nil {
		t.Fatal(err)
	}
	if m.Host != "pc1.lan" || m.MAC != "02:00:00:00:00:aa" {
		t.Errorf("the form was not read: %+v", m)
	}
}

// Paths under /l/ that no link page serves answer the gone page: no
// redirect to the sign-in page, no echo of the path, signed in or not.
func TestTapSubpathsAreGone(t *testing.T) {
	h := newHarness(t, "pc")
	secret, _ := newTap(t, h, "pc", "wake")
	h.signIn()
	for _, c := range []*http.Client{anon(h), h.client} {
		for _, p := range []string{"/l/" + secret + "/", "/l/" + secret + "/anything", "/l/" + secret + "/events/x"} {
			for _, method := range []string{http.MethodGet, http.MethodPost} {
				res, body := h.do(c, method, p, url.Values{}, nil)
				if res.StatusCode != http.StatusNotFound {
					t.Errorf("%s %s…: %s (Location %q)", method, p[:12], res.Status, res.Header.Get("Location"))
				}
				if strings.Contains(body, secret) || strings.Contains(res.Header.Get("Location"), secret) {
					t.Errorf("%s %s…: the answer repeats the secret", method, p[:12])
				}
				if !strings.Contains(body, "This link was revoked or never existed") {
					t.Errorf("%s %s…: not the gone page", method, p[:12])
				}
			}
		}
	}
	if n := len(h.power.Calls()); n != 0 {
		t.Errorf("%d power calls", n)
	}
	// The generic 404 never prints a path under /l/.
	r, _ := http.NewRequest(http.MethodGet, "/l/"+secret+"/x", nil)
	if msg := moonwake.ErrorMessage(notFound(r)); strings.Contains(msg, secret) {
		t.Errorf("notFound: %q", msg)
	}
}

// Wrong passwords sent all at once get no more tries than the limit: the
// try is paid for before the password is checked.
func TestParallelWrongPasswordsLimited(t *testing.T) {
	h := newHarness(t)
	h.signIn()
	const n = 40
	codes := make(chan int, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			req, _ := http.NewRequest(http.MethodPost, h.ts.URL+"/login", strings.NewReader("password=not+the+password"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			res, err := h.newClient().Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusTooManyRequests && res.Header.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
			codes <- res.StatusCode
		}()
	}
	close(start)
	wg.Wait()
	close(codes)
	count := map[int]int{}
	for c := range codes {
		count[c]++
	}
	if count[http.StatusUnauthorized] > loginBurst || count[http.StatusUnauthorized]+count[http.StatusTooManyRequests] != n {
		t.Errorf("answers %v: want at most %d 401s, the rest 429", count, loginBurst)
	}
	if count[http.StatusUnauthorized] == 0 {
		t.Errorf("answers %v: no try was checked", count)
	}
}

// At most argonSlots passwords are checked at a time; the others are
// refused with 429 and Retry-After once the short wait is over.
func TestArgonRunsBounded(t *testing.T) {
	h := newHarness(t)
	h.signIn()
	var mu sync.Mutex
	inside, most := 0, 0
	hold := make(chan struct{})
	entered := make(chan struct{}, 16)
	hook := func() {
		mu.Lock()
		inside++
		most = max(most, inside)
		mu.Unlock()
		entered <- struct{}{}
		<-hold
		mu.Lock()
		inside--
		mu.Unlock()
	}
	argonHook.Store(&hook)
	argonWait.Store(int64(50 * time.Millisecond))
	t.Cleanup(func() { argonHook.Store(nil); argonWait.Store(0) })

	// Each from an address of its own, so the rate limit is not what stops them.
	h.reconfigure(func(s *Server) { s.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")} })
	const n = 6
	codes := make(chan *http.Response, n)
	for i := range n {
		go func() {
			req, _ := http.NewRequest(http.MethodPost, h.ts.URL+"/login", strings.NewReader("password=not+the+password"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("X-Forwarded-For", fmt.Sprintf("192.0.2.%d", i+1))
			res, err := h.newClient().Do(req)
			if err != nil {
				t.Error(err)
				codes <- nil
				return
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			codes <- res
		}()
	}
	// Two hold the slots; the other four must be refused while they do.
	for range n - argonSlots {
		res := <-codes
		if res == nil {
			continue
		}
		if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
			t.Errorf("while the slots are held: %s, Retry-After %q", res.Status, res.Header.Get("Retry-After"))
		}
	}
	for range argonSlots {
		select {
		case <-entered:
		case <-time.After(20 * time.Second):
			close(hold)
			t.Fatal("no password check holds a slot")
		}
	}
	close(hold)
	for range argonSlots {
		if res := <-codes; res != nil && res.StatusCode != http.StatusUnauthorized {
			t.Errorf("a held check: %s", res.Status)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if most > argonSlots {
		t.Errorf("%d argon2 runs at once, want at most %d", most, argonSlots)
	}
}

// openTapStream opens a link's event stream from c.
func openTapStream(t *testing.T, h *harness, c *http.Client, secret, after string, header map[string]string) *http.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	p := "/l/" + secret + "/events"
	if after != "" {
		p += "?after=" + after
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.ts.URL+p, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	return res
}

// A link's stream tells what the page shows, not who acted, the MAC, the
// steps or the probes' evidence.
func TestTapEventsReduced(t *testing.T) {
	h := newHarness(t, "pc")
	secret, _ := newTap(t, h, "pc", "shutdown")
	res := openTapStream(t, h, anon(h), secret, strconv.FormatInt(h.broker.Seq(), 10), nil)
	if res.StatusCode != http.StatusOK {
		t.Fatal(res.Status)
	}
	evs := readEvents(bufio.NewReader(res.Body))
	now := time.Now()
	h.broker.Publish(moonwake.EventAction, "pc", &moonwake.Action{
		ID: "act_1", Kind: "shutdown", Machine: "pc", MAC: "02:00:00:00:00:01", Status: "running",
		Actor:     moonwake.Actor{Kind: "token", Name: "secret-token-name", TokenID: "tok_x", Addr: "198.51.100.7"},
		Steps:     []moonwake.Step{{At: now, Kind: "send", Via: "udp", Target: "10.0.0.255:9"}},
		CreatedAt: now,
	})
	h.broker.Publish(moonwake.EventState, "pc", moonwake.StateChange{Machine: "pc", From: "on", To: "off", Reason: "no answer from 10.0.0.5", At: now})
	for _, want := range []string{"action", "state"} {
		var ev sseEvent
		select {
		case ev = <-evs:
		case <-time.After(20 * time.Second):
			t.Fatal("no event")
		}
		if ev.typ != want {
			t.Fatalf("event %+v, want %s", ev, want)
		}
		for _, bad := range []string{`"actor"`, `"mac"`, `"steps"`, `"evidence"`, `"reason"`, "secret-token-name", "tok_x", "198.51.100.7", "02:00:00:00:00:01", "10.0.0"} {
			if strings.Contains(ev.data, bad) {
				t.Errorf("%s event carries %s: %s", want, bad, ev.data)
			}
		}
		var msg struct {
			Data map[string]any `json:"data"`
		}
		if err := json.Unmarshal([]byte(ev.data), &msg); err != nil {
			t.Fatal(err)
		}
		keys := map[string][]string{"action": {"id", "kind", "machine", "status", "created_at"}, "state": {"to", "at"}}[want]
		for _, k := range keys {
			if _, ok := msg.Data[k]; !ok {
				t.Errorf("%s event lacks %s: %s", want, k, ev.data)
			}
		}
	}
}

// A link has at most 4 open event streams, and so has a
// client address; a closed stream frees its place.
func TestTapStreamsBounded(t *testing.T) {
	h := newHarness(t, "pc")
	a, _ := newTap(t, h, "pc", "wake")
	b, _ := newTap(t, h, "pc", "shutdown")
	h.reconfigure(func(s *Server) { s.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")} })
	from := func(ip string) map[string]string { return map[string]string{"X-Forwarded-For": ip} }
	var open []*http.Response
	for i := range maxTapStreams {
		res := openTapStream(t, h, anon(h), a, "", from(fmt.Sprintf("192.0.2.%d", i+1)))
		if res.StatusCode != http.StatusOK {
			t.Fatalf("stream %d: %s", i, res.Status)
		}
		open = append(open, res)
	}
	// Per link.
	if res := openTapStream(t, h, anon(h), a, "", from("192.0.2.100")); res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
		t.Fatalf("stream past the link's limit: %s", res.Status)
	}
	// Per address: 192.0.2.1 has one open; three more of link b, then no more.
	for i := range maxTapStreams - 1 {
		if res := openTapStream(t, h, anon(h), b, "", from("192.0.2.1")); res.StatusCode != http.StatusOK {
			t.Fatalf("stream %d of b: %s", i, res.Status)
		}
	}
	if res := openTapStream(t, h, anon(h), b, "", from("192.0.2.1")); res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("stream past the address's limit: %s", res.Status)
	}
	// Closing one of a's streams frees a place.
	open[3].Body.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		res := openTapStream(t, h, anon(h), a, "", from("192.0.2.200"))
		if res.StatusCode == http.StatusOK {
			break
		}
		res.Body.Close()
		if time.Now().After(deadline) {
			t.Fatalf("a closed stream still counts: %s", res.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Two addresses of one IPv6 /64 share a sign-in bucket; another /64 does not.
func TestAddrLimiterIPv6Prefix(t *testing.T) {
	l := newAddrLimiter(loginRate, loginBurst)
	now := time.Now()
	for i := range loginBurst {
		l.fail(fmt.Sprintf("2001:db8:1:2::%x", i+1), now)
	}
	if blocked, _ := l.blocked("2001:db8:1:2:ffff::1", now); !blocked {
		t.Error("another address of the same /64 is not blocked")
	}
	if blocked, _ := l.blocked("2001:db8:1:3::1", now); blocked {
		t.Error("another /64 is blocked")
	}
}

// The limiters' maps stay bounded, however many addresses come.
func TestLimiterMapsBounded(t *testing.T) {
	l := newAddrLimiter(loginRate, loginBurst)
	lb := newTapBuckets(30, 10)
	now := time.Now()
	for i := range maxTapBuckets + 2000 {
		addr := fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
		l.fail(addr, now)
		lb.allow(ratelimit.AddrKey(addr))
	}
	if n := l.k.Len(); n > maxAddrBuckets {
		t.Errorf("sign-in limiter: %d buckets, cap %d", n, maxAddrBuckets)
	}
	if n := lb.Len(); n > maxTapBuckets {
		t.Errorf("link limiter: %d buckets, cap %d", n, maxTapBuckets)
	}
	// Past the cap, newcomers share the overflow bucket and are limited by it.
	blocked := false
	for i := range 2 * loginBurst {
		if b, _ := l.blocked(fmt.Sprintf("172.16.%d.%d", i>>8, i&255), now); b {
			blocked = true
		}
		l.fail(fmt.Sprintf("172.16.%d.%d", i>>8, i&255), now)
	}
	if !blocked {
		t.Error("newcomers past the cap are not limited")
	}
}

// A sign-in whose check began before a password reset does not get a
// session after it.
func TestSignInRacingResetRefused(t *testing.T) {
	h := newHarness(t)
	h.signIn()
	var once sync.Once
	hook := func() {
		once.Do(func() {
			hash, err := hashPassword("a brand new password")
			if err == nil {
				err = h.sessions.SetPasswordHash(context.Background(), hash)
			}
			if err != nil {
				t.Error(err)
			}
		})
	}
	argonHook.Store(&hook)
	t.Cleanup(func() { argonHook.Store(nil) })
	res, body := h.do(h.newClient(), http.MethodPost, "/login", url.Values{"password": {harnessPassword}}, nil)
	if res.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "wrong password") {
		t.Fatalf("sign-in racing a reset: %s", res.Status)
	}
	if list, err := h.sessions.ListSessions(context.Background()); err != nil || len(list) != 0 {
		t.Fatalf("sessions after the reset: %d %v", len(list), err)
	}
}
