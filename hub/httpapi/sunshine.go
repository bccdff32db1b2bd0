package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/moonwake/moonwake"
)

// DefaultSunshinePort is Sunshine's plain HTTP GameStream port (its base
// port), where pairing starts.
const DefaultSunshinePort = 47989

// SunshinePairing is the outcome of pairing the hub with a machine's
// Sunshine host.
type SunshinePairing struct {
	Machine  string    `json:"machine"`
	PairedAt time.Time `json:"paired_at"`
	// MAC is the one the host gave over the paired HTTPS /serverinfo; ""
	// when it gave none.
	MAC string `json:"mac"`
	// MACMatches says whether MAC is the machine's registered MAC.
	MACMatches bool `json:"mac_matches"`
}

// SunshinePairer pairs the hub, as a Moonlight client, with a machine's
// Sunshine host, and keeps the pairing.
type SunshinePairer interface {
	// PairSunshine pairs with the host at http://<m.Host>:<port> while pin
	// is typed into Sunshine. EInvalid for a wrong PIN; EUnavailable when
	// the host cannot be reached or is not the one that answered pairing.
	PairSunshine(ctx context.Context, m *moonwake.Machine, pin string, port int) (SunshinePairing, error)
	// PairSunshineAuto pairs with the host at http://<m.Host>:<port>,
	// sending a random PIN itself to Sunshine's web UI with web's
	// credentials, which it neither logs nor keeps. EInvalid for refused
	// credentials; EUnavailable as for PairSunshine, and for a web UI that
	// does not present the host's certificate.
	PairSunshineAuto(ctx context.Context, m *moonwake.Machine, port int, web SunshineWeb) (SunshinePairing, error)
}

// DefaultSunshineWebPort is Sunshine's web UI port (its base port + 1).
const DefaultSunshineWebPort = 47990

// SunshineWeb is how to reach Sunshine's web UI to send it a PIN. Its
// Password is never logged, kept nor echoed.
type SunshineWeb struct {
	Port     int
	Username string
	Password string
}

// String hides the password.
func (w SunshineWeb) String() string {
	return fmt.Sprintf("{port %d, user %q, password hidden}", w.Port, w.Username)
}

type sunshinePairInput struct {
	PIN  string `json:"pin"`
	Port int    `json:"port,omitempty"` // the host's base (HTTP) port; 0 means DefaultSunshinePort
	// Auto: the hub sends a PIN of its own to the web UI, with these
	// credentials, at WebPort (0 means DefaultSunshineWebPort).
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
			in.WebPort = DefaultSunshineWebPort
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
		in.Port = DefaultSunshinePort
	}
	if in.Port < 1 || in.Port > 65535 {
		s.error(w, r, moonwake.Errorf(moonwake.EInvalid, "port %d: want 1 to 65535", in.Port))
		return
	}
	if m.Host == "" {
		s.error(w, r, moonwake.Errorf(moonwake.EInvalid, "machine %q has no host; set its host (IP or DNS name) to pair with its Sunshine", m.Name))
		return
	}
	var p SunshinePairing
	if in.Auto {
		p, err = s.Sunshine.PairSunshineAuto(r.Context(), m, in.Port, SunshineWeb{Port: in.WebPort, Username: in.Username, Password: in.Password})
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
