package mock

import (
	"context"

	"github.com/moonwake/moonwake"
)

var _ moonwake.MachineService = (*MachineService)(nil)

// MachineService is a moonwake.MachineService. Tests that need a real
// registry use hub/sqlite; this double is for what a test wants to control
// exactly (a failing store, a machine that vanishes).
type MachineService struct {
	FindMachineFn        func(ctx context.Context, name string) (*moonwake.Machine, error)
	FindMachineByMACFn   func(ctx context.Context, mac string) (*moonwake.Machine, error)
	ListMachinesFn       func(ctx context.Context) ([]*moonwake.Machine, error)
	CreateMachineFn      func(ctx context.Context, m *moonwake.Machine) error
	UpdateMachineFn      func(ctx context.Context, name string, u moonwake.MachineUpdate) (*moonwake.Machine, error)
	DeleteMachineFn      func(ctx context.Context, name string) error
	SyncConfigMachinesFn func(ctx context.Context, ms []*moonwake.Machine) error
}

// Machines returns a MachineService that serves ms (read-only): Find,
// FindByMAC and List answer from it; changes panic.
func Machines(ms ...*moonwake.Machine) *MachineService {
	find := func(match func(*moonwake.Machine) bool, what string) (*moonwake.Machine, error) {
		for _, m := range ms {
			if match(m) {
				return m, nil
			}
		}
		return nil, moonwake.Errorf(moonwake.ENotFound, "no machine %s", what)
	}
	return &MachineService{
		FindMachineFn: func(_ context.Context, name string) (*moonwake.Machine, error) {
			return find(func(m *moonwake.Machine) bool { return m.Name == name }, name)
		},
		FindMachineByMACFn: func(_ context.Context, mac string) (*moonwake.Machine, error) {
			return find(func(m *moonwake.Machine) bool { return m.MAC == mac }, "with MAC "+mac)
		},
		ListMachinesFn: func(context.Context) ([]*moonwake.Machine, error) {
			return append([]*moonwake.Machine(nil), ms...), nil
		},
	}
}

// FindMachine calls FindMachineFn; ENotFound when it is nil.
func (s *MachineService) FindMachine(ctx context.Context, name string) (*moonwake.Machine, error) {
	if s.FindMachineFn == nil {
		return nil, moonwake.Errorf(moonwake.ENotFound, "no machine %s", name)
	}
	return s.FindMachineFn(ctx, name)
}

// FindMachineByMAC calls FindMachineByMACFn; ENotFound when it is nil.
func (s *MachineService) FindMachineByMAC(ctx context.Context, mac string) (*moonwake.Machine, error) {
	if s.FindMachineByMACFn == nil {
		return nil, moonwake.Errorf(moonwake.ENotFound, "no machine with MAC %s", mac)
	}
	return s.FindMachineByMACFn(ctx, mac)
}

// ListMachines calls ListMachinesFn; none when it is nil.
func (s *MachineService) ListMachines(ctx context.Context) ([]*moonwake.Machine, error) {
	if s.ListMachinesFn == nil {
		return nil, nil
	}
	return s.ListMachinesFn(ctx)
}

// CreateMachine calls CreateMachineFn; it panics when it is nil.
func (s *MachineService) CreateMachine(ctx context.Context, m *moonwake.Machine) error {
	if s.CreateMachineFn == nil {
		unexpected("MachineService.CreateMachine")
	}
	return s.CreateMachineFn(ctx, m)
}

// UpdateMachine calls UpdateMachineFn; it panics when it is nil.
func (s *MachineService) UpdateMachine(ctx context.Context, name string, u moonwake.MachineUpdate) (*moonwake.Machine, error) {
	if s.UpdateMachineFn == nil {
		unexpected("MachineService.UpdateMachine")
	}
	return s.UpdateMachineFn(ctx, name, u)
}

// DeleteMachine calls DeleteMachineFn; it panics when it is nil.
func (s *MachineService) DeleteMachine(ctx context.Context, name string) error {
	if s.DeleteMachineFn == nil {
		unexpected("MachineService.DeleteMachine")
	}
	return s.DeleteMachineFn(ctx, name)
}

// SyncConfigMachines calls SyncConfigMachinesFn; it panics when it is nil.
func (s *MachineService) SyncConfigMachines(ctx context.Context, ms []*moonwake.Machine) error {
	if s.SyncConfigMachinesFn == nil {
		unexpected("MachineService.SyncConfigMachines")
	}
	return s.SyncConfigMachinesFn(ctx, ms)
}
