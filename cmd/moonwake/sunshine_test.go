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

func TestSunshinePairAutoCommand(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = append(got, r.Method+" "+r.URL.Path+" "+strings.TrimSpace(string(b)))
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"machine": "pc", "paired_at": "2026-11-25T20:00:00Z", "mac": "", "mac_matches": false})
	}))
	defer srv.Close()
	env := map[string]string{"MOONWAKE_TOKEN": "mw_t", "MOONWAKE_SUNSHINE_PASSWORD": "pa ss"}
	if code, out, errOut := cli(t, env, "sunshine", "pair", "pc", "--auto", "--user", "admin", "--web-port", "48000", "--hub", srv.URL); code != 0 || !strings.Contains(out, "paired") {
		t.Fatalf("pair: %d %s %s", code, out, errOut)
	}
	for _, args := range [][]string{
		{"sunshine", "pair", "pc", "--auto"},
		{"sunshine", "pair", "pc", "--auto", "--user", "admin", "--pin", "1234"},
		{"sunshine", "pair", "pc", "--pin", "1234", "--user", "admin"},
		{"sunshine", "pair", "pc", "--auto", "--user", "admin", "--password", "x"},
	} {
		if code, _, _ := cli(t, env, append(args, "--hub", srv.URL)...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	noPass := map[string]string{"MOONWAKE_TOKEN": "mw_t"}
	if code, _, errOut := cli(t, noPass, "sunshine", "pair", "pc", "--auto", "--user", "admin", "--hub", srv.URL); code != 2 || !strings.Contains(errOut, "MOONWAKE_SUNSHINE_PASSWORD") {
		t.Errorf("no password: exit %d %s", code, errOut)
	}
	if len(got) != 1 || got[0] != `POST /api/v1/machines/pc/sunshine/pair {"auto":true,"password":"pa ss","username":"admin","web_port":48000}` {
		t.Errorf("requests: %q", got)
	}
}
