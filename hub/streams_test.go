package hub_test

import (
	"net/http"
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
