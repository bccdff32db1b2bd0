package web

import (
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/internal/sse"
)

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
	after, err := sse.After(r, s.Events.Seq(), sse.MaxReplay)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	past, sub, err := s.Events.Subscribe(r.Context(), after, nil)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer sub.Close()
	s.streams.Add(1)
	defer s.streams.Add(-1)

	secret := s.sessionSecret(r)
	beat := sse.Heartbeat
	if s.heartbeat > 0 {
		beat = s.heartbeat
	}
	w.Header().Set("Cache-Control", "no-store")
	sse.Stream[*moonwake.Event]{
		Retry:     2 * time.Second,
		Heartbeat: beat,
		Closing:   s.closing,
		Write:     writeEvent,
		// Revoked or expired: tell the page, which goes to /login.
		Alive: func() bool {
			_, err := s.Sessions.AuthenticateSession(r.Context(), secret)
			return err == nil
		},
		Goodbye: "signed-out",
	}.Serve(r.Context(), w, past, sub.C)
}

// writeEvent writes one event; its payload is JSON, so it has no newline.
func writeEvent(w io.Writer, e *moonwake.Event) {
	data := []byte(e.Data)
	if len(data) == 0 {
		data = []byte("null")
	}
	sse.Event(w, e.Seq, e.Type, fmt.Appendf(nil, "{\"seq\":%d,\"at\":%q,\"type\":%q,\"machine\":%q,\"data\":%s}",
		e.Seq, e.At.Format(time.RFC3339Nano), e.Type, e.Machine, data))
}
