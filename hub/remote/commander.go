package remote

import (
	"context"

	"github.com/moonwake/moonwake"
)

// Commander carries power commands to machines: to the agent when it is
// linked, and otherwise, for a shutdown, to the "Shutdown" app of the
// machine's paired Sunshine host. A reboot, sleep or hibernate needs the
// agent: Sunshine has no app that would say which of them it does.
type Commander struct {
	agents   *Agents
	sunshine *SunshineHosts
}

var _ moonwake.Commander = (*Commander)(nil)

// NewCommander returns a Commander that reaches machines through agents
// and, failing them, sunshine.
func NewCommander(agents *Agents, sunshine *SunshineHosts) *Commander {
	return &Commander{agents: agents, sunshine: sunshine}
}

// Reachable implements moonwake.Commander: a paired agent or a paired
// Sunshine host.
func (c *Commander) Reachable(ctx context.Context, machine string) bool {
	if c.agents.paired(ctx, machine) {
		return true
	}
	_, err := c.sunshine.store.Find(ctx, machine)
	return err == nil
}

// Send implements moonwake.Commander.
func (c *Commander) Send(ctx context.Context, machine, kind, actionID string) (string, error) {
	if kind != moonwake.ActionShutdown || c.agents.connected(ctx, machine) {
		return c.agents.send(ctx, machine, kind, actionID)
	}
	said, err := c.sunshine.launchShutdown(ctx, machine)
	if moonwake.ErrorCode(err) == moonwake.ENotFound {
		return c.agents.send(ctx, machine, kind, actionID) // says why the agent cannot
	}
	return said, err
}

// OnOutcome implements moonwake.Commander: only agents report outcomes (a
// Sunshine app says nothing once launched).
func (c *Commander) OnOutcome(fn func(machine, actionID string, ok bool, detail string)) {
	c.agents.outcomes.Add(fn)
}
