package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestSunshinePairCommand(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = append(got, r.Method+" "+r.URL.Path+" "+strings.TrimSpace(string(b)))
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"machine": "pc", "paired_at": "2026-11-25T20:00:00Z", "mac": "3c:7c:3f:1e:22:a0", "mac_matches": true})
	}))
	defer srv.Close()
	env := map[string]string{"MOONWAKE_TOKEN": "mw_t"}
	if code, out, errOut := cli(t, env, "sunshine", "pair", "pc", "--pin", "1234", "--hub", srv.URL); code != 0 || !strings.Contains(out, "matches") {
		t.Fatalf("pair: %d %s %s", code, out, errOut)
	}
	for _, args := range [][]string{{"sunshine", "pair", "pc"}, {"sunshine", "pair", "pc", "--pin", "12a4"}, {"sunshine", "pair", "--pin", "1234"}} {
		if code, _, _ := cli(t, env, append(args, "--hub", srv.URL)...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	if len(got) != 1 || got[0] != `POST /api/v1/machines/pc/sunshine/pair {"pin":"1234"}` {
		t.Errorf("requests: %q", got)
	}
}
