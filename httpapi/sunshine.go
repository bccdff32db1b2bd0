package httpapi

import (
	"context"
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
}

type sunshinePairInput struct {
	PIN  string `json:"pin"`
	Port int    `json:"port,omitempty"` // the host's base (HTTP) port; 0 means DefaultSunshinePort
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
	if len(in.PIN) != 4 || !allDigits(in.PIN) {
		s.error(w, r, moonwake.Errorf(moonwake.EInvalid, "pin: want the 4 digits that Sunshine's web UI asks for"))
		return
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
	p, err := s.Sunshine.PairSunshine(r.Context(), m, in.PIN, in.Port)
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
	s.Logger.Info("sunshine host paired", "machine", m.Name, "mac", p.MAC, "mac_matches", p.MACMatches, "actor", a.Name)
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
