package hub_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestEventStreamsCapped: a token may hold 8 event streams open and gets
// 429 beyond; another token is not held back by it; a stream that ends
// frees its place.
func TestEventStreamsCapped(t *testing.T) {
	th := startHub(t, newConfig(t))
	reader := th.token("reader", nil, nil, false)
	var open []*sse
	for range 8 {
		open = append(open, th.events("/api/v1/events", reader, ""))
	}
	status := func(token string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", th.URL+"/api/v1/events", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Retry-After")
	}
	if code, retry := status(reader); code != 429 || retry == "" {
		t.Fatalf("a 9th stream of one token: %d, Retry-After %q", code, retry)
	}
	other := th.token("other", nil, nil, false)
	th.events("/api/v1/events", other, "") // not held back by reader's streams

	// A stream that ends frees its place: the hub notices when it next
	// writes to it, so an event (a machine added) reaches every stream.
	open[0].resp.Body.Close()
	th.must(201, "POST", "/api/v1/machines", th.Admin, map[string]any{"name": "nudge", "mac": "aa:bb:cc:dd:ee:77", "broadcast": "127.0.0.1"})
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, _ := status(reader)
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a closed stream never freed its place: %d", code)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestEventStreamsMax: event_streams.max caps the streams of all tokens
// together: with 3, a fourth (of a token holding none) gets 429 saying
// so, and a stream that ends frees its place.
func TestEventStreamsMax(t *testing.T) {
	cfg := newConfig(t)
	cfg.EventStreams.Max = 3
	th := startHub(t, cfg)
	var open []*sse
	for i := range 3 {
		open = append(open, th.events("/api/v1/events", th.token(fmt.Sprintf("reader-%d", i), nil, nil, false), ""))
	}
	late := th.token("late", nil, nil, false)
	status := func() (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", th.URL+"/api/v1/events", nil)
		req.Header.Set("Authorization", "Bearer "+late)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode == 200 {
			return 200, "" // a stream: its body never ends
		}
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := status(); code != 429 || !strings.Contains(body, "3 event streams open") {
		t.Fatalf("a 4th stream with event_streams.max 3: %d %s", code, body)
	}
	open[0].resp.Body.Close()
	th.must(201, "POST", "/api/v1/machines", th.Admin, map[string]any{"name": "nudge", "mac": "aa:bb:cc:dd:ee:77", "broadcast": "127.0.0.1"})
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, _ := status()
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a closed stream never freed its place: %d", code)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
