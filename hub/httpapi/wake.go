package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/internal/httperr"
	"github.com/moonwake/moonwake/wol"
)

// wakeMachine is POST /api/v1/machines/{name}/wake.
func (s *Server) wakeMachine(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	tok := tokenFrom(r.Context())
	if !tok.Allows(moonwake.ActionWake, name) {
		s.error(w, r, moonwake.Errorf(moonwake.EForbidden, "token %q may not wake %q", tok.Name, name))
		return
	}
	m, err := s.Machines.FindMachine(r.Context(), name)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.wake(w, r, m)
}

// wakeByMAC is GET /wake?mac=…, the drop-in for old serverless wake
// functions. Unlike them it wakes registered machines only, and only for a
// token allowed to.
func (s *Server) wakeByMAC(w http.ResponseWriter, r *http.Request) {
	tok := tokenFrom(r.Context())
	raw := queryOf(r).Get("mac")
	if raw == "" {
		s.error(w, r, moonwake.Errorf(moonwake.EInvalid, "missing mac parameter: /wake?mac=aa:bb:cc:dd:ee:ff"))
		return
	}
	mac, err := wol.ParseMAC(raw)
	if err != nil {
		s.error(w, r, moonwake.Errorf(moonwake.EInvalid, "%v", err))
		return
	}
	m, err := s.Machines.FindMachineByMAC(r.Context(), mac.String())
	if err != nil {
		if moonwake.ErrorCode(err) == moonwake.ENotFound && !tok.Admin && len(tok.Machines) > 0 {
			err = moonwake.Errorf(moonwake.EForbidden, "token %q may not wake %s", tok.Name, mac)
		} else if moonwake.ErrorCode(err) == moonwake.ENotFound {
			err = moonwake.Errorf(moonwake.ENotFound, "no registered machine has MAC %s; only registered machines can be woken", mac)
		}
		s.error(w, r, err)
		return
	}
	if !tok.Allows(moonwake.ActionWake, m.Name) {
		s.error(w, r, moonwake.Errorf(moonwake.EForbidden, "token %q may not wake %s", tok.Name, mac))
		return
	}
	s.wake(w, r, m)
}

// wakeFailure is the answer when the packets could not be sent: the error,
// and the action that records it.
type wakeFailure struct {
	ErrorBody
	Action *moonwake.Action `json:"action,omitempty"`
}

func (s *Server) wake(w http.ResponseWriter, r *http.Request, m *moonwake.Machine) {
	s.act(w, r, func() (*moonwake.Action, error) { return s.Power.Wake(r.Context(), m) })
}

// commandMachine is POST /api/v1/machines/{name}/shutdown (reboot, sleep,
// hibernate).
func (s *Server) commandMachine(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		tok := tokenFrom(r.Context())
		if !tok.Allows(kind, name) {
			s.error(w, r, moonwake.Errorf(moonwake.EForbidden, "token %q may not %s %q", tok.Name, kind, name))
			return
		}
		grace, err := graceOf(w, r)
		if err != nil {
			s.error(w, r, err)
			return
		}
		m, err := s.Machines.FindMachine(r.Context(), name)
		if err != nil {
			s.error(w, r, err)
			return
		}
		ctx := r.Context()
		if grace > 0 {
			ctx = moonwake.WithGrace(ctx, grace)
		}
		s.act(w, r, func() (*moonwake.Action, error) { return s.Power.Command(ctx, m, kind) })
	}
}

// commandBody is the optional body of a power command.
type commandBody struct {
	Grace string `json:"grace"` // "60s": a countdown at the PC first
}

// graceOf reads a power command's grace: ?grace=60s, or {"grace":"60s"}
// in the body; 0 without either. EInvalid for both, or one out of range.
func graceOf(w http.ResponseWriter, r *http.Request) (time.Duration, error) {
	v := r.URL.Query().Get("grace")
	if r.ContentLength != 0 { // a body is optional, and then strict, as the groups' is
		var b commandBody
		if err := decode(w, r, &b); err != nil {
			return 0, err
		}
		if b.Grace != "" && v != "" {
			return 0, moonwake.Errorf(moonwake.EInvalid, "grace given twice: in the query and in the body")
		}
		if b.Grace != "" {
			v = b.Grace
		}
	}
	return moonwake.ParseGrace(v)
}

// maxWait bounds ?wait=true.
const maxWait = 5 * time.Minute

// act starts an action and answers with it: 202 while it runs, or, with
// ?wait=true (and ?timeout=, default and at most 5 min), 200 with its
// outcome once it has ended.
func (s *Server) act(w http.ResponseWriter, r *http.Request, start func() (*moonwake.Action, error)) {
	q := queryOf(r) // nil for most: no map to make
	wait := false
	timeout := maxWait
	if v := q.Get("wait"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			s.error(w, r, moonwake.Errorf(moonwake.EInvalid, "wait %q: want true or false", v))
			return
		}
		wait = b
	}
	if v := q.Get("timeout"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 || d > maxWait {
			s.error(w, r, moonwake.Errorf(moonwake.EInvalid, "timeout %q: want a duration up to %s, like 90s", v, maxWait))
			return
		}
		timeout = d
	}
	a, err := start()
	if err == nil && wait && !a.Done() {
		// The wait may outlast the server's write timeout, which is for
		// ordinary requests.
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(timeout + 10*time.Second))
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		a, err = s.Power.Wait(ctx, a.ID)
		cancel()
	}
	if err != nil {
		if a == nil {
			s.error(w, r, err)
			return
		}
		code := moonwake.ErrorCode(err)
		writeJSON(w, httperr.Status(code), wakeFailure{ErrorBody{Error: moonwake.ErrorMessage(err), Code: code}, a.For(tokenFrom(r.Context()))})
		return
	}
	w.Header().Set("Location", "/api/v1/actions/"+a.ID)
	status := http.StatusAccepted
	if wait && a.Done() {
		status = http.StatusOK
	}
	// A request that joins a running action gets that action, whose actor
	// may be another token's.
	writeJSON(w, status, a.For(tokenFrom(r.Context())))
}
