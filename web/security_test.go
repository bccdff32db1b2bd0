package web

import (
	"context"
	"net/http"
	"net/url"
	"testing"
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
