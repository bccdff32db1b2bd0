package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/internal/httperr"
)

// ErrorBody is the JSON of every error answer.
type ErrorBody struct {
	Error string `json:"error"` // for people
	Code  string `json:"code"`  // for programs: one of the moonwake.E* codes
}

// error writes err as JSON. Internal errors are logged with their detail
// and shown as "internal error".
func (s *Server) error(w http.ResponseWriter, r *http.Request, err error) {
	code := moonwake.ErrorCode(err)
	switch code {
	case moonwake.EInternal:
		s.Logger.Error("internal error", "method", r.Method, "path", r.URL.Path, "error", err)
	case moonwake.EFull:
		s.Logger.Error("disk full", "method", r.Method, "path", r.URL.Path, "error", err)
	}
	if code == moonwake.EUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="moonwake"`)
	}
	writeJSON(w, httperr.Status(code), ErrorBody{Error: moonwake.ErrorMessage(err), Code: code})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	if a, ok := v.(*moonwake.Action); ok {
		// Every wake and shutdown is answered with one: no reflection,
		// and a buffer used again, or the very bytes of the last answer
		// when it is the same action (requests joining a running wake
		// share one, which nobody changes).
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		if m := lastAction.Load(); m != nil && m.a == a {
			w.Write(m.b)
			return
		}
		buf := jsonBuffers.Get().(*[]byte)
		*buf = append(a.AppendJSON((*buf)[:0]), '\n')
		w.Write(*buf)
		if lastSeen.Swap(a) == a { // asked for twice in a row: keep it
			lastAction.Store(&actionJSON{a: a, b: slices.Clone(*buf)})
		}
		if cap(*buf) <= 64<<10 {
			jsonBuffers.Put(buf)
		}
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":"internal error","code":"internal"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// lastAction is the answer made for the action last answered twice in a
// row, and lastSeen the action last answered.
var (
	lastAction atomic.Pointer[actionJSON]
	lastSeen   atomic.Pointer[moonwake.Action]
)

type actionJSON struct {
	a *moonwake.Action
	b []byte
}

// jsonBuffers hold actions' answers while they are written; one that grew
// past 64 KiB (an action with many steps) is let go.
var jsonBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// maxBody bounds request bodies: nothing the API takes is large.
const maxBody = 64 << 10

// decode reads a JSON body into v strictly: one object, no unknown fields.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.Is(err, io.EOF):
			return moonwake.Errorf(moonwake.EInvalid, "empty body; send a JSON object")
		case errors.As(err, &mbe):
			return moonwake.Errorf(moonwake.EInvalid, "body larger than %d bytes", maxBody)
		case errors.As(err, &se):
			return moonwake.Errorf(moonwake.EInvalid, "malformed JSON at byte %d", se.Offset)
		case errors.As(err, &te):
			return moonwake.Errorf(moonwake.EInvalid, "field %q: want %s", te.Field, te.Type) // never echo the value: it may be a secret
		default:
			return moonwake.Errorf(moonwake.EInvalid, "bad JSON: %s", trimJSONErr(err))
		}
	}
	if dec.More() {
		return moonwake.Errorf(moonwake.EInvalid, "body holds more than one JSON value")
	}
	return nil
}

func trimJSONErr(err error) string {
	return fmt.Sprint(err)
}
