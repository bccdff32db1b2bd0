package monitor_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/hub/events"
	"github.com/moonwake/moonwake/hub/monitor"
	"github.com/moonwake/moonwake/hub/sqlite"
	"github.com/moonwake/moonwake/probe"
)

// agents is a monitor.Agents with one paired agent on "pc".
type agents struct {
	mu      sync.Mutex
	ev      moonwake.AgentEvidence
	fns     []func(string)
	forgot  []string
	pairedM string
	deaf    bool // the link looks up but does not answer checks
	silent  bool // the last check went unanswered
	checks  int
}

func (a *agents) CheckLink(ctx context.Context, machine string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if machine == a.pairedM && a.ev.Connected {
		a.checks++
		a.silent = a.deaf
	}
}

func (a *agents) Evidence(machine string) (string, *moonwake.AgentEvidence) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if machine != a.pairedM {
		return "", nil
	}
	ev := a.ev
	if a.silent {
		ev.Connected = false
	}
	return "agent_1", &ev
}

func (a *agents) OnChange(fn func(string)) { a.fns = append(a.fns, fn) }

func (a *agents) Forget(machine string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.forgot = append(a.forgot, machine)
	if machine == a.pairedM {
		a.pairedM = ""
	}
}

// link says the agent's uplink came up or went down, as remote.Agents would.
func (a *agents) link(up bool) {
	a.mu.Lock()
	a.ev.Connected = up
	a.mu.Unlock()
	for _, fn := range a.fns {
		fn(a.pairedM)
	}
}

// TestMonitor runs a monitor on a real store with scripted probes: a
// machine whose port opens is seen on by every observer, with its agent in
// the info; a deleted machine's agent is forgotten and its removal
// published.
func TestMonitor(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db := sqlite.NewDB(filepath.Join(t.TempDir(), "moonwake.db"))
	if err := db.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	machines := sqlite.NewMachineService(db)
	history := sqlite.NewEventService(db)
	broker, err := events.NewBroker(ctx, history, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := machines.CreateMachine(ctx, &moonwake.Machine{Name: "pc", MAC: "aa:bb:cc:dd:ee:01", Host: "192.0.2.10"}); err != nil {
		t.Fatal(err)
	}
	if err := machines.CreateMachine(ctx, &moonwake.Machine{Name: "nas", MAC: "aa:bb:cc:dd:ee:02"}); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	open := false
	probeFn := func(ctx context.Context, tg probe.Target) moonwake.Evidence {
		mu.Lock()
		defer mu.Unlock()
		out := moonwake.OutcomeTimeout
		if open {
			out = moonwake.OutcomeOpen
		}
		return moonwake.Evidence{At: time.Now(), TCP: []moonwake.TCPResult{{Port: 47989, Outcome: out}}}
	}
	ag := &agents{pairedM: "pc"}
	mo := monitor.New(monitor.Options{
		Machines: machines, Events: broker, Store: history, Agents: ag,
		Watch: probe.WatchOptions{Probe: probeFn, Rest: 20 * time.Millisecond, Fast: 10 * time.Millisecond},
	})
	changes := make(chan moonwake.StateChange, 64)
	mo.OnChange(func(sc moonwake.StateChange) { changes <- sc })
	done := make(chan struct{})
	go func() { defer close(done); mo.Run(ctx) }()
	defer func() { cancel(); <-done }()

	waitFor := func(machine string, st moonwake.PowerState) {
		t.Helper()
		deadline := time.After(5 * time.Second)
		for {
			select {
			case sc := <-changes:
				if sc.Machine == machine && sc.To == st {
					return
				}
			case <-deadline:
				t.Fatalf("%s never became %s (info %+v)", machine, st, mo.Info(ctx, machine))
			}
		}
	}
	waitFor("pc", moonwake.StateOff)
	if mo.CanVerify(&moonwake.Machine{Name: "nas"}) {
		t.Fatal("nas has neither address nor agent, yet the monitor says it can verify it")
	}
	if !mo.CanVerify(&moonwake.Machine{Name: "pc"}) {
		t.Fatal("pc has an agent, yet the monitor says it cannot verify it")
	}

	mu.Lock()
	open = true
	mu.Unlock()
	ag.link(true) // news of the agent: probed at once
	waitFor("pc", moonwake.StateOn)
	info := mo.Info(ctx, "pc")
	if info.State != moonwake.StateOn || info.Evidence == nil || info.Agent == nil || info.Agent.ID != "agent_1" || !info.Agent.Connected {
		t.Fatalf("info of pc: %+v", info)
	}
	if st, since := mo.State("pc"); st != info.State || !since.Equal(info.Since) {
		t.Errorf("State of pc: %s since %s; Info says %s since %s", st, since, info.State, info.Since)
	}
	if st, since := mo.State("nobody"); st != moonwake.StateUnknown || !since.IsZero() {
		t.Errorf("State of a machine not watched: %s since %s", st, since)
	}
	// The history is written in the background: off, then on.
	for start := time.Now(); ; time.Sleep(10 * time.Millisecond) {
		h, err := mo.History(ctx, "pc", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(h) >= 2 {
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("history of pc: %d events, want off and on", len(h))
		}
	}

	_, sub, err := broker.Subscribe(ctx, broker.Seq(), func(e *moonwake.Event) bool { return e.Type == moonwake.EventMachine })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if err := machines.DeleteMachine(ctx, "pc"); err != nil {
		t.Fatal(err)
	}
	mo.Resync()
	select {
	case e := <-sub.C:
		if e.Machine != "pc" {
			t.Fatalf("machine event for %s", e.Machine)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the removal was not published")
	}
	ag.mu.Lock()
	forgot := ag.forgot
	ag.mu.Unlock()
	if len(forgot) != 1 || forgot[0] != "pc" {
		t.Fatalf("forgotten agents: %v", forgot)
	}
	// The watcher drops the machine from its own goroutine.
	for start := time.Now(); mo.Info(ctx, "pc").Evidence != nil; time.Sleep(10 * time.Millisecond) {
		if time.Since(start) > 5*time.Second {
			t.Fatalf("a deleted machine still has evidence: %+v", mo.Info(ctx, "pc"))
		}
	}
}

// TestDarkPCWithLiveLink: a PC whose probes time out while its agent's link
// looks up is off as soon as the link does not answer a check, which every
// round makes; while the link answers, it vouches for the PC (a firewall
// may filter the probes).
func TestDarkPCWithLiveLink(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db := sqlite.NewDB(filepath.Join(t.TempDir(), "moonwake.db"))
	if err := db.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	machines := sqlite.NewMachineService(db)
	history := sqlite.NewEventService(db)
	broker, err := events.NewBroker(ctx, history, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := machines.CreateMachine(ctx, &moonwake.Machine{Name: "pc", MAC: "aa:bb:cc:dd:ee:01", Host: "192.0.2.10"}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	dark := false
	probeFn := func(ctx context.Context, tg probe.Target) moonwake.Evidence {
		mu.Lock()
		defer mu.Unlock()
		out := moonwake.OutcomeOpen
		if dark {
			out = moonwake.OutcomeTimeout
		}
		return moonwake.Evidence{At: time.Now(), TCP: []moonwake.TCPResult{{Port: 47989, Outcome: out}}}
	}
	ag := &agents{pairedM: "pc", ev: moonwake.AgentEvidence{Connected: true}}
	mo := monitor.New(monitor.Options{
		Machines: machines, Events: broker, Store: history, Agents: ag,
		Watch: probe.WatchOptions{Probe: probeFn, Rest: 20 * time.Millisecond, Fast: 10 * time.Millisecond},
	})
	changes := make(chan moonwake.StateChange, 64)
	mo.OnChange(func(sc moonwake.StateChange) { changes <- sc })
	done := make(chan struct{})
	go func() { defer close(done); mo.Run(ctx) }()
	defer func() { cancel(); <-done }()
	next := func() moonwake.StateChange {
		t.Helper()
		select {
		case sc := <-changes:
			return sc
		case <-time.After(10 * time.Second):
			t.Fatalf("no change of state (info %+v)", mo.Info(ctx, "pc"))
			return moonwake.StateChange{}
		}
	}
	if sc := next(); sc.To != moonwake.StateOn {
		t.Fatalf("first state %s (%s), want on", sc.To, sc.Reason)
	}

	// The probes time out, the link answers: still on, for many rounds.
	mu.Lock()
	dark = true
	mu.Unlock()
	for start := time.Now(); time.Since(start) < 300*time.Millisecond; time.Sleep(10 * time.Millisecond) {
		select {
		case sc := <-changes:
			t.Fatalf("%s (%s) while the link answers", sc.To, sc.Reason)
		default:
		}
	}

	// The link stops answering, though it still looks up: off.
	ag.mu.Lock()
	ag.deaf = true
	ag.mu.Unlock()
	sc := next()
	if sc.To != moonwake.StateOff {
		t.Fatalf("state %s (%s), want off", sc.To, sc.Reason)
	}
	if info := mo.Info(ctx, "pc"); info.Agent == nil || info.Agent.Connected {
		t.Errorf("agent in the info: %+v, want not connected", info.Agent)
	}
	ag.mu.Lock()
	defer ag.mu.Unlock()
	if ag.checks < 2 {
		t.Errorf("%d link checks, want one a round", ag.checks)
	}
}

// TestSlowRoundAtRest: a round of an up machine at rest that is still
// running after the fast interval starts a second one at once, so a PC
// that went dark is confirmed off a fast interval after the first silent
// round rather than a whole timeout later; both rounds must find nothing.
func TestSlowRoundAtRest(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db := sqlite.NewDB(filepath.Join(t.TempDir(), "moonwake.db"))
	if err := db.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	machines := sqlite.NewMachineService(db)
	history := sqlite.NewEventService(db)
	broker, err := events.NewBroker(ctx, history, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := machines.CreateMachine(ctx, &moonwake.Machine{Name: "pc", MAC: "aa:bb:cc:dd:ee:01", Host: "192.0.2.10"}); err != nil {
		t.Fatal(err)
	}
	const check = 400 * time.Millisecond // the probe timeout
	type darkRound struct {
		start    time.Time
		deadline time.Time // zero: none
	}
	var mu sync.Mutex
	dark, inflight, most := false, 0, 0
	var rounds []darkRound
	probeFn := func(ctx context.Context, tg probe.Target) moonwake.Evidence {
		mu.Lock()
		inflight++
		most = max(most, inflight)
		d := dark
		if d {
			dl, _ := ctx.Deadline()
			rounds = append(rounds, darkRound{time.Now(), dl})
		}
		mu.Unlock()
		defer func() {
			mu.Lock()
			inflight--
			mu.Unlock()
		}()
		if !d {
			return moonwake.Evidence{At: time.Now(), TCP: []moonwake.TCPResult{{Port: 47989, Outcome: moonwake.OutcomeOpen}}}
		}
		select { // a silent address: the round waits out its timeout
		case <-time.After(check):
		case <-ctx.Done():
		}
		return moonwake.Evidence{At: time.Now(), TCP: []moonwake.TCPResult{{Port: 47989, Outcome: moonwake.OutcomeTimeout}}}
	}
	ag := &agents{pairedM: "pc"} // paired, never linked
	mo := monitor.New(monitor.Options{
		Machines: machines, Events: broker, Store: history, Agents: ag, LinkCheck: check,
		// At rest, one round an hour: only the slow round's own request
		// can start the second.
		Watch: probe.WatchOptions{Probe: probeFn, Rest: time.Hour, Fast: 20 * time.Millisecond},
	})
	changes := make(chan moonwake.StateChange, 64)
	mo.OnChange(func(sc moonwake.StateChange) { changes <- sc })
	done := make(chan struct{})
	go func() { defer close(done); mo.Run(ctx) }()
	defer func() { cancel(); <-done }()
	next := func() moonwake.StateChange {
		t.Helper()
		select {
		case sc := <-changes:
			return sc
		case <-time.After(10 * time.Second):
			t.Fatalf("no change of state (info %+v)", mo.Info(ctx, "pc"))
			return moonwake.StateChange{}
		}
	}
	// The first round is due at a random moment of the rest interval: news
	// of the agent asks for it now.
	for mo.Info(ctx, "pc").Evidence == nil {
		ag.link(false)
		time.Sleep(10 * time.Millisecond)
	}
	if sc := next(); sc.To != moonwake.StateOn {
		t.Fatalf("first state %s, want on", sc.To)
	}
	mu.Lock()
	dark = true
	mu.Unlock()
	ag.link(false) // one round now, at rest
	if sc := next(); sc.To != moonwake.StateOff {
		t.Fatalf("state %s (%s), want off", sc.To, sc.Reason)
	}
	mu.Lock()
	defer mu.Unlock()
	if most < 2 {
		t.Errorf("at most %d round(s) at once: the slow round did not start a second", most)
	}
	// The second round ends when the first one does, not a fast interval
	// later: its deadline is the first one's start plus the timeout.
	if len(rounds) < 2 {
		t.Fatalf("%d dark rounds, want 2", len(rounds))
	}
	first, second := rounds[0], rounds[1]
	if !first.deadline.IsZero() {
		t.Errorf("the first round at rest has a deadline of its own: %v", first.deadline)
	}
	if second.deadline.IsZero() || second.deadline.After(first.start.Add(check)) || second.deadline.Before(second.start.Add(check/2)) {
		t.Errorf("second round started %v after the first with a deadline %v after the first's start, want within [%v after its own start, %v]",
			second.start.Sub(first.start), second.deadline.Sub(first.start), check/2, check)
	}
}
