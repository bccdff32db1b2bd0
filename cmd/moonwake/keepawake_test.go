package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

func TestKeepAwakeCommand(t *testing.T) {
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, strings.TrimSpace(r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization")+" "+strings.TrimSpace(string(b))))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if r.Method == "DELETE" {
			json.NewEncoder(w).Encode(map[string]any{"machine": "pc"})
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"machine": "pc", "until": "2026-12-24T22:00:00Z"})
	}))
	defer srv.Close()
	env := map[string]string{"MOONWAKE_TOKEN": "mw_t"}
	if code, out, errOut := cli(t, env, "keep-awake", "pc", "--for", "2h", "--hub", srv.URL); code != 0 || !strings.Contains(out, "kept awake until") {
		t.Fatalf("--for: %d %s %s", code, out, errOut)
	}
	if code, out, errOut := cli(t, env, "keep-awake", "pc", "--until", "2026-12-24T23:00:00+01:00", "--hub", srv.URL); code != 0 {
		t.Fatalf("--until: %d %s %s", code, out, errOut)
	}
	if code, out, errOut := cli(t, env, "keep-awake", "pc", "--clear", "--hub", srv.URL, "--token", "mw_x"); code != 0 || !strings.Contains(out, "no longer") {
		t.Fatalf("--clear: %d %s %s", code, out, errOut)
	}
	for _, args := range [][]string{
		{"keep-awake", "pc"}, {"keep-awake", "pc", "--for", "2h", "--clear"}, {"keep-awake", "pc", "--until", "soon"},
		{"keep-awake", "--for", "2h"}, {"keep-awake", "pc", "--for", "-2h"},
	} {
		if code, _, _ := cli(t, env, append(args, "--hub", srv.URL)...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	want := []string{
		`POST /api/v1/machines/pc/keep-awake Bearer mw_t {"for":"2h0m0s"}`,
		`POST /api/v1/machines/pc/keep-awake Bearer mw_t {"until":"2026-12-24T23:00:00+01:00"}`,
		`DELETE /api/v1/machines/pc/keep-awake Bearer mw_x`,
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
