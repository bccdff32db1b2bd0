package power

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/moonwake/moonwake"
)

// pcCountdowns plays the agents' side of countdowns.
type pcCountdowns struct {
	mu        sync.Mutex
	started   []moonwake.Countdown
	withdrawn []string
	startErr  error
	cancel    func(machine, id, how string)
}

func (p *pcCountdowns) Start(_ context.Context, machine string, c moonwake.Countdown) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.started = append(p.started, c)
	return p.startErr
}

func (p *pcCountdowns) Withdraw(_ context.Context, machine, id string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.withdrawn = append(p.withdrawn, machine+" "+id)
	return nil
}

func (p *pcCountdowns) OnCancel(fn func(machine, id, how string)) { p.cancel = fn }

func (p *pcCountdowns) state() ([]moonwake.Countdown, []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]moonwake.Countdown(nil), p.started...), append([]string(nil), p.withdrawn...)
}

func graced(a moonwake.Actor, d time.Duration) context.Context {
	return moonwake.WithGrace(as(a), d)
}

// TestCountdownThenCommand: the command waits for the grace, which the PC
// is told of; the machine is not "shutting down" meanwhile.
func TestCountdownThenCommand(t *testing.T) {
	pcs := &pcCountdowns{}
	h := newHarness(t, Options{ShutdownDeadline: 5 * time.Second, Countdowns: pcs}, onTestClock)
	h.states.set("pc", moonwake.StateOn)
	a, err := h.s.Command(graced(alice, time.Minute), pc("pc"), moonwake.ActionShutdown)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, a, moonwake.StatusRunning, "")
	if st := steps(a, moonwake.StepCountdown); len(st) != 1 || st[0].Target != "1m0s" {
		t.Fatalf("steps %+v", a.Steps)
	}
	if !a.Deadline.Equal(h.clock.Now().Add(time.Minute)) {
		t.Errorf("deadline %v, want the end of the grace", a.Deadline)
	}
	waitFor(t, "the countdown at the PC", func() bool { return len(steps(h.find(a.ID), moonwake.StepCountdown)) == 2 })
	started, _ := pcs.state()
	if len(started) != 1 || started[0] != (moonwake.Countdown{ActionID: a.ID, Kind: moonwake.ActionShutdown, Until: h.clock.Now().Add(time.Minute), By: "token alice"}) {
		t.Fatalf("started %+v", started)
	}
	if st := steps(h.find(a.ID), moonwake.StepCountdown)[1]; st.Via != "agent" || st.Target != "shown at the PC" || st.Error != "" {
		t.Errorf("step %+v", st)
	}
	if n := len(h.agents.commands()); n != 0 {
		t.Fatalf("%d commands during the grace", n)
	}
	if p := h.states.pendings(); !equal(p, []string{"pc "}) {
		t.Errorf("SetPending calls %q: nothing is going down yet", p)
	}
	// Asking again joins it.
	if b, err := h.s.Command(as(bob), pc("pc"), moonwake.ActionShutdown); err != nil || b.ID != a.ID {
		t.Fatalf("join: %+v, %v", b, err)
	}

	h.clock.Advance(time.Minute)
	waitFor(t, "the command", func() bool { return len(h.agents.commands()) == 1 })
	waitFor(t, "the pending shutdown", func() bool { return len(h.states.pendings()) == 2 })
	if _, err := h.s.Cancel(context.Background(), a.ID, "too late"); moonwake.ErrorCode(err) != moonwake.EConflict {
		t.Fatalf("cancel after the grace: %v", err)
	}
	pcs.cancel("pc", a.ID, "input") // too late too: nothing changes
	h.changeState("pc", moonwake.StateOff)
	wantStatus(t, h.wait(a.ID), moonwake.StatusSucceeded, "pc is off")
}

// TestCountdownCancelledAtPC: a cancel from the machine's own agent ends
// the action as cancelled at the PC, and the command is never sent; a
// cancel from another machine's agent changes nothing.
func TestCountdownCancelledAtPC(t *testing.T) {
	pcs := &pcCountdowns{startErr: moonwake.Errorf(moonwake.EUnavailable, "the agent of pc is not connected")}
	h := newHarness(t, Options{ShutdownDeadline: 5 * time.Second, Countdowns: pcs}, onTestClock)
	h.states.set("pc", moonwake.StateOn)
	a, err := h.s.Command(graced(alice, time.Minute), pc("pc"), moonwake.ActionReboot)
	if err != nil {
		t.Fatal(err)
	}
	// An agent that is not linked does not hold it up: the step says so.
	waitFor(t, "the countdown step", func() bool { return len(steps(h.find(a.ID), moonwake.StepCountdown)) == 2 })
	if st := steps(h.find(a.ID), moonwake.StepCountdown)[1]; st.Error != "the agent of pc is not connected" {
		t.Errorf("step %+v", st)
	}
	pcs.cancel("other", a.ID, "input")
	pcs.cancel("pc", "act_other", "input")
	if got := h.find(a.ID); got.Done() {
		t.Fatalf("cancelled by another machine: %+v", got)
	}
	pcs.cancel("pc", a.ID, "button")
	got := h.wait(a.ID)
	wantStatus(t, got, moonwake.StatusCancelled, "cancelled at the PC (button)")
	if st := lastStep(t, got); st.Kind != "cancel" || st.Via != "pc" {
		t.Errorf("last step %+v", st)
	}
	h.clock.Advance(2 * time.Minute)
	time.Sleep(20 * time.Millisecond)
	if n := len(h.agents.commands()); n != 0 {
		t.Fatalf("%d commands after a cancel", n)
	}
	if n := h.rec.notifications(); len(n) != 1 || n[0].Status != moonwake.StatusCancelled {
		t.Errorf("notified %+v", n)
	}
	if p := h.rec.published(a.ID); len(p) == 0 || p[len(p)-1] != moonwake.StatusCancelled {
		t.Errorf("published %q", p)
	}
	if _, w := pcs.state(); len(w) != 0 {
		t.Errorf("withdrew %q: the PC ended it itself", w)
	}
	h.stored(a.ID, moonwake.StatusCancelled)
}

// TestCountdownCancelledByAPI: Cancel ends it and withdraws it at the PC.
func TestCountdownCancelledByAPI(t *testing.T) {
	pcs := &pcCountdowns{}
	h := newHarness(t, Options{Countdowns: pcs})
	h.states.set("pc", moonwake.StateOn)
	a, err := h.s.Command(graced(alice, time.Hour), pc("pc"), moonwake.ActionSleep) // at most MaxGrace
	if err != nil {
		t.Fatal(err)
	}
	if !a.Deadline.Before(time.Now().Add(moonwake.MaxGrace + time.Second)) {
		t.Errorf("deadline %v: more than MaxGrace", a.Deadline)
	}
	got, err := h.s.Cancel(context.Background(), a.ID, "cancelled by token bob")
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, got, moonwake.StatusCancelled, "cancelled by token bob")
	waitFor(t, "the withdraw", func() bool { _, w := pcs.state(); return len(w) == 1 && w[0] == "pc "+a.ID })
	if _, err := h.s.Cancel(context.Background(), a.ID, "again"); moonwake.ErrorCode(err) != moonwake.EConflict {
		t.Errorf("cancel again: %v", err)
	}
	if _, err := h.s.Cancel(context.Background(), "act_none", "x"); moonwake.ErrorCode(err) != moonwake.ENotFound {
		t.Errorf("cancel of nothing: %v", err)
	}
	// Without a grace there is nothing to cancel.
	b, err := h.s.Command(as(alice), pc("pc"), moonwake.ActionShutdown)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.s.Cancel(context.Background(), b.ID, "x"); moonwake.ErrorCode(err) != moonwake.EConflict {
		t.Errorf("cancel without a countdown: %v", err)
	}
}

// TestCountdownResumed: a hub restarted during a countdown takes it up and
// sends the command when the grace ends, once.
func TestCountdownResumed(t *testing.T) {
	h := newHarness(t, Options{ShutdownDeadline: 5 * time.Second, Countdowns: &pcCountdowns{}}, onTestClock)
	h.states.set("pc", moonwake.StateOn)
	a, err := h.s.Command(graced(alice, time.Minute), pc("pc"), moonwake.ActionShutdown)
	if err != nil {
		t.Fatal(err)
	}
	h.stop()
	h.start()
	if err := h.s.Resume(context.Background(), func(string) (*moonwake.Machine, error) { return pc("pc"), nil }); err != nil {
		t.Fatal(err)
	}
	if got := h.find(a.ID); got.Done() {
		t.Fatalf("resumed as %+v", got)
	}
	h.clock.Advance(30 * time.Second)
	time.Sleep(20 * time.Millisecond)
	if n := len(h.agents.commands()); n != 0 {
		t.Fatalf("%d commands half way through the grace", n)
	}
	h.clock.Advance(30 * time.Second)
	waitFor(t, "the command", func() bool { return len(h.agents.commands()) == 1 })
	h.changeState("pc", moonwake.StateOff)
	wantStatus(t, h.wait(a.ID), moonwake.StatusSucceeded, "pc is off")
	if len(h.agents.commands()) != 1 {
		t.Errorf("%d commands", len(h.agents.commands()))
	}
}

// TestCountdownResumedLate: a hub that was down when a countdown ended
// does not send its command when it comes back long after: the PC no
// longer shows the countdown, and a cancel from there may have been lost
// meanwhile. The action ends failed, saying so.
func TestCountdownResumedLate(t *testing.T) {
	h := newHarness(t, Options{ShutdownDeadline: 5 * time.Second, Countdowns: &pcCountdowns{}}, onTestClock)
	h.states.set("pc", moonwake.StateOn)
	a, err := h.s.Command(graced(alice, time.Minute), pc("pc"), moonwake.ActionShutdown)
	if err != nil {
		t.Fatal(err)
	}
	h.stop()
	h.clock.Advance(2 * time.Hour)
	h.start()
	if err := h.s.Resume(context.Background(), func(string) (*moonwake.Machine, error) { return pc("pc"), nil }); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, h.wait(a.ID), moonwake.StatusFailed, "countdown ended while the hub was down")
	time.Sleep(20 * time.Millisecond)
	if n := len(h.agents.commands()); n != 0 {
		t.Fatalf("%d commands sent after a countdown that ended hours ago", n)
	}
}

// slowCountdowns is an agent that takes its time to show a countdown, and
// records what it did in the order it did it.
type slowCountdowns struct {
	gate chan struct{} // Start waits for it
	mu   sync.Mutex
	done []string
}

func (p *slowCountdowns) Start(ctx context.Context, _ string, c moonwake.Countdown) error {
	<-p.gate
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done = append(p.done, "start "+c.ActionID)
	return nil
}

func (p *slowCountdowns) Withdraw(_ context.Context, _, id string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done = append(p.done, "withdraw "+id)
	return nil
}

func (p *slowCountdowns) OnCancel(func(machine, id, how string)) {}

func (p *slowCountdowns) log() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.done...)
}

// TestCountdownCancelledWhileShown: a cancel that comes while the PC is
// still being told of the countdown withdraws it after, not before: else
// the PC would show a countdown to an action cancelled already.
func TestCountdownCancelledWhileShown(t *testing.T) {
	pcs := &slowCountdowns{gate: make(chan struct{})}
	h := newHarness(t, Options{Countdowns: pcs})
	h.states.set("pc", moonwake.StateOn)
	a, err := h.s.Command(graced(alice, time.Minute), pc("pc"), moonwake.ActionShutdown)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.s.Cancel(context.Background(), a.ID, "cancelled by token bob"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // a withdraw sent at once has gone by now
	close(pcs.gate)
	waitFor(t, "start and withdraw", func() bool { return len(pcs.log()) == 2 })
	if got := pcs.log(); got[0] != "start "+a.ID || got[1] != "withdraw "+a.ID {
		t.Errorf("the PC was told %q", got)
	}
}
