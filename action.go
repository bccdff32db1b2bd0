package moonwake

import (
	"context"
	"slices"
	"strings"
	"time"
)

// Action states. An action is created running and ends exactly once.
const (
	StatusRunning   = "running"
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
	// StatusCancelled is an action that ended before its command was sent:
	// cancelled during its countdown, at the PC or through the API.
	StatusCancelled = "cancelled"
)

// CancelledAtPC begins the Detail of an action that the person at the PC
// cancelled during its countdown (the notification's Cancel button, any
// input, or moonwake-agent cancel).
const CancelledAtPC = "cancelled at the PC"

// CancelledByToken is the Detail of an action that the token called name
// cancelled through the API during its countdown. For hides the name from
// other tokens, as it hides their actors.
func CancelledByToken(name string) string { return cancelledByToken + name }

const cancelledByToken = "cancelled by token "

// StepCountdown is the Kind of a step that records a countdown: its Target
// is the grace ("60s"), Via "agent" when the PC shows it, and Error says
// why the PC does not.
const StepCountdown = "countdown"

// Countdown is what the PC is told when an action's grace begins: what
// will happen, when, and who asked, for the person at the PC to cancel.
type Countdown struct {
	ActionID string    // the action, which a cancel names
	Kind     string    // ActionShutdown … ; "idle" for an idle auto-off warning
	Until    time.Time // when the command is sent
	By       string    // who asked, in words ("token phone", "idle auto-off")
}

// MaxGrace bounds a countdown before a power command: a forgotten one must
// not hold a machine's actions for long.
const MaxGrace = 30 * time.Minute

// Action is one thing moonwake did to a machine, on someone's behalf: the
// audit log is the list of actions.
type Action struct {
	ID         string     `json:"id"`
	Kind       string     `json:"kind"` // ActionWake, ActionShutdown …
	Machine    string     `json:"machine"`
	MAC        string     `json:"mac"`
	Actor      Actor      `json:"actor"`
	Status     string     `json:"status"`
	Detail     string     `json:"detail,omitempty"` // the outcome in words
	Steps      []Step     `json:"steps"`
	CreatedAt  time.Time  `json:"created_at"`
	Deadline   *time.Time `json:"deadline,omitempty"` // when a running action gives up
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

// StepRequest is the Kind of a step that records a request that joined
// the running action; its Target names the actor and its address.
const StepRequest = "request"

// Step is one thing done while carrying out an action.
type Step struct {
	At     time.Time `json:"at"`
	Kind   string    `json:"kind"`             // "send", "verify" …
	Via    string    `json:"via,omitempty"`    // "udp", "raw" …
	Target string    `json:"target,omitempty"` // "10.0.0.255:9", "eth0"
	Error  string    `json:"error,omitempty"`
}

// Done reports whether the action has ended.
func (a *Action) Done() bool { return a.Status != StatusRunning }

// ActionFilter selects actions to list, newest first.
type ActionFilter struct {
	Machine string // "" for all machines
	Limit   int    // 0 for a default
}

// ActionService stores actions: the audit log.
type ActionService interface {
	// CreateAction stores a; it is durable when CreateAction returns.
	CreateAction(ctx context.Context, a *Action) error
	// UpdateAction stores a's new status, detail, steps and finish time.
	UpdateAction(ctx context.Context, a *Action) error
	// FindAction returns the action with that ID, or ENotFound.
	FindAction(ctx context.Context, id string) (*Action, error)
	// ListActions returns actions newest first.
	ListActions(ctx context.Context, f ActionFilter) ([]*Action, error)
	// RunningActions returns the actions still running, oldest first: after
	// a restart, the hub takes them up again.
	RunningActions(ctx context.Context) ([]*Action, error)
}

// For returns a as the token t may read it. Who asked for an action that
// another token asked for is that token's business: only admins read its
// name, id and address (and a CloudEvent's source and id), and other tokens
// see just what kind of actor it was. The same goes for the requests that
// joined a running action, which its steps record. A client address is
// shown only to admins and to the token that sent it. a itself is never
// changed.
func (a *Action) For(t *Token) *Action {
	if t.Admin {
		return a
	}
	own := a.Actor.TokenID != "" && a.Actor.TokenID == t.ID
	c := *a
	changed := false
	if !own && (a.Actor.Addr != "" || a.Actor.Kind == ActorToken || a.Actor.Kind == ActorCloudEvent) {
		c.Actor = Actor{Kind: a.Actor.Kind}
		if a.Actor.Kind != ActorToken && a.Actor.Kind != ActorCloudEvent {
			c.Actor.Name = a.Actor.Name // a policy, the passthrough …: no one's secret
		}
		changed = true
	}
	// A cancel through the API names its token, in the detail and in
	// its step.
	mine := CancelledByToken(t.Name)
	othersCancel := func(s string) bool { return strings.HasPrefix(s, cancelledByToken) && s != mine }
	if othersCancel(a.Detail) {
		c.Detail = "cancelled by another token"
		changed = true
	}
	cloned := false
	for i, st := range a.Steps {
		var target string
		switch {
		case st.Kind == "cancel" && othersCancel(st.Target):
			target = "cancelled by another token"
		// A joined request's step names its token and address:
		// "phone 192.0.2.7" (token names hold no spaces); the last one
		// counts the rest: "and 12 more requests".
		case st.Kind != StepRequest || strings.HasPrefix(st.Target, t.Name+" ") || st.Target == t.Name ||
			(strings.HasPrefix(st.Target, "and ") && strings.HasSuffix(st.Target, " more requests")):
			continue
		default:
			target = "another request"
		}
		if !cloned {
			c.Steps, cloned = slices.Clone(a.Steps), true
		}
		c.Steps[i].Target = target
		changed = true
	}
	if !changed {
		return a
	}
	return &c
}
