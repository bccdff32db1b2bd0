package policy

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/hub/notify"
	"github.com/moonwake/moonwake/mock"
)

// fakeClock is a clock that moves only when told.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	at      time.Time
	c       chan time.Time
	stopped bool
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) (<-chan time.Time, func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{at: c.now.Add(d), c: make(chan time.Time, 1)}
	if d <= 0 {
		t.c <- c.now
	} else {
		c.timers = append(c.timers, t)
	}
	return t.c, func() {
		c.mu.Lock()
		t.stopped = true
		c.mu.Unlock()
	}
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	var keep []*fakeTimer
	for _, t := range c.timers {
		switch {
		case t.stopped:
		case !t.at.After(c.now):
			t.c <- c.now
		default:
			keep = append(keep, t)
		}
	}
	c.timers = keep
}

// waitTimer waits until a live timer is set for at.
func (c *fakeClock) waitTimer(t *testing.T, at time.Time) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		for _, tm := range c.timers {
			if !tm.stopped && tm.at.Equal(at) {
				c.mu.Unlock()
				return
			}
		}
		c.mu.Unlock()
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("no timer set for %s", at)
}

type call struct {
	machine, kind string
	actor         moonwake.Actor
	grace         time.Duration
}

// powerLog records the actions asked of the mock power service it makes.
type powerLog struct{ calls chan call }

func newPowerLog() *powerLog { return &powerLog{calls: make(chan call, 10)} }

// service returns a power service whose Wake and Command record the call
// and start an action.
func (p *powerLog) service() *mock.PowerService {
	do := func(ctx context.Context, m *moonwake.Machine, kind string) (*moonwake.Action, error) {
		a, _ := moonwake.ActorFrom(ctx)
		p.calls <- call{m.Name, kind, a, moonwake.GraceFrom(ctx)}
		return &moonwake.Action{ID: "act_" + kind, Machine: m.Name, Kind: kind}, nil
	}
	return &mock.PowerService{
		WakeFn: func(ctx context.Context, m *moonwake.Machine) (*moonwake.Action, error) {
			return do(ctx, m, moonwake.ActionWake)
		},
		CommandFn: do,
	}
}

func (p *powerLog) want(t *testing.T, machine, kind string, actor moonwake.Actor) {
	t.Helper()
	select {
	case c := <-p.calls:
		if c.machine != machine || c.kind != kind || c.actor != actor {
			t.Fatalf("got %+v, want %s of %s by %+v", c, kind, machine, actor)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no %s of %s", kind, machine)
	}
}

func (p *powerLog) none(t *testing.T) {
	t.Helper()
	select {
	case c := <-p.calls:
		t.Fatalf("unexpected %+v", c)
	case <-time.After(100 * time.Millisecond):
	}
}

type fakeStore struct {
	mu    sync.Mutex
	runs  map[string]time.Time
	awake map[string]time.Time
}

func newStore() *fakeStore {
	return &fakeStore{runs: map[string]time.Time{}, awake: map[string]time.Time{}}
}
func (s *fakeStore) LastRun(ctx context.Context, key string) (time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.runs[key], nil
}
func (s *fakeStore) SetLastRun(ctx context.Context, key string, t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.runs[key] = t
	return nil
}
func (s *fakeStore) KeepAwake(ctx context.Context, machine string) (time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.awake[machine], nil
}

// knownStates holds the current state of each machine, for the mock monitor
// it makes to tell.
type knownStates struct {
	mu sync.Mutex
	m  map[string]moonwake.StateChange
}

func (f *knownStates) set(sc moonwake.StateChange) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.m[sc.Machine] = sc
}

// monitor returns a monitor whose Info tells the state last set, with its
// evidence; a machine never set is unknown, without evidence.
func (f *knownStates) monitor() *mock.Monitor {
	return &mock.Monitor{InfoFn: func(_ context.Context, name string) moonwake.PowerInfo {
		f.mu.Lock()
		defer f.mu.Unlock()
		sc, ok := f.m[name]
		if !ok {
			return moonwake.PowerInfo{State: moonwake.StateUnknown, Reason: "not probed yet"}
		}
		ev := sc.Evidence
		return moonwake.PowerInfo{State: sc.To, Since: sc.At, Reason: sc.Reason, Evidence: &ev}
	}}
}

var testMachines = []*moonwake.Machine{
	{Name: "pc", Tags: []string{"gaming"}},
	{Name: "nas", Tags: []string{"storage"}},
}

func paris(t *testing.T) *time.Location { return mustLoc(t, "Europe/Paris") }

func cron(t *testing.T, spec string, loc *time.Location) *Cron {
	t.Helper()
	c, err := ParseCron(spec, loc)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func start(t *testing.T, o Options) *Engine {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	e := New(o)
	done := make(chan struct{})
	go func() { defer close(done); e.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return e
}

func TestScheduleFires(t *testing.T) {
	loc := paris(t)
	clk := &fakeClock{now: time.Date(2026, 11, 25, 17, 0, 0, 0, loc)}
	pw := newPowerLog()
	st := newStore()
	s := Schedule{Selector: Selector{Tags: []string{"gaming"}}, Wake: cron(t, "0 18 * * 1-5", loc), Shutdown: cron(t, "30 23 * * *", loc)}
	start(t, Options{Schedules: []Schedule{s}, Power: pw.service(), Machines: mock.Machines(testMachines...), Store: st, Clock: clk})

	clk.waitTimer(t, time.Date(2026, 11, 25, 18, 0, 0, 0, loc))
	clk.Advance(time.Hour)
	pw.want(t, "pc", moonwake.ActionWake, ScheduleActor)
	pw.none(t) // the nas has no gaming tag
	clk.waitTimer(t, time.Date(2026, 11, 25, 23, 30, 0, 0, loc))
	clk.Advance(5*time.Hour + 30*time.Minute)
	pw.want(t, "pc", moonwake.ActionShutdown, ScheduleActor)
	if got, _ := st.LastRun(context.Background(), jobKey(moonwake.ActionShutdown, s, s.Shutdown)); !got.Equal(time.Date(2026, 11, 25, 23, 30, 0, 0, loc)) {
		t.Errorf("last run recorded: %s", got)
	}
	// Thursday's wake is next.
	clk.waitTimer(t, time.Date(2026, 11, 26, 18, 0, 0, 0, loc))
}

func TestScheduleMissedRuns(t *testing.T) {
	loc := paris(t)
	s := Schedule{Selector: Selector{Machines: []string{"pc"}}, Wake: cron(t, "0 18 * * *", loc)}
	key := jobKey(moonwake.ActionWake, s, s.Wake)
	for _, tc := range []struct {
		name string
		now  time.Time
		last time.Time
		run  bool
	}{
		{"missed by 5 min: run once", time.Date(2026, 11, 25, 18, 5, 0, 0, loc), time.Date(2026, 11, 24, 18, 0, 0, 0, loc), true},
		{"missed days ago and now: run once", time.Date(2026, 11, 25, 18, 9, 0, 0, loc), time.Date(2026, 11, 20, 18, 0, 0, 0, loc), true},
		{"missed by 30 min: skipped", time.Date(2026, 11, 25, 18, 30, 0, 0, loc), time.Date(2026, 11, 24, 18, 0, 0, 0, loc), false},
		{"already ran", time.Date(2026, 11, 25, 18, 5, 0, 0, loc), time.Date(2026, 11, 25, 18, 0, 0, 0, loc), false},
		{"first start", time.Date(2026, 11, 25, 18, 5, 0, 0, loc), time.Time{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := &fakeClock{now: tc.now}
			pw := newPowerLog()
			st := newStore()
			if !tc.last.IsZero() {
				st.runs[key] = tc.last
			}
			start(t, Options{Schedules: []Schedule{s}, Power: pw.service(), Machines: mock.Machines(testMachines...), Store: st, Clock: clk})
			if tc.run {
				pw.want(t, "pc", moonwake.ActionWake, ScheduleActor)
			}
			clk.waitTimer(t, time.Date(2026, 11, 26, 18, 0, 0, 0, loc))
			pw.none(t)
			if got, _ := st.LastRun(context.Background(), key); got.Before(tc.last) || got.IsZero() {
				t.Errorf("last run %s", got)
			}
		})
	}
}

func TestScheduledShutdownRespectsKeepAwake(t *testing.T) {
	loc := time.UTC
	clk := &fakeClock{now: time.Date(2026, 11, 25, 23, 0, 0, 0, loc)}
	pw := newPowerLog()
	st := newStore()
	st.awake["pc"] = clk.now.Add(2 * time.Hour)
	s := Schedule{Selector: Selector{Machines: []string{"pc"}}, Shutdown: cron(t, "30 23 * * *", loc)}
	start(t, Options{Schedules: []Schedule{s}, Power: pw.service(), Machines: mock.Machines(testMachines...), Store: st, Clock: clk})
	clk.waitTimer(t, time.Date(2026, 11, 25, 23, 30, 0, 0, loc))
	clk.Advance(30 * time.Minute)
	clk.waitTimer(t, time.Date(2026, 11, 26, 23, 30, 0, 0, loc))
	pw.none(t)
}

func i64(v int64) *int64 { return &v }

// idleTest runs the idle policy for the pc: 30 min, grace 5 min.
type idleTest struct {
	clk    *fakeClock
	pw     *powerLog
	st     *fakeStore
	states *knownStates
	mon    *mock.Monitor
	warned chan notify.Message
	e      *Engine
}

func newIdleTest(t *testing.T) *idleTest { return newIdleTestAction(t, "") }

func newIdleTestAction(t *testing.T, action string) *idleTest {
	it := &idleTest{
		clk:    &fakeClock{now: time.Date(2026, 11, 25, 20, 0, 0, 0, time.UTC)},
		pw:     newPowerLog(),
		st:     newStore(),
		states: &knownStates{m: map[string]moonwake.StateChange{}},
		warned: make(chan notify.Message, 10),
	}
	it.mon = it.states.monitor()
	it.e = start(t, Options{
		Idle:  []IdleRule{{Selector: Selector{Tags: []string{"gaming"}}, After: 30 * time.Minute, Grace: 5 * time.Minute, Action: action}},
		Power: it.pw.service(), Machines: mock.Machines(testMachines...), Monitor: it.mon, Store: it.st, Clock: it.clk,
		Notify: func(m notify.Message) { it.warned <- m },
	})
	return it
}

// agent says the pc is on with no input for idle.
func (it *idleTest) agent(to moonwake.PowerState, idle time.Duration, sunshine string) moonwake.StateChange {
	return it.agentAt(it.clk.Now(), to, idle, sunshine)
}

func (it *idleTest) agentAt(at time.Time, to moonwake.PowerState, idle time.Duration, sunshine string) moonwake.StateChange {
	ev := moonwake.Evidence{At: at, Agent: &moonwake.AgentEvidence{Connected: true, IdleSeconds: i64(int64(idle / time.Second))}}
	if sunshine != "" {
		ev.Sunshine = &moonwake.SunshineEvidence{Reachable: true, State: sunshine}
	}
	return moonwake.StateChange{Machine: "pc", To: to, At: at, Evidence: ev}
}

// step makes what the probes will have seen d from now the current state
// (not a change), then moves the clock: the policy never sees the old
// evidence at the new time.
func (it *idleTest) step(d time.Duration, to moonwake.PowerState, idle time.Duration, sunshine string) {
	it.states.set(it.agentAt(it.clk.Now().Add(d), to, idle, sunshine))
	it.clk.Advance(d)
}

// feed makes sc the current state and, if change, has the monitor report
// it as a change.
func (it *idleTest) feed(sc moonwake.StateChange, change bool) {
	it.states.set(sc)
	if change {
		it.mon.Change(sc)
	}
}

func (it *idleTest) wantWarning(t *testing.T) {
	t.Helper()
	select {
	case m := <-it.warned:
		if m.Event != EventIdleWarning || m.Machine != "pc" {
			t.Fatalf("warning %+v", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no warning")
	}
}

func (it *idleTest) noWarning(t *testing.T) {
	t.Helper()
	select {
	case m := <-it.warned:
		t.Fatalf("unexpected warning %+v", m)
	case <-time.After(50 * time.Millisecond):
	}
}

func TestIdleWarnsThenShutsDown(t *testing.T) {
	it := newIdleTest(t)
	t0 := it.clk.Now()
	it.feed(it.agent(moonwake.StateOn, 0, moonwake.SunshineFree), true)
	it.clk.waitTimer(t, t0.Add(30*time.Minute))
	it.step(30*time.Minute, moonwake.StateIdle, 30*time.Minute, moonwake.SunshineFree)
	it.wantWarning(t)
	it.clk.waitTimer(t, t0.Add(35*time.Minute))
	it.pw.none(t)
	it.step(5*time.Minute, moonwake.StateIdle, 35*time.Minute, moonwake.SunshineFree)
	it.pw.want(t, "pc", moonwake.ActionShutdown, IdleActor)
}

// TestIdleSleepsInstead: idle_off.action sleep puts the machine to sleep,
// and the warning says so.
func TestIdleSleepsInstead(t *testing.T) {
	it := newIdleTestAction(t, moonwake.ActionSleep)
	t0 := it.clk.Now()
	it.feed(it.agent(moonwake.StateOn, 0, moonwake.SunshineFree), true)
	it.clk.waitTimer(t, t0.Add(30*time.Minute))
	it.step(30*time.Minute, moonwake.StateIdle, 30*time.Minute, moonwake.SunshineFree)
	select {
	case m := <-it.warned:
		if !strings.Contains(m.Title, "to be put to sleep in 5m") || !strings.Contains(m.Text, "will be put to sleep") {
			t.Fatalf("warning %+v", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no warning")
	}
	it.clk.waitTimer(t, t0.Add(35*time.Minute))
	it.step(5*time.Minute, moonwake.StateIdle, 35*time.Minute, moonwake.SunshineFree)
	it.pw.want(t, "pc", moonwake.ActionSleep, IdleActor)
}

// TestScheduledHibernate: a schedule's shutdown_action hibernates.
func TestScheduledHibernate(t *testing.T) {
	loc := paris(t)
	clk := &fakeClock{now: time.Date(2026, 11, 25, 23, 0, 0, 0, loc)}
	pw := newPowerLog()
	s := Schedule{Selector: Selector{Tags: []string{"gaming"}}, Shutdown: cron(t, "30 23 * * *", loc), OffAction: moonwake.ActionHibernate}
	start(t, Options{Schedules: []Schedule{s}, Power: pw.service(), Machines: mock.Machines(testMachines...), Store: newStore(), Clock: clk})
	clk.waitTimer(t, time.Date(2026, 11, 25, 23, 30, 0, 0, loc))
	clk.Advance(30 * time.Minute)
	pw.want(t, "pc", moonwake.ActionHibernate, ScheduleActor)
	if got := Describe(&moonwake.Machine{Name: "pc", Tags: []string{"gaming"}}, []Schedule{s}, []IdleRule{{Selector: Selector{Machines: []string{"pc"}}, After: time.Hour, Action: moonwake.ActionSleep}}); len(got) != 2 ||
		!strings.HasPrefix(got[0], "Hibernates ") || !strings.HasPrefix(got[1], "Sleeps after 1 h") {
		t.Errorf("described as %q", got)
	}
}

func TestIdleInputMovesTheDeadline(t *testing.T) {
	it := newIdleTest(t)
	t0 := it.clk.Now()
	it.feed(it.agent(moonwake.StateOn, 10*time.Minute, ""), true)
	it.clk.waitTimer(t, t0.Add(20*time.Minute))
	// Someone typed 5 minutes before the policy looks again.
	it.step(20*time.Minute, moonwake.StateOn, 5*time.Minute, "")
	it.clk.waitTimer(t, t0.Add(45*time.Minute))
	it.noWarning(t)
}

func TestIdleStreamCancelsAndNeverShutsDown(t *testing.T) {
	it := newIdleTest(t)
	t0 := it.clk.Now()
	it.feed(it.agent(moonwake.StateIdle, 40*time.Minute, moonwake.SunshineFree), true)
	it.wantWarning(t)
	it.clk.waitTimer(t, t0.Add(5*time.Minute))
	// A stream starts during the grace period; the agent still says no
	// input (a controller Sunshine injects may not count).
	it.clk.Advance(time.Minute)
	it.feed(it.agent(moonwake.StateStreaming, 41*time.Minute, moonwake.SunshineBusy), true)
	it.step(time.Hour, moonwake.StateStreaming, 101*time.Minute, moonwake.SunshineBusy)
	it.pw.none(t)
	// The stream ends: the clock starts again, with a new warning.
	it.feed(it.agent(moonwake.StateIdle, 102*time.Minute, moonwake.SunshineFree), true)
	it.wantWarning(t)
	it.clk.waitTimer(t, it.clk.Now().Add(5*time.Minute))
	// And a stream while the state is not yet streaming (only Sunshine says
	// BUSY) blocks the shutdown too.
	it.step(5*time.Minute, moonwake.StateIdle, 107*time.Minute, moonwake.SunshineBusy)
	it.pw.none(t)
}

func TestIdleKeepAwakeBlocks(t *testing.T) {
	it := newIdleTest(t)
	t0 := it.clk.Now()
	it.st.mu.Lock()
	it.st.awake["pc"] = t0.Add(2 * time.Hour)
	it.st.mu.Unlock()
	it.feed(it.agent(moonwake.StateIdle, time.Hour, ""), true)
	it.clk.waitTimer(t, t0.Add(2*time.Hour))
	it.noWarning(t)
	it.pw.none(t)
	// Kept awake set during the grace period cancels it too.
	it.st.mu.Lock()
	delete(it.st.awake, "pc")
	it.st.mu.Unlock()
	it.e.Touch("pc")
	it.wantWarning(t)
	it.st.mu.Lock()
	it.st.awake["pc"] = t0.Add(3 * time.Hour)
	it.st.mu.Unlock()
	it.clk.waitTimer(t, t0.Add(5*time.Minute))
	it.clk.Advance(5 * time.Minute)
	it.pw.none(t)
}

func TestIdleSunshineOnly(t *testing.T) {
	it := newIdleTest(t)
	t0 := it.clk.Now()
	sc := func() moonwake.StateChange {
		return moonwake.StateChange{Machine: "pc", To: moonwake.StateOn, At: it.clk.Now(), Evidence: moonwake.Evidence{
			At: it.clk.Now(), Sunshine: &moonwake.SunshineEvidence{Reachable: true, State: moonwake.SunshineFree}}}
	}
	it.feed(sc(), true)
	it.clk.waitTimer(t, t0.Add(30*time.Minute))
	it.clk.Advance(30 * time.Minute)
	it.feed(sc(), false)
	it.wantWarning(t)
	it.clk.waitTimer(t, t0.Add(35*time.Minute))
	it.clk.Advance(5 * time.Minute)
	it.feed(sc(), false)
	it.pw.want(t, "pc", moonwake.ActionShutdown, IdleActor)
}
