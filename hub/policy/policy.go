package policy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/hub/notify"
)

// EventIdleWarning is the notification sent before idle auto-off.
const EventIdleWarning = "idle.warning"

// EventIdleCancelled is the notification sent when the person at the PC
// cancels an idle auto-off's countdown.
const EventIdleCancelled = "idle.cancelled"

// DefaultMissedGrace is how late a schedule's run missed while the hub was
// down may still be made when the hub starts.
const DefaultMissedGrace = 10 * time.Minute

// Actors of the policies' actions, as the audit log shows them.
var (
	ScheduleActor = moonwake.Actor{Kind: "policy", Name: "schedule"}
	IdleActor     = moonwake.Actor{Kind: "policy", Name: "idle-off"}
)

// Store remembers what must survive a restart; sqlite.PolicyService
// implements it.
type Store interface {
	LastRun(ctx context.Context, key string) (time.Time, error)
	SetLastRun(ctx context.Context, key string, t time.Time) error
	KeepAwake(ctx context.Context, machine string) (time.Time, error)
}

// Clock is the time source; tests give a fake one.
type Clock interface {
	Now() time.Time
	// After returns a channel that receives once d has passed, and a
	// function that stops it.
	After(d time.Duration) (<-chan time.Time, func())
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }
func (realClock) After(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTimer(d)
	return t.C, func() { t.Stop() }
}

// Selector picks machines by name or by tag; a machine matches when it is
// named or has one of the tags.
type Selector struct {
	Machines []string
	Tags     []string
}

// Matches reports whether m is selected.
func (s Selector) Matches(m *moonwake.Machine) bool {
	if slices.Contains(s.Machines, m.Name) {
		return true
	}
	for _, t := range s.Tags {
		if slices.Contains(m.Tags, t) {
			return true
		}
	}
	return false
}

func (s Selector) String() string {
	var parts []string
	if len(s.Machines) > 0 {
		parts = append(parts, "machines="+strings.Join(s.Machines, ","))
	}
	if len(s.Tags) > 0 {
		parts = append(parts, "tags="+strings.Join(s.Tags, ","))
	}
	return strings.Join(parts, " ")
}

// Schedule wakes and/or shuts down the selected machines by cron.
type Schedule struct {
	Selector
	Wake, Shutdown *Cron         // nil: not scheduled
	MissedGrace    time.Duration // 0: DefaultMissedGrace
	// OffAction is what Shutdown does: moonwake.ActionShutdown (""),
	// ActionSleep or ActionHibernate.
	OffAction string
	// ShutdownGrace is the countdown at the PC before Shutdown's command
	// (moonwake.WithGrace); 0: none.
	ShutdownGrace time.Duration
}

// IdleRule shuts the selected machines down after After without use, a
// warning and Grace.
type IdleRule struct {
	Selector
	After, Grace time.Duration
	// Action is what it does: moonwake.ActionShutdown (""), ActionSleep
	// or ActionHibernate.
	Action string
}

// OffActions are what idle auto-off and a scheduled shutdown may do.
var OffActions = []string{moonwake.ActionShutdown, moonwake.ActionSleep, moonwake.ActionHibernate}

// offAction is kind, or a shutdown when it is "".
func offAction(kind string) string {
	if kind == "" {
		return moonwake.ActionShutdown
	}
	return kind
}

// offVerb says an off action for people: "shut down", "put to sleep",
// "hibernate".
func offVerb(kind string) string {
	switch offAction(kind) {
	case moonwake.ActionSleep:
		return "put to sleep"
	case moonwake.ActionHibernate:
		return "hibernated"
	}
	return "shut down"
}

// Options configure an Engine.
type Options struct {
	Schedules []Schedule
	Idle      []IdleRule
	Power     moonwake.PowerService
	Machines  moonwake.MachineService
	Monitor   moonwake.Monitor // nil: no state changes, and idle auto-off sees nothing
	Store     Store
	Notify    func(notify.Message) // nil: no warnings sent
	// Countdowns shows the idle warning's countdown at the PC, and hears
	// it cancelled there; nil: the warning goes through Notify alone.
	Countdowns Countdowns
	Clock      Clock // nil: the real one
	Logger     *slog.Logger
}

// Countdowns shows a countdown at a machine and hears it cancelled there;
// hub/remote implements it with the machine's agent.
type Countdowns interface {
	// Start shows c at the machine; an error says why the PC does not.
	Start(ctx context.Context, machine string, c moonwake.Countdown) error
	// Withdraw takes the countdown of that id down at the machine.
	Withdraw(ctx context.Context, machine, id string) error
	// OnCancel registers fn to hear of a countdown cancelled at the
	// machine; fn must not block.
	OnCancel(fn func(machine, id, how string))
}

// Engine runs the schedules and the idle policy. Create it with New (it
// follows the monitor's state changes from then on), Run it, and cancel
// Run's context to stop it.
type Engine struct {
	o     Options
	log   *slog.Logger
	clock Clock

	mu    sync.Mutex
	dirty map[string]*moonwake.StateChange // by machine: changes not looked at yet
	kick  chan struct{}
	idle  map[string]*idleState // owned by the idle loop
	// atPC are the idle countdowns cancelled at the PC, by machine, not
	// looked at yet.
	atPC map[string]string
	// pc are the calls to Countdowns in flight.
	pc sync.WaitGroup
}

// New returns an Engine.
func New(o Options) *Engine {
	e := &Engine{o: o, log: o.Logger, clock: o.Clock, dirty: map[string]*moonwake.StateChange{},
		kick: make(chan struct{}, 1), idle: map[string]*idleState{}, atPC: map[string]string{}}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.clock == nil {
		e.clock = realClock{}
	}
	if o.Monitor != nil {
		o.Monitor.OnChange(e.Observe)
	}
	if o.Countdowns != nil && len(o.Idle) > 0 {
		o.Countdowns.OnCancel(e.cancelledAtPC)
	}
	return e
}

// cancelledAtPC hears that the person at the machine cancelled the
// countdown with that id; the idle loop looks at it.
func (e *Engine) cancelledAtPC(machine, id, how string) {
	e.mu.Lock()
	e.atPC[machine] = id
	if _, ok := e.dirty[machine]; !ok {
		e.dirty[machine] = nil
	}
	e.mu.Unlock()
	e.poke()
}

// status returns the machine's current state and evidence; false when the
// monitor has not probed it yet.
func (e *Engine) status(machine string) (moonwake.PowerState, moonwake.Evidence, bool) {
	if e.o.Monitor == nil {
		return moonwake.StateUnknown, moonwake.Evidence{}, false
	}
	info := e.o.Monitor.Info(context.Background(), machine)
	if info.Evidence == nil {
		return info.State, moonwake.Evidence{}, false
	}
	return info.State, *info.Evidence, true
}

// Run runs the scheduler and the idle policy until ctx ends.
func (e *Engine) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); e.runSchedules(ctx) }()
	go func() { defer wg.Done(); e.runIdle(ctx) }()
	wg.Wait()
	e.pc.Wait()
}

// Observe hands the Engine a state change; it never blocks. New registers
// it with the monitor.
func (e *Engine) Observe(sc moonwake.StateChange) {
	if len(e.o.Idle) == 0 {
		return
	}
	e.mu.Lock()
	e.dirty[sc.Machine] = &sc
	e.mu.Unlock()
	e.poke()
}

// Touch makes the idle policy look at the machine again now (its
// keep-awake override changed).
func (e *Engine) Touch(machine string) {
	if len(e.o.Idle) == 0 {
		return
	}
	e.mu.Lock()
	if _, ok := e.dirty[machine]; !ok {
		e.dirty[machine] = nil
	}
	e.mu.Unlock()
	e.poke()
}

func (e *Engine) poke() {
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

// ---- Schedules ----

type job struct {
	key   string
	kind  string // moonwake.ActionWake or moonwake.ActionShutdown
	off   string // what a shutdown job does: one of OffActions
	sel   Selector
	cron  *Cron
	grace time.Duration
	// countdown is a shutdown's grace at the PC (Schedule.ShutdownGrace).
	countdown time.Duration
	next      time.Time
}

// jobKey identifies a schedule's action by what it says, so reordering the
// config file keeps its history and changing it starts afresh.
func jobKey(kind string, s Schedule, c *Cron) string {
	h := sha256.Sum256([]byte(strings.Join([]string{
		strings.Join(s.Machines, ","), strings.Join(s.Tags, ","), c.String(), c.Location().String()}, "\x00")))
	return "schedule/" + hex.EncodeToString(h[:8]) + "/" + kind
}

func (e *Engine) jobs() []*job {
	var js []*job
	for _, s := range e.o.Schedules {
		g := s.MissedGrace
		if g <= 0 {
			g = DefaultMissedGrace
		}
		for _, k := range []struct {
			kind string
			c    *Cron
		}{{moonwake.ActionWake, s.Wake}, {moonwake.ActionShutdown, s.Shutdown}} {
			if k.c != nil {
				js = append(js, &job{key: jobKey(k.kind, s, k.c), kind: k.kind, off: offAction(s.OffAction), sel: s.Selector, cron: k.c, grace: g,
					countdown: s.ShutdownGrace})
			}
		}
	}
	return js
}

func (e *Engine) runSchedules(ctx context.Context) {
	js := e.jobs()
	if len(js) == 0 {
		return
	}
	now := e.clock.Now()
	for _, j := range js {
		e.catchUp(ctx, j, now)
		j.next = j.cron.Next(now)
	}
	for {
		var first *job
		for _, j := range js {
			if !j.next.IsZero() && (first == nil || j.next.Before(first.next)) {
				first = j
			}
		}
		if first == nil {
			<-ctx.Done()
			return
		}
		c, stop := e.clock.After(first.next.Sub(e.clock.Now()))
		select {
		case <-ctx.Done():
			stop()
			return
		case <-c:
		}
		now := e.clock.Now()
		for _, j := range js {
			if !j.next.IsZero() && !j.next.After(now) {
				e.fire(ctx, j, j.next)
				j.next = j.cron.Next(now)
			}
		}
	}
}

// catchUp runs, once, a run of j missed while the hub was down by less than
// its grace period; older missed runs are logged and skipped.
func (e *Engine) catchUp(ctx context.Context, j *job, now time.Time) {
	last, err := e.o.Store.LastRun(ctx, j.key)
	if err != nil {
		e.log.Error("schedule: read last run", "key", j.key, "error", err)
		return
	}
	if last.IsZero() {
		// Never ran: nothing was missed. Remember from when on it counts.
		e.record(ctx, j, now)
		return
	}
	missed := j.cron.Next(last)
	if missed.After(now) {
		return
	}
	recent := j.cron.Next(now.Add(-j.grace)) // the first run within the grace period
	if recent.After(now) || !recent.After(last) {
		e.log.Warn("schedule: missed run skipped, too late to catch up", "schedule", j.sel.String(), "action", j.kind,
			"cron", j.cron.String(), "missed", missed, "grace", j.grace)
		e.record(ctx, j, now)
		return
	}
	if missed.Before(recent) {
		e.log.Warn("schedule: older missed runs skipped", "schedule", j.sel.String(), "action", j.kind,
			"cron", j.cron.String(), "first_missed", missed)
	}
	e.log.Info("schedule: catching up a missed run", "schedule", j.sel.String(), "action", j.kind,
		"cron", j.cron.String(), "missed", recent)
	e.fire(ctx, j, recent)
}

func (e *Engine) record(ctx context.Context, j *job, at time.Time) {
	if err := e.o.Store.SetLastRun(ctx, j.key, at); err != nil {
		e.log.Error("schedule: record run", "key", j.key, "error", err)
	}
}

// fire runs j's action, scheduled for at, on every machine it selects.
// The run is recorded first: a crash part-way must not run it twice.
func (e *Engine) fire(ctx context.Context, j *job, at time.Time) {
	e.record(ctx, j, at)
	ms, err := e.o.Machines.ListMachines(ctx)
	if err != nil {
		e.log.Error("schedule: list machines", "error", err)
		return
	}
	actx := moonwake.WithActor(ctx, ScheduleActor)
	if j.kind != moonwake.ActionWake && j.countdown > 0 {
		actx = moonwake.WithGrace(actx, j.countdown)
	}
	for _, m := range ms {
		if !j.sel.Matches(m) {
			continue
		}
		var a *moonwake.Action
		switch j.kind {
		case moonwake.ActionWake:
			a, err = e.o.Power.Wake(actx, m)
		default:
			if why := e.mustStayUp(ctx, m.Name); why != "" {
				e.log.Info("schedule: shutdown skipped", "machine", m.Name, "why", why)
				continue
			}
			a, err = e.o.Power.Command(actx, m, j.off)
		}
		if err != nil {
			e.log.Warn("schedule: action failed", "machine", m.Name, "action", j.kind, "error", moonwake.ErrorMessage(err))
			continue
		}
		e.log.Info("schedule: action started", "machine", m.Name, "action", j.kind, "id", a.ID, "scheduled", at)
	}
}

// mustStayUp says why the machine may not be shut down by a policy now:
// it streams, or it is kept awake. "" when it may.
func (e *Engine) mustStayUp(ctx context.Context, machine string) string {
	if st, ev, ok := e.status(machine); ok && (st == moonwake.StateStreaming || busy(ev)) {
		return "a stream is active"
	}
	until, err := e.o.Store.KeepAwake(ctx, machine)
	if err != nil {
		return "keep-awake override unreadable: " + err.Error()
	}
	if until.After(e.clock.Now()) {
		return "kept awake until " + until.UTC().Format(time.RFC3339)
	}
	return ""
}

func busy(ev moonwake.Evidence) bool {
	return ev.Sunshine != nil && ev.Sunshine.Reachable && ev.Sunshine.State == moonwake.SunshineBusy
}
