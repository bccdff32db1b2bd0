package remote

import (
	"context"
	"encoding/json"
	"unicode/utf8"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/uplink"
)

// Countdowns shows the countdown before a power action at the machine,
// through its agent, and hears it cancelled there: the power service's
// countdowns (power.Countdowns).
type Countdowns struct{ agents *Agents }

// Countdowns returns the agents' side of countdowns.
func (a *Agents) Countdowns() Countdowns { return Countdowns{a} }

// Start asks the machine's agent to show c. EUnavailable when it has no
// agent linked; EInvalid when the agent refused (an older agent, one that
// cannot show anything).
func (c Countdowns) Start(ctx context.Context, machine string, cd moonwake.Countdown) error {
	args, err := json.Marshal(uplink.CountdownArgs{Kind: cd.Kind, Until: cd.Until.UTC(), By: truncate(cd.By, uplink.MaxCountdownBy)})
	if err != nil {
		return err
	}
	_, err = c.agents.command(ctx, machine, uplink.Command{ID: cd.ActionID, Name: uplink.CmdCountdown, Args: args})
	return err
}

// Withdraw asks the machine's agent to take down the countdown of that
// action.
func (c Countdowns) Withdraw(ctx context.Context, machine, actionID string) error {
	_, err := c.agents.command(ctx, machine, uplink.Command{ID: actionID, Name: uplink.CmdWithdraw})
	return err
}

// OnCancel registers fn to hear of countdowns cancelled at the PC.
func (c Countdowns) OnCancel(fn func(machine, actionID, how string)) { c.agents.cancels.Add(fn) }

// onNotice hears an agent's notice: a countdown cancelled at its PC. An
// agent speaks only for its own machine: the power service checks that
// the action is that machine's.
func (a *Agents) onNotice(p uplink.Peer, n uplink.Notice) {
	if n.Kind != uplink.NoticeCancel {
		return
	}
	a.mu.Lock()
	ag := a.agents[p.Machine]
	ok := ag != nil && ag.id == p.ID
	a.mu.Unlock()
	if !ok {
		return
	}
	for _, fn := range a.cancels.All() {
		fn(p.Machine, n.Action, n.How)
	}
}

// truncate cuts s to at most n bytes, on a rune's boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
