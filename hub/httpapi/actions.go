package httpapi

import (
	"net/http"
	"strconv"

	"github.com/moonwake/moonwake"
)

func (s *Server) getAction(w http.ResponseWriter, r *http.Request) {
	a, err := s.Power.FindAction(r.Context(), r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	// Without the read scope, a token reads only the actions it could have
	// asked for (a wake it joined, say, which it follows by this route);
	// the rest of the audit log needs the scope.
	tok := tokenFrom(r.Context())
	if !tok.CanSee(a.Machine) || !mayRead(tok, a) {
		// The same answer as for an id that does not exist.
		s.error(w, r, moonwake.Errorf(moonwake.ENotFound, "no action %q", r.PathValue("id")))
		return
	}
	writeJSON(w, http.StatusOK, a.For(tok))
}

func (s *Server) listActions(w http.ResponseWriter, r *http.Request) {
	tok := tokenFrom(r.Context())
	q := r.URL.Query()
	f := moonwake.ActionFilter{Machine: q.Get("machine")}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			s.error(w, r, moonwake.Errorf(moonwake.EInvalid, "limit %q: want 1 to 500", v))
			return
		}
		f.Limit = n
	}
	if !tok.ReadsLog() {
		s.error(w, r, moonwake.Errorf(moonwake.EForbidden, "token %q may not read the audit log: that needs the %q scope", tok.Name, moonwake.ScopeRead))
		return
	}
	if f.Machine != "" && !tok.CanSee(f.Machine) {
		s.error(w, r, moonwake.Errorf(moonwake.EForbidden, "token %q may not use machine %q", tok.Name, f.Machine))
		return
	}
	as, err := s.Actions.ListActions(r.Context(), f)
	if err != nil {
		s.error(w, r, err)
		return
	}
	out := make([]*moonwake.Action, 0, len(as))
	for _, a := range as {
		if tok.CanSee(a.Machine) {
			out = append(out, a.For(tok))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"actions": out})
}

// mayRead reports whether tok may read the action a on a machine it sees:
// with the read scope any, without it those it asked for or could have.
func mayRead(tok *moonwake.Token, a *moonwake.Action) bool {
	return tok.ReadsLog() || (a.Actor.TokenID != "" && a.Actor.TokenID == tok.ID) || tok.Allows(a.Kind, a.Machine)
}

// cancelAction is POST /api/v1/actions/{id}/cancel: an action in its
// countdown ends as cancelled, and the PC takes its notification down. A
// token that may ask for the action may cancel it.
func (s *Server) cancelAction(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	a, err := s.Power.FindAction(r.Context(), id)
	if err != nil {
		s.error(w, r, err)
		return
	}
	tok := tokenFrom(r.Context())
	if !tok.CanSee(a.Machine) || !mayRead(tok, a) {
		s.error(w, r, moonwake.Errorf(moonwake.ENotFound, "no action %q", id))
		return
	}
	if !tok.Allows(a.Kind, a.Machine) {
		s.error(w, r, moonwake.Errorf(moonwake.EForbidden, "token %q may not %s %q, nor cancel it", tok.Name, a.Kind, a.Machine))
		return
	}
	a, err = s.Power.Cancel(r.Context(), id, moonwake.CancelledByToken(tok.Name))
	if err != nil {
		s.error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a.For(tok))
}
