package relay

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/internal/hubtls"
	"github.com/moonwake/moonwake/internal/privfile"
	"github.com/moonwake/moonwake/uplink"
)

// State is a relay's identity, kept in its state file: its key, the id and
// name the hub gave it, and the hub's key it pinned.
type State struct {
	Hub          string            `json:"hub"`
	ID           string            `json:"id"`
	Name         string            `json:"name"`
	HubPublicKey ed25519.PublicKey `json:"hub_public_key"`
	PrivateKey   []byte            `json:"private_key"` // the Ed25519 seed
	PairedAt     time.Time         `json:"paired_at"`
	// TLSFingerprint pins the hub's self-signed TLS certificate; empty:
	// the system's roots are trusted.
	TLSFingerprint string `json:"tls_fingerprint,omitempty"`
}

// ErrNotPaired is returned by ReadState when there is no state file.
var ErrNotPaired = errors.New("not paired yet: run \"moonwake relay pair --hub URL --code CODE\", or give an enrolment token (MOONWAKE_RELAY_TOKEN_FILE)")

// ReadState reads the state file at path, refusing one that others may
// read.
func ReadState(path string) (*State, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", path, ErrNotPaired)
	} else if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("state %s holds the relay's private key but others may read it (mode %04o): chmod 600 it", path, fi.Mode().Perm())
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("state %s: not a moonwake relay state file", path)
	}
	if !uplink.ValidPeerID(s.ID) || len(s.HubPublicKey) != ed25519.PublicKeySize || len(s.PrivateKey) != ed25519.SeedSize {
		return nil, fmt.Errorf("state %s: incomplete; pair again", path)
	}
	return &s, nil
}

// WriteState writes s to path atomically, readable by its owner only.
func WriteState(path string, s *State) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return privfile.Write(path, append(b, '\n'), nil)
}

// key returns the relay's private key.
func (s *State) key() ed25519.PrivateKey { return ed25519.NewKeyFromSeed(s.PrivateKey) }

// PairOptions say how to pair: with a one-time Code from `moonwake relays
// pair NAME`, or with an enrolment Token under Name.
type PairOptions struct {
	Hub            string // http(s)://host[:port][/prefix]
	Code           string
	Token          string
	Name           string // with Token: the relay's name
	HubFingerprint string // if set, the hub's key must have it
	// TLSFingerprint, if set, is the hub's self-signed certificate's: the
	// relay trusts that certificate alone, now and later.
	TLSFingerprint string
	Software       string
	HTTPClient     *http.Client // nil: http.DefaultClient, or pinned to TLSFingerprint
}

// Pair pairs a new key with the hub and returns the state to keep.
func Pair(ctx context.Context, o PairOptions) (*State, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	hc := o.HTTPClient
	if hc == nil && o.TLSFingerprint != "" {
		if hc, err = hubtls.PinnedClient(o.TLSFingerprint); err != nil {
			return nil, moonwake.Errorf(moonwake.EInvalid, "%v", err)
		}
	}
	host, _ := os.Hostname()
	resp, err := uplink.Pair(ctx, hc, o.Hub, uplink.PairRequest{
		Code: o.Code, Token: strings.TrimSpace(o.Token), Name: o.Name,
		Purpose: uplink.PurposeRelay, PublicKey: pub, Hostname: host, Software: o.Software,
	})
	if err != nil {
		return nil, err
	}
	if o.HubFingerprint != "" && uplink.Fingerprint(resp.HubPublicKey) != o.HubFingerprint {
		return nil, moonwake.Errorf(moonwake.EUnauthorized, "the hub's key is %s, not %s: not pairing with it", uplink.Fingerprint(resp.HubPublicKey), o.HubFingerprint)
	}
	return &State{Hub: o.Hub, ID: resp.ID, Name: resp.Machine, HubPublicKey: resp.HubPublicKey,
		PrivateKey: priv.Seed(), PairedAt: time.Now().UTC(), TLSFingerprint: strings.TrimSpace(o.TLSFingerprint)}, nil
}
