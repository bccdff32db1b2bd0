package sse

import (
	"context"
	"io"
	"net/http/httptest"
	"testing"
	"time"
)

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
