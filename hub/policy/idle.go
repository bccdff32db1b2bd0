package policy

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/hub/notify"
)

// idleState is what the idle policy knows of one machine.
type idleState struct {
	last       moonwake.StateChange // the last change seen
	source     string               // what says it is quiet: "agent", "session", "sunshine"
	quietSince time.Time            // zero: in use (or unknown)
	warnedAt   time.Time            // zero: no warning out
	holdUntil  time.Time            // after a shutdown was asked: do not ask again before
	warnID     string               // the warning's countdown at the PC, which a cancel there names
	shown      chan struct{}        // closed once the PC was told of warnID's countdown
	inputAt    time.Time            // a cancel at the PC counts as input then
	due        time.Time            // when to look again; zero: at the next change
}

func (e *Engine) runIdle(ctx context.Context) {
	if len(e.o.Idle) == 0 {
		return
	}
	for {
		var due time.Time
		for _, s := range e.idle {
			if !s.due.IsZero() && (due.IsZero() || s.due.Before(due)) {
				due = s.due
			}
		}
		var tc <-chan time.Time
		stop := func() {}
		if !due.IsZero() {
			tc, stop = e.clock.After(due.Sub(e.clock.Now()))
		}
		select {
		case <-ctx.Done():
			stop()
			return
		case <-e.kick:
			stop()
			e.mu.Lock()
			dirty := e.dirty
			e.dirty = map[string]*moonwake.StateChange{}
			e.mu.Unlock()
			for name, sc := range dirty {
				e.check(ctx, name, sc)
			}
		case <-tc:
			now := e.clock.Now()
			for name, s := range e.idle {
				if !s.due.IsZero() && !s.due.After(now) {
					e.check(ctx, name, nil)
				}
			}
		}
	}
}

// rule returns the idle rule for the machine, if one selects it.
func (e *Engine) rule(ctx context.Context, name string) (*moonwake.Machine, *IdleRule) {
	m, err := e.o.Machines.FindMachine(ctx, name)
	if err != nil {
		return nil, nil
	}
	for i := range e.o.Idle {
		if e.o.Idle[i].Matches(m) {
			return m, &e.o.Idle[i]
		}
	}
	return m, nil
}

// check looks at one machine after a state change (sc) or when it was due
// (sc nil): it warns when the machine has been quiet long enough, and shuts
// it down when it still is a grace period after the warning.
func (e *Engine) check(ctx context.Context, name string, sc *moonwake.StateChange) {
	m, r := e.rule(ctx, name)
	if r == nil {
		delete(e.idle, name)
		return
	}
	s := e.idle[name]
	if s == nil {
		s = &idleState{}
		e.idle[name] = s
	}
	now := e.clock.Now()
	e.mu.Lock()
	cancelled := e.atPC[name]
	delete(e.atPC, name)
	e.mu.Unlock()
	if cancelled != "" && cancelled == s.warnID {
		// The person at the PC said no: as if they had used it.
		e.log.Info("idle-off: countdown cancelled at the PC", "machine", name)
		s.inputAt = now
		if e.o.Notify != nil {
			e.o.Notify(notify.Message{
				Event: EventIdleCancelled, Machine: name, At: now.UTC(),
				Title: name + ": idle auto-off " + moonwake.CancelledAtPC,
				Text:  fmt.Sprintf("Someone at %s cancelled the countdown; it counts as use, and the idle time starts again.", name),
			})
		}
	}
	st, ev := s.last.To, s.last.Evidence
	if sc != nil {
		s.last = *sc
		st, ev = sc.To, sc.Evidence
	} else if cst, cev, ok := e.status(name); ok {
		st, ev = cst, cev
	}
	s.due = time.Time{}
	if !st.Up() || st == moonwake.StateShuttingDown {
		*s = idleState{last: s.last}
		return
	}
	if st == moonwake.StateStreaming || busy(ev) {
		e.cancel(name, s, "a stream started")
		s.quietSince, s.source = time.Time{}, ""
		return
	}
	e.quiet(s, ev, now)
	if !s.quietSince.IsZero() && s.quietSince.Before(s.inputAt) {
		s.quietSince = s.inputAt
	}
	if s.quietSince.IsZero() {
		e.cancel(name, s, "it is in use")
		return
	}
	if !s.warnedAt.IsZero() && s.quietSince.After(s.warnedAt) {
		e.cancel(name, s, "someone used it")
	}
	if now.Before(s.holdUntil) {
		s.due = s.holdUntil
		return
	}
	if until, err := e.o.Store.KeepAwake(ctx, name); err != nil {
		e.log.Error("idle-off: read keep-awake", "machine", name, "error", err)
		s.due = now.Add(time.Minute)
		return
	} else if until.After(now) {
		e.cancel(name, s, "kept awake until "+until.UTC().Format(time.RFC3339))
		s.due = until
		return
	}
	idleFor := now.Sub(s.quietSince)
	if idleFor < r.After {
		s.due = s.quietSince.Add(r.After)
		return
	}
	if s.warnedAt.IsZero() {
		s.warnedAt = now
		s.due = now.Add(r.Grace)
		e.log.Info("idle-off: warning", "machine", name, "idle", idleFor.Round(time.Second), "shutdown_in", r.Grace)
		if e.o.Notify != nil {
			e.o.Notify(notify.Message{
				Event: EventIdleWarning, Machine: name, At: now.UTC(),
				Title: fmt.Sprintf("%s: idle, to be %s in %s", name, offVerb(r.Action), r.Grace),
				Text: fmt.Sprintf("%s has not been used for %s (%s). It will be %s in %s unless someone uses it, streams, or keeps it awake (moonwake keep-awake %s --for 2h).",
					name, idleFor.Round(time.Second), s.source, offVerb(r.Action), r.Grace, name),
			})
		}
		e.countdown(name, s, now.Add(r.Grace))
		return
	}
	if now.Before(s.warnedAt.Add(r.Grace)) {
		s.due = s.warnedAt.Add(r.Grace)
		return
	}
	// Quiet through the grace period: shut it down.
	e.withdraw(name, s)
	s.warnedAt = time.Time{}
	s.holdUntil = now.Add(r.After)
	s.due = s.holdUntil
	kind := offAction(r.Action)
	a, err := e.o.Power.Command(moonwake.WithActor(ctx, IdleActor), m, kind)
	if err != nil {
		e.log.Warn("idle-off: "+kind+" failed", "machine", name, "error", moonwake.ErrorMessage(err))
		return
	}
	e.log.Info("idle-off: "+kind+" started", "machine", name, "action", a.ID, "idle", idleFor.Round(time.Second))
}

// quiet updates since when the evidence says nobody uses the machine: the
// agent's input idle time; else, when the agent says nobody is logged in,
// since that was first seen; else, without agent, since Sunshine was first
// seen FREE.
func (e *Engine) quiet(s *idleState, ev moonwake.Evidence, now time.Time) {
	at := ev.At
	if at.IsZero() || at.After(now) {
		at = now
	}
	keep := func(src string) {
		if s.source != src || s.quietSince.IsZero() {
			s.source, s.quietSince = src, at
		}
	}
	a := ev.Agent
	switch {
	case a != nil && a.Connected && a.IdleSeconds != nil:
		s.source = "agent"
		s.quietSince = at.Add(-time.Duration(*a.IdleSeconds) * time.Second)
	case a != nil && a.Connected && a.UserSession != nil:
		if *a.UserSession {
			s.source, s.quietSince = "", time.Time{}
		} else {
			keep("no user session")
		}
	case ev.Sunshine != nil && ev.Sunshine.Reachable && ev.Sunshine.State == moonwake.SunshineFree:
		keep("Sunshine free")
	default:
		s.source, s.quietSince = "", time.Time{}
	}
}

func (e *Engine) cancel(name string, s *idleState, why string) {
	if !s.warnedAt.IsZero() {
		e.log.Info("idle-off: shutdown cancelled", "machine", name, "why", why)
		s.warnedAt = time.Time{}
		e.withdraw(name, s)
	}
}

// countdown shows the warning at the PC, in the background: an agent that
// is offline or refuses does not hold the idle loop up.
func (e *Engine) countdown(name string, s *idleState, until time.Time) {
	if e.o.Countdowns == nil {
		return
	}
	s.warnID = "idle_" + rand.Text()[:16]
	c := moonwake.Countdown{ActionID: s.warnID, Kind: "idle", Until: until.UTC(), By: IdleActor.Name}
	shown := make(chan struct{})
	s.shown = shown
	e.pc.Go(func() {
		defer close(shown)
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := e.o.Countdowns.Start(ctx, name, c); err != nil {
			e.log.Info("idle-off: warning not shown at the PC", "machine", name, "error", moonwake.ErrorMessage(err))
		}
	})
}

// withdraw takes the warning's countdown down at the PC.
func (e *Engine) withdraw(name string, s *idleState) {
	id, shown := s.warnID, s.shown
	s.warnID, s.shown = "", nil
	if e.o.Countdowns == nil || id == "" {
		return
	}
	e.pc.Go(func() {
		<-shown // after the countdown, which it would otherwise overtake; Start's timeout bounds this
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_ = e.o.Countdowns.Withdraw(ctx, name, id) // an agent gone takes its countdown with it
	})
}
