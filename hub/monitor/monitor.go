package hub

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
	"github.com/moonwake/moonwake/hub/httpapi"
	"github.com/moonwake/moonwake/probe"
)

// sunshinePort is Sunshine's HTTP port: when a machine's probe ports
// include it, the monitor also asks Sunshine's /serverinfo.
const sunshinePort = 47989

// monitor keeps every machine's power state: it feeds the machines to a
// probe.Watcher, adds what the agents' links say, publishes each change as
// an event (the machine's history) and tells the power service, which
// verifies actions by it.
type monitor struct {
	w        *probe.Watcher
	machines moonwake.MachineService
	events   *events.Broker
	store    moonwake.EventService
	log      *slog.Logger
	changed  func(moonwake.StateChange) // the power service
	dropLink func(peerID string)        // ends a forgotten agent's link

	mu      sync.Mutex
	agents  map[string]*moonwake.AgentEvidence // by machine: paired agents
	agentID map[string]string                  // by machine
	pending map[string]moonwake.Pending        // by machine: actions under way
	watched map[string]*moonwake.Machine

	resync chan struct{} // Resync's nudge to run
}

func newMonitor(w func(probe.WatchOptions) *probe.Watcher, o probe.WatchOptions, machines moonwake.MachineService,
	ev *events.Broker, store moonwake.EventService, log *slog.Logger) *monitor {
	mo := &monitor{machines: machines, events: ev, store: store, log: log,
		agents: map[string]*moonwake.AgentEvidence{}, agentID: map[string]string{},
		pending: map[string]moonwake.Pending{}, watched: map[string]*moonwake.Machine{},
		resync: make(chan struct{}, 1)}
	o.Agent = mo.agent
	o.OnChange = mo.onChange
	mo.w = w(o)
	return mo
}

// agent returns a copy of the machine's agent evidence; nil without agent.
func (mo *monitor) agent(name string) *moonwake.AgentEvidence {
	mo.mu.Lock()
	defer mo.mu.Unlock()
	a := mo.agents[name]
	if a == nil {
		return nil
	}
	c := *a
	return &c
}

func (mo *monitor) onChange(sc moonwake.StateChange) {
	if sc.From != "" || sc.To != moonwake.StateUnknown {
		if _, err := mo.events.Publish(moonwake.EventState, sc.Machine, sc); err != nil {
			mo.log.Error("publish state change", "machine", sc.Machine, "error", err)
		}
		mo.log.Info("state", "machine", sc.Machine, "from", sc.From, "to", sc.To, "reason", sc.Reason)
	}
	if mo.changed != nil {
		mo.changed(sc)
	}
}

// Current implements power.States.
func (mo *monitor) Current(name string) (moonwake.PowerState, time.Time) {
	st, ok := mo.w.Status(name)
	if !ok {
		return moonwake.StateUnknown, time.Time{}
	}
	return st.State, st.Since
}

// Reason implements power.Reasoner: the words behind the machine's state.
func (mo *monitor) Reason(name string) string {
	st, ok := mo.w.Status(name)
	if !ok {
		return ""
	}
	return st.Reason
}

// SetPending implements power.States. The watcher forgets what it is told
// of a machine it does not watch yet (an action resumed at start-up, a
// machine created a moment ago), so the monitor keeps it too and passes it
// on when it starts watching. mo.mu orders the two, so an action that ends
// meanwhile is not made pending again.
func (mo *monitor) SetPending(name string, p moonwake.Pending) {
	mo.mu.Lock()
	defer mo.mu.Unlock()
	if p.Kind == moonwake.PendingNone {
		delete(mo.pending, name)
	} else {
		mo.pending[name] = p
	}
	mo.w.SetPending(name, p)
}

// CanVerify implements power.States: an address to probe, or an agent.
func (mo *monitor) CanVerify(m *moonwake.Machine) bool {
	if m.Host != "" {
		return true
	}
	mo.mu.Lock()
	defer mo.mu.Unlock()
	return mo.agents[m.Name] != nil
}

// Info implements httpapi.Monitor.
func (mo *monitor) Info(ctx context.Context, name string) httpapi.PowerInfo {
	info := httpapi.PowerInfo{State: moonwake.StateUnknown, Reason: "not probed yet"}
	if st, ok := mo.w.Status(name); ok {
		ev := st.Evidence
		info = httpapi.PowerInfo{State: st.State, Since: st.Since, Reason: st.Reason, Evidence: &ev}
		if st.Pending.Kind != moonwake.PendingNone {
			p := st.Pending
			info.Pending = &p
		}
	}
	mo.mu.Lock()
	if a := mo.agents[name]; a != nil {
		info.Agent = &httpapi.AgentInfo{ID: mo.agentID[name], Connected: a.Connected}
	}
	mo.mu.Unlock()
	return info
}

// History implements httpapi.Monitor.
func (mo *monitor) History(ctx context.Context, name string, limit int) ([]*moonwake.Event, error) {
	return mo.store.ListEvents(ctx, moonwake.EventFilter{Machine: name, Type: moonwake.EventState, Limit: limit, Newest: true})
}

// target turns a machine into what the watcher probes.
func target(m *moonwake.Machine) probe.Target {
	t := probe.Target{Name: m.Name, Host: m.Host, Ports: m.ProbePorts(), ICMP: true}
	if mac, err := net.ParseMAC(m.MAC); err == nil {
		t.MAC = mac
	}
	if slices.Contains(t.Ports, sunshinePort) {
		t.SunshinePort = sunshinePort
	}
	return t
}

// sync makes the watched set match the machines: new ones are watched
// (with their last known state, after a restart), changed ones replaced,
// deleted ones dropped.
func (mo *monitor) sync(ctx context.Context, first bool) {
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
func (mo *monitor) publishMachine(name, op string) {
	if _, err := mo.events.Publish(moonwake.EventMachine, name, moonwake.MachineChange{Machine: name, Op: op}); err != nil {
		mo.log.Error("publish machine change", "machine", name, "error", err)
	}
}

// run watches until ctx ends, following changes to the machines.
func (mo *monitor) run(ctx context.Context) {
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

// Resync asks run to follow a change to the machines now rather than at its
// next tick. It never blocks.
func (mo *monitor) Resync() {
	select {
	case mo.resync <- struct{}{}:
	default:
	}
}

// setAgent records what the link says of a machine's agent, and probes the
// machine at once: a link that comes or goes is news about its power.
func (mo *monitor) setAgent(machine, id string, update func(a *moonwake.AgentEvidence)) {
	mo.mu.Lock()
	a := mo.agents[machine]
	if a == nil || mo.agentID[machine] != id {
		a = &moonwake.AgentEvidence{}
		mo.agents[machine] = a
		mo.agentID[machine] = id
	}
	update(a)
	mo.mu.Unlock()
	mo.w.ProbeNow(machine)
}

// forget drops a deleted machine's agent: its peer row went with the
// machine, and its link must not outlive it.
func (mo *monitor) forget(machine string) {
	mo.mu.Lock()
	id := mo.agentID[machine]
	delete(mo.agents, machine)
	delete(mo.agentID, machine)
	mo.mu.Unlock()
	if id != "" && mo.dropLink != nil {
		mo.dropLink(id)
	}
}
