// Package monitor derives every machine's power state from the evidence:
// what the probes see on the LAN (TCP, ICMP, the neighbour table,
// Sunshine's /serverinfo) and what the machines' agents say over their
// uplinks. It publishes each change as an event (the machine's history)
// and tells whoever registered with OnChange: the power service, which
// verifies actions by it, and the policies.
package monitor

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/hub/events"
	"github.com/moonwake/moonwake/internal/observers"
	"github.com/moonwake/moonwake/probe"
	"github.com/moonwake/moonwake/sunshine"
)

// Agents is what the monitor needs of the machines' agents;
// remote.Agents implements it.
type Agents interface {
	// Evidence returns the machine's agent id and what its uplink says; nil
	// when the machine has no paired agent.
	Evidence(machine string) (id string, ev *moonwake.AgentEvidence)
	// OnChange registers fn to hear that what an agent says changed.
	OnChange(fn func(machine string))
	// Forget drops a deleted machine's agent and ends its link.
	Forget(machine string)
	// CheckLink pings the machine's agent over its link, if it is up, and
	// waits for the answer until ctx ends; Evidence then tells what it
	// learned (a link that does not answer is not connected).
	CheckLink(ctx context.Context, machine string)
}

// Options configure a Monitor.
type Options struct {
	Machines moonwake.MachineService
	Events   *events.Broker        // where state and machine changes are published
	Store    moonwake.EventService // where the history is read back
	Agents   Agents                // nil: no agents
	Watch    probe.WatchOptions    // how to probe; Agent and OnChange are the monitor's own
	// LinkCheck bounds the link check made alongside each round of a
	// machine whose agent is linked; 0 means 1s, the probes' default
	// timeout.
	LinkCheck time.Duration
	Logger    *slog.Logger
}

// Monitor keeps every machine's power state: it feeds the machines to a
// probe.Watcher, adds what the agents say, publishes each change as an
// event and tells its observers. It implements moonwake.Monitor.
type Monitor struct {
	w        *probe.Watcher
	machines moonwake.MachineService
	events   *events.Broker
	store    moonwake.EventService
	agents   Agents
	check    time.Duration // of an agent link, in each round
	fast     time.Duration // the Watcher's fast interval
	log      *slog.Logger
	changes  observers.List[func(moonwake.StateChange)]

	mu      sync.Mutex
	pending map[string]moonwake.Pending // by machine: actions under way
	watched map[string]*moonwake.Machine
	confirm map[string]time.Time // by machine: when the round confirming a slow one must end

	resync chan struct{} // Resync's nudge to run
}

var _ moonwake.Monitor = (*Monitor)(nil)

// New returns a Monitor; Run runs it.
func New(o Options) *Monitor {
	mo := &Monitor{machines: o.Machines, events: o.Events, store: o.Store, agents: o.Agents, check: o.LinkCheck, log: o.Logger,
		pending: map[string]moonwake.Pending{}, watched: map[string]*moonwake.Machine{},
		confirm: map[string]time.Time{}, resync: make(chan struct{}, 1)}
	if mo.log == nil {
		mo.log = slog.New(slog.DiscardHandler)
	}
	if mo.check <= 0 {
		mo.check = time.Second
	}
	w := o.Watch
	mo.fast = w.Fast
	if mo.fast <= 0 {
		mo.fast = 250 * time.Millisecond // the Watcher's default
	}
	if w.Probe != nil {
		w.Probe = mo.round(w.Probe)
	}
	w.Agent = mo.agent
	w.OnChange = mo.onChange
	mo.w = probe.NewWatcher(w)
	if mo.agents != nil {
		// An uplink that comes or goes is news about the machine's power.
		mo.agents.OnChange(mo.w.ProbeNow)
	}
	return mo
}

// OnChange implements moonwake.Monitor.
func (mo *Monitor) OnChange(fn func(moonwake.StateChange)) { mo.changes.Add(fn) }

// round wraps the probes for two things the Watcher alone does not do.
//
// Every round also checks the machine's agent link, at the same time and
// for about as long. A link looks up until its periodic ping fails, 10 to
// 20 s after a PC went dark with its agent still running (sleep, a power
// cut, a dead switch port), and an up link alone makes DeriveState say the
// PC is up. Checked in each round, it is as fresh as the probes: when they
// time out and it does not answer either, the round says off, at rest and
// after a power command alike, never waiting for that ping. Watcher.Agent
// reads the answer after the round.
//
// And a round of a machine that is up and at rest, still running after the
// fast interval (a PC on the LAN answers in a millisecond), asks for
// another round at once, as the Watcher does during a transition: if the
// machine went dark, that second round confirms the first one's silence a
// fast interval after it, and ends when the first one does (it has the
// probe timeout less the fast interval, never less than half the timeout),
// so a PC that went dark at rest is seen off one probe interval plus one
// timeout after its last answer, not a fast interval later still. A lost
// packet still cannot make a running PC look off: the two rounds are
// independent, and both must find nothing.
func (mo *Monitor) round(p probe.ProbeFunc) probe.ProbeFunc {
	return func(ctx context.Context, t probe.Target) moonwake.Evidence {
		if end, ok := mo.confirmBy(t.Name); ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, end)
			defer cancel()
		}
		if st, ok := mo.w.Status(t.Name); ok && st.State.Up() && st.State != moonwake.StateShuttingDown && st.Pending.Kind == moonwake.PendingNone {
			end := time.Now().Add(mo.check)
			slow := time.AfterFunc(mo.fast, func() {
				mo.mu.Lock()
				mo.confirm[t.Name] = end
				mo.mu.Unlock()
				mo.w.ProbeNow(t.Name)
			})
			defer slow.Stop()
		}
		if mo.agents == nil {
			return p(ctx, t)
		}
		cctx, cancel := context.WithTimeout(ctx, mo.check)
		defer cancel()
		checked := make(chan struct{})
		go func() {
			defer close(checked)
			mo.agents.CheckLink(cctx, t.Name)
		}()
		ev := p(ctx, t)
		<-checked
		return ev
	}
}

// confirmBy returns when the machine's next round must end, if it is the
// round that confirms a slow one at rest; the mark is used once.
func (mo *Monitor) confirmBy(name string) (time.Time, bool) {
	mo.mu.Lock()
	end, ok := mo.confirm[name]
	delete(mo.confirm, name)
	mo.mu.Unlock()
	if !ok || !end.After(time.Now()) {
		return time.Time{}, false // stale: this round is not the one asked for
	}
	if least := time.Now().Add(mo.check / 2); end.Before(least) {
		end = least
	}
	return end, true
}

// agent returns a copy of the machine's agent evidence; nil without agent.
func (mo *Monitor) agent(name string) *moonwake.AgentEvidence {
	if mo.agents == nil {
		return nil
	}
	_, ev := mo.agents.Evidence(name)
	return ev
}
func (mo *Monitor) onChange(sc moonwake.StateChange) {
	if sc.From != "" || sc.To != moonwake.StateUnknown {
		if _, err := mo.events.Publish(moonwake.EventState, sc.Machine, sc); err != nil {
			mo.log.Error("publish state change", "machine", sc.Machine, "error", err)
		}
		mo.log.Info("state", "machine", sc.Machine, "from", sc.From, "to", sc.To, "reason", sc.Reason)
	}
	for _, fn := range mo.changes.All() {
		fn(sc)
	}
}

// SetPending implements moonwake.Monitor. The watcher forgets what it is told
// of a machine it does not watch yet (an action resumed at start-up, a
// machine created a moment ago), so the monitor keeps it too and passes it
// on when it starts watching. mo.mu orders the two, so an action that ends
// meanwhile is not made pending again.
func (mo *Monitor) SetPending(name string, p moonwake.Pending) {
	mo.mu.Lock()
	defer mo.mu.Unlock()
	if p.Kind == moonwake.PendingNone {
		delete(mo.pending, name)
	} else {
		mo.pending[name] = p
	}
	mo.w.SetPending(name, p)
}

// CanVerify implements moonwake.Monitor: an address to probe, or an agent.
func (mo *Monitor) CanVerify(m *moonwake.Machine) bool {
	return m.Host != "" || mo.agent(m.Name) != nil
}

// Info implements moonwake.Monitor.
func (mo *Monitor) Info(ctx context.Context, name string) moonwake.PowerInfo {
	info := moonwake.PowerInfo{State: moonwake.StateUnknown, Reason: "not probed yet"}
	if st, ok := mo.w.Status(name); ok {
		ev := st.Evidence
		info = moonwake.PowerInfo{State: st.State, Since: st.Since, Reason: st.Reason, Evidence: &ev,
			Asleep: st.State == moonwake.StateOff && moonwake.Asleep(ev)}
		if st.Pending.Kind != moonwake.PendingNone {
			p := st.Pending
			info.Pending = &p
		}
	}
	if mo.agents != nil {
		if id, ev := mo.agents.Evidence(name); ev != nil {
			info.Agent = &moonwake.AgentInfo{ID: id, Connected: ev.Connected}
		}
	}
	return info
}

// State returns what Info does of name's state and since when, without
// copying its evidence: the power service asks on every request, and a
// flood of wakes of a PC that is on is many requests.
func (mo *Monitor) State(name string) (moonwake.PowerState, time.Time) {
	if st, ok := mo.w.Status(name); ok {
		return st.State, st.Since
	}
	return moonwake.StateUnknown, time.Time{}
}

// History implements moonwake.Monitor.
func (mo *Monitor) History(ctx context.Context, name string, limit int) ([]*moonwake.Event, error) {
	return mo.store.ListEvents(ctx, moonwake.EventFilter{Machine: name, Type: moonwake.EventState, Limit: limit, Newest: true})
}

// target turns a machine into what the watcher probes.
func target(m *moonwake.Machine) probe.Target {
	t := probe.Target{Name: m.Name, Host: m.Host, Relay: m.Relay, Ports: m.ProbePorts(), ICMP: true}
	if mac, err := net.ParseMAC(m.MAC); err == nil {
		t.MAC = mac
	}
	if slices.Contains(t.Ports, sunshine.DefaultPort) {
		t.SunshinePort = sunshine.DefaultPort
	}
	return t
}

// sync makes the watched set match the machines: new ones are watched
// (with their last known state, after a restart), changed ones replaced,
// deleted ones dropped.
func (mo *Monitor) sync(ctx context.Context, first bool) {
	ms, err := mo.machines.ListMachines(ctx)
	if err != nil {
		mo.log.Error("monitor: list machines", "error", err)
		return
	}
	seen := make(map[string]bool, len(ms))
	for _, m := range ms {
		seen[m.Name] = true
		old := mo.watched[m.Name]
		if old != nil && old.UpdatedAt.Equal(m.UpdatedAt) {
			continue
		}
		t := target(m)
		if old == nil && first {
			// The last state recorded before a restart, so that a machine
			// that was on is not announced as newly on.
			if evs, err := mo.History(ctx, m.Name, 1); err == nil && len(evs) == 1 {
				var sc moonwake.StateChange
				if json.Unmarshal(evs[0].Data, &sc) == nil {
					t.Initial, t.InitialSince = sc.To, sc.At
				}
			}
		}
		mo.watched[m.Name] = m
		if !first {
			op := moonwake.MachineChanged
			if old == nil {
				op = moonwake.MachineAdded
			}
			mo.publishMachine(m.Name, op)
		}
		mo.mu.Lock()
		mo.w.Watch(t)
		if p, ok := mo.pending[m.Name]; ok && old == nil {
			mo.w.SetPending(m.Name, p)
		}
		mo.mu.Unlock()
	}
	for name := range mo.watched {
		if !seen[name] {
			delete(mo.watched, name)
			mo.w.Unwatch(name)
			mo.forget(name)
			mo.publishMachine(name, moonwake.MachineRemoved)
		}
	}
}

// publishMachine tells event readers (the web app, the MQTT bridge) that
// the registry changed.
func (mo *Monitor) publishMachine(name, op string) {
	if _, err := mo.events.Publish(moonwake.EventMachine, name, moonwake.MachineChange{Machine: name, Op: op}); err != nil {
		mo.log.Error("publish machine change", "machine", name, "error", err)
	}
}

// Run watches until ctx ends, following changes to the machines.
func (mo *Monitor) Run(ctx context.Context) {
	mo.sync(ctx, true)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := mo.w.Run(ctx); err != nil && ctx.Err() == nil {
			mo.log.Error("monitor stopped", "error", err)
		}
	}()
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			<-done
			return
		case <-tick.C:
			mo.sync(ctx, false)
		case <-mo.resync:
			mo.sync(ctx, false)
		}
	}
}

// Resync asks Run to follow a change to the machines now rather than at its
// next tick. It never blocks.
func (mo *Monitor) Resync() {
	select {
	case mo.resync <- struct{}{}:
	default:
	}
}

// forget drops a deleted machine's agent: its peer row went with the
// machine, and its uplink must not outlive it.
func (mo *Monitor) forget(machine string) {
	mo.mu.Lock()
	delete(mo.confirm, machine)
	mo.mu.Unlock()
	if mo.agents != nil {
		mo.agents.Forget(machine)
	}
}
