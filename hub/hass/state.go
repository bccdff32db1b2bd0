package hass

import (
	"time"

	"github.com/moonwake/moonwake"
)

// Home Assistant's payload for "state unknown", which switches and binary
// sensors accept from a value template.
const payloadNone = "None"

// stateDoc is the retained JSON on <prefix>/machine/<name>/state. Every
// entity of the machine reads it through a value template; attributes and
// last_action also become the entities' attributes.
type stateDoc struct {
	State      moonwake.PowerState `json:"state"`
	Power      string              `json:"power"`     // ON, OFF or None
	Streaming  string              `json:"streaming"` // ON, OFF or None
	Attributes stateAttributes     `json:"attributes"`
	LastAction lastAction          `json:"last_action"`
}

type stateAttributes struct {
	State   moonwake.PowerState `json:"state"`
	Since   time.Time           `json:"since,omitzero"`
	Reason  string              `json:"reason,omitempty"`
	Pending string              `json:"pending,omitempty"` // the action under way
	Agent   string              `json:"agent,omitempty"`   // connected, disconnected; none when unpaired
	// Asleep: off, with its network card still answering (moonwake.Asleep).
	Asleep bool `json:"asleep,omitempty"`
	// LastCommandError is the last command over MQTT that was refused.
	LastCommandError *commandError `json:"last_command_error,omitempty"`
}

// lastAction is the machine's newest action, for the "Last action" sensor.
type lastAction struct {
	Outcome    string     `json:"outcome"` // none, running, succeeded, failed
	Summary    string     `json:"summary,omitempty"`
	ID         string     `json:"id,omitempty"`
	Kind       string     `json:"kind,omitempty"`
	Detail     string     `json:"detail,omitempty"`
	Actor      string     `json:"actor,omitempty"`
	At         *time.Time `json:"at,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

// commandError is a refused or invalid command, as published.
type commandError struct {
	At      time.Time `json:"at"`
	Machine string    `json:"machine,omitempty"`
	Group   string    `json:"group,omitempty"`   // the tag, for a command to a group
	Command string    `json:"command,omitempty"` // the action asked for, or the entity
	Error   string    `json:"error"`
}

// powerPayload is the switch's and the power sensor's state for s: ON
// while the machine runs (on, idle, streaming, and shutting-down, since it
// still runs until verified off), OFF when off or still waking (a wake is
// not a success until the machine answers). Unknown is None: Home
// Assistant shows "unknown" rather than a guess either way.
func powerPayload(s moonwake.PowerState) string {
	switch {
	case s == moonwake.StateUnknown || s == "":
		return payloadNone
	case s.Up():
		return PayloadOn
	}
	return PayloadOff
}

// streamingPayload is the streaming sensor's state for s.
func streamingPayload(s moonwake.PowerState) string {
	switch s {
	case moonwake.StateUnknown, "":
		return payloadNone
	case moonwake.StateStreaming:
		return PayloadOn
	}
	return PayloadOff
}

// newStateDoc builds a machine's state document from what the monitor
// knows, its newest action (nil: none yet) and the last refused command.
func newStateDoc(info moonwake.PowerInfo, last *moonwake.Action, cmdErr *commandError) stateDoc {
	st := info.State
	if st == "" {
		st = moonwake.StateUnknown
	}
	d := stateDoc{
		State: st, Power: powerPayload(st), Streaming: streamingPayload(st),
		Attributes: stateAttributes{State: st, Since: info.Since, Reason: info.Reason, Asleep: info.Asleep, LastCommandError: cmdErr},
		LastAction: lastAction{Outcome: "none"},
	}
	if info.Pending != nil {
		d.Attributes.Pending = string(info.Pending.Kind)
	}
	if info.Agent != nil {
		d.Attributes.Agent = "disconnected"
		if info.Agent.Connected {
			d.Attributes.Agent = "connected"
		}
	}
	if last != nil {
		at := last.CreatedAt
		d.LastAction = lastAction{
			Outcome: last.Status, ID: last.ID, Kind: last.Kind, Detail: last.Detail,
			Actor: last.Actor.Kind + ":" + last.Actor.Name, At: &at, FinishedAt: last.FinishedAt,
			Summary: last.Kind + " " + last.Status,
		}
		if last.Detail != "" {
			d.LastAction.Summary += ": " + last.Detail
		}
	}
	return d
}
