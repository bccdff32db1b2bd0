package hub

import (
	"context"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/hub/notify"
	"github.com/moonwake/moonwake/hub/policy"
	"github.com/moonwake/moonwake/hub/sqlite"
)

// notifyTargets returns where news of the machine goes: the hub's target
// and the machine's own.
func (h *Hub) notifyTargets(machine string) []moonwake.NotifyTarget {
	targets := []moonwake.NotifyTarget{h.cfg.Notify}
	if m, err := h.machines.FindMachine(context.Background(), machine); err == nil && m.Notify != nil {
		targets = append(targets, *m.Notify)
	}
	return targets
}

// notifyAction reports an ended action.
func (h *Hub) notifyAction(a *moonwake.Action) {
	targets := h.notifyTargets(a.Machine)
	if len(targets) == 0 {
		return // no message to make: most actions of most hubs
	}
	h.notifier.Send(notify.ForAction(a), targets...)
}

// notifyPolicy sends a policy's warning. A warning is not a failure, but it
// is sent whether or not the targets asked for successes: it is the last
// chance to say no.
func (h *Hub) notifyPolicy(m notify.Message) {
	targets := h.notifyTargets(m.Machine)
	for i := range targets {
		targets[i].OnSuccess = true
	}
	h.notifier.Send(m, targets...)
}

// keepAwake is the front doors' view of the overrides: a change makes the
// idle policy look at the machine again at once.
type keepAwake struct {
	*sqlite.PolicyService
	engine *policy.Engine
}

func (k keepAwake) SetKeepAwake(ctx context.Context, machine string, until time.Time, by string) error {
	defer k.engine.Touch(machine)
	return k.PolicyService.SetKeepAwake(ctx, machine, until, by)
}

func (k keepAwake) ClearKeepAwake(ctx context.Context, machine string) error {
	defer k.engine.Touch(machine)
	return k.PolicyService.ClearKeepAwake(ctx, machine)
}
