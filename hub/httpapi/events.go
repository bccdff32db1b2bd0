package httpapi

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/internal/sse"
)

// streamEvents is GET /api/v1/events: server-sent events of the machines the
// token may see, optionally of one machine (?machine=) or one type (?type=).
// A client that reconnects with Last-Event-ID (or ?after=) first gets the
// events it missed.
func (s *Server) streamEvents(w http.ResponseWriter, r *http.Request) {
	tok := tokenFrom(r.Context())
	q := r.URL.Query()
	machine, typ := q.Get("machine"), q.Get("type")
	if machine != "" && !tok.CanSee(machine) {
		s.error(w, r, moonwake.Errorf(moonwake.EForbidden, "token %q may not use machine %q", tok.Name, machine))
		return
	}
	if typ != "" && typ != moonwake.EventState && typ != moonwake.EventAction && typ != moonwake.EventMachine {
		s.error(w, r, moonwake.Errorf(moonwake.EInvalid, "type %q: want %s, %s or %s", typ, moonwake.EventState, moonwake.EventAction, moonwake.EventMachine))
		return
	}
	release, err := s.streams.open(tok.ID, s.clientAddr(r))
	if err != nil {
		w.Header().Set("Retry-After", "30")
		s.error(w, r, err)
		return
	}
	defer release()
	// Replays are bounded: a client that missed more gets the latest
	// ones and reads older history from the API.
	after, err := sse.After(r, s.Events.Seq(), sse.MaxReplay)
	if err != nil {
		s.error(w, r, err)
		return
	}
	filter := func(e *moonwake.Event) bool {
		if !tok.CanSee(e.Machine) || (machine != "" && e.Machine != machine) || (typ != "" && e.Type != typ) {
			return false
		}
		// Without the read scope, the audit log's part of the stream is
		// the actions the token asked for or could have.
		if e.Type == moonwake.EventAction && !tok.ReadsLog() {
			var a moonwake.Action
			return json.Unmarshal(e.Data, &a) == nil && mayRead(tok, &a)
		}
		return true
	}
	past, sub, err := s.Events.Subscribe(r.Context(), after, filter)
	if err != nil {
		s.error(w, r, err)
		return
	}
	defer sub.Close()

	sse.Stream[*moonwake.Event]{
		Retry:     2 * time.Second,
		Heartbeat: sse.Heartbeat,
		Closing:   s.closing,
		Write: func(w io.Writer, e *moonwake.Event) {
			writeEvent(w, eventFor(tok, e))
		},
		// A token revoked since the stream opened ends it.
		Alive: func() bool {
			secret, _, err := bearer(r, false)
			if err != nil {
				return false
			}
			_, err = s.Tokens.Authenticate(r.Context(), secret)
			return err == nil
		},
	}.Serve(r.Context(), w, past, sub.C)
}

func writeEvent(w io.Writer, e *moonwake.Event) {
	sse.Event(w, e.Seq, e.Type, fmt.Appendf(nil, "{\"seq\":%d,\"at\":%q,\"type\":%q,\"machine\":%q,\"data\":%s}",
		e.Seq, e.At.Format(time.RFC3339Nano), e.Type, e.Machine, e.Data))
}

// eventFor returns e as tok may read it: an action event's actor is told
// only as much as Action.For allows.
func eventFor(tok *moonwake.Token, e *moonwake.Event) *moonwake.Event {
	if e.Type != moonwake.EventAction || tok.Admin {
		return e
	}
	var a moonwake.Action
	if err := json.Unmarshal(e.Data, &a); err != nil {
		return e
	}
	v := a.For(tok)
	if v == &a {
		return e
	}
	data, err := json.Marshal(v)
	if err != nil {
		return e
	}
	c := *e
	c.Data = data
	return &c
}
