package httpapi

import (
	"net/http"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/sunshine"
)

type sunshinePairInput struct {
	PIN  string `json:"pin"`
	Port int    `json:"port,omitempty"` // the host's base (HTTP) port; 0 means sunshine.DefaultPort
	// Auto: the hub sends a PIN of its own to the web UI, with these
	// credentials, at WebPort (0 means sunshine.DefaultWebPort).
	Auto     bool   `json:"auto,omitempty"`
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	WebPort  int    `json:"web_port,omitempty"`
}

func (s *Server) pairSunshine(w http.ResponseWriter, r *http.Request) {
	m, err := s.Machines.FindMachine(r.Context(), r.PathValue("name"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	if s.Sunshine == nil {
		s.error(w, r, moonwake.Errorf(moonwake.EUnavailable, "this hub does not pair with Sunshine hosts"))
		return
	}
	var in sunshinePairInput
	if err := decode(w, r, &in); err != nil {
		s.error(w, r, err)
		return
	}
	switch {
	case in.Auto && in.PIN != "":
		s.error(w, r, moonwake.Errorf(moonwake.EInvalid, `give either "pin" or "auto", not both`))
		return
	case in.Auto:
		if in.Username == "" || in.Password == "" {
			s.error(w, r, moonwake.Errorf(moonwake.EInvalid, `auto: "username" and "password" of Sunshine's web UI are needed`))
			return
		}
		if in.WebPort == 0 {
			in.WebPort = sunshine.DefaultWebPort
		}
		if in.WebPort < 1 || in.WebPort > 65535 {
			s.error(w, r, moonwake.Errorf(moonwake.EInvalid, "web_port %d: want 1 to 65535", in.WebPort))
			return
		}
	default:
		if in.Username != "" || in.Password != "" || in.WebPort != 0 {
			s.error(w, r, moonwake.Errorf(moonwake.EInvalid, `"username", "password" and "web_port" go with "auto": true`))
			return
		}
		if len(in.PIN) != 4 || !allDigits(in.PIN) {
			s.error(w, r, moonwake.Errorf(moonwake.EInvalid, `pin: want the 4 digits that Sunshine's web UI asks for (or "auto": true)`))
			return
		}
	}
	if in.Port == 0 {
		in.Port = sunshine.DefaultPort
	}
	if in.Port < 1 || in.Port > 65535 {
		s.error(w, r, moonwake.Errorf(moonwake.EInvalid, "port %d: want 1 to 65535", in.Port))
		return
	}
	if m.Host == "" {
		s.error(w, r, moonwake.Errorf(moonwake.EInvalid, "machine %q has no host; set its host (IP or DNS name) to pair with its Sunshine", m.Name))
		return
	}
	var p moonwake.SunshinePairing
	if in.Auto {
		p, err = s.Sunshine.PairSunshineAuto(r.Context(), m, in.Port, moonwake.SunshineWeb{Port: in.WebPort, Username: in.Username, Password: in.Password})
	} else {
		p, err = s.Sunshine.PairSunshine(r.Context(), m, in.PIN, in.Port)
	}
	if err != nil {
		if moonwake.ErrorCode(err) == moonwake.EUnavailable {
			// The host, not the hub, failed: a bad gateway.
			writeJSON(w, http.StatusBadGateway, ErrorBody{Error: moonwake.ErrorMessage(err), Code: moonwake.EUnavailable})
			return
		}
		s.error(w, r, err)
		return
	}
	a, _ := moonwake.ActorFrom(r.Context())
	s.Logger.Info("sunshine host paired", "machine", m.Name, "auto", in.Auto, "mac", p.MAC, "mac_matches", p.MACMatches, "actor", a.Name)
	writeJSON(w, http.StatusOK, p)
}

func allDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
