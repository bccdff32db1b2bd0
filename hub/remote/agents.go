package remote

import (
	"context"
	"sync"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/hub/sqlite"
	"github.com/moonwake/moonwake/internal/observers"
	"github.com/moonwake/moonwake/uplink"
)

// Agents keeps the machines' agents: it hands out pairing codes
// (moonwake.AgentPairer), carries commands to them over the uplink, and
// keeps what their uplinks say (connected, idle time, user session) as
// evidence for the monitor.
type Agents struct {
	peers       *sqlite.PeerService
	server      *uplink.Server
	ttl         time.Duration
	now         func() time.Time
	fingerprint string
	// tlsFingerprint is the hub's self-signed certificate's, or empty.
	tlsFingerprint string

	mu     sync.Mutex
	agents map[string]*agent // by machine: paired agents
	checks uint64            // link checks started, to order their answers

	changes  observers.List[func(machine string)]
	outcomes observers.List[func(machine, actionID string, ok bool, detail string)]
	cancels  observers.List[func(machine, actionID, how string)]
	requests requests
}

// agent is a paired agent and what its uplink last said.
type agent struct {
	id string
	ev moonwake.AgentEvidence
	// silent: the newest link check went unanswered, so the link, though
	// not down yet, vouches for nothing; checked orders the checks.
	silent  bool
	checked uint64
}

var _ moonwake.AgentPairer = (*Agents)(nil)

// load learns the paired agents.
func (a *Agents) load(ctx context.Context) error {
	paired, err := a.peers.ListPeers(ctx, uplink.PurposeAgent)
	if err != nil {
		return err
	}
	for _, p := range paired {
		a.agents[p.Machine] = &agent{id: p.ID}
	}
	return nil
}

// NewAgentPairing implements moonwake.AgentPairer.
func (a *Agents) NewAgentPairing(ctx context.Context, machine string) (moonwake.AgentPairing, error) {
	code, p := uplink.NewPairing(machine, uplink.PurposeAgent, a.now().UTC(), a.ttl)
	if err := a.peers.CreatePairing(ctx, p); err != nil {
		return moonwake.AgentPairing{}, err
	}
	return moonwake.AgentPairing{Machine: machine, Code: code, ExpiresAt: p.ExpiresAt, HubFingerprint: a.fingerprint, TLSFingerprint: a.tlsFingerprint}, nil
}

// Evidence returns the machine's agent id and a copy of what its uplink
// says; nil when the machine has no paired agent.
func (a *Agents) Evidence(machine string) (string, *moonwake.AgentEvidence) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ag := a.agents[machine]
	if ag == nil {
		return "", nil
	}
	ev := ag.ev
	if ag.silent {
		ev.Connected = false
	}
	return ag.id, &ev
}

// CheckLink pings the machine's agent over its uplink, when it has one up,
// and waits for the pong until ctx ends. Until a later check is answered
// or the uplink is made anew, an unanswered check makes Evidence say the
// agent is not connected: the uplink of a PC that went dark with its agent
// still running (sleep, a power cut, a dead switch port) looks up until its
// periodic ping fails, 10 to 20 s later, and must not vouch for the PC
// meanwhile. The uplink itself is left to that ping.
func (a *Agents) CheckLink(ctx context.Context, machine string) {
	a.mu.Lock()
	ag := a.agents[machine]
	if ag == nil || !ag.ev.Connected {
		a.mu.Unlock()
		return
	}
	id := ag.id
	a.checks++
	seq := a.checks
	a.mu.Unlock()

	err := a.server.Check(ctx, id)

	a.mu.Lock()
	ag = a.agents[machine]
	if ag == nil || ag.id != id || seq < ag.checked {
		// Another agent, or a newer check already answered.
		a.mu.Unlock()
		return
	}
	ag.checked = seq
	ag.silent = err != nil
	a.mu.Unlock()
}

// OnChange registers fn to hear that what an agent says of its machine
// changed (an uplink came or went, a report arrived): news about its power.
// fn must not block.
func (a *Agents) OnChange(fn func(machine string)) { a.changes.Add(fn) }

// Forget drops a deleted machine's agent: its peer row went with the
// machine, and its uplink must not outlive it.
func (a *Agents) Forget(machine string) {
	a.mu.Lock()
	ag := a.agents[machine]
	delete(a.agents, machine)
	a.mu.Unlock()
	if ag != nil {
		a.server.Drop(ag.id)
	}
}

// set records what the uplink says of a machine's agent, and tells the
// observers.
func (a *Agents) set(machine, id string, update func(ag *agent)) {
	a.mu.Lock()
	ag := a.agents[machine]
	if ag == nil || ag.id != id {
		// A key that was replaced, or a machine that was forgotten: its
		// uplink's last words (a late disconnect) must not overwrite the
		// agent that is paired now, nor bring a deleted machine back.
		a.mu.Unlock()
		return
	}
	update(ag)
	a.mu.Unlock()
	for _, fn := range a.changes.All() {
		fn(machine)
	}
}

// replaced drops the uplink of the agent that a new pairing replaced (its key
// is gone from the store), and starts afresh with the new one.
func (a *Agents) replaced(p *uplink.Peer) {
	a.mu.Lock()
	var old string
	if ag := a.agents[p.Machine]; ag != nil {
		old = ag.id
	}
	a.agents[p.Machine] = &agent{id: p.ID} // the new key, with nothing said yet
	a.mu.Unlock()
	if old != "" && old != p.ID {
		a.server.Drop(old)
	}
	for _, fn := range a.changes.All() {
		fn(p.Machine)
	}
}

// paired reports whether the machine has a paired agent.
func (a *Agents) paired(ctx context.Context, machine string) bool {
	_, err := a.peers.PeerForMachine(ctx, machine, uplink.PurposeAgent)
	return err == nil
}

// connected reports whether the machine has a paired agent linked now.
func (a *Agents) connected(ctx context.Context, machine string) bool {
	p, err := a.peers.PeerForMachine(ctx, machine, uplink.PurposeAgent)
	return err == nil && a.server.Connected(p.ID)
}

// send asks the machine's agent to carry out kind for the action with that
// id, and returns once it has acknowledged it.
func (a *Agents) send(ctx context.Context, machine, kind, actionID string) (string, error) {
	return a.command(ctx, machine, uplink.Command{ID: actionID, Name: kind})
}

// command sends cmd to the machine's agent and returns what it said once
// it accepted it.
func (a *Agents) command(ctx context.Context, machine string, cmd uplink.Command) (string, error) {
	p, err := a.peers.PeerForMachine(ctx, machine, uplink.PurposeAgent)
	if err != nil {
		return "", moonwake.Errorf(moonwake.EUnavailable, "%s has no paired agent", machine)
	}
	if !a.server.Connected(p.ID) {
		return "", moonwake.Errorf(moonwake.EUnavailable, "the agent of %s is not connected", machine)
	}
	res, err := a.server.Send(ctx, p.ID, cmd)
	if err != nil {
		return "", moonwake.Errorf(moonwake.EUnavailable, "the agent of %s did not answer: %v", machine, err)
	}
	if !res.OK {
		return "", moonwake.Errorf(moonwake.EInvalid, "the agent of %s refused: %s", machine, res.Error)
	}
	return res.Detail, nil
}

// onConnect, onDisconnect, onReport and onOutcome hear of agents' uplinks.
func (a *Agents) onConnect(p uplink.Peer) {
	a.set(p.Machine, p.ID, func(ag *agent) { ag.ev.Connected, ag.silent = true, false })
}

func (a *Agents) onDisconnect(p uplink.Peer, err error) {
	a.set(p.Machine, p.ID, func(ag *agent) { ag.ev, ag.silent = moonwake.AgentEvidence{}, false })
}

func (a *Agents) onReport(p uplink.Peer, r uplink.Report) {
	toInt := func(f *float64) *int64 {
		if f == nil {
			return nil
		}
		n := int64(*f)
		return &n
	}
	a.set(p.Machine, p.ID, func(ag *agent) {
		ev := &ag.ev
		ev.Connected = true
		ev.IdleSeconds = toInt(r.IdleSeconds)
		ev.UserSession = r.UserSession
		ev.UptimeSeconds = toInt(r.UptimeSeconds)
	})
}

func (a *Agents) onOutcome(p uplink.Peer, r uplink.Result) {
	detail := r.Detail
	if !r.OK {
		detail = r.Error
	}
	for _, fn := range a.outcomes.All() {
		fn(p.Machine, r.CommandID, r.OK, detail)
	}
}
