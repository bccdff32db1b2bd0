package httpapi

import (
	"net/http"

	"github.com/moonwake/moonwake"
)

func (s *Server) me(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, tokenFrom(r.Context()))
}

// tokenInput is the body of POST /api/v1/tokens.
type tokenInput struct {
	Name     string   `json:"name"`
	Machines []string `json:"machines"`
	Actions  []string `json:"actions"` // default: ["wake"]
	Admin    bool     `json:"admin"`
	// RelayEnrol makes a relay enrolment token, which enrols relays and
	// does nothing else.
	RelayEnrol bool `json:"relay_enrol"`
	// CloudEvents makes a CloudEvents token, for POST /api/v1/cloudevents
	// only, where it may be given in the URL.
	CloudEvents bool `json:"cloudevents"`
}

// NewToken is the answer to creating a token: the only time the secret is
// shown.
type NewToken struct {
	Token  *moonwake.Token `json:"token"`
	Secret string          `json:"secret"`
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) {
	var in tokenInput
	if err := decode(w, r, &in); err != nil {
		s.error(w, r, err)
		return
	}
	if in.Actions == nil && !in.RelayEnrol {
		in.Actions = []string{moonwake.ActionWake}
	}
	t := &moonwake.Token{Name: in.Name, Machines: in.Machines, Actions: in.Actions, Admin: in.Admin, RelayEnrol: in.RelayEnrol, CloudEvents: in.CloudEvents}
	secret, err := s.Tokens.CreateToken(r.Context(), t)
	if err != nil {
		s.error(w, r, err)
		return
	}
	a, _ := moonwake.ActorFrom(r.Context())
	s.Logger.Info("token created", "token", t.ID, "name", t.Name, "admin", t.Admin, "actor", a.Name)
	writeJSON(w, http.StatusCreated, NewToken{Token: t, Secret: secret})
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) {
	ts, err := s.Tokens.ListTokens(r.Context())
	if err != nil {
		s.error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": ts})
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) {
	t, err := s.Tokens.RevokeToken(r.Context(), r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	a, _ := moonwake.ActorFrom(r.Context())
	s.Logger.Info("token revoked", "token", t.ID, "name", t.Name, "actor", a.Name)
	writeJSON(w, http.StatusOK, t)
}
