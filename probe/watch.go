package probe

import (
	"container/heap"
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moonwake/moonwake"
)

// ProbeFunc runs one round of probes; Prober.Probe is one.
type ProbeFunc func(ctx context.Context, t Target) moonwake.Evidence

// WatchOptions configure a Watcher.
type WatchOptions struct {
	// Probe runs the rounds. Required.
	Probe ProbeFunc
	// Rest is the time between rounds of a machine at rest; 0 means 5s.
	Rest time.Duration
	// Fast is the time between the starts of rounds during a transition
	// (an action pending, a state change not yet confirmed, waking or
	// shutting down); 0 means 250ms. Rounds of one machine may then
	// overlap, up to Overlap, so a round waiting out its timeout does not
	// delay the next: a port that opens is seen within about Fast.
	Fast time.Duration
	// Overlap bounds the rounds of one machine in flight; 0 means 4.
	Overlap int
	// Concurrency bounds the rounds in flight over all machines; 0 means
	// 1024. When it is reached, due rounds wait and schedules slip.
	Concurrency int
	// IdleAfter is the idle threshold for targets that set none; 0 means
	// a machine is never derived idle.
	IdleAfter time.Duration
	// Confirm is how many rounds in a row must agree before a machine that
	// was up is believed down (off, waking) or a state becomes unknown: a
	// lost packet must not make a running PC look off. Changes toward up
	// are believed at once. 0 means 2.
	Confirm int
	// Agent returns the agent evidence of a machine, or nil when it has
	// no agent; it is called once per round, from the Watcher's goroutine.
	Agent func(name string) *moonwake.AgentEvidence
	// OnChange is called for each change of state, including the first
	// state of a machine (From ""), from the Watcher's goroutine, in
	// order. It must not block for long; it may call the Watcher's methods.
	OnChange func(moonwake.StateChange)
}

// Status is a machine's state as last derived.
type Status struct {
	State    moonwake.PowerState
	Reason   string
	Since    time.Time // when the state was entered
	Checked  time.Time // the last round's end
	Evidence moonwake.Evidence
	Pending  moonwake.Pending
}

// Watcher probes many machines, each on its own schedule, and reports
// changes of their derived state.
//
// One goroutine, Run, owns every schedule: machines wait in a min-heap
// ordered by when their next round is due, and a single timer wakes Run
// for the earliest. Run starts each due round in a short-lived goroutine
// (at most Concurrency at once), gets its evidence back on a channel,
// derives the state and schedules the next round: Rest after the start of
// the last one at rest, Fast during a transition. No goroutine sleeps per
// machine; an idle Watcher of ten thousand machines is one timer and a
// heap. The first rounds of new machines are spread over Rest so they do
// not all fall due at once.
//
// The methods that change what is watched only queue a command and wake
// Run, so they never block on it, and may be called before Run starts or
// from OnChange.
type Watcher struct {
	o       WatchOptions
	running atomic.Bool
	r       *run // owned by the active Run

	mu   sync.Mutex
	cmds []command
	kick chan struct{}

	smu    sync.RWMutex
	status map[string]Status
}

type command struct {
	kind    int
	target  Target
	name    string
	pending moonwake.Pending
}

const (
	cmdWatch = iota
	cmdUnwatch
	cmdPending
	cmdProbeNow
)

// NewWatcher returns a Watcher; start its Run.
func NewWatcher(o WatchOptions) *Watcher {
	if o.Rest <= 0 {
		o.Rest = 5 * time.Second
	}
	if o.Fast <= 0 {
		o.Fast = 250 * time.Millisecond
	}
	if o.Overlap <= 0 {
		o.Overlap = 4
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 1024
	}
	if o.Confirm <= 0 {
		o.Confirm = 2
	}
	return &Watcher{o: o, kick: make(chan struct{}, 1), status: map[string]Status{}}
}

// Watch starts watching t, or replaces the target of the same name (its
// state is kept, and it is probed again at once).
func (w *Watcher) Watch(t Target) { w.queue(command{kind: cmdWatch, target: t, name: t.Name}) }

// Unwatch stops watching the machine called name.
func (w *Watcher) Unwatch(name string) { w.queue(command{kind: cmdUnwatch, name: name}) }

// SetPending says which power action is under way on a machine (a zero
// Pending when none). It probes the machine at once, then every Fast
// until the action ends.
func (w *Watcher) SetPending(name string, p moonwake.Pending) {
	w.queue(command{kind: cmdPending, name: name, pending: p})
}

// ProbeNow asks for a round of the machine as soon as possible: after its
// agent connected or disconnected, say.
func (w *Watcher) ProbeNow(name string) { w.queue(command{kind: cmdProbeNow, name: name}) }

// Status returns the machine's last derived state; false before its first
// round ended, or when it is not watched.
func (w *Watcher) Status(name string) (Status, bool) {
	w.smu.RLock()
	defer w.smu.RUnlock()
	s, ok := w.status[name]
	return s, ok
}

func (w *Watcher) queue(c command) {
	w.mu.Lock()
	w.cmds = append(w.cmds, c)
	w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// entry is one watched machine; only Run touches it.
type entry struct {
	t        Target
	index    int // in the heap, -1 when not
	due      time.Time
	inflight int
	started  uint64 // rounds started
	applied  uint64 // the newest round whose evidence was used
	last     time.Time

	state  moonwake.PowerState
	reason string
	since  time.Time
	cand   moonwake.PowerState // a change seen, not yet confirmed
	candN  int
	candEv moonwake.Evidence // the newest evidence of cand, and its reason
	candR  string
	pend   moonwake.Pending
	gone   bool
}

type result struct {
	e   *entry
	seq uint64
	ev  moonwake.Evidence
}

// Run probes until ctx ends, then waits for the rounds in flight and
// returns nil. Only one Run may be active at a time; a later one goes on
// with the same machines.
func (w *Watcher) Run(ctx context.Context) error {
	if w.o.Probe == nil {
		return errors.New("watcher: no Probe")
	}
	if !w.running.CompareAndSwap(false, true) {
		return errors.New("watcher: already running")
	}
	defer w.running.Store(false)

	// The schedules outlive a Run: a later Run goes on where it stopped.
	if w.r == nil {
		w.r = &run{w: w, entries: map[string]*entry{}, results: make(chan result, w.o.Concurrency)}
	}
	r := w.r
	pctx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		r.wg.Wait()
	}()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		r.commands()
		now := time.Now()
		// Rounds due within a millisecond start together: fewer wake-ups.
		for r.inflight < w.o.Concurrency && len(r.heap) > 0 && !r.heap[0].due.After(now.Add(time.Millisecond)) {
			e := heap.Pop(&r.heap).(*entry)
			r.start(pctx, e, now)
		}
		var tc <-chan time.Time
		if r.inflight < w.o.Concurrency && len(r.heap) > 0 {
			timer.Reset(r.heap[0].due.Sub(now))
			tc = timer.C
		}
		select {
		case <-ctx.Done():
			return nil
		case <-w.kick:
		case <-tc:
		case res := <-r.results:
			r.apply(res)
			// Take whatever else is ready before scheduling again.
			for more := true; more; {
				select {
				case res := <-r.results:
					r.apply(res)
				default:
					more = false
				}
			}
		}
	}
}

// run is the state of one Run, owned by its goroutine.
type run struct {
	w        *Watcher
	entries  map[string]*entry
	heap     entryHeap
	results  chan result
	inflight int
	wg       sync.WaitGroup
}

func (r *run) commands() {
	r.w.mu.Lock()
	cmds := r.w.cmds
	r.w.cmds = nil
	r.w.mu.Unlock()
	now := time.Now()
	for _, c := range cmds {
		e := r.entries[c.name]
		switch c.kind {
		case cmdWatch:
			if e != nil {
				e.t = c.target
				r.soon(e, now)
				continue
			}
			e = &entry{t: c.target, index: -1, state: c.target.Initial, since: c.target.InitialSince}
			r.entries[c.name] = e
			// Spread first rounds over Rest.
			e.due = now.Add(rand.N(r.w.o.Rest))
			heap.Push(&r.heap, e)
		case cmdUnwatch:
			if e == nil {
				continue
			}
			if e.index >= 0 {
				heap.Remove(&r.heap, e.index)
			}
			e.gone = true
			delete(r.entries, c.name)
			r.w.smu.Lock()
			delete(r.w.status, c.name)
			r.w.smu.Unlock()
		case cmdPending:
			if e == nil {
				continue
			}
			e.pend = c.pending
			r.soon(e, now)
		case cmdProbeNow:
			if e != nil {
				r.soon(e, now)
			}
		}
	}
}

// soon makes e due now, or as soon as one of its rounds in flight ends.
func (r *run) soon(e *entry, now time.Time) {
	switch {
	case e.index >= 0:
		e.due = now
		heap.Fix(&r.heap, e.index)
	case e.inflight < r.w.o.Overlap:
		e.due = now
		heap.Push(&r.heap, e)
	}
}

func (r *run) start(ctx context.Context, e *entry, now time.Time) {
	e.started++
	e.inflight++
	e.last = now
	r.inflight++
	seq, t, probe, out := e.started, e.t, r.w.o.Probe, r.results
	r.wg.Go(func() {
		out <- result{e: e, seq: seq, ev: probe(ctx, t)}
	})
	if r.fast(e) {
		r.schedule(e, now)
	}
}

func (r *run) fast(e *entry) bool {
	return e.pend.Kind != moonwake.PendingNone || e.candN > 0 ||
		e.state == moonwake.StateWaking || e.state == moonwake.StateShuttingDown
}

// schedule queues e's next round, unless it is queued already or must
// wait for a round in flight.
func (r *run) schedule(e *entry, now time.Time) {
	if e.gone || e.index >= 0 {
		return
	}
	var due time.Time
	if r.fast(e) {
		if e.inflight >= r.w.o.Overlap {
			return
		}
		due = e.last.Add(r.w.o.Fast)
	} else {
		if e.inflight > 0 {
			return
		}
		due = e.last.Add(r.w.o.Rest)
	}
	e.due = due
	if due.Before(now) {
		e.due = now
	}
	heap.Push(&r.heap, e)
}

func (r *run) apply(res result) {
	r.inflight--
	e := res.e
	e.inflight--
	if e.gone {
		return
	}
	now := time.Now()
	defer r.schedule(e, now)
	late := res.seq <= e.applied // a newer round already spoke
	if late && e.cand == "" {
		return
	}
	ev := res.ev
	if r.w.o.Agent != nil {
		ev.Agent = r.w.o.Agent(e.t.Name)
	}
	idle := e.t.IdleAfter
	if idle == 0 {
		idle = r.w.o.IdleAfter
	}
	st, reason := moonwake.DeriveState(ev, e.pend, idle)

	change := false
	switch {
	case late:
		// This round started before the one that spoke and ended after it
		// (two rounds that end together). Its evidence is older, so it is
		// not shown; but it is a look of its own, so it may confirm the
		// change the newer round saw, announced with the newer evidence.
		// It never starts a change nor undoes one.
		if st != e.cand {
			return
		}
		e.candN++
		if e.candN < r.w.o.Confirm {
			return
		}
		change, st, reason, ev = true, e.cand, e.candR, e.candEv
	case e.state == "":
		change = true
	case st == e.state:
		e.cand, e.candN, e.candEv, e.candR = "", 0, moonwake.Evidence{}, ""
		e.reason = reason
	default:
		if st == e.cand {
			e.candN++
		} else {
			e.cand, e.candN = st, 1
		}
		e.candEv, e.candR = ev, reason
		change = !r.needsConfirm(e.state, st) || e.candN >= r.w.o.Confirm
	}
	if !late {
		e.applied = res.seq
	}
	var ch *moonwake.StateChange
	if change {
		ch = &moonwake.StateChange{Machine: e.t.Name, From: e.state, To: st, Reason: reason, At: ev.At, Evidence: ev}
		e.state, e.reason, e.since = st, reason, ev.At
		e.cand, e.candN, e.candEv, e.candR = "", 0, moonwake.Evidence{}, ""
	}
	r.w.smu.Lock()
	r.w.status[e.t.Name] = Status{State: e.state, Reason: e.reason, Since: e.since, Checked: ev.At, Evidence: ev, Pending: e.pend}
	r.w.smu.Unlock()
	if ch != nil && r.w.o.OnChange != nil {
		r.w.o.OnChange(*ch)
	}
}

// needsConfirm: a machine that was up is believed gone, or any state
// becomes unknown, only after Confirm rounds agree.
func (r *run) needsConfirm(from, to moonwake.PowerState) bool {
	return to == moonwake.StateUnknown || (from.Up() && !to.Up())
}

// entryHeap orders entries by due time.
type entryHeap []*entry

func (h entryHeap) Len() int           { return len(h) }
func (h entryHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h entryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *entryHeap) Push(x any) {
	e := x.(*entry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *entryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	e.index = -1
	return e
}
