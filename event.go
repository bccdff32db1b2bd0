package moonwake

import (
	"context"
	"encoding/json"
	"time"
)

// Event types.
const (
	EventState   = "state"   // a machine's power state changed
	EventAction  = "action"  // an action started, progressed or ended
	EventMachine = "machine" // a machine was added, changed or removed
)

// Machine change operations, the Op of a MachineChange.
const (
	MachineAdded   = "added"
	MachineChanged = "changed"
	MachineRemoved = "removed"
)

// MachineChange is the payload of an EventMachine event. It carries the
// name only: a machine's settings hold secrets (its SecureOn password,
// notification URLs), and readers fetch what they may see.
type MachineChange struct {
	Machine string `json:"machine"`
	Op      string `json:"op"`
}

// Event is something that happened to a machine, in the order it happened.
// Seq orders all events of a hub; clients resume a stream after the last Seq
// they saw. Data is the event's payload: a StateChange or an Action.
type Event struct {
	Seq     int64           `json:"seq"`
	At      time.Time       `json:"at"`
	Type    string          `json:"type"`
	Machine string          `json:"machine"`
	Data    json.RawMessage `json:"data"`
}

// EventFilter selects events to list, oldest first.
type EventFilter struct {
	After   int64  // only events with a larger Seq
	Machine string // "" for every machine
	Type    string // "" for every type
	Limit   int    // 0 for a default
	Newest  bool   // the newest Limit events (still returned oldest first)
}

// EventService stores events: the machines' history.
type EventService interface {
	// AppendEvent stores e, whose Seq the caller has assigned; it is durable
	// when AppendEvent returns.
	AppendEvent(ctx context.Context, e *Event) error
	// QueueEvent stores e in the background: it returns at once.
	QueueEvent(e *Event)
	// ListEvents returns events oldest first.
	ListEvents(ctx context.Context, f EventFilter) ([]*Event, error)
	// LastEventSeq returns the largest Seq stored, 0 if none.
	LastEventSeq(ctx context.Context) (int64, error)
}
