// Package remote is how the hub reaches into machines: their agents over
// the uplink (pairing codes, uplinks, commands, and the evidence the agents
// report) and their Sunshine hosts (pairing as a Moonlight client, and the
// "Shutdown" app). Commander routes a power command to the one that can
// carry it out.
package remote

import (
	"context"
	"crypto/ed25519"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/hub/sqlite"
	"github.com/moonwake/moonwake/internal/observers"
	"github.com/moonwake/moonwake/uplink"
)

// AgentOptions configure Agents.
type AgentOptions struct {
	Peers      *sqlite.PeerService
	Key        ed25519.PrivateKey // the hub's identity, which agents pin
	PairingTTL time.Duration      // of pairing codes; 0: uplink's default
	Logger     *slog.Logger
	Now        func() time.Time // nil: time.Now
}

// Agents keeps the machines' agents: it hands out pairing codes
// (moonwake.AgentPairer), serves their uplink, carries commands to them,
// and keeps what their uplinks say (connected, idle time, user session) as
// evidence for the monitor.
type Agents struct {
	peers       *sqlite.PeerService
	server      *uplink.Server
	pair        *uplink.Pairer
	ttl         time.Duration
	now         func() time.Time
	fingerprint string

	mu     sync.Mutex
	agents map[string]*agent // by machine: paired agents

	changes  observers.List[func(machine string)]
	outcomes observers.List[func(machine, actionID string, ok bool, detail string)]
}

// agent is a paired agent and what its uplink last said.
type agent struct {
	id string
	ev moonwake.AgentEvidence
}

var _ moonwake.AgentPairer = (*Agents)(nil)

// NewAgents returns the agents paired in o.Peers.
func NewAgents(ctx context.Context, o AgentOptions) (*Agents, error) {
	a := &Agents{peers: o.Peers, ttl: o.PairingTTL, now: o.Now, agents: map[string]*agent{},
		fingerprint: uplink.Fingerprint(o.Key.Public().(ed25519.PublicKey))}
	if a.now == nil {
		a.now = time.Now
	}
	a.server = &uplink.Server{
		Keys: o.Peers, HubKey: o.Key, Logger: o.Logger,
		OnConnect: a.onConnect, OnDisconnect: a.onDisconnect, OnReport: a.onReport, OnOutcome: a.onOutcome,
	}
	a.pair = &uplink.Pairer{Store: pairings{o.Peers, a}, HubKey: o.Key, Logger: o.Logger}
	paired, err := o.Peers.ListPeers(ctx, uplink.PurposeAgent)
	if err != nil {
		return nil, err
	}
	for _, p := range paired {
		a.agents[p.Machine] = &agent{id: p.ID}
	}
	return a, nil
}

// Uplink is the agents' uplink, served at GET /api/v1/link.
func (a *Agents) Uplink() http.Handler { return a.server }

// Pair redeems pairing codes, served at POST /api/v1/agents/pair.
func (a *Agents) Pair() http.Handler { return a.pair }

// Fingerprint is the fingerprint of the hub's public key, shown with each
// pairing code so that the agent can check it pairs with this hub.
func (a *Agents) Fingerprint() string { return a.fingerprint }

// Close ends every link.
func (a *Agents) Close() error { return a.server.Close() }

// NewAgentPairing implements moonwake.AgentPairer.
func (a *Agents) NewAgentPairing(ctx context.Context, machine string) (moonwake.AgentPairing, error) {
	code, p := uplink.NewPairing(machine, uplink.PurposeAgent, a.now().UTC(), a.ttl)
	if err := a.peers.CreatePairing(ctx, p); err != nil {
		return moonwake.AgentPairing{}, err
	}
	return moonwake.AgentPairing{Machine: machine, Code: code, ExpiresAt: p.ExpiresAt, HubFingerprint: a.fingerprint}, nil
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
	return ag.id, &ev
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
func (a *Agents) set(machine, id string, update func(ev *moonwake.AgentEvidence)) {
	a.mu.Lock()
	ag := a.agents[machine]
	if ag == nil || ag.id != id {
		ag = &agent{id: id}
		a.agents[machine] = ag
	}
	update(&ag.ev)
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
	a.mu.Unlock()
	if old != "" && old != p.ID {
		a.server.Drop(old)
	}
	a.set(p.Machine, p.ID, func(ev *moonwake.AgentEvidence) { *ev = moonwake.AgentEvidence{} })
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
	p, err := a.peers.PeerForMachine(ctx, machine, uplink.PurposeAgent)
	if err != nil {
		return "", moonwake.Errorf(moonwake.EUnavailable, "%s has no paired agent", machine)
	}
	if !a.server.Connected(p.ID) {
		return "", moonwake.Errorf(moonwake.EUnavailable, "the agent of %s is not connected", machine)
	}
	res, err := a.server.Send(ctx, p.ID, uplink.Command{ID: actionID, Name: kind})
	if err != nil {
		return "", moonwake.Errorf(moonwake.EUnavailable, "the agent of %s did not answer: %v", machine, err)
	}
	if !res.OK {
		return "", moonwake.Errorf(moonwake.EInvalid, "the agent of %s refused: %s", machine, res.Error)
	}
	return res.Detail, nil
}

// onConnect, onDisconnect, onReport and onOutcome are the uplink's
// callbacks.
func (a *Agents) onConnect(p uplink.Peer) {
	if p.Purpose == uplink.PurposeAgent {
		a.set(p.Machine, p.ID, func(ev *moonwake.AgentEvidence) { ev.Connected = true })
	}
}

func (a *Agents) onDisconnect(p uplink.Peer, err error) {
	if p.Purpose == uplink.PurposeAgent {
		a.set(p.Machine, p.ID, func(ev *moonwake.AgentEvidence) { *ev = moonwake.AgentEvidence{} })
	}
}

func (a *Agents) onReport(p uplink.Peer, r uplink.Report) {
	if p.Purpose != uplink.PurposeAgent {
		return
	}
	toInt := func(f *float64) *int64 {
		if f == nil {
			return nil
		}
		n := int64(*f)
		return &n
	}
	a.set(p.Machine, p.ID, func(ev *moonwake.AgentEvidence) {
		ev.Connected = true
		ev.IdleSeconds = toInt(r.IdleSeconds)
		ev.UserSession = r.UserSession
		ev.UptimeSeconds = toInt(r.UptimeSeconds)
	})
}

func (a *Agents) onOutcome(p uplink.Peer, r uplink.Result) {
	if p.Purpose != uplink.PurposeAgent {
		return
	}
	detail := r.Detail
	if !r.OK {
		detail = r.Error
	}
	for _, fn := range a.outcomes.All() {
		fn(p.Machine, r.CommandID, r.OK, detail)
	}
}

// pairings wraps the peer store so that a redeemed pairing replaces the
// machine's agent at once.
type pairings struct {
	*sqlite.PeerService
	a *Agents
}

// RedeemPairing implements uplink.PairingStore.
func (p pairings) RedeemPairing(ctx context.Context, codeHash string, now time.Time, peer uplink.Peer) (*uplink.Peer, error) {
	got, err := p.PeerService.RedeemPairing(ctx, codeHash, now, peer)
	if err != nil {
		return nil, err
	}
	if got.Purpose == uplink.PurposeAgent {
		p.a.replaced(got)
	}
	return got, nil
}
