package sse

import (
	"context"
	"io"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/moonwake/moonwake"
)

func TestAfter(t *testing.T) {
	for _, c := range []struct {
		url, header string
		want        int64
		bad         bool
	}{
		{"/events", "", 500, false},            // only new events
		{"/events?after=450", "", 450, false},  // the page's last event
		{"/events?after=1", "490", 490, false}, // the header wins
		{"/events?after=10", "", 400, false},   // at most 100 back
		{"/events?after=900", "", 500, false},  // not ahead of now
		{"/events", "x", 0, true},
		{"/events?after=-1", "", 0, true},
	} {
		r := httptest.NewRequest("GET", c.url, nil)
		if c.header != "" {
			r.Header.Set("Last-Event-ID", c.header)
		}
		got, err := After(r, 500, 100)
		if c.bad {
			if moonwake.ErrorCode(err) != moonwake.EInvalid {
				t.Errorf("%s %q: %v, want EInvalid", c.url, c.header, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s %q: %d, %v; want %d", c.url, c.header, got, err, c.want)
		}
	}
}

func TestServe(t *testing.T) {
	w := httptest.NewRecorder()
	w.Header().Set("Cache-Control", "no-store")
	c := make(chan string, 1)
	c <- "b"
	close(c)
	Stream[string]{
		Retry:     2 * time.Second,
		Heartbeat: time.Hour,
		Write:     func(w io.Writer, e string) { Event(w, int64(len(e)), "t", []byte(`"`+e+`"`)) },
		Alive:     func() bool { return true },
	}.Serve(context.Background(), w, []string{"aa"}, c)
	want := "retry: 2000\n\nid: 2\nevent: t\ndata: \"aa\"\n\nid: 1\nevent: t\ndata: \"b\"\n\n"
	if got := w.Body.String(); got != want {
		t.Errorf("body = %q, want %q", got, want)
	}
	h := w.Header()
	if h.Get("Content-Type") != "text/event-stream" || h.Get("X-Accel-Buffering") != "no" || h.Get("Cache-Control") != "no-store" {
		t.Errorf("headers = %v", h)
	}
}

func TestServeHeartbeat(t *testing.T) {
	for _, tt := range []struct {
		goodbye, want string
	}{
		{"", "retry: 1000\n\n: keep-alive\n\n"},
		{"gone", "retry: 1000\n\n: keep-alive\n\nevent: gone\ndata: {}\n\n"},
	} {
		w := httptest.NewRecorder()
		beats := 0
		Stream[string]{
			Retry:     time.Second,
			Heartbeat: time.Millisecond,
			Write:     func(io.Writer, string) {},
			Alive:     func() bool { beats++; return beats < 2 },
			Goodbye:   tt.goodbye,
		}.Serve(context.Background(), w, nil, make(chan string))
		if got := w.Body.String(); got != tt.want {
			t.Errorf("goodbye %q: body = %q, want %q", tt.goodbye, got, tt.want)
		}
	}
}

func TestServeEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	closing := make(chan struct{})
	close(closing)
	for _, s := range []Stream[string]{
		{Heartbeat: time.Hour, Closing: closing},
		{Heartbeat: time.Hour},
	} {
		w := httptest.NewRecorder()
		s.Serve(ctx, w, nil, make(chan string))
	}
}
