package web

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/mock"
)

// reconfigure serves h's services again from a new Server that f changes
// before its Handler is made (so no field is written while requests run).
// The client's session stays valid: it lives in the database.
func (h *harness) reconfigure(f func(*Server)) {
	h.t.Helper()
	o := h.srv
	s := &Server{
		Machines: o.Machines, Tokens: o.Tokens, Actions: o.Actions, Sessions: o.Sessions,
		Power: o.Power, Events: o.Events, Monitor: o.Monitor, Pairing: o.Pairing, KeepAwake: o.KeepAwake,
		Sunshine: o.Sunshine, Relays: o.Relays, Discovery: o.Discovery, PublicURL: o.PublicURL,
		TrustedProxies: o.TrustedProxies, SessionTTL: o.SessionTTL, Logger: o.Logger, Now: o.Now,
		heartbeat: o.heartbeat,
	}
	f(s)
	ts := httptest.NewServer(s.Handler())
	h.t.Cleanup(ts.Close)
	h.t.Cleanup(s.CloseStreams)
	h.srv, h.ts = s, ts
}

// logBuffer collects what a slog logger writes, for tests to search.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// captureLogs makes the server log everything, at debug level, into a
// buffer.
func captureLogs(s *Server) *logBuffer {
	b := &logBuffer{}
	s.Logger = slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return b
}

// doc parses a page.
func doc(t *testing.T, body string) *html.Node {
	t.Helper()
	n, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// findAll returns the elements under n for which match holds.
func findAll(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && match(n) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

// attr returns n's attribute key, and whether it has it.
func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

// hasClass reports whether n has the class c.
func hasClass(n *html.Node, c string) bool {
	v, _ := attr(n, "class")
	return slices.Contains(strings.Fields(v), c)
}

// is matches elements by tag and, optionally, class.
func is(tag, class string) func(*html.Node) bool {
	return func(n *html.Node) bool { return n.Data == tag && (class == "" || hasClass(n, class)) }
}

// byID matches the element with that id.
func byID(id string) func(*html.Node) bool {
	return func(n *html.Node) bool { v, _ := attr(n, "id"); return v == id }
}

// text returns the text inside n.
func text(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.TrimSpace(b.String())
}

// machineCard returns the page's one article.machine.
func machineCard(t *testing.T, body string) *html.Node {
	t.Helper()
	cards := findAll(doc(t, body), is("article", "machine"))
	if len(cards) != 1 {
		t.Fatalf("%d article.machine, want 1:\n%s", len(cards), body)
	}
	if len(findAll(cards[0], func(n *html.Node) bool { return hasClass(n, "progress") })) != 1 {
		t.Errorf("card without one .progress")
	}
	return cards[0]
}

// inputValue returns the value of the form input called name.
func inputValue(t *testing.T, body, name string) string {
	t.Helper()
	ins := findAll(doc(t, body), func(n *html.Node) bool { v, _ := attr(n, "name"); return n.Data == "input" && v == name })
	if len(ins) != 1 {
		t.Fatalf("%d inputs %q", len(ins), name)
	}
	v, _ := attr(ins[0], "value")
	return v
}

// TestPagesNeedSession: every page of this part of the web app sends a
// browser without a session to sign in, refuses its POSTs, and refuses
// POSTs of a signed-in browser without the CSRF token.
func TestPagesNeedSession(t *testing.T) {
	h := newHarness(t, "pc")
	h.relays.set(&moonwake.Relay{Name: "office", Networks: []string{}})
	routes := []struct{ method, path string }{
		{"GET", "/machines/new"},
		{"POST", "/machines/new"},
		{"GET", "/machines/pc"},
		{"GET", "/machines/pc/edit"},
		{"POST", "/machines/pc/edit"},
		{"POST", "/machines/pc/delete"},
		{"POST", "/machines/pc/pair"},
		{"POST", "/machines/pc/sunshine/pair"},
		{"GET", "/tokens"},
		{"POST", "/tokens"},
		{"POST", "/tokens/links"},
		{"POST", "/tokens/admin/revoke"},
		{"GET", "/relays"},
		{"POST", "/relays/pair"},
		{"POST", "/relays/office/forget"},
	}
	form := url.Values{"confirm": {"yes"}, "name": {"x"}, "mac": {"02:00:00:00:00:99"}, "machine": {"pc"}, "action": {"wake"}, "pin": {"1234"}}
	for _, rt := range routes {
		res, _ := h.do(h.client, rt.method, rt.path, form, nil)
		if rt.method == "GET" {
			if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/login") {
				t.Errorf("%s %s signed out: %s to %q, want a redirect to /login", rt.method, rt.path, res.Status, res.Header.Get("Location"))
			}
		} else if res.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s %s signed out: %s, want 401", rt.method, rt.path, res.Status)
		}
	}
	h.signIn()
	for _, rt := range routes {
		if rt.method != "POST" {
			continue
		}
		res, _ := h.do(h.client, rt.method, rt.path, form, nil) // no csrf field
		if res.StatusCode != http.StatusForbidden {
			t.Errorf("%s %s without CSRF token: %s, want 403", rt.method, rt.path, res.Status)
		}
		bad := url.Values{"csrf": {"wrong"}}
		for k, v := range form {
			bad[k] = v
		}
		if res, _ := h.do(h.client, rt.method, rt.path, bad, nil); res.StatusCode != http.StatusForbidden {
			t.Errorf("%s %s with a wrong CSRF token: %s, want 403", rt.method, rt.path, res.Status)
		}
	}
	// Nothing was changed by any of it.
	if _, err := h.machines.FindMachine(context.Background(), "pc"); err != nil {
		t.Errorf("pc: %v", err)
	}
	if ms, _ := h.machines.ListMachines(context.Background()); len(ms) != 1 {
		t.Errorf("%d machines, want 1", len(ms))
	}
	if ts, _ := h.tokens.ListTokens(context.Background()); len(ts) != 1 || ts[0].RevokedAt != nil {
		t.Errorf("tokens changed: %+v", ts)
	}
	if c := h.power.Calls(); len(c) != 0 {
		t.Errorf("power calls %v", c)
	}
	if paired, deleted := h.relays.calls(); len(paired)+len(deleted) != 0 {
		t.Errorf("relays paired %v, forgotten %v", paired, deleted)
	}
}

// agentPairer hands out a fixed agent pairing code.
func agentPairer(code string) *mock.AgentPairer {
	return &mock.AgentPairer{NewAgentPairingFn: func(_ context.Context, machine string) (moonwake.AgentPairing, error) {
		return moonwake.AgentPairing{Machine: machine, Code: code, ExpiresAt: time.Now().Add(10 * time.Minute), HubFingerprint: "SHA256:abcDEF123"}, nil
	}}
}

func TestMachinePage(t *testing.T) {
	h := newHarness(t, "pc", "other")
	ctx := context.Background()
	since := time.Now().Add(-5 * time.Minute)
	h.monitor.set("pc", moonwake.PowerInfo{
		State: moonwake.StateOff, Since: since, Reason: "no answer (tcp/47989 timeout)",
		Evidence: &moonwake.Evidence{At: time.Now(), Addr: "127.0.0.2", TCP: []moonwake.TCPResult{{Port: 47989, Outcome: moonwake.OutcomeTimeout}}},
		Agent:    &moonwake.AgentInfo{ID: "agent_42", Connected: false},
	})
	h.srv.KeepAwake.SetKeepAwake(ctx, "pc", time.Now().Add(90*time.Minute), "test")
	actions := h.srv.Actions
	old := &moonwake.Action{ID: "a1", Kind: "wake", Machine: "pc", MAC: "02:00:00:00:00:01", Status: moonwake.StatusFailed,
		Detail: "no answer after 2 min", Actor: moonwake.Actor{Kind: "token", Name: "phone", Addr: "192.0.2.7"}, Steps: []moonwake.Step{},
		CreatedAt: time.Now().Add(-time.Hour).UTC()}
	if err := actions.CreateAction(ctx, old); err != nil {
		t.Fatal(err)
	}
	h.signIn()
	res, body := h.get("/machines/pc")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("%s\n%s", res.Status, body)
	}
	card := machineCard(t, body)
	if v, _ := attr(card, "data-machine"); v != "pc" {
		t.Errorf("data-machine %q", v)
	}
	if v, _ := attr(card, "data-state"); v != "off" {
		t.Errorf("data-state %q", v)
	}
	if v, _ := attr(card, "data-outcome"); v != "failed" {
		t.Errorf("data-outcome %q, want the newest action's", v)
	}
	for _, act := range []string{"wake", "shutdown", "keep-awake"} {
		bs := findAll(card, func(n *html.Node) bool { v, _ := attr(n, "data-action"); return n.Data == "button" && v == act })
		if len(bs) != 1 {
			t.Errorf("%d buttons %s", len(bs), act)
			continue
		}
		if action, _ := attr(bs[0].Parent, "action"); action != "/machines/pc/"+act {
			t.Errorf("button %s posts to %q", act, action)
		}
	}
	for _, want := range []string{"agent_42", "not linked", "no answer after 2 min", "token phone from 192.0.2.7", "Kept awake until", "tcp/47989 timeout", "does not pair agents", "Delete"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(body, "other") {
		t.Error("the page shows another machine")
	}
	if res, _ := h.get("/machines/nope"); res.StatusCode != http.StatusNotFound {
		t.Errorf("unknown machine: %s", res.Status)
	}

	// A newer action, running, is the card's.
	run := &moonwake.Action{ID: "a2", Kind: "shutdown", Machine: "pc", Status: moonwake.StatusRunning, Steps: []moonwake.Step{}, CreatedAt: time.Now().UTC()}
	if err := actions.CreateAction(ctx, run); err != nil {
		t.Fatal(err)
	}
	_, body = h.get("/machines/pc")
	if v, _ := attr(machineCard(t, body), "data-outcome"); v != "running" {
		t.Errorf("data-outcome %q, want running", v)
	}
}

func TestMachinePageHistory(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	sc := func(from, to moonwake.PowerState, at time.Time) *moonwake.Event {
		b, _ := json.Marshal(moonwake.StateChange{Machine: "pc", From: from, To: to, Reason: "because " + string(to), At: at})
		return &moonwake.Event{Type: moonwake.EventState, Machine: "pc", At: at, Data: b}
	}
	states := []*moonwake.Event{sc("", moonwake.StateOff, t0), sc(moonwake.StateOff, moonwake.StateOn, t0.Add(2*time.Minute))}
	actions := []*moonwake.Action{{Kind: "wake", Status: "succeeded", CreatedAt: t0.Add(time.Minute), Actor: moonwake.Actor{Kind: "session", Name: "admin"}}}
	got := mergeHistory(states, actions)
	var whats []string
	for _, e := range got {
		whats = append(whats, e.What)
	}
	if want := []string{"off → on", "wake", "off"}; !slices.Equal(whats, want) {
		t.Errorf("history %v, want %v", whats, want)
	}
	if got[1].Actor != "session admin" || got[1].Outcome != "succeeded" || got[0].Detail != "because on" {
		t.Errorf("entries %+v", got)
	}
}

func TestMachinePairAgent(t *testing.T) {
	h := newHarness(t, "pc")
	var logs *logBuffer
	h.reconfigure(func(s *Server) {
		s.Pairing = agentPairer("ABCD-EFGH-JKLM")
		logs = captureLogs(s)
	})
	h.signIn()
	res, body := h.post("/machines/pc/pair", nil)
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("%s\n%s", res.Status, body)
	}
	cmd := findAll(doc(t, body), byID("pair-command"))
	want := "moonwake-agent pair --hub " + h.ts.URL + " --code ABCD-EFGH-JKLM --hub-fingerprint SHA256:abcDEF123"
	if len(cmd) != 1 || text(cmd[0]) != want {
		t.Errorf("command %v, want %q", cmd, want)
	}
	if res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q", res.Header.Get("Cache-Control"))
	}
	if strings.Contains(logs.String(), "ABCD-EFGH-JKLM") {
		t.Errorf("the pairing code was logged:\n%s", logs)
	}
	if !strings.Contains(logs.String(), "pairing code issued") {
		t.Errorf("no log of the pairing:\n%s", logs)
	}
	// Without a pairer, the page says so.
	h.reconfigure(func(s *Server) { s.Pairing = nil })
	if res, _ := h.post("/machines/pc/pair", nil); res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("no pairer: %s", res.Status)
	}
}

// sunshinePairings is the state behind a mock.SunshinePairer: it records
// the pairings asked for, and fails them with err when set.
type sunshinePairings struct {
	mu    sync.Mutex
	calls []string
	web   []moonwake.SunshineWeb
	err   error
}

// pairer returns the Sunshine pairer that f stands behind.
func (f *sunshinePairings) pairer() *mock.SunshinePairer {
	return &mock.SunshinePairer{
		PairSunshineFn: func(_ context.Context, m *moonwake.Machine, pin string, port int) (moonwake.SunshinePairing, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.calls = append(f.calls, "pin "+m.Name+" "+pin+" "+strconv.Itoa(port))
			return moonwake.SunshinePairing{Machine: m.Name, PairedAt: time.Now(), MAC: m.MAC, MACMatches: true}, f.err
		},
		PairSunshineAutoFn: func(_ context.Context, m *moonwake.Machine, port int, web moonwake.SunshineWeb) (moonwake.SunshinePairing, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.calls = append(f.calls, "auto "+m.Name+" "+strconv.Itoa(port)+" "+strconv.Itoa(web.Port))
			f.web = append(f.web, web)
			return moonwake.SunshinePairing{Machine: m.Name, PairedAt: time.Now()}, f.err
		},
	}
}

func TestMachinePairSunshine(t *testing.T) {
	h := newHarness(t, "pc")
	sun := &sunshinePairings{}
	var logs *logBuffer
	h.reconfigure(func(s *Server) { s.Sunshine = sun.pairer(); logs = captureLogs(s) })
	h.signIn()

	res, body := h.post("/machines/pc/sunshine/pair", url.Values{"pin": {"12a4"}, "port": {"47989"}})
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(body, "4 digits") {
		t.Errorf("bad PIN: %s", res.Status)
	}
	if res, _ := h.post("/machines/pc/sunshine/pair", url.Values{"pin": {"1234"}, "port": {"70000"}}); res.StatusCode != http.StatusBadRequest {
		t.Errorf("bad port: %s", res.Status)
	}
	res, body = h.post("/machines/pc/sunshine/pair", url.Values{"pin": {"1234"}})
	if res.StatusCode != http.StatusOK || !strings.Contains(body, "Paired with") {
		t.Errorf("pair: %s", res.Status)
	}
	const pw = "s3cret-Sunshine-pw"
	res, body = h.post("/machines/pc/sunshine/pair", url.Values{"auto": {"1"}, "username": {"sunny"}, "password": {pw}, "web_port": {"47991"}})
	if res.StatusCode != http.StatusOK {
		t.Errorf("auto: %s", res.Status)
	}
	if strings.Contains(body, pw) || strings.Contains(logs.String(), pw) {
		t.Error("the Sunshine password was echoed or logged")
	}
	// Missing credentials, and a host that fails: the form comes back
	// with the username, never the password.
	if res, _ := h.post("/machines/pc/sunshine/pair", url.Values{"auto": {"1"}, "username": {"sunny"}}); res.StatusCode != http.StatusBadRequest {
		t.Errorf("auto without password: %s", res.Status)
	}
	sun.mu.Lock()
	sun.err = moonwake.Errorf(moonwake.EUnavailable, "the host did not answer")
	sun.mu.Unlock()
	res, body = h.post("/machines/pc/sunshine/pair", url.Values{"auto": {"1"}, "username": {"sunny"}, "password": {pw}})
	if res.StatusCode != http.StatusBadGateway || !strings.Contains(body, "the host did not answer") || strings.Contains(body, pw) {
		t.Errorf("failed pairing: %s", res.Status)
	}
	if v := inputValue(t, body, "username"); v != "sunny" {
		t.Errorf("username kept as %q", v)
	}
	sun.mu.Lock()
	defer sun.mu.Unlock()
	if want := []string{"pin pc 1234 47989", "auto pc 47989 47991", "auto pc 47989 47990"}; !slices.Equal(sun.calls, want) {
		t.Errorf("calls %v, want %v", sun.calls, want)
	}
	if sun.web[0].Password != pw || sun.web[0].Username != "sunny" {
		t.Errorf("credentials passed: %v", sun.web[0])
	}
	if strings.Contains(logs.String(), pw) {
		t.Error("the Sunshine password was logged")
	}
}

func TestMachineEdit(t *testing.T) {
	h := newHarness(t, "pc")
	ctx := context.Background()
	if _, err := h.machines.UpdateMachine(ctx, "pc", moonwake.MachineUpdate{Password: ptr("01:02:03:04")}); err != nil {
		t.Fatal(err)
	}
	h.signIn()
	res, body := h.get("/machines/pc/edit")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("%s\n%s", res.Status, body)
	}
	if v := inputValue(t, body, "mac"); v != "02:00:00:00:00:01" {
		t.Errorf("mac %q", v)
	}
	if v := inputValue(t, body, "password"); v != "" {
		t.Errorf("the password is in the form: %q", v)
	}

	// Bad input: the form comes back with every field as typed.
	form := url.Values{"mac": {"02:00:00:00:00:01"}, "host": {"pc.lan"}, "interface": {"eth1"}, "broadcast": {"10.0.0.255"},
		"port": {"7"}, "ports": {"47989, 99999"}, "tags": {"Games, upstairs"}}
	res, body = h.post("/machines/pc/edit", form)
	if res.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad ports: %s", res.Status)
	}
	if !strings.Contains(body, "99999") || !strings.Contains(body, "is not a port number") {
		t.Errorf("no error message about the port")
	}
	for k, v := range map[string]string{"host": "pc.lan", "interface": "eth1", "broadcast": "10.0.0.255", "port": "7", "ports": "47989, 99999", "tags": "Games, upstairs", "name": "pc"} {
		if got := inputValue(t, body, k); got != v {
			t.Errorf("field %s kept as %q, want %q", k, got, v)
		}
	}
	form.Set("mac", "not a mac")
	form.Set("ports", "47989 22")
	if res, body = h.post("/machines/pc/edit", form); res.StatusCode != http.StatusBadRequest || inputValue(t, body, "mac") != "not a mac" {
		t.Errorf("bad mac: %s", res.Status)
	}
	if m, _ := h.machines.FindMachine(ctx, "pc"); m.Host != "127.0.0.2" {
		t.Errorf("a failed edit changed the machine: %+v", m)
	}

	// Good input: saved; a blank password keeps the one set.
	form.Set("mac", "02-00-00-00-00-AA")
	res, body = h.post("/machines/pc/edit", form)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/machines/pc" {
		t.Fatalf("edit: %s %s\n%s", res.Status, res.Header.Get("Location"), body)
	}
	m, _ := h.machines.FindMachine(ctx, "pc")
	if m.MAC != "02:00:00:00:00:aa" || m.Host != "pc.lan" || m.Port != 7 || !slices.Equal(m.Ports, []int{22, 47989}) ||
		!slices.Equal(m.Tags, []string{"games", "upstairs"}) || m.Interface != "eth1" || m.Password != "01:02:03:04" {
		t.Errorf("saved %+v", m)
	}
	// Clearing the password, and the optional fields.
	res, _ = h.post("/machines/pc/edit", url.Values{"mac": {m.MAC}, "clear_password": {"1"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("clear: %s", res.Status)
	}
	m, _ = h.machines.FindMachine(ctx, "pc")
	if m.Password != "" || m.Host != "" || m.Ports != nil || len(m.Tags) != 0 || m.Port != 0 {
		t.Errorf("cleared %+v", m)
	}
}

func ptr[T any](v T) *T { return &v }

// The relay field: typed in the add and edit forms, kept when the form
// comes back with an error, shown on the machine page when set, cleared by
// an empty field.
func TestMachineRelay(t *testing.T) {
	h := newHarness(t, "pc")
	ctx := context.Background()
	h.signIn()
	relayShown := func(body string) string {
		t.Helper()
		for _, dt := range findAll(doc(t, body), func(n *html.Node) bool { return n.Data == "dt" }) {
			if text(dt) != "Relay" {
				continue
			}
			for dd := dt.NextSibling; dd != nil; dd = dd.NextSibling {
				if dd.Type == html.ElementNode {
					return text(dd)
				}
			}
		}
		return ""
	}

	// The empty form has the field, with its hint.
	res, body := h.get("/machines/new")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("%s\n%s", res.Status, body)
	}
	if v := inputValue(t, body, "relay"); v != "" {
		t.Errorf("new form: relay %q", v)
	}
	if !strings.Contains(body, "the relay that serves it; empty: chosen by its address") {
		t.Error("the relay field has no hint")
	}

	// A bad relay name: the form comes back with it as typed.
	form := url.Values{"name": {"nas"}, "mac": {"02:00:00:00:00:42"}, "relay": {"Office Relay"}}
	res, body = h.post("/machines/new", form)
	if res.StatusCode != http.StatusBadRequest || inputValue(t, body, "relay") != "Office Relay" || !strings.Contains(body, "relay") {
		t.Fatalf("bad relay: %s\n%s", res.Status, body)
	}
	// A bad field elsewhere keeps the relay too.
	res, body = h.post("/machines/new", url.Values{"name": {"nas"}, "mac": {"02:00:00:00:00:42"}, "port": {"x"}, "relay": {"office"}})
	if res.StatusCode != http.StatusBadRequest || inputValue(t, body, "relay") != "office" {
		t.Fatalf("bad port: %s, relay %q", res.Status, inputValue(t, body, "relay"))
	}
	form.Set("relay", " office ")
	if res, body = h.post("/machines/new", form); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: %s\n%s", res.Status, body)
	}
	if m, err := h.machines.FindMachine(ctx, "nas"); err != nil || m.Relay != "office" {
		t.Fatalf("created %+v, %v", m, err)
	}
	_, body = h.get("/machines/nas")
	if got := relayShown(body); got != "office · not paired: pair it" {
		t.Errorf("page shows relay %q, want office, not paired", got)
	}
	_, body = h.get("/machines/pc")
	if strings.Contains(body, "<dt>Relay</dt>") {
		t.Error("a machine without a relay shows one")
	}

	// Edit: the form holds the relay; a change is saved; empty clears it.
	_, body = h.get("/machines/nas/edit")
	if v := inputValue(t, body, "relay"); v != "office" {
		t.Errorf("edit form: relay %q", v)
	}
	edit := url.Values{"mac": {"02:00:00:00:00:42"}, "relay": {"-bad"}}
	if res, body = h.post("/machines/nas/edit", edit); res.StatusCode != http.StatusBadRequest || inputValue(t, body, "relay") != "-bad" {
		t.Fatalf("bad edit: %s", res.Status)
	}
	edit.Set("relay", "attic")
	if res, _ = h.post("/machines/nas/edit", edit); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("edit: %s", res.Status)
	}
	if m, _ := h.machines.FindMachine(ctx, "nas"); m.Relay != "attic" {
		t.Fatalf("edited relay %q", m.Relay)
	}
	edit.Set("relay", "")
	if res, _ = h.post("/machines/nas/edit", edit); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("clear: %s", res.Status)
	}
	if m, _ := h.machines.FindMachine(ctx, "nas"); m.Relay != "" {
		t.Fatalf("cleared relay %q", m.Relay)
	}
	if _, body = h.get("/machines/nas"); relayShown(body) != "" {
		t.Error("a cleared relay is still shown")
	}
}

func TestConfigMachineReadOnly(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	if err := h.machines.SyncConfigMachines(ctx, []*moonwake.Machine{{Name: "nas", MAC: "02:00:00:00:01:01", Source: moonwake.SourceConfig}}); err != nil {
		t.Fatal(err)
	}
	h.signIn()
	_, body := h.get("/machines/nas")
	if !strings.Contains(body, "config file") || strings.Contains(body, `href="/machines/nas/edit"`) {
		t.Error("the page offers to edit a config machine")
	}
	if res, _ := h.get("/machines/nas/edit"); res.StatusCode != http.StatusConflict {
		t.Errorf("edit page: %s", res.Status)
	}
	if res, _ := h.post("/machines/nas/edit", url.Values{"mac": {"02:00:00:00:01:02"}}); res.StatusCode != http.StatusConflict {
		t.Errorf("edit: %s", res.Status)
	}
	if res, _ := h.post("/machines/nas/delete", url.Values{"confirm": {"yes"}}); res.StatusCode != http.StatusConflict {
		t.Errorf("delete: %s", res.Status)
	}
	if _, err := h.machines.FindMachine(ctx, "nas"); err != nil {
		t.Error(err)
	}
}

func TestMachineDelete(t *testing.T) {
	h := newHarness(t, "pc")
	h.signIn()
	res, body := h.post("/machines/pc/delete", nil)
	if res.StatusCode != http.StatusOK || len(findAll(doc(t, body), byID("delete-confirm"))) != 1 {
		t.Fatalf("first press: %s, want a confirmation", res.Status)
	}
	if _, err := h.machines.FindMachine(context.Background(), "pc"); err != nil {
		t.Fatal("deleted without confirmation")
	}
	res, _ = h.post("/machines/pc/delete", url.Values{"confirm": {"yes"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		t.Fatalf("confirmed: %s", res.Status)
	}
	if _, err := h.machines.FindMachine(context.Background(), "pc"); moonwake.ErrorCode(err) != moonwake.ENotFound {
		t.Errorf("after delete: %v", err)
	}
}

func TestAddFromSuggestion(t *testing.T) {
	h := newHarness(t, "pc") // pc has 02:00:00:00:00:01
	var swept []string
	h.reconfigure(func(s *Server) {
		s.Discovery = &mock.DiscoveryService{
			DiscoverFn: func(ctx context.Context) (*moonwake.Discovery, error) {
				return &moonwake.Discovery{
					Suggestions: []moonwake.Suggestion{
						{IP: "192.0.2.10", MAC: "d8:bb:c1:00:00:10", Vendor: "Micro-Star INTL CO., LTD.", Names: []string{"Gaming PC.home.lan", "gaming-pc.local"}, Name: "gaming-pc", Hub: true},
						{IP: "10.9.0.20", MAC: "d8:bb:c1:00:00:20", Relays: []string{"office"}},
						{IP: "192.0.2.2", MAC: "02:00:00:00:00:01", Hub: true, Machine: "pc"},
					},
					Relays: []moonwake.DiscoveryRelay{{Name: "office", Sweep: true, Networks: []string{"10.9.0.0/24"}}, {Name: "attic", Error: "relay attic offline"}},
				}, nil
			},
			SweepFn: func(ctx context.Context, name, network string) (*moonwake.Sweep, error) {
				swept = append(swept, name+" "+network)
				if network != "10.9.0.0/24" {
					return nil, moonwake.Errorf(moonwake.EInvalid, "relay %s: %s is not a network this relay serves", name, network)
				}
				return &moonwake.Sweep{Relay: name, Network: network, Addresses: 254, Rate: 50, Duration: 5080 * time.Millisecond}, nil
			},
		}
	})
	h.signIn()
	res, body := h.get("/machines/new")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("%s\n%s", res.Status, body)
	}
	links := findAll(doc(t, body), is("a", "suggestion"))
	var hrefs []string
	for _, a := range links {
		v, _ := attr(a, "href")
		hrefs = append(hrefs, v)
	}
	want := []string{
		"/machines/new?host=192.0.2.10&mac=d8%3Abb%3Ac1%3A00%3A00%3A10&name=gaming-pc",
		"/machines/new?host=10.9.0.20&mac=d8%3Abb%3Ac1%3A00%3A00%3A20",
	}
	if !slices.Equal(hrefs, want) {
		t.Fatalf("suggestions %q, want %q", hrefs, want)
	}
	for _, s := range []string{"Gaming PC.home.lan", "gaming-pc.local", "Micro-Star INTL", "the hub", "relay office",
		`already added as <a href="/machines/pc">pc</a>`, "attic: relay attic offline", `action="/machines/new/sweep"`} {
		if !strings.Contains(body, s) {
			t.Errorf("the page does not show %q", s)
		}
	}

	// Following the suggestion fills the form in.
	res, body = h.get(want[0])
	if res.StatusCode != http.StatusOK {
		t.Fatal(res.Status)
	}
	f := url.Values{}
	for _, k := range []string{"name", "mac", "host", "ports", "tags", "port", "interface", "broadcast"} {
		f.Set(k, inputValue(t, body, k))
	}
	if f.Get("name") != "gaming-pc" || f.Get("mac") != "d8:bb:c1:00:00:10" || f.Get("host") != "192.0.2.10" {
		t.Fatalf("prefilled %v", f)
	}
	res, body = h.post("/machines/new", f)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/machines/gaming-pc" {
		t.Fatalf("create: %s %q\n%s", res.Status, res.Header.Get("Location"), body)
	}
	m, err := h.machines.FindMachine(context.Background(), "gaming-pc")
	if err != nil || m.MAC != "d8:bb:c1:00:00:10" || m.Host != "192.0.2.10" || m.Source != moonwake.SourceAPI {
		t.Fatalf("created %+v, %v", m, err)
	}
	// A taken MAC is refused, with the input kept.
	f.Set("name", "again")
	res, body = h.post("/machines/new", f)
	if res.StatusCode != http.StatusConflict || inputValue(t, body, "name") != "again" {
		t.Errorf("duplicate: %s", res.Status)
	}

	// The sweep button starts the relay's sweep and says for how long; a
	// refusal comes back on the page.
	res, _ = h.post("/machines/new/sweep", url.Values{"relay": {"office"}, "network": {"10.9.0.0/24"}})
	if loc := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/machines/new?") {
		t.Fatalf("sweep: %s %q", res.Status, loc)
	}
	_, body = h.get(res.Header.Get("Location"))
	if !strings.Contains(body, "Relay office is sweeping <code>10.9.0.0/24</code>; it takes about 5 s") {
		t.Error("the page does not say a sweep started")
	}
	res, body = h.post("/machines/new/sweep", url.Values{"relay": {"office"}, "network": {"10.8.0.0/24"}})
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(body, "not a network this relay serves") {
		t.Errorf("refused sweep: %s", res.Status)
	}
	if !slices.Equal(swept, []string{"office 10.9.0.0/24", "office 10.8.0.0/24"}) {
		t.Errorf("sweeps %q", swept)
	}
}

func TestAddWithoutNeighbours(t *testing.T) {
	h := newHarness(t)
	h.signIn()
	res, body := h.get("/machines/new?mac=zz&name=%3Cb%3E")
	if res.StatusCode != http.StatusOK || !strings.Contains(body, "no suggestions") {
		t.Errorf("%s", res.Status)
	}
	if inputValue(t, body, "name") != "<b>" || strings.Contains(body, "<b>") && !strings.Contains(body, "&lt;b&gt;") {
		t.Error("the query is not escaped into the form")
	}
	res, body = h.post("/machines/new", url.Values{"name": {"Bad Name"}, "mac": {"02:00:00:00:00:09"}, "password": {"01:02:03:04"}})
	if res.StatusCode != http.StatusBadRequest || inputValue(t, body, "name") != "Bad Name" || inputValue(t, body, "password") != "" {
		t.Errorf("bad name: %s", res.Status)
	}
	if !strings.Contains(body, "Type it again") {
		t.Error("the page does not say the password must be typed again")
	}
}

func TestParsePorts(t *testing.T) {
	for in, want := range map[string][]int{
		"":                 {},
		"47989":            {47989},
		"47989, 22 ,22;80": {47989, 22, 80},
		" 1\t65535\n":      {1, 65535},
	} {
		got, err := parsePorts(in)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("parsePorts(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"0", "65536", "x", "22,-1", "1e3", "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17"} {
		if _, err := parsePorts(in); moonwake.ErrorCode(err) != moonwake.EInvalid {
			t.Errorf("parsePorts(%q): %v, want EInvalid", in, err)
		}
	}
}

func FuzzParsePorts(f *testing.F) {
	f.Add("47989, 22")
	f.Add("")
	f.Add("65536")
	f.Fuzz(func(t *testing.T, s string) {
		ps, err := parsePorts(s)
		if err != nil {
			if moonwake.ErrorCode(err) != moonwake.EInvalid {
				t.Fatalf("error %v is not EInvalid", err)
			}
			return
		}
		if len(ps) > 16 {
			t.Fatalf("%d ports", len(ps))
		}
		for _, p := range ps {
			if p < 1 || p > 65535 {
				t.Fatalf("port %d", p)
			}
		}
		// What is shown is read back the same.
		again, err := parsePorts(formatPorts(ps))
		if err != nil || !slices.Equal(again, ps) {
			t.Fatalf("round trip of %v: %v, %v", ps, again, err)
		}
	})
}

func FuzzParseTags(f *testing.F) {
	f.Add("games, upstairs")
	f.Add("A;b c\td")
	f.Fuzz(func(t *testing.T, s string) {
		tags, err := parseTags(s)
		if err != nil {
			if moonwake.ErrorCode(err) != moonwake.EInvalid {
				t.Fatalf("error %v is not EInvalid", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, tag := range tags {
			if tag == "" || strings.ContainsAny(tag, ", ;\t\n\r") || seen[tag] || tag != strings.ToLower(tag) {
				t.Fatalf("tags %q from %q", tags, s)
			}
			seen[tag] = true
		}
		// A machine normalizes them or says what is wrong; never panics.
		m := moonwake.Machine{Name: "pc", MAC: "02:00:00:00:00:01", Tags: tags}
		if err := m.Normalize(); err != nil && moonwake.ErrorCode(err) != moonwake.EInvalid {
			t.Fatal(err)
		}
	})
}

func FuzzSunshineForm(f *testing.F) {
	f.Add("1234", "", false, "", "", "")
	f.Add("", "47989", true, "sunny", "pw", "47990")
	f.Fuzz(func(t *testing.T, pin, port string, auto bool, user, pw, webPort string) {
		v := url.Values{"pin": {pin}, "port": {port}, "username": {user}, "password": {pw}, "web_port": {webPort}}
		if auto {
			v.Set("auto", "1")
		}
		in, web, p, err := parseSunshineForm(v)
		if err != nil {
			if moonwake.ErrorCode(err) != moonwake.EInvalid {
				t.Fatalf("error %v is not EInvalid", err)
			}
			if pw != "" && strings.Contains(moonwake.ErrorMessage(err), pw) && len(pw) > 3 {
				t.Fatalf("the message %q holds the password", moonwake.ErrorMessage(err))
			}
			return
		}
		if p < 1 || p > 65535 {
			t.Fatalf("port %d", p)
		}
		if in.Auto && (web.Username == "" || web.Password == "" || web.Port < 1 || web.Port > 65535) {
			t.Fatalf("auto with %v", web)
		}
		if !in.Auto && (len(in.PIN) != 4 || !pinDigits(in.PIN)) {
			t.Fatalf("pin %q", in.PIN)
		}
	})
}
