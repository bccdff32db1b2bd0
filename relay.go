package moonwake

import (
	"context"
	"time"
)

// Relay is a moonwake relay: a small process on a LAN (a host-network pod,
// a Raspberry Pi, a NAS) that dials the hub over the uplink and, for the
// machines on its networks, sends the magic packets and runs the probes
// the hub cannot run itself. A machine is served by the relay it names
// (Machine.Relay), or else by a relay whose network holds its address, or
// else by the hub.
type Relay struct {
	Name     string   `json:"name"`
	Networks []string `json:"networks"` // CIDR prefixes it serves, as it last said
	Software string   `json:"software,omitempty"`
	Hostname string   `json:"hostname,omitempty"` // as it says, for people; not trusted
	// Connected says whether its uplink is up now; Since is when it last
	// came up or went down (zero: not since the hub started).
	Connected bool      `json:"connected"`
	Since     time.Time `json:"since,omitzero"`
	// Standby lists the networks another relay already serves: this one
	// takes over when that one drops.
	Standby   []string   `json:"standby,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	LastSeen  *time.Time `json:"last_seen,omitempty"`
}

// RelayPairing is a one-time code that pairs a relay, shown once.
type RelayPairing struct {
	Relay          string    `json:"relay"`
	Code           string    `json:"code"`
	ExpiresAt      time.Time `json:"expires_at"`
	HubFingerprint string    `json:"hub_fingerprint"` // the relay checks it with --hub-fingerprint
	// TLSFingerprint is the hub's self-signed TLS certificate's, which the
	// relay pins with --tls-fingerprint; empty when the hub has none.
	TLSFingerprint string `json:"tls_fingerprint,omitempty"`
}

// RelayService lists the hub's relays and enrols new ones; hub/remote
// implements it.
type RelayService interface {
	// ListRelays returns every relay, by name.
	ListRelays(ctx context.Context) ([]*Relay, error)
	// NewRelayPairing returns a one-time code that pairs the relay called
	// name (`moonwake relay pair --code …`); pairing again replaces its key.
	NewRelayPairing(ctx context.Context, name string) (RelayPairing, error)
	// DeleteRelay forgets the relay, its key and its pending codes, and
	// ends its uplink. ENotFound.
	DeleteRelay(ctx context.Context, name string) error
}
