package hub

import (
	"context"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/hub/notify"
	"github.com/moonwake/moonwake/hub/policy"
	"github.com/moonwake/moonwake/hub/sqlite"
)

// openPolicy builds the power policies (schedules, idle auto-off) from the
// config file; Serve runs them and Close stops them.
func (h *Hub) openPolicy() error {
	schedules, idle, err := h.cfg.Policies()
	if err != nil {
		return err
	}
	h.policyStore = sqlite.NewPolicyService(h.db)
	h.policy = policy.New(policy.Options{
		Schedules: schedules, Idle: idle, Power: h.power, Machines: h.machines,
		States: monitorStates{h.monitor}, Store: h.policyStore, Notify: h.notifyPolicy, Logger: h.log,
	})
	return nil
}

// notifyPolicy sends a policy's warning to the hub's target and the
// machine's own. A warning is not a failure, but it is sent whether or
// not the targets asked for successes: it is the last chance to say no.
func (h *Hub) notifyPolicy(m notify.Message) {
	targets := []notify.Target{h.cfg.Notify}
	if mc, err := h.machines.FindMachine(context.Background(), m.Machine); err == nil && mc.Notify != nil {
		targets = append(targets, *mc.Notify)
	}
	for i := range targets {
		targets[i].OnSuccess = true
	}
	h.notifier.Send(m, targets...)
}

// monitorStates gives the policies the monitor's current states.
type monitorStates struct{ mo *monitor }

func (s monitorStates) Status(name string) (moonwake.PowerState, moonwake.Evidence, bool) {
	st, ok := s.mo.w.Status(name)
	if !ok {
		return moonwake.StateUnknown, moonwake.Evidence{}, false
	}
	return st.State, st.Evidence, true
}

// keepAwake is the API's view of the overrides: a change makes the idle
// policy look at the machine again at once.
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
