package remote

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/uplink"
)

// TestAgentRequests: an agent's request becomes a power action on its own
// machine, with the app as the actor; what is not a power action from a
// Sunshine app is refused before the power service hears of it.
func TestAgentRequests(t *testing.T) {
	a := &Agents{}
	pc := uplink.Peer{ID: "agent_1", Purpose: uplink.PurposeAgent, Machine: "pc"}
	if r := a.onRequest(t.Context(), pc, uplink.Request{ID: "r", Name: "sleep", From: "sunshine", App: "Sleep PC"}); r.OK || !strings.Contains(r.Error, "no requests") {
		t.Fatalf("before the power service registered: %+v", r)
	}
	var calls []string
	a.OnRequest(func(ctx context.Context, machine, kind string, actor moonwake.Actor) (*moonwake.Action, error) {
		calls = append(calls, machine+" "+kind+" "+actor.Kind+"/"+actor.Name)
		switch kind {
		case moonwake.ActionHibernate:
			return nil, moonwake.Errorf(moonwake.EUnavailable, "pc has no way to be shut down")
		case moonwake.ActionReboot:
			return &moonwake.Action{ID: "act_2", Status: moonwake.StatusFailed, Detail: "the agent refused"}, moonwake.Errorf(moonwake.EInvalid, "the agent of pc refused")
		}
		return &moonwake.Action{ID: "act_1", Status: moonwake.StatusRunning}, nil
	})
	r := a.onRequest(t.Context(), pc, uplink.Request{ID: "r", Name: "sleep", From: "sunshine", App: " Sleep PC "})
	var data RequestData
	if err := json.Unmarshal(r.Data, &data); err != nil || !r.OK || data != (RequestData{"act_1", "running"}) || !strings.Contains(r.Detail, "under way") {
		t.Fatalf("sleep: %+v %v", r, err)
	}
	for _, tc := range []struct {
		req  uplink.Request
		want string
	}{
		{uplink.Request{Name: "format", From: "sunshine", App: "x"}, "unknown power action"},
		{uplink.Request{Name: "sleep", From: "cron", App: "x"}, "come from Sunshine apps"},
		{uplink.Request{Name: "sleep", From: "sunshine", App: " "}, "needs the app's title"},
		{uplink.Request{Name: "sleep", From: "sunshine", App: "a\x1b[2J"}, "printable"},
		{uplink.Request{Name: "hibernate", From: "sunshine", App: "x"}, "no way to be shut down"},
		{uplink.Request{Name: "reboot", From: "sunshine", App: "x"}, "reboot of pc failed (action act_2)"},
	} {
		if r := a.onRequest(t.Context(), pc, tc.req); r.OK || !strings.Contains(r.Error, tc.want) {
			t.Errorf("%+v: %+v, want %q", tc.req, r, tc.want)
		}
	}
	if want := []string{"pc sleep sunshine/Sleep PC", "pc hibernate sunshine/x", "pc reboot sunshine/x"}; strings.Join(calls, ",") != strings.Join(want, ",") {
		t.Errorf("the power service got %q", calls)
	}
	r = (&Remote{Agents: a}).onRequest(t.Context(), uplink.Peer{Purpose: uplink.PurposeRelay, Machine: "pc"}, uplink.Request{Name: "sleep", From: "sunshine", App: "x"})
	if r.OK || !strings.Contains(r.Error, "only agents") {
		t.Errorf("a relay's request: %+v", r)
	}
}
