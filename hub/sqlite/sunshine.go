package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/moonwake/moonwake"
)

// SunshineHost is a Sunshine host the hub paired with for a machine.
type SunshineHost struct {
	Machine    string
	URL        string // the host's HTTPS GameStream server
	ServerCert string // its certificate (PEM), pinned at pairing
	PairedAt   time.Time
}

// SunshineService stores the machines' paired Sunshine hosts.
type SunshineService struct {
	db *DB
}

// NewSunshineService returns the Sunshine host store of db.
func NewSunshineService(db *DB) *SunshineService { return &SunshineService{db: db} }

// Save stores h, replacing the machine's previous host.
func (s *SunshineService) Save(ctx context.Context, h *SunshineHost) error {
	s.db.wmu.Lock()
	defer s.db.wmu.Unlock()
	if _, err := s.db.wdb.ExecContext(ctx, `
		INSERT INTO sunshine_hosts (machine, url, server_cert, paired_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (machine) DO UPDATE SET url = excluded.url, server_cert = excluded.server_cert, paired_at = excluded.paired_at`,
		h.Machine, h.URL, h.ServerCert, formatTime(h.PairedAt)); err != nil {
		return fmt.Errorf("save sunshine host: %w", err)
	}
	return nil
}

// Find returns the machine's Sunshine host, or ENotFound.
func (s *SunshineService) Find(ctx context.Context, machine string) (*SunshineHost, error) {
	var h SunshineHost
	var at string
	err := s.db.rdb.QueryRowContext(ctx, `SELECT machine, url, server_cert, paired_at FROM sunshine_hosts WHERE machine = ?`, machine).
		Scan(&h.Machine, &h.URL, &h.ServerCert, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, moonwake.Errorf(moonwake.ENotFound, "machine %q has no paired Sunshine host", machine)
	} else if err != nil {
		return nil, fmt.Errorf("find sunshine host: %w", err)
	}
	if h.PairedAt, err = parseTime(at); err != nil {
		return nil, fmt.Errorf("find sunshine host: %w", err)
	}
	return &h, nil
}

// Delete forgets the machine's Sunshine host; none is not an error.
func (s *SunshineService) Delete(ctx context.Context, machine string) error {
	s.db.wmu.Lock()
	defer s.db.wmu.Unlock()
	if _, err := s.db.wdb.ExecContext(ctx, `DELETE FROM sunshine_hosts WHERE machine = ?`, machine); err != nil {
		return fmt.Errorf("delete sunshine host: %w", err)
	}
	return nil
}
