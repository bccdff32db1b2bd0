package httpapi

import (
	"net/http"
	"time"

	"github.com/moonwake/moonwake"
)

// KeepAwakeInput is the body of POST /api/v1/machines/{name}/keep-awake:
// one of Until (RFC 3339) and For (a duration like 2h).
type KeepAwakeInput struct {
	Until string `json:"until,omitempty"`
	For   string `json:"for,omitempty"`
}

// KeepAwakeInfo is the answer: the machine and until when it is kept
// awake, absent when it is not.
type KeepAwakeInfo struct {
	Machine string     `json:"machine"`
	Until   *time.Time `json:"until,omitempty"`
}

// keepAwake allows tokens that may shut the machine down, and admins.
func (s *Server) keepAwake(w http.ResponseWriter, r *http.Request) {
	m, ok := s.keepAwakeMachine(w, r)
	if !ok {
		return
	}
	var in KeepAwakeInput
	if err := decode(w, r, &in); err != nil {
		s.error(w, r, err)
		return
	}
	now := time.Now()
	var until time.Time
	switch {
	case (in.Until == "") == (in.For == ""):
		s.error(w, r, moonwake.Errorf(moonwake.EInvalid, `give one of "until" (RFC 3339) and "for" (a duration like 2h)`))
		return
	case in.Until != "":
		t, err := time.Parse(time.RFC3339, in.Until)
		if err != nil {
			s.error(w, r, moonwake.Errorf(moonwake.EInvalid, "until %q: want an RFC 3339 time like 2026-01-02T23:00:00+01:00", in.Until))
			return
		}
		until = t
	default:
		d, err := time.ParseDuration(in.For)
		if err != nil || d <= 0 {
			s.error(w, r, moonwake.Errorf(moonwake.EInvalid, "for %q: want a positive duration like 2h", in.For))
			return
		}
		until = now.Add(d)
	}
	if !until.After(now) || until.Sub(now) > moonwake.MaxKeepAwake {
		s.error(w, r, moonwake.Errorf(moonwake.EInvalid, "keep awake until %s: want a time in the next %s", until.UTC().Format(time.RFC3339), moonwake.MaxKeepAwake))
		return
	}
	until = until.UTC().Truncate(time.Second)
	by := ""
	if a, ok := moonwake.ActorFrom(r.Context()); ok {
		by = a.Kind + ":" + a.Name
	}
	if err := s.KeepAwake.SetKeepAwake(r.Context(), m.Name, until, by); err != nil {
		s.error(w, r, err)
		return
	}
	s.Logger.Info("keep awake", "machine", m.Name, "until", until, "by", by)
	writeJSON(w, http.StatusOK, KeepAwakeInfo{Machine: m.Name, Until: &until})
}

func (s *Server) clearKeepAwake(w http.ResponseWriter, r *http.Request) {
	m, ok := s.keepAwakeMachine(w, r)
	if !ok {
		return
	}
	if err := s.KeepAwake.ClearKeepAwake(r.Context(), m.Name); err != nil {
		s.error(w, r, err)
		return
	}
	s.Logger.Info("keep awake cleared", "machine", m.Name)
	writeJSON(w, http.StatusOK, KeepAwakeInfo{Machine: m.Name})
}

func (s *Server) keepAwakeMachine(w http.ResponseWriter, r *http.Request) (*moonwake.Machine, bool) {
	name := r.PathValue("name")
	tok := tokenFrom(r.Context())
	if !tok.Allows(moonwake.ActionShutdown, name) {
		s.error(w, r, moonwake.Errorf(moonwake.EForbidden, "token %q may not keep %q awake: it needs the shutdown action", tok.Name, name))
		return nil, false
	}
	if s.KeepAwake == nil {
		s.error(w, r, moonwake.Errorf(moonwake.EUnavailable, "this hub has no power policies"))
		return nil, false
	}
	m, err := s.Machines.FindMachine(r.Context(), name)
	if err != nil {
		s.error(w, r, err)
		return nil, false
	}
	return m, true
}

// getKeepAwake is GET /api/v1/machines/{name}/keep-awake: until when the
// machine is kept awake, for any token that may see it.
func (s *Server) getKeepAwake(w http.ResponseWriter, r *http.Request) {
	m, err := s.visibleMachine(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	info := KeepAwakeInfo{Machine: m.Name}
	if s.KeepAwake != nil {
		until, err := s.KeepAwake.KeepAwake(r.Context(), m.Name)
		if err != nil {
			s.error(w, r, err)
			return
		}
		if !until.IsZero() {
			info.Until = &until
		}
	}
	writeJSON(w, http.StatusOK, info)
}
