package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/moonwake/moonwake"
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
func TestLinkSubpathsAreGone(t *testing.T) {
	h := newHarness(t, "pc")
	secret, _ := newLink(t, h, "pc", "wake")
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
