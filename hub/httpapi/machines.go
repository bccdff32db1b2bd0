package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/moonwake/moonwake"
)

// machineJSON is a machine as the API shows it: the SecureOn password is
// never sent back, only whether one is set.
type machineJSON struct {
	*moonwake.Machine
	PasswordSet bool                `json:"password_set"`
	Power       *moonwake.PowerInfo `json:"power,omitempty"`
}

func viewMachine(m *moonwake.Machine) machineJSON {
	if m.Notify != nil {
		c := *m
		r := m.Notify.Redacted()
		c.Notify = &r
		m = &c
	}
	return machineJSON{Machine: m, PasswordSet: m.Password != ""}
}

// withPower adds the machine's power state; the evidence only when asked
// for one machine, to keep lists small.
func (s *Server) withPower(r *http.Request, v machineJSON, evidence bool) machineJSON {
	if s.Monitor == nil {
		return v
	}
	info := s.Monitor.Info(r.Context(), v.Name)
	if !evidence {
		info.Evidence = nil
	}
	v.Power = &info
	return v
}

// machineInput is the body of POST /api/v1/machines.
type machineInput struct {
	Name      string                 `json:"name"`
	MAC       string                 `json:"mac"`
	Host      string                 `json:"host"`
	Interface string                 `json:"interface"`
	Broadcast string                 `json:"broadcast"`
	Port      int                    `json:"port"`
	Ports     []int                  `json:"ports"`
	Password  string                 `json:"password"`
	Tags      []string               `json:"tags"`
	Relay     string                 `json:"relay"`
	Notify    *moonwake.NotifyTarget `json:"notify"`
}

func (s *Server) listMachines(w http.ResponseWriter, r *http.Request) {
	tok := tokenFrom(r.Context())
	ms, err := s.Machines.ListMachines(r.Context())
	if err != nil {
		s.error(w, r, err)
		return
	}
	out := make([]machineJSON, 0, len(ms))
	for _, m := range ms {
		if tok.CanSee(m.Name) {
			out = append(out, s.withPower(r, viewMachine(m), false))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"machines": out})
}

// visibleMachine finds the machine named in the path, if the token may see
// it. A token scoped to other machines gets 403 whether or not the name
// exists, so scoped tokens cannot probe for names.
func (s *Server) visibleMachine(r *http.Request) (*moonwake.Machine, error) {
	name := r.PathValue("name")
	tok := tokenFrom(r.Context())
	if !tok.CanSee(name) {
		return nil, moonwake.Errorf(moonwake.EForbidden, "token %q may not use machine %q", tok.Name, name)
	}
	return s.Machines.FindMachine(r.Context(), name)
}

func (s *Server) getMachine(w http.ResponseWriter, r *http.Request) {
	m, err := s.visibleMachine(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.withPower(r, viewMachine(m), true))
}

func (s *Server) machineHistory(w http.ResponseWriter, r *http.Request) {
	m, err := s.visibleMachine(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			s.error(w, r, moonwake.Errorf(moonwake.EInvalid, "limit %q: want 1 to 1000", v))
			return
		}
		limit = n
	}
	evs := []*moonwake.Event{}
	if s.Monitor != nil {
		if evs, err = s.Monitor.History(r.Context(), m.Name, limit); err != nil {
			s.error(w, r, err)
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"machine": m.Name, "history": evs})
}

func (s *Server) pairMachine(w http.ResponseWriter, r *http.Request) {
	m, err := s.Machines.FindMachine(r.Context(), r.PathValue("name"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	if s.Pairing == nil {
		s.error(w, r, moonwake.Errorf(moonwake.EUnavailable, "this hub does not pair agents"))
		return
	}
	p, err := s.Pairing.NewAgentPairing(r.Context(), m.Name)
	if err != nil {
		s.error(w, r, err)
		return
	}
	a, _ := moonwake.ActorFrom(r.Context())
	s.Logger.Info("pairing code issued", "machine", m.Name, "expires", p.ExpiresAt, "actor", a.Name)
	writeJSON(w, http.StatusCreated, p)
}

func (s *Server) createMachine(w http.ResponseWriter, r *http.Request) {
	var in machineInput
	if err := decode(w, r, &in); err != nil {
		s.error(w, r, err)
		return
	}
	m := &moonwake.Machine{
		Name: in.Name, MAC: in.MAC, Host: in.Host, Interface: in.Interface,
		Broadcast: in.Broadcast, Port: in.Port, Ports: in.Ports, Password: in.Password, Tags: in.Tags, Notify: in.Notify,
		Relay: in.Relay, Source: moonwake.SourceAPI,
	}
	if err := s.Machines.CreateMachine(r.Context(), m); err != nil {
		s.error(w, r, err)
		return
	}
	a, _ := moonwake.ActorFrom(r.Context())
	s.Logger.Info("machine created", "machine", m.Name, "mac", m.MAC, "actor", a.Name)
	w.Header().Set("Location", "/api/v1/machines/"+m.Name)
	writeJSON(w, http.StatusCreated, viewMachine(m))
}

func (s *Server) updateMachine(w http.ResponseWriter, r *http.Request) {
	var raw map[string]json.RawMessage
	if err := decode(w, r, &raw); err != nil {
		s.error(w, r, err)
		return
	}
	u, err := parseMachineUpdate(raw)
	if err != nil {
		s.error(w, r, err)
		return
	}
	m, err := s.Machines.UpdateMachine(r.Context(), r.PathValue("name"), u)
	if err != nil {
		s.error(w, r, err)
		return
	}
	a, _ := moonwake.ActorFrom(r.Context())
	s.Logger.Info("machine updated", "machine", m.Name, "actor", a.Name)
	writeJSON(w, http.StatusOK, viewMachine(m))
}

// parseMachineUpdate reads a JSON merge patch (RFC 7396): a key sets a
// field, null clears it, an absent key leaves it alone.
func parseMachineUpdate(raw map[string]json.RawMessage) (moonwake.MachineUpdate, error) {
	var u moonwake.MachineUpdate
	str := func(key string, v json.RawMessage) (*string, error) {
		s := ""
		if string(v) != "null" {
			if err := json.Unmarshal(v, &s); err != nil {
				return nil, moonwake.Errorf(moonwake.EInvalid, "field %q: want a string", key)
			}
		}
		return &s, nil
	}
	var err error
	for k, v := range raw {
		switch k {
		case "name":
			return u, moonwake.Errorf(moonwake.EInvalid, "a machine cannot be renamed; create a new one and delete this one")
		case "mac":
			if string(v) == "null" {
				return u, moonwake.Errorf(moonwake.EInvalid, "field \"mac\" cannot be cleared")
			}
			u.MAC, err = str(k, v)
		case "host":
			u.Host, err = str(k, v)
		case "interface":
			u.Interface, err = str(k, v)
		case "broadcast":
			u.Broadcast, err = str(k, v)
		case "password":
			u.Password, err = str(k, v)
		case "relay":
			u.Relay, err = str(k, v)
		case "port":
			p := 0
			if string(v) != "null" {
				if json.Unmarshal(v, &p) != nil {
					return u, moonwake.Errorf(moonwake.EInvalid, "field \"port\": want an integer")
				}
			}
			u.Port = &p
		case "notify":
			var t *moonwake.NotifyTarget
			if string(v) != "null" {
				dec := json.NewDecoder(bytes.NewReader(v))
				dec.DisallowUnknownFields()
				if dec.Decode(&t) != nil {
					return u, moonwake.Errorf(moonwake.EInvalid, "field \"notify\": want an object with webhook, secret, ntfy, ntfy_token, on_success")
				}
			}
			u.Notify = &t
		case "ports":
			ports := []int{}
			if string(v) != "null" {
				if json.Unmarshal(v, &ports) != nil {
					return u, moonwake.Errorf(moonwake.EInvalid, "field \"ports\": want a list of port numbers")
				}
			}
			u.Ports = &ports
		case "tags":
			tags := []string{}
			if string(v) != "null" {
				if json.Unmarshal(v, &tags) != nil {
					return u, moonwake.Errorf(moonwake.EInvalid, "field \"tags\": want a list of strings")
				}
			}
			u.Tags = &tags
		default:
			return u, moonwake.Errorf(moonwake.EInvalid, "unknown field %q", k)
		}
		if err != nil {
			return u, err
		}
	}
	return u, nil
}

func (s *Server) deleteMachine(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := s.Machines.DeleteMachine(r.Context(), name); err != nil {
		s.error(w, r, err)
		return
	}
	a, _ := moonwake.ActorFrom(r.Context())
	s.Logger.Info("machine deleted", "machine", name, "actor", a.Name)
	w.WriteHeader(http.StatusNoContent)
}
