package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

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
	var b []byte
	if a, ok := v.(*moonwake.Action); ok {
		// Every wake and shutdown is answered with one: no reflection.
		b = a.AppendJSON(make([]byte, 0, 1024))
	} else {
		var err error
		if b, err = json.Marshal(v); err != nil {
			status = http.StatusInternalServerError
			b = []byte(`{"error":"internal error","code":"internal"}`)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

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
