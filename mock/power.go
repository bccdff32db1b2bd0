package mock

import (
	"context"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/internal/observers"
)

var (
	_ moonwake.PowerService     = (*PowerService)(nil)
	_ moonwake.Commander        = (*Commander)(nil)
	_ moonwake.Monitor          = (*Monitor)(nil)
	_ moonwake.KeepAwakeService = (*KeepAwakeService)(nil)
)

// PowerService is a moonwake.PowerService.
type PowerService struct {
	WakeFn       func(ctx context.Context, m *moonwake.Machine) (*moonwake.Action, error)
	CommandFn    func(ctx context.Context, m *moonwake.Machine, kind string) (*moonwake.Action, error)
	FindActionFn func(ctx context.Context, id string) (*moonwake.Action, error)
	WaitFn       func(ctx context.Context, id string) (*moonwake.Action, error)
	CancelFn     func(ctx context.Context, id, why string) (*moonwake.Action, error)
}

// Wake calls WakeFn; it panics when WakeFn is nil.
func (s *PowerService) Wake(ctx context.Context, m *moonwake.Machine) (*moonwake.Action, error) {
	if s.WakeFn == nil {
		unexpected("PowerService.Wake")
	}
	return s.WakeFn(ctx, m)
}

// Command calls CommandFn; it panics when CommandFn is nil.
func (s *PowerService) Command(ctx context.Context, m *moonwake.Machine, kind string) (*moonwake.Action, error) {
	if s.CommandFn == nil {
		unexpected("PowerService.Command")
	}
	return s.CommandFn(ctx, m, kind)
}

// FindAction calls FindActionFn; ENotFound when it is nil.
func (s *PowerService) FindAction(ctx context.Context, id string) (*moonwake.Action, error) {
	if s.FindActionFn == nil {
		return nil, moonwake.Errorf(moonwake.ENotFound, "no action %q", id)
	}
	return s.FindActionFn(ctx, id)
}

// Wait calls WaitFn; without it, it is FindAction.
func (s *PowerService) Wait(ctx context.Context, id string) (*moonwake.Action, error) {
	if s.WaitFn == nil {
		return s.FindAction(ctx, id)
	}
	return s.WaitFn(ctx, id)
}

// Cancel calls CancelFn; it panics when CancelFn is nil.
func (s *PowerService) Cancel(ctx context.Context, id, why string) (*moonwake.Action, error) {
	if s.CancelFn == nil {
		unexpected("PowerService.Cancel")
	}
	return s.CancelFn(ctx, id, why)
}

// Commander is a moonwake.Commander. Report calls the functions registered
// with OnOutcome, as a machine reporting an outcome would.
type Commander struct {
	ReachableFn func(ctx context.Context, machine string) bool
	SendFn      func(ctx context.Context, machine, kind, actionID string) (string, error)

	outcomes observers.List[func(machine, actionID string, ok bool, detail string)]
}

// Reachable calls ReachableFn; false when it is nil.
func (c *Commander) Reachable(ctx context.Context, machine string) bool {
	return c.ReachableFn != nil && c.ReachableFn(ctx, machine)
}

// Send calls SendFn; it panics when SendFn is nil.
func (c *Commander) Send(ctx context.Context, machine, kind, actionID string) (string, error) {
	if c.SendFn == nil {
		unexpected("Commander.Send")
	}
	return c.SendFn(ctx, machine, kind, actionID)
}

// OnOutcome registers fn.
func (c *Commander) OnOutcome(fn func(machine, actionID string, ok bool, detail string)) {
	c.outcomes.Add(fn)
}

// Report tells every registered function of an outcome.
func (c *Commander) Report(machine, actionID string, ok bool, detail string) {
	for _, fn := range c.outcomes.All() {
		fn(machine, actionID, ok, detail)
	}
}

// Monitor is a moonwake.Monitor. Change calls the functions registered with
// OnChange, as the monitor does when a state changes.
type Monitor struct {
	InfoFn       func(ctx context.Context, machine string) moonwake.PowerInfo
	HistoryFn    func(ctx context.Context, machine string, limit int) ([]*moonwake.Event, error)
	SetPendingFn func(machine string, p moonwake.Pending)
	CanVerifyFn  func(m *moonwake.Machine) bool

	changes observers.List[func(moonwake.StateChange)]
}

// Info calls InfoFn; unknown when it is nil.
func (mo *Monitor) Info(ctx context.Context, machine string) moonwake.PowerInfo {
	if mo.InfoFn == nil {
		return moonwake.PowerInfo{State: moonwake.StateUnknown, Reason: "not probed yet"}
	}
	return mo.InfoFn(ctx, machine)
}

// History calls HistoryFn; no events when it is nil.
func (mo *Monitor) History(ctx context.Context, machine string, limit int) ([]*moonwake.Event, error) {
	if mo.HistoryFn == nil {
		return nil, nil
	}
	return mo.HistoryFn(ctx, machine, limit)
}

// SetPending calls SetPendingFn, if set.
func (mo *Monitor) SetPending(machine string, p moonwake.Pending) {
	if mo.SetPendingFn != nil {
		mo.SetPendingFn(machine, p)
	}
}

// CanVerify calls CanVerifyFn; false when it is nil.
func (mo *Monitor) CanVerify(m *moonwake.Machine) bool {
	return mo.CanVerifyFn != nil && mo.CanVerifyFn(m)
}

// OnChange registers fn.
func (mo *Monitor) OnChange(fn func(moonwake.StateChange)) { mo.changes.Add(fn) }

// Change tells every registered function of sc.
func (mo *Monitor) Change(sc moonwake.StateChange) {
	for _, fn := range mo.changes.All() {
		fn(sc)
	}
}

// KeepAwakeService is a moonwake.KeepAwakeService.
type KeepAwakeService struct {
	KeepAwakeFn      func(ctx context.Context, machine string) (time.Time, error)
	SetKeepAwakeFn   func(ctx context.Context, machine string, until time.Time, by string) error
	ClearKeepAwakeFn func(ctx context.Context, machine string) error
}

// KeepAwake calls KeepAwakeFn; the zero time when it is nil.
func (k *KeepAwakeService) KeepAwake(ctx context.Context, machine string) (time.Time, error) {
	if k.KeepAwakeFn == nil {
		return time.Time{}, nil
	}
	return k.KeepAwakeFn(ctx, machine)
}

// SetKeepAwake calls SetKeepAwakeFn; it panics when it is nil.
func (k *KeepAwakeService) SetKeepAwake(ctx context.Context, machine string, until time.Time, by string) error {
	if k.SetKeepAwakeFn == nil {
		unexpected("KeepAwakeService.SetKeepAwake")
	}
	return k.SetKeepAwakeFn(ctx, machine, until, by)
}

// ClearKeepAwake calls ClearKeepAwakeFn; it panics when it is nil.
func (k *KeepAwakeService) ClearKeepAwake(ctx context.Context, machine string) error {
	if k.ClearKeepAwakeFn == nil {
		unexpected("KeepAwakeService.ClearKeepAwake")
	}
	return k.ClearKeepAwakeFn(ctx, machine)
}
