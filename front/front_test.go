package front_test

import (
	"bufio"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/front"
)

// startFront serves a Front for hubURL on loopback.
func startFront(t *testing.T, hubURL string) *httptest.Server {
	t.Helper()
	f, err := front.New(hubURL)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(f.Handler())
	t.Cleanup(srv.Close)
	return srv
}

// The compatibility route through the front, against a real hub: the
// token in the query or in a header wakes, the hub's status and JSON come
// back, and every refusal is the hub's own.
func TestWakeThroughFront(t *testing.T) {
	th := startHub(t)
	fr := startFront(t, th.URL)
	r1, r2, r3 := newReceiver(t), newReceiver(t), newReceiver(t)
	th.addMachine("pc", "aa:bb:cc:dd:ee:01", r1)
	th.addMachine("laptop", "aa:bb:cc:dd:ee:02", r2)
	th.addMachine("nas", "aa:bb:cc:dd:ee:03", r3)
	phone := th.token("phone", []string{"pc", "laptop"}, []string{"wake"})

	// The token in the query string, the MAC in any form.
	a := get(t, fr.URL+"/wake?mac=AA-BB-CC-DD-EE-01&token="+phone)
	if a.Status != http.StatusAccepted {
		t.Fatalf("wake with token=: %d %s", a.Status, a.Body)
	}
	var act moonwake.Action
	if err := json.Unmarshal([]byte(a.Body), &act); err != nil || act.Machine != "pc" || act.Kind != "wake" || act.Actor.Name != "phone" {
		t.Fatalf("the hub's action: %v %s", err, a.Body)
	}
	// The hub believes the front's X-Forwarded-For (a trusted proxy) and
	// records the caller's address.
	if act.Actor.Addr != "127.0.0.1" {
		t.Errorf("actor address %q", act.Actor.Addr)
	}
	wantPacket(t, r1.next(5*time.Second), "aa:bb:cc:dd:ee:01")

	// The token in an Authorization header.
	if a := get(t, fr.URL+"/wake?mac=aabb.ccdd.ee02", "Authorization", "Bearer "+phone); a.Status != http.StatusAccepted {
		t.Fatalf("wake with a header: %d %s", a.Status, a.Body)
	}
	wantPacket(t, r2.next(5*time.Second), "aa:bb:cc:dd:ee:02")

	// Refusals are the hub's: no token, a bad one, a machine out of scope,
	// a MAC nobody registered.
	for _, c := range []struct {
		name, query string
		status      int
		code        string
	}{
		{"no token", "mac=aa:bb:cc:dd:ee:03", 401, moonwake.EUnauthorized},
		{"a bad token", "mac=aa:bb:cc:dd:ee:03&token=mw_nope", 401, moonwake.EUnauthorized},
		{"out of scope", "mac=aa:bb:cc:dd:ee:03&token=" + phone, 403, moonwake.EForbidden},
		{"unregistered", "mac=aa:bb:cc:dd:ee:99&token=" + phone, 403, moonwake.EForbidden},
		{"unregistered, admin", "mac=aa:bb:cc:dd:ee:99&token=" + th.Admin, 404, moonwake.ENotFound},
	} {
		a := get(t, fr.URL+"/wake?"+c.query)
		if a.Status != c.status || errorCode(t, a) != c.code {
			t.Errorf("%s: %d %s, want %d %s", c.name, a.Status, a.Body, c.status, c.code)
		}
		if strings.Contains(a.Body, phone) || strings.Contains(a.Body, th.Admin) {
			t.Errorf("%s: the answer holds the token: %s", c.name, a.Body)
		}
	}
	if r3.next(200*time.Millisecond) != nil {
		t.Fatal("a refused wake sent a packet")
	}
}

// A missing or bad MAC is the front's clear 400, with no round trip: the
// front in front of no hub at all answers it.
func TestWakeBadMAC(t *testing.T) {
	fr := startFront(t, "http://127.0.0.1:1")
	for _, c := range []struct{ query, says string }{
		{"", "missing mac parameter"},
		{"token=mw_x", "missing mac parameter"},
		{"mac=", "missing mac parameter"},
		{"mac=not-a-mac&token=mw_x", "want 6 bytes"},
		{"mac=zz:bb:cc:dd:ee:ff", "not hexadecimal"},
		{"mac=ff:ff:ff:ff:ff:ff", "broadcast"},
		{"mac=01:00:5e:00:00:01", "multicast"},
		{"mac=aa:bb-cc:dd:ee:ff", "separators"},
	} {
		a := get(t, fr.URL+"/wake?"+c.query)
		if a.Status != http.StatusBadRequest || errorCode(t, a) != moonwake.EInvalid || !strings.Contains(a.Body, c.says) {
			t.Errorf("?%s: %d %s, want 400 saying %q", c.query, a.Status, a.Body, c.says)
		}
	}
	req, _ := http.NewRequest("POST", fr.URL+"/wake?mac=aa:bb:cc:dd:ee:01", nil)
	if a := do(t, req); a.Status != http.StatusMethodNotAllowed {
		t.Errorf("POST /wake: %d %s", a.Status, a.Body)
	}
}

// A hub that cannot be reached is a 502 that says why, and never repeats
// the request's secrets.
func TestHubUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	fr := startFront(t, "http://"+addr)
	for _, path := range []string{
		"/wake?mac=aa:bb:cc:dd:ee:01&token=mw_secrettoken",
		"/l/mw_secretlink",
		"/l/mw_secretlink/events",
	} {
		a := get(t, fr.URL+path)
		if a.Status != http.StatusBadGateway || errorCode(t, a) != moonwake.EUnavailable {
			t.Fatalf("%s: %d %s, want 502", strings.Split(path, "?")[0], a.Status, a.Body)
		}
		if !strings.Contains(a.Body, "cannot be reached") || !strings.Contains(a.Body, "refused") || !strings.Contains(a.Body, addr) {
			t.Errorf("the reason is missing: %s", a.Body)
		}
		if strings.Contains(a.Body, "mw_secret") {
			t.Errorf("the answer holds a secret: %s", a.Body)
		}
	}
}

// What the front sends on: the token in a header, never in the URL, the
// MAC in its canonical form, the caller's address and host.
func TestWakeForwarded(t *testing.T) {
	got := make(chan *http.Request, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTeapot)
		w.Write([]byte(`{"from":"hub"}`))
	}))
	defer up.Close()
	fr := startFront(t, up.URL+"/prefix/")
	a := get(t, fr.URL+"/wake?mac=AABBCCDDEE01&token=mw_tok&wait=true&other=x", "X-Forwarded-For", "203.0.113.9", "X-Forwarded-Proto", "https")
	if a.Status != http.StatusTeapot || a.Body != `{"from":"hub"}` {
		t.Fatalf("the hub's answer was not passed on: %d %s", a.Status, a.Body)
	}
	r := <-got
	if r.URL.Path != "/prefix/wake" || r.URL.RawQuery != "mac=aa%3Abb%3Acc%3Add%3Aee%3A01&wait=true" {
		t.Errorf("forwarded URL %s", r.URL)
	}
	if h := r.Header.Get("Authorization"); h != "Bearer mw_tok" {
		t.Errorf("Authorization %q", h)
	}
	if h := r.Header.Get("X-Forwarded-For"); h != "203.0.113.9, 127.0.0.1" {
		t.Errorf("X-Forwarded-For %q", h)
	}
	if h := r.Header.Get("X-Forwarded-Proto"); h != "https" {
		t.Errorf("X-Forwarded-Proto %q, want the ingress's https", h)
	}
	if u, _ := url.Parse(fr.URL); r.Host != u.Host || r.Header.Get("X-Forwarded-Host") != u.Host {
		t.Errorf("Host %q, want the caller's %q", r.Host, u.Host)
	}
}

// Tap links through the front: the page (which wakes on GET), its static
// files, its event stream as it happens, and its POST, with the hub's
// cross-origin check intact.
func TestTapLinkThroughFront(t *testing.T) {
	th := startHub(t)
	fr := startFront(t, th.URL)
	r := newReceiver(t)
	th.addMachine("pc", "aa:bb:cc:dd:ee:31", r)
	secret := th.tapLink("pc")

	page := get(t, fr.URL+"/l/"+secret)
	if page.Status != 200 || !strings.HasPrefix(page.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET the link: %d %s", page.Status, page.Header.Get("Content-Type"))
	}
	wantPacket(t, r.next(5*time.Second), "aa:bb:cc:dd:ee:31")
	direct := get(t, th.URL+"/l/"+secret)
	if direct.Header.Get("Content-Security-Policy") == "" || page.Header.Get("Content-Security-Policy") != direct.Header.Get("Content-Security-Policy") {
		t.Errorf("the page's headers were not passed on: %q", page.Header.Get("Content-Security-Policy"))
	}
	r.drain()

	// Every static file the page loads.
	assets := regexp.MustCompile(`(?:href|src)="(/static/[^"]+)"`).FindAllStringSubmatch(page.Body, -1)
	if len(assets) == 0 {
		t.Fatalf("the page loads no static file:\n%s", page.Body)
	}
	for _, m := range assets {
		if a := get(t, fr.URL+m[1]); a.Status != 200 || a.Body == "" {
			t.Errorf("GET %s: %d", m[1], a.Status)
		}
	}

	// The event stream arrives as the hub writes it, not when it ends.
	req, _ := http.NewRequest("GET", fr.URL+"/l/"+secret+"/events", nil)
	req.Header.Set("Last-Event-ID", "0")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	timeout := time.After(10 * time.Second)
	for seen := false; !seen; {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("the stream ended")
			}
			seen = strings.HasPrefix(l, "data:") && strings.Contains(l, `"pc"`)
		case <-timeout:
			t.Fatal("no event came through the front while the stream was open")
		}
	}
	res.Body.Close()

	// The button's POST: from the page's own origin it wakes; from another
	// site the hub refuses it, through the front as without it.
	post := func(site string) answer {
		req, _ := http.NewRequest("POST", fr.URL+"/l/"+secret, nil)
		req.Header.Set("Sec-Fetch-Site", site)
		return do(t, req)
	}
	if a := post("same-origin"); a.Status != 200 {
		t.Fatalf("POST from the page: %d %s", a.Status, a.Body)
	}
	if a := post("cross-site"); a.Status != http.StatusForbidden {
		t.Errorf("POST from another site: %d", a.Status)
	}
	req, _ = http.NewRequest("POST", fr.URL+"/l/"+secret, nil)
	req.Header.Set("Origin", fr.URL)
	if a := do(t, req); a.Status != 200 {
		t.Errorf("POST with the front's Origin and no Sec-Fetch-Site: %d", a.Status)
	}

	// A revoked or unknown link is the hub's gone page, and the front
	// serves nothing else.
	if a := get(t, fr.URL+"/l/mw_unknown"); a.Status != 404 || strings.Contains(a.Body, "mw_unknown") {
		t.Errorf("unknown link: %d", a.Status)
	}
	for _, path := range []string{"/", "/api/v1/machines", "/tokens", "/login"} {
		if a := get(t, fr.URL+path, "Authorization", "Bearer "+th.Admin); a.Status != 404 || errorCode(t, a) != moonwake.ENotFound {
			t.Errorf("GET %s through the front: %d, want 404", path, a.Status)
		}
	}
	if a := get(t, fr.URL+"/healthz"); a.Status != 200 {
		t.Errorf("healthz: %d", a.Status)
	}
}

func TestNewRefusesBadHubURLs(t *testing.T) {
	for _, u := range []string{"", "moonwake:8080", "ftp://hub", "http://", "http://user:pw@hub", "http://hub/?token=x", "http://hub/#x"} {
		if _, err := front.New(u); err == nil {
			t.Errorf("New(%q) accepted it", u)
		} else if strings.Contains(err.Error(), "pw") {
			t.Errorf("New(%q): the error holds the password: %v", u, err)
		}
	}
	if _, err := front.New(" https://wake.example.net/ "); err != nil {
		t.Error(err)
	}
}

// The Fission function's copy of front.go is this package's, renamed: the
// plugin and the Knative front run the same code.
func TestFissionCopyIsCurrent(t *testing.T) {
	src, err := os.ReadFile("front.go")
	if err != nil {
		t.Fatal(err)
	}
	copied, err := os.ReadFile("../deploy/fission/wake/front.go")
	if err != nil {
		t.Fatal(err)
	}
	want := "// Code generated from front/front.go by go generate in front/. DO NOT EDIT.\n\n" +
		strings.Replace(string(src), "\npackage front\n", "\npackage main\n", 1)
	if string(copied) != want {
		out, _ := exec.Command("diff", "-u", "../deploy/fission/wake/front.go", "front.go").CombinedOutput()
		t.Fatalf("deploy/fission/wake/front.go is stale: run go generate ./front\n%s", out)
	}
}
