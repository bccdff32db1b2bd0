package sqlite

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/uplink"
)

// PeerService stores the agents and relays that paired with the hub, and
// the pending pairings. It implements uplink.KeyStore and uplink.PairingStore.
type PeerService struct {
	db *DB
}

var (
	_ uplink.KeyStore     = (*PeerService)(nil)
	_ uplink.PairingStore = (*PeerService)(nil)
)

// NewPeerService returns the peer store of db.
func NewPeerService(db *DB) *PeerService { return &PeerService{db: db} }

// CreatePairing stores a pending pairing, and drops expired ones.
func (s *PeerService) CreatePairing(ctx context.Context, p uplink.Pairing) error {
	db := s.db
	db.wmu.Lock()
	defer db.wmu.Unlock()
	if _, err := db.wdb.ExecContext(ctx, `DELETE FROM pairings WHERE expires_at < ?`, formatTime(db.now())); err != nil {
		return fmt.Errorf("create pairing: %w", err)
	}
	if _, err := db.wdb.ExecContext(ctx, `
		INSERT INTO pairings (code_hash, machine, purpose, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
		p.CodeHash, p.Machine, p.Purpose, formatTime(p.CreatedAt), formatTime(p.ExpiresAt)); err != nil {
		return fmt.Errorf("create pairing: %w", err)
	}
	return nil
}

var errBadPairing = moonwake.Errorf(moonwake.EUnauthorized, "the pairing code is wrong, expired or already used; ask the hub for a new one")

// RedeemPairing consumes the pairing for codeHash and registers p for its
// machine, replacing that machine's previous peer of the same purpose.
func (s *PeerService) RedeemPairing(ctx context.Context, codeHash string, now time.Time, p uplink.Peer) (*uplink.Peer, error) {
	db := s.db
	db.wmu.Lock()
	defer db.wmu.Unlock()
	tx, err := db.wdb.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("redeem pairing: %w", err)
	}
	defer tx.Rollback()
	var machine, purpose, created, expires string
	err = tx.QueryRowContext(ctx, `DELETE FROM pairings WHERE code_hash = ? RETURNING machine, purpose, created_at, expires_at`, codeHash).
		Scan(&machine, &purpose, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errBadPairing
	} else if err != nil {
		return nil, fmt.Errorf("redeem pairing: %w", err)
	}
	made, err := parseTime(created)
	if err != nil {
		return nil, fmt.Errorf("redeem pairing: %w", err)
	}
	exp, err := parseTime(expires)
	if err != nil {
		return nil, fmt.Errorf("redeem pairing: %w", err)
	}
	// A clock set back to before the code was made cannot tell how old the
	// code is: refused, rather than valid for as long as the clock went
	// back. Set forward past its end, it has expired, as it would have.
	if now.Before(made) || !now.Before(exp) || purpose != p.Purpose {
		// The code is used up either way.
		if err := tx.Commit(); err != nil {
			return nil, fmt.Errorf("redeem pairing: %w", err)
		}
		return nil, errBadPairing
	}
	p.Machine, p.PairedAt = machine, now.UTC()
	if err := replacePeer(ctx, tx, p, false); err != nil {
		return nil, fmt.Errorf("redeem pairing: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("redeem pairing: %w", err)
	}
	return &p, nil
}

// LookupPeer returns the peer with that id, or ENotFound.
func (s *PeerService) LookupPeer(ctx context.Context, id string) (*uplink.Peer, error) {
	row := s.db.rdb.QueryRowContext(ctx, `SELECT id, purpose, machine, public_key, paired_at FROM peers WHERE id = ?`, id)
	p, err := scanPeer(row.Scan)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, moonwake.Errorf(moonwake.ENotFound, "no peer %q", id)
	}
	return p, err
}

// PeerForMachine returns the machine's peer of that purpose, or ENotFound.
func (s *PeerService) PeerForMachine(ctx context.Context, machine, purpose string) (*uplink.Peer, error) {
	row := s.db.rdb.QueryRowContext(ctx, `SELECT id, purpose, machine, public_key, paired_at FROM peers WHERE machine = ? AND purpose = ?`, machine, purpose)
	p, err := scanPeer(row.Scan)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, moonwake.Errorf(moonwake.ENotFound, "machine %q has no paired %s", machine, purpose)
	}
	return p, err
}

// ListPeers returns every peer of that purpose, oldest pairing first.
func (s *PeerService) ListPeers(ctx context.Context, purpose string) ([]*uplink.Peer, error) {
	rows, err := s.db.rdb.QueryContext(ctx, `SELECT id, purpose, machine, public_key, paired_at FROM peers WHERE purpose = ? ORDER BY paired_at, id`, purpose)
	if err != nil {
		return nil, fmt.Errorf("list peers: %w", err)
	}
	defer rows.Close()
	var ps []*uplink.Peer
	for rows.Next() {
		p, err := scanPeer(rows.Scan)
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	return ps, rows.Err()
}

func scanPeer(scan func(...any) error) (*uplink.Peer, error) {
	var p uplink.Peer
	var key []byte
	var paired string
	if err := scan(&p.ID, &p.Purpose, &p.Machine, &key, &paired); err != nil {
		return nil, err
	}
	if len(key) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("peer %s: stored key has %d bytes", p.ID, len(key))
	}
	p.PublicKey = ed25519.PublicKey(key)
	t, err := parseTime(paired)
	if err != nil {
		return nil, fmt.Errorf("peer %s: %w", p.ID, err)
	}
	p.PairedAt = t
	return &p, nil
}
