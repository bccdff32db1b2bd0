package moonwake

import (
	"context"
	"fmt"
	"time"
)

// Two kinds of pairing reach a machine: its agent pairs with the hub with a
// one-time code (AgentPairer), and the hub pairs with its Sunshine host as
// a Moonlight client does, with a PIN (SunshinePairer).

// AgentPairing is a one-time code that pairs a machine's agent, shown once.
type AgentPairing struct {
	Machine        string    `json:"machine"`
	Code           string    `json:"code"`
	ExpiresAt      time.Time `json:"expires_at"`
	HubFingerprint string    `json:"hub_fingerprint"` // the agent checks it with --hub-fingerprint
	// TLSFingerprint is the hub's self-signed TLS certificate's, which the
	// agent pins with --tls-fingerprint; empty when the hub has none.
	TLSFingerprint string `json:"tls_fingerprint,omitempty"`
}

// AgentPairer hands out one-time codes that pair a machine's agent;
// hub/remote implements it.
type AgentPairer interface {
	// NewAgentPairing returns a new code for the machine's agent; a new
	// pairing replaces the agent paired before.
	NewAgentPairing(ctx context.Context, machine string) (AgentPairing, error)
}

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

// SunshinePairer pairs the hub, as a Moonlight client, with a machine's
// Sunshine host, and keeps the pairing; hub/remote implements it.
type SunshinePairer interface {
	// PairSunshine pairs with the host at http://<m.Host>:<port> while pin
	// is typed into Sunshine. EInvalid for a wrong PIN; EUnavailable when
	// the host cannot be reached or is not the one that answered pairing.
	PairSunshine(ctx context.Context, m *Machine, pin string, port int) (SunshinePairing, error)
	// PairSunshineAuto pairs with the host at http://<m.Host>:<port>,
	// sending a random PIN itself to Sunshine's web UI with web's
	// credentials, which it neither logs nor keeps. EInvalid for refused
	// credentials; EUnavailable as for PairSunshine, and for a web UI that
	// does not present the host's certificate.
	PairSunshineAuto(ctx context.Context, m *Machine, port int, web SunshineWeb) (SunshinePairing, error)
}
