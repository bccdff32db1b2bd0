package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// PolicyService stores what the power policies remember across restarts:
// the last run of each schedule and the keep-awake overrides. It implements
// policy.Store.
type PolicyService struct {
	db *DB
}

// NewPolicyService returns the policy store of db.
func NewPolicyService(db *DB) *PolicyService { return &PolicyService{db: db} }

// LastRun returns the time recorded for key; the zero time if none is.
func (s *PolicyService) LastRun(ctx context.Context, key string) (time.Time, error) {
	var v string
	err := s.db.rdb.QueryRowContext(ctx, `SELECT run_at FROM policy_runs WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("last run of %s: %w", key, err)
	}
	return parseTime(v)
}

// SetLastRun records t as the last run of key.
func (s *PolicyService) SetLastRun(ctx context.Context, key string, t time.Time) error {
	db := s.db
	db.wmu.Lock()
	defer db.wmu.Unlock()
	if _, err := db.wdb.ExecContext(ctx, `
		INSERT INTO policy_runs (key, run_at) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET run_at = excluded.run_at`, key, formatTime(t)); err != nil {
		return fmt.Errorf("record run of %s: %w", key, err)
	}
	return nil
}

// KeepAwake returns until when the machine is kept awake; the zero time
// if it is not (or the override has passed).
func (s *PolicyService) KeepAwake(ctx context.Context, machine string) (time.Time, error) {
	var v string
	err := s.db.rdb.QueryRowContext(ctx, `SELECT until FROM keep_awake WHERE machine = ?`, machine).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("keep-awake of %s: %w", machine, err)
	}
	t, err := parseTime(v)
	if err != nil || !t.After(s.db.now()) {
		return time.Time{}, err
	}
	return t, nil
}

// SetKeepAwake keeps the machine awake until until, replacing any earlier
// override; by names who asked.
func (s *PolicyService) SetKeepAwake(ctx context.Context, machine string, until time.Time, by string) error {
	db := s.db
	db.wmu.Lock()
	defer db.wmu.Unlock()
	if _, err := db.wdb.ExecContext(ctx, `
		INSERT INTO keep_awake (machine, until, set_by, set_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (machine) DO UPDATE SET until = excluded.until, set_by = excluded.set_by, set_at = excluded.set_at`,
		machine, formatTime(until), by, formatTime(db.now())); err != nil {
		return fmt.Errorf("keep %s awake: %w", machine, err)
	}
	return nil
}

// ClearKeepAwake drops the machine's override, if any.
func (s *PolicyService) ClearKeepAwake(ctx context.Context, machine string) error {
	db := s.db
	db.wmu.Lock()
	defer db.wmu.Unlock()
	if _, err := db.wdb.ExecContext(ctx, `DELETE FROM keep_awake WHERE machine = ?`, machine); err != nil {
		return fmt.Errorf("clear keep-awake of %s: %w", machine, err)
	}
	return nil
}
