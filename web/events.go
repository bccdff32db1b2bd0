package web

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/moonwake/moonwake"
)

// maxReplay bounds the events replayed to a browser that resumes.
const maxReplay = 1000

// heartbeat keeps idle streams alive through proxies, and is when the
// stream checks that its session still lives.
const heartbeat = 15 * time.Second

// streamEvents is GET /events: server-sent events (state, action and
// machine changes) for the dashboard. A browser that reconnects sends
// Last-Event-ID (or the page gives ?after=, the last event before it was
// made) and first gets what it missed. The stream ends when the session is
// revoked or expires, and when the hub shuts down.
func (s *Server) streamEvents(w http.ResponseWriter, r *http.Request) {
	if s.Events == nil {
		s.fail(w, r, moonwake.Errorf(moonwake.EUnavailable, "This hub has no event stream."))
		return
	}
	after := int64(-1) // only new events
	last := r.Header.Get("Last-Event-ID")
	if last == "" {
		last = r.URL.Query().Get("after")
	}
	if last != "" {
		n, err := strconv.ParseInt(last, 10, 64)
		if err != nil || n < 0 {
			s.fail(w, r, moonwake.Errorf(moonwake.EInvalid, "Last-Event-ID %q: want an event number.", last))
			return
		}
		after = n
	}
	if now := s.Events.Seq(); after < 0 || after > now {
		after = now
	} else if now-after > maxReplay {
		after = now - maxReplay
	}
	past, sub, err := s.Events.Subscribe(r.Context(), after, nil)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer sub.Close()

	secret := s.sessionSecret(r)
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // a stream outlives the request write timeout
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 2000\n\n")
	for _, e := range past {
		writeEvent(w, e)
	}
	if err := rc.Flush(); err != nil {
		return
	}
	beat := heartbeat
	if s.heartbeat > 0 {
		beat = s.heartbeat
	}
	tick := time.NewTicker(beat)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.closing:
			return
		case e, ok := <-sub.C:
			if !ok {
				return // fell behind: the browser reconnects and resumes
			}
			writeEvent(w, e)
		case <-tick.C:
			if _, err := s.Sessions.AuthenticateSession(r.Context(), secret); err != nil {
				// Revoked or expired: tell the page, which goes to /login.
				fmt.Fprint(w, "event: signed-out\ndata: {}\n\n")
				_ = rc.Flush()
				return
			}
			fmt.Fprint(w, ": keep-alive\n\n")
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

// writeEvent writes one event; its payload is JSON, so it has no newline.
func writeEvent(w http.ResponseWriter, e *moonwake.Event) {
	data := []byte(e.Data)
	if len(data) == 0 {
		data = []byte("null")
	}
	fmt.Fprintf(w, "id: %d\nevent: %s\ndata: {\"seq\":%d,\"at\":%q,\"type\":%q,\"machine\":%q,\"data\":%s}\n\n",
		e.Seq, e.Type, e.Seq, e.At.Format(time.RFC3339Nano), e.Type, e.Machine, data)
}
