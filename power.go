package moonwake

import (
	"context"
	"time"
)

// PowerService carries out verified power actions on behalf of the actor in
// ctx, and records each one in the audit log. The API, the web app, the
// Home Assistant bridge, the policies and the UDP passthrough all act
// through it; hub/power implements it.
type PowerService interface {
	// Wake wakes m and returns the running action; a wake of a machine
	// already being woken joins it. EConflict when another action runs on
	// m; EUnavailable when no packet could be sent. The action returned
	// by this and every other method is the caller's to read, never to
	// change: requests that join one action may share it.
	Wake(ctx context.Context, m *Machine) (*Action, error)
	// Command asks m to shut down, reboot, sleep or hibernate (kind is one
	// of PowerActions) through its agent or its Sunshine host, and returns
	// the running action, which ends when the machine is seen in the goal
	// state or the deadline passes. EConflict when another action runs on
	// m; EUnavailable when m has no way to be commanded. With a grace in
	// ctx (WithGrace), the command waits that long first while the PC
	// counts down, and can be cancelled meanwhile.
	Command(ctx context.Context, m *Machine, kind string) (*Action, error)
	// Cancel ends the running action with that ID during its countdown,
	// before its command is sent, as StatusCancelled with why as its
	// detail. ENotFound when no such action runs; EConflict when it has
	// no countdown running (its command was sent, or it never had one).
	Cancel(ctx context.Context, id, why string) (*Action, error)
	// FindAction returns the action with that ID, running or ended, or
	// ENotFound.
	FindAction(ctx context.Context, id string) (*Action, error)
	// Wait returns the action with that ID once it has ended, or when ctx
	// ends (then it is still running).
	Wait(ctx context.Context, id string) (*Action, error)
}

// Commander carries power commands to machines: to the agent on the
// machine when it is linked, else, for a shutdown, to the "Shutdown" app of
// its paired Sunshine host. The power service sends through it and learns
// the outcome from it; hub/remote implements it.
type Commander interface {
	// Reachable reports whether the machine has a paired agent or a paired
	// Sunshine host, that is, a way to be commanded at all.
	Reachable(ctx context.Context, machine string) bool
	// Send asks the machine to carry out kind (one of PowerActions) for
	// the action with that ID, and returns once it was acknowledged, with
	// what the machine said. EUnavailable when it cannot be reached;
	// EInvalid when it refused.
	Send(ctx context.Context, machine, kind, actionID string) (string, error)
	// OnOutcome registers fn to hear what a machine reports after
	// carrying out (or failing to carry out) a command it acknowledged.
	// Register before the hub serves; fn must not block.
	OnOutcome(fn func(machine, actionID string, ok bool, detail string))
}

// PowerInfo is what is known of a machine's power state.
type PowerInfo struct {
	State    PowerState `json:"state"`
	Since    time.Time  `json:"since,omitzero"`
	Reason   string     `json:"reason,omitempty"`
	Pending  *Pending   `json:"pending,omitempty"`
	Evidence *Evidence  `json:"evidence,omitempty"`
	Agent    *AgentInfo `json:"agent,omitempty"`
	// Asleep: the state is off, and the machine's network card still
	// answers ARP for it (see the function Asleep).
	Asleep bool `json:"asleep,omitempty"`
}

// AgentInfo says whether a machine has a paired agent and whether its
// uplink is up.
type AgentInfo struct {
	ID        string `json:"id"`
	Connected bool   `json:"connected"`
}

// Monitor derives every machine's power state from the evidence (probes,
// agents) and tells it; hub/monitor implements it.
type Monitor interface {
	// Info returns what is known of the machine's power state: unknown,
	// "not probed yet", for a machine it does not watch (yet).
	Info(ctx context.Context, machine string) PowerInfo
	// History returns the machine's last state changes, oldest first.
	History(ctx context.Context, machine string, limit int) ([]*Event, error)
	// SetPending says an action is under way on the machine (probe it
	// faster, derive waking or shutting-down); PendingNone ends it.
	SetPending(machine string, p Pending)
	// CanVerify reports whether the monitor has a way to see m's state: an
	// address to probe or a paired agent.
	CanVerify(m *Machine) bool
	// OnChange registers fn to hear every state change, in order, from the
	// monitor's goroutine. Register before the hub serves; fn must not
	// block.
	OnChange(fn func(StateChange))
}

// MaxKeepAwake bounds a keep-awake override: a forgotten one must end.
const MaxKeepAwake = 31 * 24 * time.Hour

// KeepAwakeService keeps machines awake until a time, whatever the idle
// auto-off and the schedules would do; hub/sqlite stores the overrides.
type KeepAwakeService interface {
	// KeepAwake returns until when the machine is kept awake; the zero
	// time when it is not.
	KeepAwake(ctx context.Context, machine string) (time.Time, error)
	// SetKeepAwake keeps the machine awake until then, as asked by by.
	SetKeepAwake(ctx context.Context, machine string, until time.Time, by string) error
	// ClearKeepAwake ends the machine's override, if any.
	ClearKeepAwake(ctx context.Context, machine string) error
}
