// Package power carries out power actions on machines and proves them: a
// wake sends magic packets, resending with backoff, until the machine is
// seen on; a shutdown (reboot, sleep, hibernate) asks the machine's agent
// and then watches for it to go off, retries once at the deadline, and fails
// loudly. Every action is a record in the audit log, and every end is
// announced as an event and, when it failed, as a notification.
//
// One goroutine owned by the Service drives every running action from a
// timer heap: ten thousand actions in flight cost a heap entry each, not a
// goroutine each. A machine has at most one power action running: asking
// again joins it (the request is recorded in its steps), so a button pressed
// twice, or a flood of requests, never floods the LAN.
package power

import (
	"container/heap"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/wol"
)

// Publisher announces events; events.Broker implements it.
type Publisher interface {
	Publish(typ, machine string, v any) (*moonwake.Event, error)
}

// Relays sends wakes from the relay that serves a machine's LAN, for the
// machines the hub cannot reach itself; hub/remote implements it.
type Relays interface {
	// RouteMachine names the relay that serves m; "" when this host
	// sends itself. EUnavailable, saying since when, when m's relay is
	// offline.
	RouteMachine(m *moonwake.Machine) (string, error)
	// Wake sends m's magic packets from the relay, count to each target,
	// and returns the steps the relay took and how many packets went out.
	Wake(ctx context.Context, relay string, m *moonwake.Machine, count int) ([]moonwake.Step, int, error)
}

// Countdowns shows an action's countdown at its machine and hears it
// cancelled there; hub/remote implements it with the machine's agent.
type Countdowns interface {
	// Start shows c at the machine. An error says why the PC does not
	// show it (no agent linked, an agent that refused it): the countdown
	// runs at the hub all the same.
	Start(ctx context.Context, machine string, c moonwake.Countdown) error
	// Withdraw ends the countdown of that action at the machine, if it
	// shows one.
	Withdraw(ctx context.Context, machine, actionID string) error
	// OnCancel registers fn to hear that the person at the machine
	// cancelled the countdown of that action, and how ("input",
	// "button", "command"). fn must not block.
	OnCancel(fn func(machine, actionID, how string))
}

// Options configure a Service.
type Options struct {
	Count            int           // packets per target in each burst, at least 1
	WakeDeadline     time.Duration // a wake fails when the machine is not seen on by then (3 min)
	ShutdownDeadline time.Duration // a shutdown is retried, then fails, when the machine is still up by then (2 min)
	Sender           *wol.Sender   // nil: a new one
	Interfaces       func() ([]wol.Iface, error)
	Events           Publisher                // nil: none
	Monitor          moonwake.Monitor         // nil: nothing can be verified
	Commander        moonwake.Commander       // nil: nothing can be commanded
	Relays           Relays                   // nil: this host sends every wake
	Countdowns       Countdowns               // nil: a grace counts down at the hub alone
	Notify           func(a *moonwake.Action) // told of every ended action; nil: nobody
	Resends          []time.Duration          // waits between a wake's bursts; nil: resendAfter
	Logger           *slog.Logger
	Now              func() time.Time
}

// Resends of a wake, after the first burst, while the machine is not seen
// on: soon at first (a packet lost while the NIC renegotiated its link),
// then every half minute until the deadline.
var resendAfter = []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 15 * time.Second, 30 * time.Second}

// blindResends is how many times a wake that cannot be verified resends.
const blindResends = 2

// maxRequestSteps bounds the "request" steps recorded when people join a
// running action; past it they are only counted.
const maxRequestSteps = 10

// joinBurstEvery is how often joining a running wake may send a burst.
const joinBurstEvery = time.Second

// Service carries out power actions. Create it with New, Resume what a
// previous run left, Run it in a goroutine, and Close it.
type Service struct {
	o   Options
	log *slog.Logger
	now func() time.Time

	actions moonwake.ActionService
	sender  *wol.Sender

	mu        sync.Mutex
	byID      map[string]*run
	byMachine map[string]*run
	starting  map[string]chan struct{} // by machine: a request is starting an action; closed when it has
	timers    runHeap
	kick      chan struct{}
	writes    sync.WaitGroup
	sends     sync.WaitGroup              // relays' bursts in flight
	unwritten map[string]*moonwake.Action // by id: updates not in the audit log yet
	writing   map[string]chan struct{}    // by id: closed when the last update queued is written
	noops     map[noopKey]*noop           // records that nothing was needed, for the same requests to share
}

// noopKey is what requests that share a no-op record have in common.
type noopKey struct {
	machine, kind string
	actor         moonwake.Actor
}

// noopFold is how long requests that need nothing done share one record.
const noopFold = time.Minute

// noop is a record that nothing was needed ("already on"), which the same
// request from the same actor shares while the machine's state holds, up
// to noopFold: a phone, a script or a home automation that asks again and
// again is answered from memory, and the audit log keeps one row a
// minute for it instead of one per request. The action is read-only.
type noop struct {
	a     *moonwake.Action
	state moonwake.PowerState
	since time.Time
	at    time.Time
}

// folded returns the record that a request for kind on machine, by the
// actor in ctx, shares while the machine is in state since then; nil when
// it must be recorded on its own.
func (s *Service) folded(ctx context.Context, kind, machine string, state moonwake.PowerState, since time.Time) *moonwake.Action {
	actor, _ := moonwake.ActorFrom(ctx)
	k := noopKey{machine: machine, kind: kind, actor: actor}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.noops[k]
	if n == nil || n.state != state || !n.since.Equal(since) {
		return nil
	}
	if s.now().Sub(n.at) >= noopFold {
		delete(s.noops, k)
		return nil
	}
	return n.a
}

// recordNoop records a, which says nothing was needed for a machine in
// state since then, and keeps it for the same requests to share.
func (s *Service) recordNoop(ctx context.Context, a *moonwake.Action, state moonwake.PowerState, since time.Time) (*moonwake.Action, error) {
	a, err := s.record(ctx, a, nil)
	if err != nil {
		return nil, err
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.noops) >= 64 { // forget what has expired; rate limits bound the rest
		for k, n := range s.noops {
			if now.Sub(n.at) >= noopFold {
				delete(s.noops, k)
			}
		}
	}
	s.noops[noopKey{machine: a.Machine, kind: a.Kind, actor: a.Actor}] = &noop{a: a, state: state, since: since, at: now}
	return a, nil
}

// run is an action in flight.
type run struct {
	a        *moonwake.Action
	m        *moonwake.Machine
	packet   []byte
	targets  []wol.Target
	relay    string    // the relay that sends its packets; "": this host
	verify   bool      // the monitor can see the machine's state
	resends  int       // resends sent so far
	bursts   int       // bursts sent, by resends, joins and before a restart
	retried  bool      // a shutdown's command was sent again
	wentDown bool      // a reboot saw the machine go down
	counting bool      // in its grace: the command is sent at due, unless cancelled
	lastSend time.Time // the last burst
	joined   int       // requests that joined it
	next     time.Time // when Run looks at it again
	// shown is closed once the PC was told of the countdown; nil: this
	// process did not tell it.
	shown chan struct{}
	// due is the action's deadline as this process counts it: on the
	// monotonic clock when s.now gives one, so a wall clock set back or
	// forward neither delays nor hastens it. a.Deadline is the same time
	// for people and for a restart, which has only the wall clock.
	due   time.Time
	index int // in the heap
	done  chan struct{}
	// view is the copy of a that requests joining it are given, shared
	// by all of them until a changes (viewOf).
	view    *moonwake.Action
	viewKey viewKey
}

// viewKey tells whether a run's action changed since its view was made:
// in this package steps are only appended, and the rest changes as a
// whole when the action ends or its deadline moves.
type viewKey struct {
	steps           int
	status, detail  string
	finished        bool
	deadline        time.Time
	lastAt, firstAt time.Time
}

// viewOf returns r's action as it is now, for requests that join it: a
// copy shared by every request until the action changes, which none of
// them may change (PowerService says so). s.mu is held.
func viewOf(r *run) *moonwake.Action {
	k := viewKey{steps: len(r.a.Steps), status: r.a.Status, detail: r.a.Detail, finished: r.a.FinishedAt != nil}
	if r.a.Deadline != nil {
		k.deadline = *r.a.Deadline
	}
	if n := len(r.a.Steps); n > 0 {
		k.firstAt, k.lastAt = r.a.Steps[0].At, r.a.Steps[n-1].At
	}
	if r.view == nil || k != r.viewKey {
		r.view, r.viewKey = clone(r.a), k
	}
	return r.view
}

// New returns a Service that records actions in actions.
func New(actions moonwake.ActionService, o Options) *Service {
	s := &Service{
		o: o, log: o.Logger, now: o.Now, actions: actions, sender: o.Sender,
		byID: map[string]*run{}, byMachine: map[string]*run{}, starting: map[string]chan struct{}{},
		kick: make(chan struct{}, 1), unwritten: map[string]*moonwake.Action{}, writing: map[string]chan struct{}{},
		noops: map[noopKey]*noop{},
	}
	if s.sender == nil {
		s.sender = &wol.Sender{}
	}
	if s.o.Interfaces == nil {
		c := &wol.InterfaceCache{TTL: 10 * time.Second}
		s.o.Interfaces = c.Interfaces
	}
	if s.o.Count < 1 {
		s.o.Count = 1
	}
	if len(s.o.Resends) == 0 {
		s.o.Resends = resendAfter
	}
	if s.o.WakeDeadline <= 0 {
		s.o.WakeDeadline = 3 * time.Minute
	}
	if s.o.ShutdownDeadline <= 0 {
		s.o.ShutdownDeadline = 2 * time.Minute
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	// The service verifies actions by the monitor's state changes and the
	// outcomes the machines report.
	if o.Monitor != nil {
		o.Monitor.OnChange(s.StateChanged)
	}
	if o.Commander != nil {
		o.Commander.OnOutcome(s.CommandOutcome)
	}
	if o.Countdowns != nil {
		o.Countdowns.OnCancel(s.CancelAtPC)
	}
	return s
}

// Plan returns the packet and targets a wake of m sends to from this host.
func (s *Service) Plan(m *moonwake.Machine) ([]wol.Target, []byte, error) {
	ifs, err := s.o.Interfaces()
	if err != nil {
		return nil, nil, err
	}
	return moonwake.PlanWake(m, ifs)
}

func (s *Service) state(name string) (moonwake.PowerState, time.Time) {
	if m, ok := s.o.Monitor.(stateMonitor); ok {
		return m.State(name)
	}
	info := s.info(name)
	return info.State, info.Since
}

// stateMonitor is a Monitor that tells a machine's state and since when
// without the rest of its Info (hub/monitor's does).
type stateMonitor interface {
	State(name string) (moonwake.PowerState, time.Time)
}

func (s *Service) info(name string) moonwake.PowerInfo {
	if s.o.Monitor == nil {
		return moonwake.PowerInfo{State: moonwake.StateUnknown}
	}
	return s.o.Monitor.Info(context.Background(), name)
}

// upBecause says what still answers on a machine that should be off, such
// as "tcp/47989 open", from the monitor's reason; "" when it cannot tell.
func (s *Service) upBecause(name string) string {
	if s.o.Monitor == nil {
		return ""
	}
	info := s.o.Monitor.Info(context.Background(), name)
	if !info.State.Up() {
		return "" // unknown, or not probed yet: nothing answers to tell of
	}
	why := info.Reason
	if i := strings.LastIndex(why, "up: "); i >= 0 {
		why = why[i+len("up: "):]
	}
	return why
}

func (s *Service) newAction(ctx context.Context, kind string, m *moonwake.Machine) *moonwake.Action {
	actor, _ := moonwake.ActorFrom(ctx)
	return &moonwake.Action{
		Kind: kind, Machine: m.Name, MAC: m.MAC, Actor: actor,
		Status: moonwake.StatusRunning, CreatedAt: s.now().UTC(), Steps: []moonwake.Step{},
	}
}

// begin lets one request at a time start an action on a machine: it
// returns the machine's running action, with s.mu held, for the caller to
// join; or nil and no reservation when done() says the goal is reached
// already (the caller records that nothing was needed, without waiting
// for anyone: a flood of wakes of a PC that is on stays fast); or
// reserves the start for the caller, without s.mu, and returns the
// function that ends the reservation. A request that comes while another
// is starting waits for it (its plan, first burst and audit record, a few
// milliseconds), then joins what it started: two requests never send two
// first bursts, nor record two actions.
func (s *Service) begin(ctx context.Context, machine string, done func() bool) (*run, func(), error) {
	for {
		s.mu.Lock()
		if r := s.byMachine[machine]; r != nil {
			return r, nil, nil
		}
		wait, busy := s.starting[machine]
		if !busy {
			if done() {
				s.mu.Unlock()
				return nil, nil, nil
			}
			reserved := make(chan struct{})
			s.starting[machine] = reserved
			s.mu.Unlock()
			return nil, func() {
				s.mu.Lock()
				delete(s.starting, machine)
				s.mu.Unlock()
				close(reserved)
			}, nil
		}
		s.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, nil, moonwake.Errorf(moonwake.EUnavailable, "gave up waiting for the action starting on %s: %v", machine, ctx.Err())
		}
	}
}

// join records a request for an action that is already running on the
// machine and returns a copy of it. s.mu is held.
func (s *Service) join(ctx context.Context, r *run) *moonwake.Action {
	r.joined++
	if r.joined <= maxRequestSteps {
		actor, _ := moonwake.ActorFrom(ctx)
		r.a.Steps = append(r.a.Steps, moonwake.Step{At: s.now().UTC(), Kind: moonwake.StepRequest, Target: actor.Name + " " + actor.Addr})
	}
	burst := r.a.Kind == moonwake.ActionWake && s.now().Sub(r.lastSend) >= joinBurstEvery
	if burst {
		s.burst(r) // pressed again: send again, but never more than once a second
	}
	if burst || r.joined <= maxRequestSteps {
		s.update(clone(r.a)) // what the audit log records changed
	}
	return viewOf(r)
}

// Wake wakes m on behalf of the actor in ctx and returns the action. The
// first packets are sent, and the action is durable in the audit log,
// before Wake returns; a wake of a machine already being woken joins it.
func (s *Service) Wake(ctx context.Context, m *moonwake.Machine) (*moonwake.Action, error) {
	on := func() bool { st, _ := s.state(m.Name); return st.Up() && st != moonwake.StateShuttingDown }
	var a *moonwake.Action
	for {
		joining, release, err := s.begin(ctx, m.Name, on)
		if err != nil {
			return nil, err
		}
		if r := joining; r != nil {
			defer s.mu.Unlock()
			if r.a.Kind != moonwake.ActionWake {
				return nil, moonwake.Errorf(moonwake.EConflict, "a %s of %s is under way (action %s)", r.a.Kind, m.Name, r.a.ID)
			}
			return s.join(ctx, r), nil
		}
		if st, since := s.state(m.Name); st.Up() && st != moonwake.StateShuttingDown {
			if release != nil {
				release()
			}
			if a := s.folded(ctx, moonwake.ActionWake, m.Name, st, since); a != nil {
				return a, nil
			}
			a = s.newAction(ctx, moonwake.ActionWake, m)
			s.finish(a, moonwake.StatusSucceeded, fmt.Sprintf("%s is already %s (since %s); nothing sent", m.Name, st, since.UTC().Format(time.RFC3339)))
			return s.recordNoop(ctx, a, st, since)
		}
		a = s.newAction(ctx, moonwake.ActionWake, m)
		if release != nil {
			defer release()
			break
		}
		// It went down since begin looked: take the reservation after all.
	}
	r := &run{a: a, m: m, done: make(chan struct{})}
	if err := s.route(r); err != nil {
		s.finish(a, moonwake.StatusFailed, moonwake.ErrorMessage(err))
		return s.record(ctx, a, err)
	}
	r.verify = s.o.Monitor != nil && s.o.Monitor.CanVerify(m)
	if s.firstBurst(r) == 0 {
		why := "nothing to send to"
		if len(a.Steps) > 0 && a.Steps[0].Error != "" {
			why = a.Steps[0].Error
		}
		s.finish(a, moonwake.StatusFailed, "no packet could be sent: "+why)
		return s.record(ctx, a, moonwake.Errorf(moonwake.EUnavailable, "wake %s: %s", m.Name, a.Detail))
	}
	due := s.now().Add(s.o.WakeDeadline)
	if !r.verify {
		// Resend blindly a few times, then say what was done.
		var d time.Duration
		for i := 0; i < blindResends; i++ {
			d += s.o.Resends[min(i, len(s.o.Resends)-1)]
		}
		due = s.now().Add(d + s.o.Resends[0])
	}
	setDue(r, due)
	return s.start(ctx, r, moonwake.Pending{Kind: moonwake.PendingWake, Since: a.CreatedAt})
}

// Command shuts m down, reboots it or puts it to sleep (kind is one of
// ActionShutdown, ActionReboot, ActionSleep, ActionHibernate) through the
// commander (its agent, or its Sunshine host), and watches until the
// machine is seen in the goal state.
func (s *Service) Command(ctx context.Context, m *moonwake.Machine, kind string) (*moonwake.Action, error) {
	off := func() bool { st, _ := s.state(m.Name); return st == moonwake.StateOff && kind != moonwake.ActionReboot }
	var a *moonwake.Action
	for {
		joining, release, err := s.begin(ctx, m.Name, off)
		if err != nil {
			return nil, err
		}
		if r := joining; r != nil {
			defer s.mu.Unlock()
			if r.a.Kind != kind {
				return nil, moonwake.Errorf(moonwake.EConflict, "a %s of %s is under way (action %s)", r.a.Kind, m.Name, r.a.ID)
			}
			return s.join(ctx, r), nil
		}
		if st, since := s.state(m.Name); st == moonwake.StateOff && kind != moonwake.ActionReboot {
			if release != nil {
				release()
			}
			if a := s.folded(ctx, kind, m.Name, st, since); a != nil {
				return a, nil
			}
			a = s.newAction(ctx, kind, m)
			s.finish(a, moonwake.StatusSucceeded, fmt.Sprintf("%s is already off (since %s); nothing sent", m.Name, since.UTC().Format(time.RFC3339)))
			return s.recordNoop(ctx, a, st, since)
		}
		a = s.newAction(ctx, kind, m)
		if release != nil {
			defer release()
			break
		}
	}
	if s.o.Commander == nil || !s.o.Commander.Reachable(ctx, m.Name) {
		err := moonwake.Errorf(moonwake.EUnavailable, "%s has no way to be shut down: pair its agent (moonwake machines pair %s) or its Sunshine host (moonwake sunshine pair %s)", m.Name, m.Name, m.Name)
		s.finish(a, moonwake.StatusFailed, moonwake.ErrorMessage(err))
		return s.record(ctx, a, err)
	}
	r := &run{a: a, m: m, done: make(chan struct{})}
	r.verify = s.o.Monitor != nil && s.o.Monitor.CanVerify(m)
	if grace := moonwake.GraceFrom(ctx); grace > 0 {
		return s.countdown(ctx, r, min(grace, moonwake.MaxGrace))
	}
	// The agent reports the command's outcome by the action's id, which
	// the audit log gives: store the action before sending the command,
	// with a deadline in case the hub stops meanwhile.
	setDue(r, s.now().Add(s.o.ShutdownDeadline))
	if err := s.actions.CreateAction(ctx, a); err != nil {
		return nil, fmt.Errorf("record %s of %s: %w", kind, m.Name, err)
	}
	if err := s.command(ctx, r); err != nil {
		s.finish(a, moonwake.StatusFailed, fmt.Sprintf("the agent did not take the %s command: %s", kind, moonwake.ErrorMessage(err)))
		s.mu.Lock()
		s.update(clone(a))
		s.mu.Unlock()
		s.log.Info(a.Kind, "action", a.ID, "machine", a.Machine, "actor", a.Actor.Name, "addr", a.Actor.Addr, "status", a.Status, "detail", a.Detail)
		s.ended(a)
		return a, err
	}
	setDue(r, s.now().Add(s.o.ShutdownDeadline)) // counted from the agent's acknowledgement
	pk := moonwake.PendingShutdown
	if kind == moonwake.ActionReboot {
		pk = moonwake.PendingReboot
	}
	return s.start(ctx, r, moonwake.Pending{Kind: pk, Since: a.CreatedAt})
}

// countdown starts r's grace: the action is running and recorded, the PC
// is told (in the background: an agent that is offline or refuses does
// not hold the action up), and Run sends the command when the grace ends
// unless the action is cancelled first.
func (s *Service) countdown(ctx context.Context, r *run, grace time.Duration) (*moonwake.Action, error) {
	r.counting = true
	until := s.now().Add(grace)
	setDue(r, until)
	r.a.Steps = append(r.a.Steps, moonwake.Step{At: s.now().UTC(), Kind: moonwake.StepCountdown, Target: grace.String()})
	if err := s.actions.CreateAction(ctx, r.a); err != nil {
		return nil, fmt.Errorf("record %s of %s: %w", r.a.Kind, r.m.Name, err)
	}
	shown := make(chan struct{})
	if s.o.Countdowns != nil {
		r.shown = shown // before a cancel can see r
	}
	a, err := s.start(ctx, r, moonwake.Pending{}) // not going down yet
	if err != nil || a.Done() {
		return a, err
	}
	by := r.a.Actor.Kind
	if r.a.Actor.Name != "" {
		by += " " + r.a.Actor.Name
	}
	c := moonwake.Countdown{ActionID: r.a.ID, Kind: r.a.Kind, Until: until.UTC(), By: by}
	if s.o.Countdowns == nil {
		return a, nil
	}
	s.sends.Go(func() {
		defer close(shown)
		cctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		err := s.o.Countdowns.Start(cctx, r.m.Name, c)
		st := moonwake.Step{At: s.now().UTC(), Kind: moonwake.StepCountdown, Via: "agent", Target: "shown at the PC"}
		if err != nil {
			st.Target, st.Error = "", moonwake.ErrorMessage(err)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.byID[r.a.ID] != r {
			return
		}
		r.a.Steps = append(r.a.Steps, st)
		s.update(clone(r.a))
		s.publish(clone(r.a))
	})
	return a, nil
}

// Cancel implements moonwake.PowerService: an action in its countdown ends
// as cancelled, and the PC is told to take its notification down.
func (s *Service) Cancel(ctx context.Context, id, why string) (*moonwake.Action, error) {
	s.mu.Lock()
	r := s.byID[id]
	if r == nil {
		s.mu.Unlock()
		a, err := s.FindAction(ctx, id)
		if err != nil {
			return nil, err
		}
		return nil, moonwake.Errorf(moonwake.EConflict, "action %s has ended: %s", id, a.Status)
	}
	if !r.counting {
		s.mu.Unlock()
		return nil, moonwake.Errorf(moonwake.EConflict, "action %s is past its countdown: its %s command was sent", id, r.a.Kind)
	}
	s.cancel(r, "api", why)
	a := clone(r.a)
	shown := r.shown
	s.mu.Unlock()
	if s.o.Countdowns != nil {
		s.sends.Go(func() {
			if shown != nil {
				// A withdraw that overtook the countdown would leave
				// the PC showing it. Start's own timeout bounds this.
				<-shown
			}
			cctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			if err := s.o.Countdowns.Withdraw(cctx, r.m.Name, id); err != nil {
				s.log.Info("could not withdraw the countdown at the PC", "action", id, "machine", r.m.Name, "error", moonwake.ErrorMessage(err))
			}
		})
	}
	return a, nil
}

// CancelAtPC ends the action with that id, in its countdown on machine,
// as cancelled at the PC: the person there pressed Cancel, used the
// keyboard or mouse, or ran moonwake-agent cancel. A cancel that comes too
// late (the command was sent) or names another machine's action changes
// nothing.
func (s *Service) CancelAtPC(machine, id, how string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.byID[id]
	if r == nil || r.m.Name != machine || !r.counting {
		return
	}
	detail := moonwake.CancelledAtPC
	if how != "" {
		detail += " (" + how + ")"
	}
	s.cancel(r, "pc", detail)
}

// cancel ends r, in its countdown, as cancelled. s.mu is held.
func (s *Service) cancel(r *run, via, detail string) {
	r.counting = false
	r.a.Steps = append(r.a.Steps, moonwake.Step{At: s.now().UTC(), Kind: "cancel", Via: via, Target: detail})
	s.end(r, moonwake.StatusCancelled, detail)
}

// fire sends the command of r, whose countdown has ended. s.mu is held,
// and released while the agent answers; it reports whether r still runs.
func (s *Service) fire(ctx context.Context, r *run) bool {
	r.counting = false
	setDue(r, s.now().Add(s.o.ShutdownDeadline))
	s.mu.Unlock()
	err := s.command(ctx, r)
	s.mu.Lock()
	if s.byID[r.a.ID] != r {
		return false
	}
	if err != nil {
		s.end(r, moonwake.StatusFailed, fmt.Sprintf("the agent did not take the %s command after the countdown: %s", r.a.Kind, moonwake.ErrorMessage(err)))
		return false
	}
	setDue(r, s.now().Add(s.o.ShutdownDeadline)) // counted from the acknowledgement
	if s.o.Monitor != nil {
		pk := moonwake.PendingShutdown
		if r.a.Kind == moonwake.ActionReboot {
			pk = moonwake.PendingReboot
		}
		s.o.Monitor.SetPending(r.m.Name, moonwake.Pending{Kind: pk, Since: s.now().UTC()})
	}
	s.update(clone(r.a))
	s.publish(clone(r.a))
	return true
}

// command sends the action's command to the agent and records the step.
func (s *Service) command(ctx context.Context, r *run) error {
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	said, err := s.o.Commander.Send(cctx, r.m.Name, r.a.Kind, r.a.ID)
	st := moonwake.Step{At: s.now().UTC(), Kind: "command", Via: "agent", Target: r.a.Kind}
	if err != nil {
		st.Error = moonwake.ErrorMessage(err)
	} else if said != "" {
		st.Target += ": " + said
	}
	s.mu.Lock()
	r.a.Steps = append(r.a.Steps, st)
	s.mu.Unlock()
	return err
}

// record stores an action that ended at once, announces it, and returns it
// with err.
func (s *Service) record(ctx context.Context, a *moonwake.Action, err error) (*moonwake.Action, error) {
	if werr := s.actions.CreateAction(ctx, a); werr != nil {
		return nil, fmt.Errorf("record %s of %s: %w", a.Kind, a.Machine, werr)
	}
	level := slog.LevelInfo
	if a.Status == moonwake.StatusSucceeded && len(a.Steps) == 0 {
		// Nothing to do (already on, already off): in the audit log, but
		// a client that keeps asking does not fill the hub's log too.
		level = slog.LevelDebug
	}
	s.log.Log(ctx, level, a.Kind, "action", a.ID, "machine", a.Machine, "actor", a.Actor.Name, "addr", a.Actor.Addr, "status", a.Status, "detail", a.Detail)
	s.ended(a)
	return a, err
}

// start stores a running action and hands it to Run.
func (s *Service) start(ctx context.Context, r *run, p moonwake.Pending) (*moonwake.Action, error) {
	stored := r.a.ID != "" // Command stores its action before sending the command
	if !stored {
		if err := s.actions.CreateAction(ctx, r.a); err != nil {
			return nil, fmt.Errorf("record %s of %s: %w", r.a.Kind, r.m.Name, err)
		}
	}
	s.log.Info(r.a.Kind, "action", r.a.ID, "machine", r.m.Name, "actor", r.a.Actor.Name, "addr", r.a.Actor.Addr,
		"status", r.a.Status, "verify", r.verify)
	s.mu.Lock()
	defer s.mu.Unlock()
	if other := s.byMachine[r.m.Name]; other != nil {
		// Another request started one meanwhile: this one still happened
		// and is recorded; the other goes on watching.
		s.finish(r.a, moonwake.StatusSucceeded, fmt.Sprintf("joined action %s under way", other.a.ID))
		s.update(r.a)
		return clone(r.a), nil
	}
	if stored {
		s.update(clone(r.a)) // the command step and the deadline
	}
	if s.o.Monitor != nil {
		s.o.Monitor.SetPending(r.m.Name, p)
	}
	s.schedule(r)
	s.publish(clone(r.a))
	// The state may already be the goal (the monitor saw it before the
	// action was registered): check once now.
	if info := s.info(r.m.Name); r.verify && s.reached(r, info.State) {
		s.succeed(r, info.State, info.Asleep)
	}
	return clone(r.a), nil
}

// schedule registers r and sets when Run looks at it next. s.mu is held.
func (s *Service) schedule(r *run) {
	s.byID[r.a.ID] = r
	s.byMachine[r.m.Name] = r
	r.next = s.nextCheck(r)
	heap.Push(&s.timers, r)
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// resendDelay is the wait before the next resend of a wake.
func (s *Service) resendDelay(r *run) time.Duration {
	return s.o.Resends[min(r.resends, len(s.o.Resends)-1)]
}

// setDue sets r's deadline: due as this process counts it, and for the
// action's record the same instant on the wall clock, in UTC.
func setDue(r *run, due time.Time) {
	r.due = due
	d := due.UTC()
	r.a.Deadline = &d
}

// nextCheck is the next time Run must look at r: its next resend or its
// deadline, whichever comes first; a blind wake's next resend, even past
// its deadline.
func (s *Service) nextCheck(r *run) time.Time {
	next := r.due
	if s.blindResendDue(r) {
		return r.lastSend.Add(s.resendDelay(r))
	}
	if r.a.Kind == moonwake.ActionWake && r.verify {
		if t := r.lastSend.Add(s.resendDelay(r)); t.Before(next) {
			next = t
		}
	}
	return next
}

// blindResendDue reports whether r is a wake that cannot be verified and
// still has resends to send: it ends only after them, so a Run that wakes
// late (a loaded host) sends its bursts late, never fewer of them.
func (s *Service) blindResendDue(r *run) bool {
	return r.a.Kind == moonwake.ActionWake && !r.verify && r.resends < blindResends
}

// burst sends the packet once (Count times) to every target and records a
// step for each. It returns how many sends succeeded. s.mu is held, or r is
// not shared yet.
func (s *Service) burst(r *run) int {
	if r.relay == "" && r.targets == nil {
		// Resumed after a restart before its relay came back: route again.
		_ = s.route(r)
	}
	if r.relay != "" {
		// The relay's answer is recorded when it comes: s.mu may be held.
		r.lastSend = s.now()
		r.bursts++
		s.sends.Go(func() {
			steps, _ := s.relayBurst(r)
			s.recordRelayBurst(r, steps)
		})
		return 1
	}
	ok := 0
	for _, t := range r.targets {
		st := moonwake.Step{At: s.now().UTC(), Kind: "send", Via: t.Via, Target: t.String()}
		for i := 0; i < s.o.Count; i++ {
			if err := s.sender.Send(r.packet, t); err != nil {
				st.Error = err.Error()
			} else {
				ok++
			}
		}
		r.a.Steps = append(r.a.Steps, st)
	}
	r.lastSend = s.now()
	r.bursts++
	return ok
}

// route finds who sends r's packets: the relay that serves the machine,
// or this host, for which it plans them. EUnavailable when the machine's
// relay is offline; EInvalid for a machine that cannot be woken.
func (s *Service) route(r *run) error {
	if s.o.Relays != nil {
		relay, err := s.o.Relays.RouteMachine(r.m)
		if err != nil {
			return moonwake.Errorf(moonwake.ErrorCode(err), "cannot wake %s: %s", r.m.Name, moonwake.ErrorMessage(err))
		}
		if r.relay = relay; relay != "" {
			return nil
		}
	}
	targets, b, err := s.Plan(r.m)
	if err != nil {
		return err
	}
	r.targets, r.packet = targets, b
	return nil
}

// firstBurst sends a new wake's first burst and waits for a relay's
// answer, so that a wake nothing was sent for fails at once. s.mu is not
// held.
func (s *Service) firstBurst(r *run) int {
	if r.relay == "" {
		return s.burst(r)
	}
	steps, sent := s.relayBurst(r)
	r.a.Steps = append(r.a.Steps, steps...)
	r.lastSend = s.now()
	r.bursts++
	return sent
}

// relayBurst asks r's relay to send a burst, and returns its steps, with
// a step that says why when it could not.
func (s *Service) relayBurst(r *run) ([]moonwake.Step, int) {
	steps, sent, err := s.o.Relays.Wake(context.Background(), r.relay, r.m, s.o.Count)
	if err != nil {
		steps = append(steps, moonwake.Step{At: s.now().UTC(), Kind: "send", Via: "relay " + r.relay, Error: moonwake.ErrorMessage(err)})
	}
	return steps, sent
}

// recordRelayBurst adds what a relay did to r's steps, unless r ended.
func (s *Service) recordRelayBurst(r *run, steps []moonwake.Step) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byID[r.a.ID] != r {
		return
	}
	r.a.Steps = append(r.a.Steps, steps...)
	s.update(clone(r.a))
}

func (s *Service) finish(a *moonwake.Action, status, detail string) {
	now := s.now().UTC()
	a.Status, a.Detail, a.FinishedAt = status, detail, &now
}

// reached reports whether st is the goal of r.
func (s *Service) reached(r *run, st moonwake.PowerState) bool {
	switch r.a.Kind {
	case moonwake.ActionWake:
		return st.Up() && st != moonwake.StateShuttingDown
	case moonwake.ActionReboot:
		if !st.Up() && st != moonwake.StateUnknown {
			r.wentDown = true
		}
		return r.wentDown && st.Up() && st != moonwake.StateShuttingDown
	default:
		return st == moonwake.StateOff
	}
}

// CommandOutcome records what the agent of machine reported after carrying out (or
// failing to carry out) the command of action id. A failure ends the action
// at once: waiting for the deadline would only delay the alarm.
func (s *Service) CommandOutcome(machine, id string, ok bool, detail string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.byID[id]
	if r == nil || r.m.Name != machine {
		return // only a machine's own agent speaks for its actions
	}
	st := moonwake.Step{At: s.now().UTC(), Kind: "outcome", Via: "agent", Target: detail}
	if !ok {
		st.Error = detail
		st.Target = ""
	}
	r.a.Steps = append(r.a.Steps, st)
	if !ok {
		s.end(r, moonwake.StatusFailed, fmt.Sprintf("the agent could not %s %s: %s", r.a.Kind, r.m.Name, detail))
	}
}

// StateChanged is called by the monitor when a machine's state changes.
func (s *Service) StateChanged(sc moonwake.StateChange) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.byMachine[sc.Machine]
	if r == nil || !r.verify {
		return
	}
	if s.reached(r, sc.To) {
		s.succeed(r, sc.To, moonwake.Asleep(sc.Evidence))
	}
}

// succeed ends r: the machine was seen in its goal state; asleep, when
// off, if its network card still answered. s.mu is held.
func (s *Service) succeed(r *run, st moonwake.PowerState, asleep bool) {
	took := s.now().Sub(r.a.CreatedAt).Round(100 * time.Millisecond)
	seen := string(st)
	if st == moonwake.StateOff && asleep && (r.a.Kind == moonwake.ActionSleep || r.a.Kind == moonwake.ActionHibernate) {
		// Said only after a sleep: after a shutdown, a card still
		// answering is a PC that went to sleep instead, which the
		// evidence on its page shows.
		seen = "asleep"
		r.a.Steps = append(r.a.Steps, moonwake.Step{At: s.now().UTC(), Kind: "verify", Target: seen})
		s.end(r, moonwake.StatusSucceeded, fmt.Sprintf("%s is asleep after %s: nothing answers but its network card (ARP)", r.m.Name, took))
		return
	}
	r.a.Steps = append(r.a.Steps, moonwake.Step{At: s.now().UTC(), Kind: "verify", Target: seen})
	s.end(r, moonwake.StatusSucceeded, fmt.Sprintf("%s is %s after %s", r.m.Name, st, took))
}

// end finishes r, stores and announces it. s.mu is held.
func (s *Service) end(r *run, status, detail string) {
	if n := r.joined - maxRequestSteps; n > 0 {
		r.a.Steps = append(r.a.Steps, moonwake.Step{At: s.now().UTC(), Kind: moonwake.StepRequest, Target: fmt.Sprintf("and %d more requests", n)})
	}
	s.finish(r.a, status, detail)
	delete(s.byID, r.a.ID)
	if s.byMachine[r.m.Name] == r {
		delete(s.byMachine, r.m.Name)
		if s.o.Monitor != nil {
			s.o.Monitor.SetPending(r.m.Name, moonwake.Pending{})
		}
	}
	if r.index >= 0 && r.index < len(s.timers) && s.timers[r.index] == r {
		heap.Remove(&s.timers, r.index)
	}
	a := clone(r.a)
	close(r.done)
	s.update(a)
	s.log.Info(a.Kind+" ended", "action", a.ID, "machine", a.Machine, "status", a.Status, "detail", a.Detail)
	s.ended(a)
}

// update stores a in the background; the request that started it is gone.
// Until it is stored, FindAction answers with a. Updates of one action are
// written in the order they were made: an older state never overwrites a
// newer one. s.mu is held.
func (s *Service) update(a *moonwake.Action) {
	s.unwritten[a.ID] = a
	prev, done := s.writing[a.ID], make(chan struct{})
	s.writing[a.ID] = done
	s.writes.Add(1)
	go func() {
		defer s.writes.Done()
		if prev != nil {
			<-prev
		}
		if err := s.actions.UpdateAction(context.Background(), a); err != nil {
			s.log.Error("record action outcome", "action", a.ID, "error", err)
		}
		close(done)
		s.mu.Lock()
		if s.unwritten[a.ID] == a {
			delete(s.unwritten, a.ID)
		}
		if s.writing[a.ID] == done {
			delete(s.writing, a.ID)
		}
		s.mu.Unlock()
	}()
}

// ended announces an action that ended.
func (s *Service) ended(a *moonwake.Action) {
	s.publish(a)
	if s.o.Notify != nil {
		s.o.Notify(a)
	}
}

// Run drives running actions until ctx ends.
func (s *Service) Run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		s.mu.Lock()
		wait := time.Hour
		var due []*run
		now := s.now()
		for len(s.timers) > 0 {
			r := s.timers[0]
			if d := r.next.Sub(now); d > 0 {
				wait = d
				break
			}
			heap.Pop(&s.timers)
			due = append(due, r)
		}
		s.mu.Unlock()
		for _, r := range due {
			s.tick(ctx, r)
		}
		if len(due) > 0 {
			continue
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
		case <-timer.C:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// tick handles a run whose time came: resend, retry, or give up.
func (s *Service) tick(ctx context.Context, r *run) {
	s.mu.Lock()
	if s.byID[r.a.ID] != r {
		s.mu.Unlock()
		return // ended meanwhile
	}
	now := s.now()
	if r.verify && !now.Before(r.due) && !r.counting {
		// The goal may have been reached unseen, as no change: before a
		// restart's Resume, say. What the monitor sees now decides.
		if info := s.info(r.m.Name); s.reached(r, info.State) {
			s.succeed(r, info.State, info.Asleep)
			s.mu.Unlock()
			return
		}
	}
	switch {
	case r.counting && !now.Before(r.due):
		if !s.fire(ctx, r) {
			s.mu.Unlock()
			return
		}
	case r.counting:
	case s.blindResendDue(r):
		r.resends++
		s.burst(r)
		s.update(clone(r.a)) // every burst is in the audit log
		s.publish(clone(r.a))
	case !now.Before(r.due) && r.a.Kind == moonwake.ActionWake:
		if !r.verify {
			s.end(r, moonwake.StatusSucceeded, fmt.Sprintf("sent %d burst(s) of magic packets; not verified: %s has no address to probe and no agent", r.bursts, r.m.Name))
		} else {
			s.end(r, moonwake.StatusFailed, fmt.Sprintf("%s was not seen on within %s (%d burst(s) sent)", r.m.Name, s.o.WakeDeadline, r.bursts))
		}
		s.mu.Unlock()
		return
	case !now.Before(r.due) && !r.retried:
		// Still up at the deadline: say the command once more, then give
		// it as long again.
		r.retried = true
		setDue(r, now.Add(s.o.ShutdownDeadline))
		s.mu.Unlock()
		err := s.command(ctx, r)
		s.mu.Lock()
		if s.byID[r.a.ID] != r {
			s.mu.Unlock()
			return
		}
		if err != nil && moonwake.ErrorCode(err) != moonwake.EUnavailable {
			// Refused outright; an unreachable agent may be going down.
			s.end(r, moonwake.StatusFailed, fmt.Sprintf("%s is still up and the agent refused the %s command again: %s", r.m.Name, r.a.Kind, moonwake.ErrorMessage(err)))
			s.mu.Unlock()
			return
		}
		s.update(clone(r.a))
		s.publish(clone(r.a))
	case !now.Before(r.due):
		st, _ := s.state(r.m.Name)
		if st == moonwake.StateShuttingDown {
			// That is the action's own doing: the machine is up.
			st = "up"
		}
		detail := fmt.Sprintf("%s is still %s %s after the %s command, sent twice", r.m.Name, st, 2*s.o.ShutdownDeadline, r.a.Kind)
		if why := s.upBecause(r.m.Name); why != "" {
			detail += ": " + why
		}
		s.end(r, moonwake.StatusFailed, detail)
		s.mu.Unlock()
		return
	case r.a.Kind == moonwake.ActionWake:
		r.resends++
		s.burst(r)
		s.update(clone(r.a)) // every burst is in the audit log
		s.publish(clone(r.a))
	}
	r.next = s.nextCheck(r)
	heap.Push(&s.timers, r)
	s.mu.Unlock()
}

// Resume takes up the actions a previous run of the hub left running. An
// action whose machine is gone fails; the others go on to their deadline
// and end with what the monitor then sees. Commands are not sent again: the
// first may already be in effect.
func (s *Service) Resume(ctx context.Context, find func(name string) (*moonwake.Machine, error)) error {
	as, err := s.actions.RunningActions(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Newest first: if two were left running for one machine, the newer
	// is the one to keep.
	for i := len(as) - 1; i >= 0; i-- {
		a := as[i]
		m, err := find(a.Machine)
		switch {
		case err != nil:
			s.finish(a, moonwake.StatusFailed, "the hub restarted and the machine no longer exists")
			s.update(a)
			s.ended(a)
			continue
		case a.Deadline == nil:
			// Recorded by an older hub that did not verify.
			s.finish(a, moonwake.StatusSucceeded, "the hub restarted before this action ended; packets were sent, not verified")
			s.update(a)
			s.ended(a)
			continue
		}
		r := &run{a: a, m: m, done: make(chan struct{}), lastSend: s.now(), resends: max(len(s.o.Resends), blindResends), bursts: burstsIn(a), due: *a.Deadline}
		r.verify = s.o.Monitor != nil && s.o.Monitor.CanVerify(m)
		r.retried = a.Kind != moonwake.ActionWake // never repeat a command blindly
		r.counting = countingIn(a)
		if r.counting {
			r.retried = false // its command was never sent: it is sent when the grace ends
			if s.now().After(r.due.Add(countdownLate)) {
				s.finish(a, moonwake.StatusFailed, fmt.Sprintf("its countdown ended while the hub was down (%s late); the %s command was not sent", s.now().Sub(r.due).Round(time.Second), a.Kind))
				s.update(a)
				s.ended(a)
				continue
			}
		}
		if a.Kind == moonwake.ActionWake {
			_ = s.route(r) // else burst routes again: its relay may come back before the deadline
		}
		a.Steps = append(a.Steps, moonwake.Step{At: s.now().UTC(), Kind: "resume", Target: "the hub restarted; watching again"})
		if s.byMachine[m.Name] != nil {
			s.finish(a, moonwake.StatusFailed, "superseded by a newer action after a restart")
			s.update(a)
			s.ended(a)
			continue
		}
		if s.o.Monitor != nil && !r.counting {
			pk := moonwake.PendingShutdown
			switch a.Kind {
			case moonwake.ActionWake:
				pk = moonwake.PendingWake
			case moonwake.ActionReboot:
				pk = moonwake.PendingReboot
			}
			s.o.Monitor.SetPending(m.Name, moonwake.Pending{Kind: pk, Since: a.CreatedAt})
		}
		s.schedule(r)
		s.log.Info("resumed action", "action", a.ID, "kind", a.Kind, "machine", a.Machine, "deadline", a.Deadline)
	}
	return nil
}

// countdownLate is how late after its countdown's end a restarted hub
// still sends an action's command: about as long as the agent keeps the
// countdown up past its time. Later, nobody at the PC was warned of it,
// and a cancel made there may have been lost while the hub was down.
const countdownLate = 30 * time.Second

// countingIn reports whether a is in its countdown: it has a countdown
// step and its command was not sent yet.
func countingIn(a *moonwake.Action) bool {
	counting := false
	for _, st := range a.Steps {
		switch st.Kind {
		case moonwake.StepCountdown:
			counting = true
		case "command":
			return false
		}
	}
	return counting
}

// burstsIn counts the bursts an action's steps record: a burst has one send
// step per target, so the sends to the first target.
func burstsIn(a *moonwake.Action) int {
	n, first := 0, ""
	for _, st := range a.Steps {
		if st.Kind != "send" {
			continue
		}
		if first == "" {
			first = st.Target
		}
		if st.Target == first {
			n++
		}
	}
	return n
}

// FindAction returns the action with that id, live when it is running.
func (s *Service) FindAction(ctx context.Context, id string) (*moonwake.Action, error) {
	s.mu.Lock()
	r, ok := s.byID[id]
	var a *moonwake.Action
	if ok {
		a = clone(r.a)
	} else if u := s.unwritten[id]; u != nil {
		// Ended, and its outcome not in the audit log yet.
		a, ok = clone(u), true
	}
	s.mu.Unlock()
	if ok {
		return a, nil
	}
	return s.actions.FindAction(ctx, id)
}

// Wait returns the action with that id once it has ended, or as it is when
// ctx ends.
func (s *Service) Wait(ctx context.Context, id string) (*moonwake.Action, error) {
	s.mu.Lock()
	r, ok := s.byID[id]
	s.mu.Unlock()
	if ok {
		select {
		case <-r.done:
		case <-ctx.Done():
		}
	}
	return s.FindAction(context.WithoutCancel(ctx), id)
}

// Close stops: running actions stay running in the audit log, to be resumed
// by the next start, and it waits for writes in flight.
func (s *Service) Close() error {
	s.mu.Lock()
	running := make([]*moonwake.Action, 0, len(s.byID))
	for _, r := range s.byID {
		running = append(running, clone(r.a))
		close(r.done) // waiters get the action as it stands
	}
	s.byID, s.byMachine, s.timers = map[string]*run{}, map[string]*run{}, nil
	for _, a := range running {
		s.update(a) // keep the steps so far
	}
	s.mu.Unlock()
	s.sends.Wait()
	s.writes.Wait()
	return s.sender.Close()
}

// publish announces a's new state.
func (s *Service) publish(a *moonwake.Action) {
	if s.o.Events == nil {
		return
	}
	if _, err := s.o.Events.Publish(moonwake.EventAction, a.Machine, a); err != nil {
		s.log.Error("publish action event", "action", a.ID, "error", err)
	}
}

func clone(a *moonwake.Action) *moonwake.Action {
	c := *a
	c.Steps = append([]moonwake.Step(nil), a.Steps...)
	if a.Deadline != nil {
		d := *a.Deadline
		c.Deadline = &d
	}
	return &c
}

// runHeap orders runs by when they are next due.
type runHeap []*run

func (h runHeap) Len() int           { return len(h) }
func (h runHeap) Less(i, j int) bool { return h[i].next.Before(h[j].next) }
func (h runHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *runHeap) Push(x any) { r := x.(*run); r.index = len(*h); *h = append(*h, r) }
func (h *runHeap) Pop() any {
	old := *h
	r := old[len(old)-1]
	old[len(old)-1] = nil
	r.index = -1
	*h = old[:len(old)-1]
	return r
}
