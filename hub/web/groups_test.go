package web

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/hub/groups"
)

// TestGroupButtons: the dashboard has a Wake all and a Shut down all
// button per tag; pressing one starts a group action on the tag's
// machines, with the session as the actor.
func TestGroupButtons(t *testing.T) {
	h := newHarness(t, "pc-a", "pc-b", "solo")
	ctx := context.Background()
	for _, name := range []string{"pc-a", "pc-b"} {
		m, err := h.machines.FindMachine(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.machines.UpdateMachine(ctx, name, moonwake.MachineUpdate{Tags: &[]string{"lab"}}); err != nil {
			t.Fatalf("tag %s: %v", m.Name, err)
		}
	}
	power := h.power.service()
	power.WaitFn = func(ctx context.Context, id string) (*moonwake.Action, error) {
		a, err := h.power.findAction(ctx, id)
		if err == nil {
			a.Status = moonwake.StatusSucceeded
		}
		return a, err
	}
	gs := groups.New(power, nil, nil)
	t.Cleanup(func() { gs.Close() })
	h.srv.Groups = gs
	h.signIn()

	res, body := h.get("/")
	if res.StatusCode != http.StatusOK || !strings.Contains(body, `data-group="lab"`) || !strings.Contains(body, "2 machines: pc-a, pc-b") ||
		!strings.Contains(body, `action="/groups/lab/wake"`) || !strings.Contains(body, `action="/groups/lab/shutdown"`) {
		t.Fatalf("dashboard: %s\n%s", res.Status, body)
	}
	res, _ = h.post("/groups/lab/shutdown", url.Values{})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("shut down all: %s", res.Status)
	}
	eventually(t, "both shutdowns", func() bool {
		c := h.power.Calls()
		return slices.Contains(c, "shutdown pc-a") && slices.Contains(c, "shutdown pc-b")
	})
	if slices.Contains(h.power.Calls(), "shutdown solo") {
		t.Error("a machine without the tag was shut down")
	}
	h.power.mu.Lock()
	actor := h.power.actors[0]
	h.power.mu.Unlock()
	if actor.Kind != "session" {
		t.Errorf("actor %+v", actor)
	}
	if res, _ := h.post("/groups/attic/wake", url.Values{}); res.StatusCode != http.StatusNotFound {
		t.Errorf("an unknown tag: %s", res.Status)
	}
	// Signed out: no group action.
	c := h.newClient()
	res, _ = h.do(c, http.MethodPost, "/groups/lab/wake", url.Values{}, nil)
	if res.StatusCode == http.StatusSeeOther && !strings.HasPrefix(res.Header.Get("Location"), "/login") || res.StatusCode == http.StatusAccepted {
		t.Errorf("signed out: %s %s", res.Status, res.Header.Get("Location"))
	}
	if n := len(h.power.Calls()); n != 2 {
		t.Errorf("%d actions, want 2", n)
	}
}
