package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/moonwake/moonwake"
)

// newTapURL makes a tap link through the tokens page and returns its
// URL as the page shows it in #link-url.
func newTapURL(t *testing.T, h *harness, machine, action string) string {
	t.Helper()
	res, body := h.post("/tokens/links", url.Values{"machine": {machine}, "action": {action}})
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("new link: %s\n%s", res.Status, body)
	}
	if res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q", res.Header.Get("Cache-Control"))
	}
	el := findAll(doc(t, body), byID("link-url"))
	if len(el) != 1 {
		t.Fatalf("%d #link-url", len(el))
	}
	return text(el[0])
}

func TestTokensPageForms(t *testing.T) {
	h := newHarness(t, "pc", "nas")
	h.signIn()
	res, body := h.get("/tokens")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("%s\n%s", res.Status, body)
	}
	forms := findAll(doc(t, body), byID("new-link"))
	if len(forms) != 1 {
		t.Fatalf("%d form#new-link", len(forms))
	}
	f := forms[0]
	sel := func(name string) []string {
		var opts []string
		for _, s := range findAll(f, func(n *html.Node) bool { v, _ := attr(n, "name"); return n.Data == "select" && v == name }) {
			for _, o := range findAll(s, is("option", "")) {
				v, _ := attr(o, "value")
				opts = append(opts, v)
			}
		}
		return opts
	}
	if got := sel("machine"); strings.Join(got, ",") != "nas,pc" {
		t.Errorf("machines %v", got)
	}
	if got := sel("action"); strings.Join(got, ",") != strings.Join(moonwake.KnownActions, ",") {
		t.Errorf("actions %v", got)
	}
	if len(findAll(f, func(n *html.Node) bool { v, _ := attr(n, "type"); return n.Data == "button" && v == "submit" })) != 1 {
		t.Error("form#new-link has no submit button")
	}
	// The admin token is listed, with no way to see its secret.
	if !strings.Contains(body, "admin: everything") || strings.Contains(body, h.admin) {
		t.Error("tokens list")
	}
}

func TestTokenCreate(t *testing.T) {
	h := newHarness(t, "pc", "nas")
	var logs *logBuffer
	h.reconfigure(func(s *Server) { logs = captureLogs(s) })
	h.signIn()
	res, body := h.post("/tokens", url.Values{"name": {"home-assistant"}, "machines": {"pc"}, "actions": {"wake", "shutdown"}})
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("%s\n%s", res.Status, body)
	}
	el := findAll(doc(t, body), byID("token-secret"))
	if len(el) != 1 {
		t.Fatal("no #token-secret")
	}
	secret := text(el[0])
	tok, err := h.tokens.Authenticate(context.Background(), secret)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Name != "home-assistant" || tok.Admin || strings.Join(tok.Machines, ",") != "pc" || strings.Join(tok.Actions, ",") != "shutdown,wake" {
		t.Errorf("token %+v", tok)
	}
	if strings.Contains(logs.String(), secret) {
		t.Error("the secret was logged")
	}
	// The secret is shown once: the list does not have it.
	if _, body := h.get("/tokens"); strings.Contains(body, secret) {
		t.Error("the list shows the secret")
	}
	// A CloudEvents token comes with its subscriber URL.
	res, body = h.post("/tokens", url.Values{"name": {"trigger"}, "machines": {"pc"}, "actions": {"wake"}, "cloudevents": {"1"}})
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("%s\n%s", res.Status, body)
	}
	secret = text(findAll(doc(t, body), byID("token-secret"))[0])
	if tok, err := h.tokens.Authenticate(context.Background(), secret); err != nil || !tok.CloudEvents {
		t.Fatalf("CloudEvents token %+v: %v", tok, err)
	}
	if u := findAll(doc(t, body), byID("token-url")); len(u) != 1 || !strings.HasSuffix(text(u[0]), "/api/v1/cloudevents?token="+url.QueryEscape(secret)) {
		t.Fatal("no subscriber URL")
	}
	// A bad name comes back with what was chosen.
	res, body = h.post("/tokens", url.Values{"name": {"Bad Name"}, "machines": {"nas"}, "actions": {"reboot"}})
	if res.StatusCode != http.StatusBadRequest || inputValue(t, body, "name") != "Bad Name" {
		t.Fatalf("bad name: %s", res.Status)
	}
	checked := findAll(doc(t, body), func(n *html.Node) bool { _, c := attr(n, "checked"); return n.Data == "input" && c })
	var on []string
	for _, c := range checked {
		v, _ := attr(c, "value")
		on = append(on, v)
	}
	if strings.Join(on, ",") != "nas,reboot" {
		t.Errorf("checked %v, want nas,reboot", on)
	}
}

func TestTapCreateAndRevoke(t *testing.T) {
	h := newHarness(t, "pc")
	var logs *logBuffer
	h.reconfigure(func(s *Server) { logs = captureLogs(s) })
	h.signIn()
	link := newTapURL(t, h, "pc", "wake")
	if !strings.HasPrefix(link, h.ts.URL+"/l/mw_") {
		t.Fatalf("link %q", link)
	}
	secret := strings.TrimPrefix(link, h.ts.URL+"/l/")
	tok, err := h.tokens.Authenticate(context.Background(), secret)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok.Name, "link-pc-wake-") || len(tok.Name) != len("link-pc-wake-")+4 || !isTapLink(tok) {
		t.Errorf("token %+v", tok)
	}
	if strings.Contains(logs.String(), secret) {
		t.Error("the link's secret was logged")
	}
	// Listed among the links, with a revoke button.
	_, body := h.get("/tokens")
	rows := findAll(doc(t, body), func(n *html.Node) bool { v, _ := attr(n, "data-token"); return n.Data == "tr" && v == tok.ID })
	if len(rows) != 1 || !strings.Contains(text(rows[0]), "wake pc") || strings.Contains(body, secret) {
		t.Fatalf("links list: %d rows", len(rows))
	}
	if res, _ := h.do(http.DefaultClient, http.MethodGet, "/l/"+secret, nil, nil); res.StatusCode != http.StatusOK {
		t.Fatalf("link before revoking: %s", res.Status)
	}
	res, _ := h.post("/tokens/"+tok.ID+"/revoke", nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/tokens" {
		t.Fatalf("revoke: %s", res.Status)
	}
	if res, _ := h.do(http.DefaultClient, http.MethodGet, "/l/"+secret, nil, nil); res.StatusCode != http.StatusNotFound {
		t.Errorf("revoked link: %s", res.Status)
	}
	if _, body := h.get("/tokens"); strings.Contains(body, `data-token="`+tok.ID+`"`) {
		t.Error("a revoked link is still listed")
	}
	if res, _ := h.post("/tokens/nope/revoke", nil); res.StatusCode != http.StatusNotFound {
		t.Errorf("revoke unknown: %s", res.Status)
	}

	// Unknown machines and actions are refused.
	if res, _ := h.post("/tokens/links", url.Values{"machine": {"nope"}, "action": {"wake"}}); res.StatusCode != http.StatusNotFound {
		t.Errorf("unknown machine: %s", res.Status)
	}
	if res, _ := h.post("/tokens/links", url.Values{"machine": {"pc"}, "action": {"format"}}); res.StatusCode != http.StatusBadRequest {
		t.Errorf("unknown action: %s", res.Status)
	}
}

func TestTapURLBase(t *testing.T) {
	h := newHarness(t, "pc")
	h.signIn()
	// X-Forwarded-Proto from an untrusted peer is ignored.
	res, body := h.do(h.client, http.MethodPost, "/tokens/links",
		url.Values{"machine": {"pc"}, "action": {"wake"}, "csrf": {h.csrf()}}, map[string]string{"X-Forwarded-Proto": "https"})
	if res.StatusCode != http.StatusCreated || !strings.Contains(body, ">"+h.ts.URL+"/l/mw_") {
		t.Errorf("untrusted proxy: %s", res.Status)
	}
}

func TestPublicBase(t *testing.T) {
	s := &Server{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	for _, c := range []struct{ remote, proto, want string }{
		{"192.0.2.1:5000", "", "http://hub.lan:8080"},
		{"192.0.2.1:5000", "https", "http://hub.lan:8080"}, // not a trusted proxy
		{"10.1.2.3:5000", "https", "https://hub.lan:8080"},
		{"10.1.2.3:5000", "http", "http://hub.lan:8080"},
	} {
		r := httptest.NewRequest(http.MethodGet, "http://hub.lan:8080/tokens", nil)
		r.RemoteAddr = c.remote
		if c.proto != "" {
			r.Header.Set("X-Forwarded-Proto", c.proto)
		}
		if got := s.publicBase(r); got != c.want {
			t.Errorf("from %s with %q: %q, want %q", c.remote, c.proto, got, c.want)
		}
	}
	// PublicURL wins.
	s.PublicURL = "https://wake.example.net/"
	if got := s.publicBase(httptest.NewRequest(http.MethodGet, "http://hub.lan/", nil)); got != "https://wake.example.net" {
		t.Errorf("with a public URL: %q", got)
	}
}

func TestTapName(t *testing.T) {
	long := strings.Repeat("a", 62) + "-b"
	for _, m := range []string{"pc", long} {
		for _, a := range moonwake.KnownActions {
			n := tapName(m, a)
			if !moonwake.ValidName(n) || !strings.HasPrefix(n, "link-") || !strings.Contains(n, "-"+a+"-") {
				t.Errorf("linkName(%q, %q) = %q", m, a, n)
			}
		}
	}
}
