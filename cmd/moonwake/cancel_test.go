package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moonwake/moonwake"
)

// TestGraceAndCancel: --grace reaches the hub as ?grace=, a shutdown
// cancelled at the PC exits non-zero and says so, and cancel posts to the
// action's cancel route. The hub's side of both is tested in hub/.
func TestGraceAndCancel(t *testing.T) {
	var mu sync.Mutex
	var got []string
	hub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.RequestURI())
		mu.Unlock()
		now := time.Now().UTC()
		a := moonwake.Action{ID: "act_1", Kind: "shutdown", Machine: "pc", Status: moonwake.StatusCancelled,
			Detail: moonwake.CancelledAtPC + " (input)", Steps: []moonwake.Step{}, CreatedAt: now, FinishedAt: &now}
		w.Header().Set("Content-Type", "application/json")
		if strings.HasSuffix(r.URL.Path, "/cancel") {
			a.Detail = "cancelled by token admin"
		} else {
			w.WriteHeader(http.StatusAccepted)
		}
		json.NewEncoder(w).Encode(a)
	}))
	defer hub.Close()
	env := map[string]string{"MOONWAKE_HUB": hub.URL, "MOONWAKE_TOKEN": "mw_test"}

	code, out, errOut := cli(t, env, "shutdown", "pc", "--grace", "90s", "--no-wait")
	if code != 1 || !strings.Contains(out, "shutdown pc: cancelled: cancelled at the PC (input)") || !strings.Contains(errOut, "shutdown pc cancelled") {
		t.Errorf("shutdown --grace: exit %d, %q, %q", code, out, errOut)
	}
	code, out, _ = cli(t, env, "cancel", "act_1")
	if code != 0 || !strings.Contains(out, "shutdown pc: cancelled: cancelled by token admin") {
		t.Errorf("cancel: exit %d, %q", code, out)
	}
	mu.Lock()
	if strings.Join(got, ", ") != "POST /api/v1/machines/pc/shutdown?grace=1m30s, POST /api/v1/actions/act_1/cancel" {
		t.Errorf("the hub got %q", got)
	}
	mu.Unlock()

	if code, _, errOut := cli(t, env, "reboot", "pc", "--grace", "31m"); code != 2 || !strings.Contains(errOut, "--grace") {
		t.Errorf("reboot --grace 31m: exit %d, %q", code, errOut)
	}
}
