package moonwake

import (
	"context"
	"time"
)

// Action states. An action is created running and ends exactly once.
const (
	StatusRunning   = "running"
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
)

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

// For returns a as the token t may read it. The actor of an action that
// another token asked for is that token's business: only admins read its
// name, id and address, and other tokens see just what kind of actor it
// was. A client address is shown only to admins and to the token that sent
// it. a itself is never changed.
func (a *Action) For(t *Token) *Action {
	if t.Admin || (a.Actor.TokenID != "" && a.Actor.TokenID == t.ID) || (a.Actor.Addr == "" && a.Actor.Kind != ActorToken) {
		return a
	}
	c := *a
	c.Actor = Actor{Kind: a.Actor.Kind}
	if a.Actor.Kind != ActorToken {
		c.Actor.Name = a.Actor.Name // a policy, the passthrough …: no one's secret
	}
	return &c
}
