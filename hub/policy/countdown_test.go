package policy

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/hub/notify"
	"github.com/moonwake/moonwake/mock"
)

// pcCountdowns plays the machines' agents: it records the countdowns
// started and withdrawn, and cancels one as the person at the PC would.
type pcCountdowns struct {
	mu        sync.Mutex
	started   chan moonwake.Countdown
	withdrawn chan string
	cancel    []func(machine, id, how string)
}

func newPCCountdowns() *pcCountdowns {
	return &pcCountdowns{started: make(chan moonwake.Countdown, 4), withdrawn: make(chan string, 4)}
}

func (p *pcCountdowns) Start(ctx context.Context, machine string, c moonwake.Countdown) error {
	p.started <- c
	return nil
}

func (p *pcCountdowns) Withdraw(ctx context.Context, machine, id string) error {
	p.withdrawn <- id
	return nil
}

func (p *pcCountdowns) OnCancel(fn func(machine, id, how string)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cancel = append(p.cancel, fn)
}

func (p *pcCountdowns) cancelAtPC(machine, id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, fn := range p.cancel {
		fn(machine, id, "button")
	}
}

// TestIdleCountdownCancelledAtThePC: the idle warning counts down at the
// PC; cancelled there, it counts as input: no shutdown at the end of the
// grace, and the next warning only a full idle period later.
func TestIdleCountdownCancelledAtThePC(t *testing.T) {
	clk := &fakeClock{now: time.Date(2026, 11, 25, 20, 0, 0, 0, time.UTC)}
	pw, states, pc := newPowerLog(), &knownStates{m: map[string]moonwake.StateChange{}}, newPCCountdowns()
	warned := make(chan notify.Message, 10)
	it := &idleTest{clk: clk, pw: pw, st: newStore(), states: states, mon: states.monitor(), warned: warned}
	it.e = start(t, Options{
		Idle:  []IdleRule{{Selector: Selector{Tags: []string{"gaming"}}, After: 30 * time.Minute, Grace: 5 * time.Minute}},
		Power: pw.service(), Machines: mock.Machines(testMachines...), Monitor: it.mon, Store: it.st, Clock: clk,
		Notify: func(m notify.Message) { warned <- m }, Countdowns: pc,
	})
	t0 := clk.Now()
	it.feed(it.agent(moonwake.StateOn, 0, moonwake.SunshineFree), true)
	clk.waitTimer(t, t0.Add(30*time.Minute))
	it.step(30*time.Minute, moonwake.StateIdle, 30*time.Minute, moonwake.SunshineFree)
	it.wantWarning(t)
	var c moonwake.Countdown
	select {
	case c = <-pc.started:
	case <-time.After(5 * time.Second):
		t.Fatal("no countdown at the PC")
	}
	if c.Kind != "idle" || !c.Until.Equal(t0.Add(35*time.Minute)) || c.ActionID == "" || c.By != "idle-off" {
		t.Fatalf("countdown %+v", c)
	}

	// Cancel pressed a minute later; the agent's idle time has not moved
	// (moonwake-agent cancel over SSH, say).
	it.step(time.Minute, moonwake.StateIdle, 31*time.Minute, moonwake.SunshineFree)
	pc.cancelAtPC("pc", "idle_someone-elses")
	pc.cancelAtPC("pc", c.ActionID)
	select {
	case m := <-warned:
		if m.Event != EventIdleCancelled || m.Machine != "pc" {
			t.Fatalf("message %+v", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no message of the cancel")
	}
	select {
	case id := <-pc.withdrawn:
		if id != c.ActionID {
			t.Fatalf("withdrew %s", id)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the countdown was not withdrawn")
	}
	// The end of the old grace passes: nothing happens. A new warning
	// comes 30 minutes after the cancel.
	clk.waitTimer(t, t0.Add(61*time.Minute))
	pw.none(t)
	it.noWarning(t)
	it.step(30*time.Minute, moonwake.StateIdle, 61*time.Minute, moonwake.SunshineFree)
	it.wantWarning(t)
	select {
	case c2 := <-pc.started:
		if c2.ActionID == c.ActionID {
			t.Fatal("the same countdown id again")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no second countdown at the PC")
	}
	clk.waitTimer(t, t0.Add(66*time.Minute))
	it.step(5*time.Minute, moonwake.StateIdle, 66*time.Minute, moonwake.SunshineFree)
	pw.want(t, "pc", moonwake.ActionShutdown, IdleActor)
}

// TestScheduledShutdownGrace: a schedule's shutdown_grace is the grace of
// its shutdown, which the power service counts down at the PC.
func TestScheduledShutdownGrace(t *testing.T) {
	loc := paris(t)
	clk := &fakeClock{now: time.Date(2026, 11, 25, 23, 0, 0, 0, loc)}
	pw := newPowerLog()
	s := Schedule{Selector: Selector{Tags: []string{"gaming"}}, Shutdown: cron(t, "30 23 * * *", loc), Wake: cron(t, "0 8 * * *", loc), ShutdownGrace: 2 * time.Minute}
	start(t, Options{Schedules: []Schedule{s}, Power: pw.service(), Machines: mock.Machines(testMachines...), Store: newStore(), Clock: clk})
	clk.waitTimer(t, time.Date(2026, 11, 25, 23, 30, 0, 0, loc))
	clk.Advance(30 * time.Minute)
	select {
	case c := <-pw.calls:
		if c.kind != moonwake.ActionShutdown || c.grace != 2*time.Minute {
			t.Fatalf("call %+v", c)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no shutdown")
	}
	clk.waitTimer(t, time.Date(2026, 11, 26, 8, 0, 0, 0, loc))
	clk.Advance(8*time.Hour + 30*time.Minute)
	select {
	case c := <-pw.calls:
		if c.kind != moonwake.ActionWake || c.grace != 0 {
			t.Fatalf("call %+v", c)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no wake")
	}
}

// slowPC is an agent that takes its time to show a countdown; it records
// what it did in the order it did it.
type slowPC struct {
	gate chan struct{} // Start waits for it
	mu   sync.Mutex
	done []string
}

func (p *slowPC) Start(ctx context.Context, _ string, c moonwake.Countdown) error {
	<-p.gate
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done = append(p.done, "start")
	return nil
}

func (p *slowPC) Withdraw(context.Context, string, string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done = append(p.done, "withdraw")
	return nil
}

func (p *slowPC) OnCancel(func(machine, id, how string)) {}

func (p *slowPC) log() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.done...)
}

// TestIdleCountdownWithdrawnWhileShown: the PC used while it is still
// being told of the idle warning: the withdraw follows the countdown, or
// the PC would show a warning withdrawn already.
func TestIdleCountdownWithdrawnWhileShown(t *testing.T) {
	clk := &fakeClock{now: time.Date(2026, 11, 25, 20, 0, 0, 0, time.UTC)}
	pw, states, pc := newPowerLog(), &knownStates{m: map[string]moonwake.StateChange{}}, &slowPC{gate: make(chan struct{})}
	warned := make(chan notify.Message, 10)
	it := &idleTest{clk: clk, pw: pw, st: newStore(), states: states, mon: states.monitor(), warned: warned}
	it.e = start(t, Options{
		Idle:  []IdleRule{{Selector: Selector{Tags: []string{"gaming"}}, After: 30 * time.Minute, Grace: 5 * time.Minute}},
		Power: pw.service(), Machines: mock.Machines(testMachines...), Monitor: it.mon, Store: it.st, Clock: clk,
		Notify: func(m notify.Message) { warned <- m }, Countdowns: pc,
	})
	defer close(pc.gate)
	t0 := clk.Now()
	it.feed(it.agent(moonwake.StateOn, 0, moonwake.SunshineFree), true)
	clk.waitTimer(t, t0.Add(30*time.Minute))
	it.step(30*time.Minute, moonwake.StateIdle, 30*time.Minute, moonwake.SunshineFree)
	it.wantWarning(t)
	// Used a minute later: the warning is withdrawn while the PC is still
	// told of it.
	clk.Advance(time.Minute)
	it.feed(it.agent(moonwake.StateOn, 0, moonwake.SunshineFree), true)
	time.Sleep(50 * time.Millisecond) // a withdraw sent at once has gone by now
	pc.gate <- struct{}{}
	deadline := time.Now().Add(5 * time.Second)
	for len(pc.log()) < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := pc.log(); len(got) != 2 || got[0] != "start" || got[1] != "withdraw" {
		t.Errorf("the PC was told %q", got)
	}
}
