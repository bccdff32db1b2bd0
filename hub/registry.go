package hub

import (
	"context"

	"github.com/moonwake/moonwake"
)

// registry is the machine service that the API and the web app change
// machines through: after every change it asks the monitor to follow at
// once, so the new state, and the machine event that the web app and the
// MQTT bridge react to, come without waiting for the monitor's next tick.
type registry struct {
	moonwake.MachineService
	changed func()
}

func (r registry) CreateMachine(ctx context.Context, m *moonwake.Machine) error {
	err := r.MachineService.CreateMachine(ctx, m)
	if err == nil {
		r.changed()
	}
	return err
}

func (r registry) UpdateMachine(ctx context.Context, name string, u moonwake.MachineUpdate) (*moonwake.Machine, error) {
	m, err := r.MachineService.UpdateMachine(ctx, name, u)
	if err == nil {
		r.changed()
	}
	return m, err
}

func (r registry) DeleteMachine(ctx context.Context, name string) error {
	err := r.MachineService.DeleteMachine(ctx, name)
	if err == nil {
		r.changed()
	}
	return err
}
