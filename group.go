package moonwake

import (
	"context"
	"time"
)

// GroupAction is one power action on a group of machines (those with a
// tag, or a list): the members' actions start one after the other,
// Stagger apart, so that a room of PCs does not draw its inrush current at
// once and trip a breaker. Each member's action is an ordinary action,
// verified and in the audit log; the group action follows them and ends
// when every one has.
type GroupAction struct {
	ID        string        `json:"id"`
	Kind      string        `json:"kind"`          // ActionWake, ActionShutdown …
	Tag       string        `json:"tag,omitempty"` // the tag that chose the members, if one did
	StaggerMS int64         `json:"stagger_ms"`    // between two members' starts
	Actor     Actor         `json:"actor"`
	Status    string        `json:"status"` // StatusRunning until every member's action has ended
	Detail    string        `json:"detail,omitempty"`
	Members   []GroupMember `json:"members"` // in the order they are started
	CreatedAt time.Time     `json:"created_at"`
	// FinishedAt is when the last member's action ended.
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

// GroupMember is one machine of a group action and how its action went.
type GroupMember struct {
	Machine string `json:"machine"`
	// Status is "pending" before its turn, then its action's status.
	Status string `json:"status"`
	Detail string `json:"detail,omitempty"`
	// Action is the member's action in the audit log, once started; empty
	// when it could not be started (Detail says why).
	Action    string     `json:"action,omitempty"`
	StartedAt *time.Time `json:"started_at,omitempty"`
}

// StatusPending is a group member whose turn has not come.
const StatusPending = "pending"

// Done reports whether the group action has ended.
func (g *GroupAction) Done() bool { return g.Status != StatusRunning }

// GroupService carries out power actions on groups of machines.
type GroupService interface {
	// StartGroup starts kind (ActionWake or one of PowerActions) on each
	// machine in turn, stagger apart, on behalf of the actor in ctx, and
	// returns the running group action at once: the first member is
	// started before it returns. tag, if not "", is recorded as what chose
	// them. EInvalid without machines or for an unknown kind.
	StartGroup(ctx context.Context, kind, tag string, machines []*Machine, stagger time.Duration) (*GroupAction, error)
	// FindGroupAction returns the group action with that ID, or ENotFound
	// (the hub keeps the latest ones in memory; the members' actions stay
	// in the audit log).
	FindGroupAction(ctx context.Context, id string) (*GroupAction, error)
	// WaitGroupAction returns the group action once it has ended, or when
	// ctx ends (then it is still running).
	WaitGroupAction(ctx context.Context, id string) (*GroupAction, error)
}
