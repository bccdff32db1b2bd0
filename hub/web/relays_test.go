package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/moonwake/moonwake"
)

// relayItems returns the page's relays by name: each li.relay.
func relayItems(t *testing.T, body string) map[string]*html.Node {
	t.Helper()
	out := map[string]*html.Node{}
	for _, li := range findAll(doc(t, body), is("li", "relay")) {
		name, _ := attr(li, "data-relay")
		out[name] = li
	}
	return out
}

// facts returns the dt → dd texts under n.
func facts(n *html.Node) map[string]string {
	out := map[string]string{}
	for _, dt := range findAll(n, is("dt", "")) {
		for dd := dt.NextSibling; dd != nil; dd = dd.NextSibling {
			if dd.Type == html.ElementNode {
				out[text(dt)] = strings.Join(strings.Fields(text(dd)), " ")
				break
			}
		}
	}
	return out
}

// textOf returns the text of n's one descendant with class c.
func textOf(t *testing.T, n *html.Node, c string) string {
	t.Helper()
	els := findAll(n, func(n *html.Node) bool { return hasClass(n, c) })
	if len(els) != 1 {
		t.Fatalf("%d .%s", len(els), c)
	}
	return strings.Join(strings.Fields(text(els[0])), " ")
}

// The relays page with none: it says what a relay is and how to run one,
// and offers the pairing form; the navigation links it, next to Tokens.
func TestRelaysPageEmpty(t *testing.T) {
	h := newHarness(t, "pc")
	h.signIn()
	res, body := h.get("/relays")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("%s\n%s", res.Status, body)
	}
	empty := findAll(doc(t, body), byID("no-relays"))
	if len(empty) != 1 {
		t.Fatalf("%d #no-relays", len(empty))
	}
	if e := text(empty[0]); !strings.Contains(e, "A relay is a small moonwake process on a LAN the hub cannot reach") ||
		!strings.Contains(e, "moonwake relay pair") || !strings.Contains(e, "moonwake relay") {
		t.Errorf("empty state %q", e)
	}
	if n := len(relayItems(t, body)); n != 0 {
		t.Errorf("%d relays listed", n)
	}
	forms := findAll(doc(t, body), byID("pair-relay"))
	if len(forms) != 1 {
		t.Fatalf("%d form#pair-relay", len(forms))
	}
	if a, _ := attr(forms[0], "action"); a != "/relays/pair#pair" {
		t.Errorf("form#pair-relay posts to %q", a)
	}
	fields := map[string]string{}
	for _, in := range findAll(forms[0], is("input", "")) {
		n, _ := attr(in, "name")
		fields[n], _ = attr(in, "value")
	}
	if len(fields) != 2 || fields["name"] != "" || fields["csrf"] == "" {
		t.Errorf("pairing form fields %v: want an empty name and the CSRF token", fields)
	}
	// The navigation: Relays, current, right after Tokens.
	nav := findAll(doc(t, body), is("nav", "nav"))
	if len(nav) != 1 {
		t.Fatalf("%d nav.nav", len(nav))
	}
	var hrefs []string
	for _, a := range findAll(nav[0], is("a", "")) {
		href, _ := attr(a, "href")
		hrefs = append(hrefs, href)
		if cur, ok := attr(a, "aria-current"); ok != (href == "/relays") || ok && cur != "page" {
			t.Errorf("nav link %s: aria-current %q", href, cur)
		}
	}
	if i := slices.Index(hrefs, "/tokens"); i < 0 || i+1 >= len(hrefs) || hrefs[i+1] != "/relays" {
		t.Errorf("navigation %v: want /relays right after /tokens", hrefs)
	}
	// Other pages link it too.
	if _, body := h.get("/"); !strings.Contains(body, `<a href="/relays">Relays</a>`) {
		t.Error("the dashboard's navigation does not link /relays")
	}
}

// The relays page lists each relay: online or offline and since when,
// the networks it serves and those it stands by for, its version, host
// name, when it was last seen, and the machines that name it.
func TestRelaysPageList(t *testing.T) {
	h := newHarness(t, "pc")
	ctx := context.Background()
	if err := h.machines.CreateMachine(ctx, &moonwake.Machine{Name: "nas", MAC: "02:00:00:00:00:42", Host: "10.1.0.5", Relay: "office"}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	seen := now.Add(-20 * time.Second)
	old := now.Add(-3 * 24 * time.Hour)
	h.relays.set(
		&moonwake.Relay{Name: "attic", Networks: []string{"192.168.1.0/24"}, Standby: []string{"192.168.1.0/24"},
			Software: "moonwake v1.2.0", Hostname: "pi-attic", Connected: true, Since: now.Add(-2 * time.Hour), CreatedAt: old, LastSeen: &seen},
		&moonwake.Relay{Name: "garage", Networks: []string{}, CreatedAt: old},
		&moonwake.Relay{Name: "office", Networks: []string{"192.168.1.0/24", "10.1.0.0/24"},
			Software: "moonwake v1.2.0", Hostname: "nuc-office", Connected: true, Since: now.Add(-3 * time.Minute), CreatedAt: old, LastSeen: &seen},
		&moonwake.Relay{Name: "shed", Networks: []string{"172.16.0.0/16"}, Software: "moonwake v1.1.0",
			Connected: false, Since: now.Add(-90 * time.Minute), CreatedAt: old, LastSeen: &old},
	)
	h.signIn()
	res, body := h.get("/relays")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("%s\n%s", res.Status, body)
	}
	if len(findAll(doc(t, body), byID("no-relays"))) != 0 {
		t.Error("the empty state is shown with relays")
	}
	items := relayItems(t, body)
	if len(items) != 4 {
		t.Fatalf("%d relays listed, want 4", len(items))
	}
	for _, tc := range []struct {
		name, online, state, since string
		facts                      map[string]string
	}{
		{"office", "true", "online", "for 3 min", map[string]string{
			"Serves": "192.168.1.0/24, 10.1.0.0/24", "Named by": "nas", "Version": "moonwake v1.2.0",
			"Host": "nuc-office", "Last seen": "20 s ago",
		}},
		{"attic", "true", "online", "for 2 h", map[string]string{
			"Serves": "—", "Standby for": "192.168.1.0/24 (another relay serves it: this one takes over when that one drops)",
			"Version": "moonwake v1.2.0", "Host": "pi-attic", "Last seen": "20 s ago",
		}},
		{"shed", "false", "offline", "for 1 h", map[string]string{
			"Serves": "172.16.0.0/16", "Version": "moonwake v1.1.0", "Host": "—", "Last seen": "3 d ago",
		}},
		{"garage", "false", "offline", "since the hub started", map[string]string{
			"Serves": "no network reported yet", "Version": "—", "Host": "—", "Last seen": "never",
		}},
	} {
		li := items[tc.name]
		if li == nil {
			t.Errorf("%s is not listed", tc.name)
			continue
		}
		if v, _ := attr(li, "data-online"); v != tc.online {
			t.Errorf("%s: data-online %q, want %q", tc.name, v, tc.online)
		}
		if id, _ := attr(li, "id"); id != "relay-"+tc.name {
			t.Errorf("%s: id %q", tc.name, id)
		}
		if got := textOf(t, li, "relay-state"); got != tc.state {
			t.Errorf("%s: state %q, want %q", tc.name, got, tc.state)
		}
		if got := textOf(t, li, "relay-since"); got != tc.since {
			t.Errorf("%s: since %q, want %q", tc.name, got, tc.since)
		}
		got := facts(li)
		for k, want := range tc.facts {
			if got[k] != want {
				t.Errorf("%s: %s %q, want %q", tc.name, k, got[k], want)
			}
		}
		for _, k := range []string{"Standby for", "Named by"} {
			if _, ok := tc.facts[k]; !ok && got[k] != "" {
				t.Errorf("%s: %s %q, want none", tc.name, k, got[k])
			}
		}
		// Forget: a POST with the CSRF token that asks first (app.js),
		// and without script asks on the page (no confirm field).
		forms := findAll(li, is("form", "forget"))
		if len(forms) != 1 {
			t.Fatalf("%s: %d form.forget", tc.name, len(forms))
		}
		f := forms[0]
		if a, _ := attr(f, "action"); a != "/relays/"+tc.name+"/forget#relay-"+tc.name {
			t.Errorf("%s: forget posts to %q", tc.name, a)
		}
		if m, _ := attr(f, "method"); m != "post" {
			t.Errorf("%s: forget method %q", tc.name, m)
		}
		if c, _ := attr(f, "data-confirm"); !strings.HasPrefix(c, "Forget relay "+tc.name+"?") {
			t.Errorf("%s: data-confirm %q", tc.name, c)
		}
		var names []string
		for _, in := range findAll(f, is("input", "")) {
			n, _ := attr(in, "name")
			names = append(names, n)
		}
		if !slices.Equal(names, []string{"csrf"}) {
			t.Errorf("%s: forget form inputs %v, want csrf only", tc.name, names)
		}
	}
	// The list is in the service's order (by name).
	var order []string
	for _, li := range findAll(doc(t, body), is("li", "relay")) {
		n, _ := attr(li, "data-relay")
		order = append(order, n)
	}
	if !slices.Equal(order, []string{"attic", "garage", "office", "shed"}) {
		t.Errorf("order %v", order)
	}
}

// Pairing shows the code once, with the command to run on the relay's
// host and its expiry; the code is never logged nor shown again.
func TestRelayPair(t *testing.T) {
	h := newHarness(t)
	var logs *logBuffer
	h.reconfigure(func(s *Server) { logs = captureLogs(s) })
	h.signIn()
	res, body := h.post("/relays/pair", url.Values{"name": {" office "}})
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("%s\n%s", res.Status, body)
	}
	if res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q", res.Header.Get("Cache-Control"))
	}
	if paired, _ := h.relays.calls(); !slices.Equal(paired, []string{"office"}) {
		t.Errorf("paired %v", paired)
	}
	cmd := findAll(doc(t, body), byID("pair-command"))
	want := "moonwake relay pair --hub " + h.ts.URL + " --code " + relayCode + " --hub-fingerprint " + relayFingerprint
	if len(cmd) != 1 || text(cmd[0]) != want {
		t.Errorf("command %v, want %q", cmd, want)
	}
	p := findAll(doc(t, body), byID("pairing"))
	if len(p) != 1 {
		t.Fatalf("%d #pairing", len(p))
	}
	if s := strings.Join(strings.Fields(text(p[0])), " "); !strings.Contains(s, "One-time code for office: "+relayCode+", valid until ") ||
		!strings.Contains(s, "(in 10 min)") || !strings.Contains(s, "shown only now") {
		t.Errorf("pairing says %q", s)
	}
	if strings.Count(body, relayCode) != 2 { // the code, and the command
		t.Errorf("the code is on the page %d times", strings.Count(body, relayCode))
	}
	if v := inputValue(t, body, "name"); v != "office" {
		t.Errorf("name field %q", v)
	}
	if strings.Contains(logs.String(), relayCode) {
		t.Errorf("the pairing code was logged:\n%s", logs)
	}
	if !strings.Contains(logs.String(), "relay pairing code issued") || !strings.Contains(logs.String(), "relay=office") {
		t.Errorf("no log of the pairing:\n%s", logs)
	}
	// Shown once: the page, loaded again, does not have it.
	if _, body := h.get("/relays"); strings.Contains(body, relayCode) || len(findAll(doc(t, body), byID("pairing"))) != 0 {
		t.Error("the code is shown again")
	}

	// The command names the hub as people reach it.
	h.reconfigure(func(s *Server) { s.PublicURL = "https://wake.example.net/" })
	_, body = h.post("/relays/pair", url.Values{"name": {"attic"}})
	if cmd := findAll(doc(t, body), byID("pair-command")); len(cmd) != 1 ||
		text(cmd[0]) != "moonwake relay pair --hub https://wake.example.net --code "+relayCode+" --hub-fingerprint "+relayFingerprint {
		t.Errorf("command with a public URL: %v", cmd)
	}
}

// A bad name comes back in the form, with what is wrong with it; the
// hub is not asked.
func TestRelayPairBadName(t *testing.T) {
	h := newHarness(t)
	h.signIn()
	for _, name := range []string{"Office Relay", "", "-office", strings.Repeat("a", 64)} {
		res, body := h.post("/relays/pair", url.Values{"name": {name}})
		if res.StatusCode != http.StatusBadRequest {
			t.Errorf("%q: %s, want 400", name, res.Status)
			continue
		}
		alerts := findAll(doc(t, body), is("p", "error"))
		if len(alerts) != 1 || !strings.Contains(text(alerts[0]), "relay name") ||
			!strings.Contains(text(alerts[0]), "use 1-63 characters a-z, 0-9, '-' or '_'") {
			t.Errorf("%q: alerts %d, want one that says what a name is", name, len(alerts))
		}
		if v := inputValue(t, body, "name"); v != name {
			t.Errorf("%q: the form came back with %q", name, v)
		}
		if strings.Contains(body, `id="pairing"`) {
			t.Errorf("%q: a pairing is shown", name)
		}
	}
	if paired, _ := h.relays.calls(); len(paired) != 0 {
		t.Errorf("the hub was asked to pair %v", paired)
	}

	// The service's own refusal is shown the same way; its failure is
	// an error page that keeps the details in the log.
	h.relays.setErrs(nil, moonwake.Errorf(moonwake.EConflict, "relay office is being paired"))
	res, body := h.post("/relays/pair", url.Values{"name": {"office"}})
	if res.StatusCode != http.StatusConflict || !strings.Contains(body, "relay office is being paired") || inputValue(t, body, "name") != "office" {
		t.Errorf("conflict: %s\n%s", res.Status, body)
	}
	h.relays.setErrs(nil, errors.New("disk on fire"))
	res, body = h.post("/relays/pair", url.Values{"name": {"office"}})
	if res.StatusCode != http.StatusInternalServerError || strings.Contains(body, "disk on fire") {
		t.Errorf("internal: %s", res.Status)
	}
}

// Forget asks first (without script, on the page), then forgets with
// confirm=yes and goes back to the list.
func TestRelayForget(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	if err := h.machines.CreateMachine(ctx, &moonwake.Machine{Name: "nas", MAC: "02:00:00:00:00:42", Relay: "office"}); err != nil {
		t.Fatal(err)
	}
	var logs *logBuffer
	h.reconfigure(func(s *Server) { logs = captureLogs(s) })
	h.relays.set(&moonwake.Relay{Name: "office", Networks: []string{"10.1.0.0/24"}}, &moonwake.Relay{Name: "attic", Networks: []string{}})
	h.signIn()

	// The first press asks, in that relay's item.
	res, body := h.post("/relays/office/forget", nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("first press: %s\n%s", res.Status, body)
	}
	if _, deleted := h.relays.calls(); len(deleted) != 0 {
		t.Fatalf("forgot %v without confirmation", deleted)
	}
	items := relayItems(t, body)
	confirm := findAll(items["office"], byID("forget-confirm"))
	if len(confirm) != 1 || len(findAll(doc(t, body), byID("forget-confirm"))) != 1 {
		t.Fatalf("want one form#forget-confirm, in office's item")
	}
	if a, _ := attr(confirm[0], "action"); a != "/relays/office/forget" {
		t.Errorf("confirm posts to %q", a)
	}
	if s := strings.Join(strings.Fields(text(confirm[0])), " "); !strings.Contains(s, "Forget office?") ||
		!strings.Contains(s, "nas cannot be woken until a relay called office pairs again") {
		t.Errorf("confirmation says %q", s)
	}
	ins := map[string]string{}
	for _, in := range findAll(confirm[0], is("input", "")) {
		n, _ := attr(in, "name")
		ins[n], _ = attr(in, "value")
	}
	if ins["confirm"] != "yes" || ins["csrf"] == "" {
		t.Errorf("confirm form inputs %v", ins)
	}
	if len(findAll(items["attic"], is("form", "forget"))) != 1 {
		t.Error("attic lost its Forget button")
	}

	// Without the CSRF token, nothing is forgotten.
	res, _ = h.do(h.client, http.MethodPost, "/relays/office/forget", url.Values{"confirm": {"yes"}}, nil)
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("no CSRF token: %s", res.Status)
	}
	// Signed out, neither.
	res, _ = h.do(h.newClient(), http.MethodPost, "/relays/office/forget", url.Values{"confirm": {"yes"}, "csrf": {h.csrf()}}, nil)
	if res.StatusCode != http.StatusUnauthorized {
		t.Errorf("signed out: %s", res.Status)
	}
	// A GET never forgets.
	if res, _ := h.get("/relays/office/forget"); res.StatusCode == http.StatusOK || res.StatusCode == http.StatusSeeOther {
		t.Errorf("GET: %s", res.Status)
	}
	if _, deleted := h.relays.calls(); len(deleted) != 0 {
		t.Fatalf("forgot %v", deleted)
	}

	// Confirmed: forgotten, logged, back to the list.
	res, body = h.post("/relays/office/forget", url.Values{"confirm": {"yes"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/relays" {
		t.Fatalf("confirmed: %s to %q\n%s", res.Status, res.Header.Get("Location"), body)
	}
	if _, deleted := h.relays.calls(); !slices.Equal(deleted, []string{"office"}) {
		t.Errorf("forgot %v", deleted)
	}
	if !strings.Contains(logs.String(), "relay forgotten") || !strings.Contains(logs.String(), "relay=office") {
		t.Errorf("no log of it:\n%s", logs)
	}
	if _, body := h.get("/relays"); relayItems(t, body)["office"] != nil {
		t.Error("office is still listed")
	}

	// A relay that is not there: a clear 404, asked or confirmed.
	for _, form := range []url.Values{nil, {"confirm": {"yes"}}} {
		res, body := h.post("/relays/office/forget", form)
		if res.StatusCode != http.StatusNotFound || !strings.Contains(body, "There is no relay called &#34;office&#34;") {
			t.Errorf("gone relay (%v): %s\n%s", form, res.Status, body)
		}
	}
}

// A hub without relays has no relays page and no link to one; the
// machine page names a machine's relay without saying more.
func TestNoRelays(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	if err := h.machines.CreateMachine(ctx, &moonwake.Machine{Name: "nas", MAC: "02:00:00:00:00:42", Relay: "office"}); err != nil {
		t.Fatal(err)
	}
	h.reconfigure(func(s *Server) { s.Relays = nil })
	h.signIn()
	if res, _ := h.get("/relays"); res.StatusCode != http.StatusNotFound {
		t.Errorf("GET /relays: %s", res.Status)
	}
	if res, _ := h.post("/relays/pair", url.Values{"name": {"office"}}); res.StatusCode != http.StatusNotFound {
		t.Errorf("POST /relays/pair: %s", res.Status)
	}
	_, body := h.get("/machines/nas")
	if strings.Contains(body, `href="/relays`) {
		t.Error("a page links /relays")
	}
	if got := facts(doc(t, body))["Relay"]; got != "office" {
		t.Errorf("machine page: relay %q", got)
	}
}

// The machine page says which relay serves a machine that names one, and
// whether it is online.
func TestMachinePageRelay(t *testing.T) {
	h := newHarness(t, "pc")
	ctx := context.Background()
	if err := h.machines.CreateMachine(ctx, &moonwake.Machine{Name: "nas", MAC: "02:00:00:00:00:42", Host: "10.1.0.5", Relay: "office"}); err != nil {
		t.Fatal(err)
	}
	h.signIn()
	relayOf := func(machine string) (string, *html.Node) {
		t.Helper()
		_, body := h.get("/machines/" + machine)
		n := doc(t, body)
		return facts(n)["Relay"], n
	}
	got, n := relayOf("nas")
	if got != "office · not paired: pair it" {
		t.Errorf("not paired: %q", got)
	}
	if links := findAll(n, func(n *html.Node) bool { v, _ := attr(n, "href"); return n.Data == "a" && v == "/relays#relay-office" }); len(links) != 1 {
		t.Errorf("%d links to the relay", len(links))
	}
	h.relays.set(&moonwake.Relay{Name: "office", Networks: []string{"10.1.0.0/24"}, Connected: true, Since: time.Now().Add(-3 * time.Minute)})
	if got, _ := relayOf("nas"); got != "office · online for 3 min" {
		t.Errorf("online: %q", got)
	}
	h.relays.set(&moonwake.Relay{Name: "office", Networks: []string{"10.1.0.0/24"}, Since: time.Now().Add(-2 * time.Hour)})
	if got, _ := relayOf("nas"); got != "office · offline for 2 h" {
		t.Errorf("offline: %q", got)
	}
	h.relays.set(&moonwake.Relay{Name: "office", Networks: []string{"10.1.0.0/24"}})
	if got, _ := relayOf("nas"); got != "office · offline" {
		t.Errorf("offline since the start: %q", got)
	}
	// The list fails: the name, and the page still renders.
	h.relays.setErrs(errors.New("boom"), nil)
	if got, _ := relayOf("nas"); got != "office" {
		t.Errorf("list failed: %q", got)
	}
	// A machine that names no relay says nothing of relays.
	if got, _ := relayOf("pc"); got != "" {
		t.Errorf("pc: relay %q", got)
	}
}
