package uplink

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"strings"
	"sync"
	"time"

	"github.com/moonwake/moonwake"
)

// Peer is an agent or a relay the hub knows, by the public key it
// registered when it paired.
type Peer struct {
	ID        string            `json:"id"`
	Purpose   string            `json:"purpose"` // PurposeAgent or PurposeRelay
	Machine   string            `json:"machine"` // the machine an agent acts on; "" for a relay
	PublicKey ed25519.PublicKey `json:"public_key"`
	PairedAt  time.Time         `json:"paired_at"`
}

// KeyStore finds registered peers. The hub implements it with its database.
type KeyStore interface {
	// LookupPeer returns the peer with that id, or an ENotFound error.
	LookupPeer(ctx context.Context, id string) (*Peer, error)
}

// PairingStore keeps pending pairings and turns a redeemed one into a
// registered peer. The hub implements it with its database.
type PairingStore interface {
	// RedeemPairing consumes the pending pairing whose code hashes to
	// codeHash, whether or not it has expired at now, so that a code works
	// at most once. If it had not expired and is for p.Purpose, it
	// registers p (ID, PublicKey, Purpose) under the pairing's machine,
	// replacing any peer already paired for that machine and purpose (a
	// machine has one agent), and returns the stored peer. Otherwise, or
	// with no such pairing, it returns an EUnauthorized error.
	RedeemPairing(ctx context.Context, codeHash string, now time.Time, p Peer) (*Peer, error)
}

// NewPeerID returns a new random peer id, such as "agent_k3x…" (80 bits).
func NewPeerID(purpose string) string {
	return purpose + "_" + randomText(10)
}

// randomText returns n random bytes as lower-case unpadded base32.
func randomText(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

// Fingerprint returns a short text for comparing a public key by eye, in
// the form OpenSSH uses: "SHA256:" and the unpadded base64 of its hash.
func Fingerprint(pub ed25519.PublicKey) string {
	h := sha256.Sum256(pub)
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(h[:])
}

// MemoryStore is a KeyStore and PairingStore in memory, for tests and for
// tools that need no database. The zero value is ready to use.
type MemoryStore struct {
	mu       sync.Mutex
	peers    map[string]*Peer
	pairings map[string]Pairing
}

// AddPeer registers p directly, as a completed pairing would.
func (s *MemoryStore) AddPeer(p Peer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.peers == nil {
		s.peers = map[string]*Peer{}
	}
	s.peers[p.ID] = &p
}

// RemovePeer forgets the peer with that id.
func (s *MemoryStore) RemovePeer(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.peers, id)
}

// CreatePairing stores a pending pairing.
func (s *MemoryStore) CreatePairing(ctx context.Context, p Pairing) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pairings == nil {
		s.pairings = map[string]Pairing{}
	}
	if _, ok := s.pairings[p.CodeHash]; ok {
		return moonwake.Errorf(moonwake.EConflict, "pairing exists")
	}
	s.pairings[p.CodeHash] = p
	return nil
}

// LookupPeer implements KeyStore.
func (s *MemoryStore) LookupPeer(ctx context.Context, id string) (*Peer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.peers[id]
	if !ok {
		return nil, moonwake.Errorf(moonwake.ENotFound, "no peer %q", id)
	}
	c := *p
	return &c, nil
}

// RedeemPairing implements PairingStore.
func (s *MemoryStore) RedeemPairing(ctx context.Context, codeHash string, now time.Time, p Peer) (*Peer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pr, ok := s.pairings[codeHash]
	delete(s.pairings, codeHash)
	if !ok || !now.Before(pr.ExpiresAt) || pr.Purpose != p.Purpose {
		return nil, errBadCode
	}
	for id, old := range s.peers {
		if old.Machine == pr.Machine && old.Purpose == pr.Purpose {
			delete(s.peers, id)
		}
	}
	p.Machine, p.PairedAt = pr.Machine, now
	if s.peers == nil {
		s.peers = map[string]*Peer{}
	}
	s.peers[p.ID] = &p
	c := p
	return &c, nil
}
