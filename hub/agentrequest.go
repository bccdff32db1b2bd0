package hub

import (
	"context"

	"github.com/moonwake/moonwake"
)

// agentRequest carries out a power action that a program on a machine
// asked its agent for (a Sunshine app's "Sleep PC"): through the power
// service, so it is recorded with its actor, verified and notified when it
// fails, as any other.
func (h *Hub) agentRequest(ctx context.Context, machine, kind string, actor moonwake.Actor) (*moonwake.Action, error) {
	m, err := h.machines.FindMachine(ctx, machine)
	if err != nil {
		return nil, err
	}
	return h.power.Command(moonwake.WithActor(ctx, actor), m, kind)
}
