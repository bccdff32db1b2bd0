package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/uplink"
)

// RelayStore keeps the relays: their names and what they last said of
// themselves. Their keys are peers of purpose relay (PeerService), under
// the relay's name.
type RelayStore struct {
	db *DB
}

// NewRelayStore returns the relays of db.
func NewRelayStore(db *DB) *RelayStore { return &RelayStore{db: db} }

// SaveRelay records what the relay r.Name said of itself (networks,
// software, hostname, last seen). A relay that is not stored (deleted
// meanwhile) stays deleted: its row is made when it pairs or enrols.
func (s *RelayStore) SaveRelay(ctx context.Context, r *moonwake.Relay) error {
	db := s.db
	nets, err := json.Marshal(r.Networks)
	if err != nil {
		return err
	}
	var seen string
	if r.LastSeen != nil {
		seen = formatTime(*r.LastSeen)
	}
	db.wmu.Lock()
	defer db.wmu.Unlock()
	if _, err := db.wdb.ExecContext(ctx, `
		UPDATE relays SET networks = ?, software = ?, hostname = ?, last_seen = ? WHERE name = ?`,
		string(nets), r.Software, r.Hostname, seen, r.Name); err != nil {
		return fmt.Errorf("save relay %s: %w", r.Name, err)
	}
	return nil
}

// ListRelays returns every relay by name, as stored (Connected is false).
func (s *RelayStore) ListRelays(ctx context.Context) ([]*moonwake.Relay, error) {
	rows, err := s.db.rdb.QueryContext(ctx, `SELECT name, networks, software, hostname, created_at, last_seen FROM relays ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list relays: %w", err)
	}
	defer rows.Close()
	out := []*moonwake.Relay{}
	for rows.Next() {
		var r moonwake.Relay
		var nets, created, seen string
		if err := rows.Scan(&r.Name, &nets, &r.Software, &r.Hostname, &created, &seen); err != nil {
			return nil, fmt.Errorf("list relays: %w", err)
		}
		if err := json.Unmarshal([]byte(nets), &r.Networks); err != nil {
			return nil, fmt.Errorf("relay %s: networks: %w", r.Name, err)
		}
		if r.CreatedAt, err = parseTime(created); err != nil {
			return nil, fmt.Errorf("relay %s: %w", r.Name, err)
		}
		if seen != "" {
			t, err := parseTime(seen)
			if err != nil {
				return nil, fmt.Errorf("relay %s: %w", r.Name, err)
			}
			r.LastSeen = &t
		}
		out = append(out, &r)
	}
	return out, rows.Err()
}

// DeleteRelay forgets the relay with its key and pending codes. ENotFound.
func (s *RelayStore) DeleteRelay(ctx context.Context, name string) error {
	db := s.db
	db.wmu.Lock()
	defer db.wmu.Unlock()
	res, err := db.wdb.ExecContext(ctx, `DELETE FROM relays WHERE name = ?`, name)
	if err != nil {
		return fmt.Errorf("delete relay %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return moonwake.Errorf(moonwake.ENotFound, "no relay %q", name)
	}
	return nil
}

// EnrolRelay registers p as the key of the relay called name, replacing
// the key it had, and creates the relay's row if needed. The caller has
// checked the enrolment token. EConflict for a relay a person paired with
// a code: a token enrols relays, it does not take one over.
func (s *RelayStore) EnrolRelay(ctx context.Context, name string, p uplink.Peer) (*uplink.Peer, error) {
	if !moonwake.ValidName(name) {
		return nil, moonwake.Errorf(moonwake.EInvalid, "relay name %q: use 1-63 characters a-z, 0-9, '-' or '_'", name)
	}
	db := s.db
	db.wmu.Lock()
	defer db.wmu.Unlock()
	tx, err := db.wdb.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("enrol relay: %w", err)
	}
	defer tx.Rollback()
	var enrolled bool
	err = tx.QueryRowContext(ctx, `SELECT enrolled FROM relays WHERE name = ?`, name).Scan(&enrolled)
	switch {
	case err == nil && !enrolled:
		return nil, moonwake.Errorf(moonwake.EConflict, "relay %q was paired with a code; an enrolment token does not replace it (forget it first: moonwake relays forget %s)", name, name)
	case err != nil && !errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("enrol relay: %w", err)
	}
	p.Purpose, p.Machine, p.PairedAt = uplink.PurposeRelay, name, db.now()
	if err := replacePeer(ctx, tx, p, true); err != nil {
		return nil, fmt.Errorf("enrol relay: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("enrol relay: %w", err)
	}
	return &p, nil
}

// replacePeer stores p in place of the peer of its machine (or relay name)
// and purpose; for a relay it also creates the relay's row, or marks how
// its key came (enrolled: by a token).
func replacePeer(ctx context.Context, tx *sql.Tx, p uplink.Peer, enrolled bool) error {
	if p.Purpose == uplink.PurposeRelay {
		if _, err := tx.ExecContext(ctx, `INSERT INTO relays (name, created_at, enrolled) VALUES (?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET enrolled = excluded.enrolled`,
			p.Machine, formatTime(p.PairedAt), enrolled); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM peers WHERE machine = ? AND purpose = ? AND machine != ''`, p.Machine, p.Purpose); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO peers (id, purpose, machine, public_key, paired_at) VALUES (?, ?, ?, ?, ?)`,
		p.ID, p.Purpose, p.Machine, []byte(p.PublicKey), formatTime(p.PairedAt))
	return err
}
