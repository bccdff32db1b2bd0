package uplink

import (
	"encoding/json"
	"regexp"
	"time"
)

// Countdown commands, hub → agent. A countdown command's ID is the action
// it counts down to: the power command the hub sends when the grace ends
// carries the same ID, and a cancel names it.
const (
	// CmdCountdown asks the agent to show the person at the PC that an
	// action comes, with a way out; its Args are CountdownArgs.
	CmdCountdown = "countdown"
	// CmdWithdraw asks the agent to take down the countdown of that ID:
	// the action was cancelled at the hub.
	CmdWithdraw = "countdown.withdraw"
)

// CountdownArgs are a countdown command's arguments.
type CountdownArgs struct {
	Kind  string    `json:"kind"`         // "shutdown", "reboot", "sleep", "hibernate", or CountdownIdle
	Until time.Time `json:"until"`        // when the hub sends the command
	By    string    `json:"by,omitempty"` // who asked, in words
}

// CountdownIdle is the Kind of an idle auto-off warning's countdown.
const CountdownIdle = "idle"

// NoticeCancel is an agent's notice that the person at the PC cancelled
// the countdown of the action named by the notice's Action; How says how.
const NoticeCancel = "cancel"

// How a countdown was cancelled at the PC.
const (
	CancelInput   = "input"   // keyboard or mouse used during the countdown
	CancelButton  = "button"  // the notification's Cancel
	CancelCommand = "command" // moonwake-agent cancel
)

// Bounds of what a countdown carries.
const (
	MaxCountdownBy  = 64
	maxCountdownFor = 24 * time.Hour
)

var countdownKindRE = regexp.MustCompile(`^[a-z]{1,16}$`)

// ParseCountdownArgs decodes and checks a countdown command's arguments:
// a known kind, a time, and a short By of printable text. Anything else is
// a protocol error: a peer acts only on what it understands.
func ParseCountdownArgs(b json.RawMessage) (CountdownArgs, error) {
	var a CountdownArgs
	if !isObject(b) {
		return a, protoErr("countdown arguments must be a JSON object")
	}
	if err := json.Unmarshal(b, &a); err != nil {
		return CountdownArgs{}, protoErr("malformed countdown arguments")
	}
	switch {
	case !countdownKindRE.MatchString(a.Kind):
		return CountdownArgs{}, protoErr("countdown kind %.20q", a.Kind)
	case a.Until.IsZero() || a.Until.Year() < 2000 || a.Until.Year() > 9999:
		return CountdownArgs{}, protoErr("countdown without a time")
	case len(a.By) > MaxCountdownBy || !printable(a.By):
		return CountdownArgs{}, protoErr("countdown's by is too long or not printable")
	}
	a.Until = a.Until.UTC()
	return a, nil
}

// Remaining is how long until a.Until from now, at least 0 and at most a
// day (a hub's clock that is far off must not keep a countdown up for
// ever).
func (a CountdownArgs) Remaining(now time.Time) time.Duration {
	return min(max(a.Until.Sub(now), 0), maxCountdownFor)
}

// validNotice checks a notice's sizes and, for a cancel, that it names an
// action and says how.
func validNotice(n Notice) bool {
	if len(n.Data) > MaxNoticeData || len(n.From) > 64 || len(n.Action) > 64 || len(n.How) > 16 {
		return false
	}
	if n.Kind == NoticeCancel {
		return n.Action != "" && printable(n.Action) && (n.How == CancelInput || n.How == CancelButton || n.How == CancelCommand)
	}
	return true
}

func printable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == 0xfffd {
			return false
		}
	}
	return true
}
