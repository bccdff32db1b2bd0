package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/wol"
)

// Ensure the service implements the interface.
var _ moonwake.MachineService = (*MachineService)(nil)

// MachineService stores machines in SQLite and answers every read from the
// DB's in-memory copy, because a wake looks a machine up on each request.
type MachineService struct {
	db *DB
}

// NewMachineService returns a MachineService on an open db.
func NewMachineService(db *DB) *MachineService {
	return &MachineService{db: db}
}

// FindMachine returns a copy of the machine called name, or ENotFound.
func (s *MachineService) FindMachine(ctx context.Context, name string) (*moonwake.Machine, error) {
	s.db.mu.RLock()
	m := s.db.machines[name]
	var c *moonwake.Machine
	if m != nil {
		c = cloneMachine(m)
	}
	s.db.mu.RUnlock()
	if c == nil {
		return nil, moonwake.Errorf(moonwake.ENotFound, "no machine %q", name)
	}
	return c, nil
}

// FindMachineByMAC returns a copy of the machine with that MAC, or ENotFound.
// A MAC written another way (upper case, dashes) is normalized on a miss.
func (s *MachineService) FindMachineByMAC(ctx context.Context, mac string) (*moonwake.Machine, error) {
	if c := s.db.machineByMAC(mac); c != nil {
		return c, nil
	}
	if hw, err := wol.ParseMAC(mac); err == nil && hw.String() != mac {
		if c := s.db.machineByMAC(hw.String()); c != nil {
			return c, nil
		}
	}
	return nil, moonwake.Errorf(moonwake.ENotFound, "no machine with MAC %s", mac)
}

// machineByMAC returns a copy of the cached machine with that exact MAC.
func (db *DB) machineByMAC(mac string) *moonwake.Machine {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if m := db.machinesByMAC[mac]; m != nil {
		return cloneMachine(m)
	}
	return nil
}

// ListMachines returns copies of all machines sorted by name.
func (s *MachineService) ListMachines(ctx context.Context) ([]*moonwake.Machine, error) {
	s.db.mu.RLock()
	ms := make([]*moonwake.Machine, 0, len(s.db.machines))
	for _, m := range s.db.machines {
		ms = append(ms, cloneMachine(m))
	}
	s.db.mu.RUnlock()
	slices.SortFunc(ms, func(a, b *moonwake.Machine) int { return strings.Compare(a.Name, b.Name) })
	return ms, nil
}

// CreateMachine normalizes m, sets its timestamps and stores it. EInvalid, or
// EConflict when the name or the MAC is taken.
func (s *MachineService) CreateMachine(ctx context.Context, m *moonwake.Machine) error {
	if err := m.Normalize(); err != nil {
		return err
	}
	if m.Source != moonwake.SourceAPI && m.Source != moonwake.SourceConfig {
		return moonwake.Errorf(moonwake.EInvalid, "source %q: want %q or %q", m.Source, moonwake.SourceAPI, moonwake.SourceConfig)
	}
	db := s.db
	db.wmu.Lock()
	defer db.wmu.Unlock()

	db.mu.RLock()
	byName, byMAC := db.machines[m.Name], db.machinesByMAC[m.MAC]
	db.mu.RUnlock()
	if byName != nil {
		return moonwake.Errorf(moonwake.EConflict, "machine %q exists", m.Name)
	}
	if byMAC != nil {
		return moonwake.Errorf(moonwake.EConflict, "MAC %s is already registered to %q", m.MAC, byMAC.Name)
	}

	now := db.now()
	m.CreatedAt, m.UpdatedAt = now, now
	if _, err := db.wdb.ExecContext(ctx, `
		INSERT INTO machines (name, mac, host, interface, broadcast, port, password, tags, source, created_at, updated_at, ports, notify, relay)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		machineArgs(m)...); err != nil {
		if isConstraint(err) { // another process wrote since the caches were loaded
			return moonwake.Errorf(moonwake.EConflict, "machine %q or MAC %s is already registered", m.Name, m.MAC)
		}
		return fmt.Errorf("create machine: %w", err)
	}

	db.mu.Lock()
	db.cacheMachine(cloneMachine(m))
	db.mu.Unlock()
	return nil
}

// UpdateMachine applies u to the API machine called name and returns the
// result. ENotFound, EInvalid, or EConflict for config machines and taken MACs.
func (s *MachineService) UpdateMachine(ctx context.Context, name string, u moonwake.MachineUpdate) (*moonwake.Machine, error) {
	db := s.db
	db.wmu.Lock()
	defer db.wmu.Unlock()

	db.mu.RLock()
	old := db.machines[name]
	db.mu.RUnlock()
	if old == nil {
		return nil, moonwake.Errorf(moonwake.ENotFound, "no machine %q", name)
	}
	if old.Source == moonwake.SourceConfig {
		return nil, moonwake.Errorf(moonwake.EConflict, "machine %q is declared in the config file; change it there", name)
	}

	m := u.Apply(*cloneMachine(old))
	if err := m.Normalize(); err != nil {
		return nil, err
	}
	m.Name = old.Name
	if sameMachine(old, &m) {
		return cloneMachine(old), nil
	}
	db.mu.RLock()
	other := db.machinesByMAC[m.MAC]
	db.mu.RUnlock()
	if other != nil && other.Name != m.Name {
		return nil, moonwake.Errorf(moonwake.EConflict, "MAC %s is already registered to %q", m.MAC, other.Name)
	}

	m.UpdatedAt = db.now()
	found, err := execOne(ctx, db.wdb, `
		UPDATE machines SET mac = ?, host = ?, interface = ?, broadcast = ?, port = ?, password = ?, tags = ?, source = ?, updated_at = ?, ports = ?, notify = ?, relay = ?
		WHERE name = ?`,
		m.MAC, m.Host, m.Interface, m.Broadcast, m.Port, m.Password, jsonList(m.Tags), m.Source, formatTime(m.UpdatedAt), jsonInts(m.Ports), jsonNotify(m.Notify), m.Relay, m.Name)
	switch {
	case isConstraint(err):
		return nil, moonwake.Errorf(moonwake.EConflict, "MAC %s is already registered", m.MAC)
	case err != nil:
		return nil, fmt.Errorf("update machine: %w", err)
	case !found:
		return nil, moonwake.Errorf(moonwake.ENotFound, "no machine %q", name)
	}

	db.mu.Lock()
	db.uncacheMachine(old)
	db.cacheMachine(cloneMachine(&m))
	db.mu.Unlock()
	return &m, nil
}

// DeleteMachine removes the API machine called name. ENotFound, or EConflict
// for config machines.
func (s *MachineService) DeleteMachine(ctx context.Context, name string) error {
	db := s.db
	db.wmu.Lock()
	defer db.wmu.Unlock()

	db.mu.RLock()
	old := db.machines[name]
	db.mu.RUnlock()
	if old == nil {
		return moonwake.Errorf(moonwake.ENotFound, "no machine %q", name)
	}
	if old.Source == moonwake.SourceConfig {
		return moonwake.Errorf(moonwake.EConflict, "machine %q is declared in the config file; change it there", name)
	}
	now := db.now()
	tx, err := db.wdb.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("delete machine: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `DELETE FROM machines WHERE name = ?`, name)
	if err != nil {
		return fmt.Errorf("delete machine: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return moonwake.Errorf(moonwake.ENotFound, "no machine %q", name)
	}
	changes, err := scopeAfterDelete(ctx, tx, []string{name}, now)
	if err != nil {
		return fmt.Errorf("delete machine: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("delete machine: %w", err)
	}
	db.mu.Lock()
	db.uncacheMachine(old)
	db.applyScopeChanges(changes, now)
	db.mu.Unlock()
	return nil
}

// SyncConfigMachines makes the config machines equal to ms in one
// transaction. It checks everything first, so an error changes nothing, and
// writes only the machines that differ, so a restart with an unchanged config
// file costs no write at all.
func (s *MachineService) SyncConfigMachines(ctx context.Context, ms []*moonwake.Machine) error {
	want := make([]*moonwake.Machine, 0, len(ms))
	names := make(map[string]bool, len(ms))
	macs := make(map[string]string, len(ms))
	for i, in := range ms {
		if in == nil {
			return moonwake.Errorf(moonwake.EInvalid, "config machine %d is empty", i+1)
		}
		m := cloneMachine(in)
		m.Source = moonwake.SourceConfig
		if err := m.Normalize(); err != nil {
			return moonwake.Errorf(moonwake.EInvalid, "config machine %q: %s", m.Name, moonwake.ErrorMessage(err))
		}
		if names[m.Name] {
			return moonwake.Errorf(moonwake.EInvalid, "machine %q is declared twice in the config file", m.Name)
		}
		if other, ok := macs[m.MAC]; ok {
			return moonwake.Errorf(moonwake.EInvalid, "MAC %s is declared for both %q and %q in the config file", m.MAC, other, m.Name)
		}
		names[m.Name], macs[m.MAC] = true, m.Name
		want = append(want, m)
	}

	db := s.db
	db.wmu.Lock()
	defer db.wmu.Unlock()

	// Work out the changes against the cache; wmu keeps it still meanwhile.
	var (
		dels    []*moonwake.Machine // config machines no longer declared
		olds    []*moonwake.Machine // the versions that upserts replace
		upserts []*moonwake.Machine
		moves   []string // names whose MAC changes: parked first, see below
	)
	now := db.now()
	db.mu.RLock()
	for _, m := range want {
		// An API machine keeps its MAC unless the config replaces it by name.
		if e := db.machinesByMAC[m.MAC]; e != nil && e.Name != m.Name && e.Source == moonwake.SourceAPI && !names[e.Name] {
			db.mu.RUnlock()
			return moonwake.Errorf(moonwake.EConflict, "MAC %s of config machine %q is already registered to %q", m.MAC, m.Name, e.Name)
		}
		old := db.machines[m.Name]
		if old != nil && sameMachine(old, m) {
			continue
		}
		m.CreatedAt, m.UpdatedAt = now, now
		if old != nil {
			m.CreatedAt = old.CreatedAt
			olds = append(olds, old)
			if old.MAC != m.MAC {
				moves = append(moves, m.Name)
			}
		}
		upserts = append(upserts, m)
	}
	for _, e := range db.machines {
		if e.Source == moonwake.SourceConfig && !names[e.Name] {
			dels = append(dels, e)
		}
	}
	db.mu.RUnlock()
	if len(dels) == 0 && len(upserts) == 0 {
		return nil
	}

	changes, err := db.syncMachines(ctx, dels, moves, upserts, now)
	if err != nil {
		if isConstraint(err) { // another process wrote since the caches were loaded
			return moonwake.Errorf(moonwake.EConflict, "config machines: a name or MAC is already registered; retry")
		}
		return fmt.Errorf("sync config machines: %w", err)
	}

	db.mu.Lock()
	for _, m := range dels {
		db.uncacheMachine(m)
	}
	for _, m := range olds {
		db.uncacheMachine(m)
	}
	for _, m := range upserts {
		db.cacheMachine(m)
	}
	db.applyScopeChanges(changes, now)
	db.mu.Unlock()
	return nil
}

// syncMachines writes the changes SyncConfigMachines worked out. The MAC
// column is unique, so when two machines swap MACs the first upsert would
// collide with the second's old row: every machine whose MAC changes is
// first parked on a placeholder that cannot be a MAC. Rows are updated in
// place rather than deleted and inserted, so that tables which later
// reference machines keep their rows.
func (db *DB) syncMachines(ctx context.Context, dels []*moonwake.Machine, moves []string, upserts []*moonwake.Machine, now time.Time) ([]tokenScopeChange, error) {
	tx, err := db.wdb.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	for _, m := range dels {
		if _, err := tx.ExecContext(ctx, `DELETE FROM machines WHERE name = ?`, m.Name); err != nil {
			return nil, err
		}
	}
	for _, name := range moves {
		if _, err := tx.ExecContext(ctx, `UPDATE machines SET mac = 'moving:' || name WHERE name = ?`, name); err != nil {
			return nil, err
		}
	}
	stmt, err := tx.PrepareContext(ctx, `
		INSERT INTO machines (name, mac, host, interface, broadcast, port, password, tags, source, created_at, updated_at, ports, notify, relay)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET
			mac = excluded.mac, host = excluded.host, interface = excluded.interface,
			broadcast = excluded.broadcast, port = excluded.port, password = excluded.password,
			tags = excluded.tags, source = excluded.source, updated_at = excluded.updated_at,
			ports = excluded.ports, notify = excluded.notify, relay = excluded.relay`)
	if err != nil {
		return nil, err
	}
	defer stmt.Close()
	for _, m := range upserts {
		if _, err := stmt.ExecContext(ctx, machineArgs(m)...); err != nil {
			return nil, fmt.Errorf("machine %q: %w", m.Name, err)
		}
	}
	var gone []string
	for _, m := range dels {
		gone = append(gone, m.Name)
	}
	changes, err := scopeAfterDelete(ctx, tx, gone, now)
	if err != nil {
		return nil, err
	}
	return changes, tx.Commit()
}

// loadMachines fills the machine cache from the table.
func (c *caches) loadMachines(ctx context.Context, q *sql.DB) error {
	rows, err := q.QueryContext(ctx, `
		SELECT name, mac, host, interface, broadcast, port, password, tags, source, created_at, updated_at, ports, notify, relay
		FROM machines`)
	if err != nil {
		return fmt.Errorf("load machines: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			m                moonwake.Machine
			tags, ports, nt  string
			created, updated string
		)
		if err := rows.Scan(&m.Name, &m.MAC, &m.Host, &m.Interface, &m.Broadcast, &m.Port, &m.Password, &tags, &m.Source, &created, &updated, &ports, &nt, &m.Relay); err != nil {
			return fmt.Errorf("load machines: %w", err)
		}
		if err := json.Unmarshal([]byte(tags), &m.Tags); err != nil {
			return fmt.Errorf("load machines: %q: tags: %w", m.Name, err)
		}
		if m.Tags == nil {
			m.Tags = []string{}
		}
		if err := json.Unmarshal([]byte(ports), &m.Ports); err != nil {
			return fmt.Errorf("load machines: %q: ports: %w", m.Name, err)
		}
		if len(m.Ports) == 0 {
			m.Ports = nil // as Normalize leaves it
		}
		if nt != "" && nt != "{}" {
			m.Notify = &moonwake.NotifyTarget{}
			if err := json.Unmarshal([]byte(nt), m.Notify); err != nil {
				return fmt.Errorf("load machines: %q: notify: %w", m.Name, err)
			}
		}
		if m.CreatedAt, err = parseTime(created); err != nil {
			return fmt.Errorf("load machines: %q: %w", m.Name, err)
		}
		if m.UpdatedAt, err = parseTime(updated); err != nil {
			return fmt.Errorf("load machines: %q: %w", m.Name, err)
		}
		c.cacheMachine(&m)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load machines: %w", err)
	}
	return nil
}

// cacheMachine adds m, which the cache now owns, to both maps. db.mu is held.
func (c *caches) cacheMachine(m *moonwake.Machine) {
	c.machines[m.Name] = m
	c.machinesByMAC[m.MAC] = m
}

// uncacheMachine removes m from both maps, unless a newer entry took its
// place. db.mu is held.
func (c *caches) uncacheMachine(m *moonwake.Machine) {
	if c.machines[m.Name] == m {
		delete(c.machines, m.Name)
	}
	if c.machinesByMAC[m.MAC] == m {
		delete(c.machinesByMAC, m.MAC)
	}
}

// execOne runs a statement that should change one row, and reports whether
// it changed any. The caches are checked before SQL runs, so a miss means
// another process wrote since they were loaded.
func execOne(ctx context.Context, db *sql.DB, query string, args ...any) (bool, error) {
	res, err := db.ExecContext(ctx, query, args...)
	if err != nil {
		return false, diskFull(err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// machineArgs returns the values of the INSERT columns, in order.
func machineArgs(m *moonwake.Machine) []any {
	return []any{m.Name, m.MAC, m.Host, m.Interface, m.Broadcast, m.Port, m.Password,
		jsonList(m.Tags), m.Source, formatTime(m.CreatedAt), formatTime(m.UpdatedAt), jsonInts(m.Ports), jsonNotify(m.Notify), m.Relay}
}

// cloneMachine returns a copy of m that shares no memory with it.
func cloneMachine(m *moonwake.Machine) *moonwake.Machine {
	c := *m
	c.Ports = slices.Clone(m.Ports) // nil stays nil
	if m.Notify != nil {
		n := *m.Notify
		c.Notify = &n
	}
	c.Tags = slices.Clone(m.Tags)
	if c.Tags == nil {
		c.Tags = []string{}
	}
	return &c
}

// sameMachine reports whether a and b have the same stored fields, apart
// from the timestamps.
func sameMachine(a, b *moonwake.Machine) bool {
	return a.Name == b.Name && a.MAC == b.MAC && a.Host == b.Host && a.Interface == b.Interface &&
		a.Broadcast == b.Broadcast && a.Port == b.Port && a.Password == b.Password &&
		a.Source == b.Source && a.Relay == b.Relay && slices.Equal(a.Tags, b.Tags) && slices.Equal(a.Ports, b.Ports) &&
		(a.Notify == nil) == (b.Notify == nil) && (a.Notify == nil || *a.Notify == *b.Notify)
}

// jsonNotify renders a notification target as JSON, "{}" for none.
func jsonNotify(t *moonwake.NotifyTarget) string {
	if t == nil {
		return "{}"
	}
	b, _ := json.Marshal(t)
	return string(b)
}

// jsonInts renders a list of ints as a JSON array, never null.
func jsonInts(s []int) string {
	if len(s) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(s)
	return string(b)
}

// jsonList renders a list of strings as a JSON array, never null.
func jsonList(s []string) string {
	if len(s) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(s) // cannot fail for strings
	return string(b)
}
