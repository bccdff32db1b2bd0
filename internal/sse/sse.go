// Package sse writes server-sent event streams: the headers and retry
// preamble, the event framing, and the loop that relays events and sends
// heartbeats. What a stream carries, and who may read it, stays with each
// handler.
package sse

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/moonwake/moonwake"
)

// MaxReplay bounds the events replayed to a client that resumes: one that
// missed more reads older history elsewhere.
const MaxReplay = 1000

// Heartbeat is how often a quiet stream sends a comment: it keeps the
// stream alive through proxies that close quiet connections, lets the hub
// notice clients that went away, and is when a stream checks that its
// credential still lives.
const Heartbeat = 15 * time.Second

// After is the event number a stream resumes after: the one in the
// Last-Event-ID header (a reconnecting EventSource sends it), else in
// ?after= (a page gives the last event it was made with). Without either,
// or with a number ahead of now (the newest event), it is now: only new
// events. It is never more than maxReplay events back: a client that missed
// more reads older history elsewhere. EInvalid for a number that is not one.
func After(r *http.Request, now, maxReplay int64) (int64, error) {
	v := r.Header.Get("Last-Event-ID")
	if v == "" {
		v = r.URL.Query().Get("after")
	}
	if v == "" {
		return now, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, moonwake.Errorf(moonwake.EInvalid, "Last-Event-ID %q: want an event number", v)
	}
	return min(max(n, now-maxReplay), now), nil
}

// Start begins an event stream: it lifts the write deadline (a stream
// outlives the server's write timeout, which is for requests), sets the
// headers, writes the status and tells the client to reconnect after
// retry. Headers the caller set before, such as Cache-Control, are kept.
func Start(w http.ResponseWriter, retry time.Duration) *http.ResponseController {
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, "retry: %d\n\n", retry.Milliseconds())
	return rc
}

// Event writes one event with the given id and type. data must hold no
// newline (JSON from encoding/json does not).
func Event(w io.Writer, id int64, typ string, data []byte) {
	fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", id, typ, data)
}

// Comment writes a keep-alive comment, which clients ignore.
func Comment(w io.Writer) {
	fmt.Fprint(w, ": keep-alive\n\n")
}

// Stream relays events of type T to a client.
type Stream[T any] struct {
	Retry     time.Duration   // how long the client waits to reconnect
	Heartbeat time.Duration   // between keep-alive comments
	Closing   <-chan struct{} // closed when the server shuts down
	// Write writes one event.
	Write func(w io.Writer, e T)
	// Alive is asked at each heartbeat; false ends the stream, after an
	// event of type Goodbye with data {} when Goodbye is not empty.
	Alive   func() bool
	Goodbye string
}

// Serve starts the stream, writes past, then relays events from c until
// ctx is done, the server closes, c is closed (the client fell behind: it
// reconnects and resumes), Alive says no, or a write fails.
func (s Stream[T]) Serve(ctx context.Context, w http.ResponseWriter, past []T, c <-chan T) {
	rc := Start(w, s.Retry)
	for _, e := range past {
		s.Write(w, e)
	}
	if rc.Flush() != nil {
		return
	}
	tick := time.NewTicker(s.Heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.Closing:
			return
		case e, ok := <-c:
			if !ok {
				return
			}
			s.Write(w, e)
		case <-tick.C:
			if !s.Alive() {
				if s.Goodbye != "" {
					fmt.Fprintf(w, "event: %s\ndata: {}\n\n", s.Goodbye)
					_ = rc.Flush()
				}
				return
			}
			Comment(w)
		}
		if rc.Flush() != nil {
			return
		}
	}
}
