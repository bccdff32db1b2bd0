package sqlite_test

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/hub/sqlite"
)

const day = 24 * time.Hour

// endedAction stores an action that was created at created and ended at
// finished (nil: ended without a finish time) with status.
func endedAction(tb testing.TB, s *sqlite.ActionService, machine, status string, created time.Time, finished *time.Time) string {
	tb.Helper()
	a := newAction(machine)
	a.Status, a.CreatedAt, a.FinishedAt = status, created, finished
	return MustCreateAction(tb, s, a).ID
}

func TestPruneActions(t *testing.T) {
	ctx := context.Background()
	db, clk := MustOpenDB(t)
	s := sqlite.NewActionService(db)
	now := clk.Now()
	cutoff := now.Add(-90 * day)

	gone := []string{
		endedAction(t, s, "a", moonwake.StatusSucceeded, now.Add(-100*day), ptr(now.Add(-99*day))),
		endedAction(t, s, "b", moonwake.StatusFailed, now.Add(-100*day), ptr(now.Add(-90*day-time.Nanosecond))),
		// Ended without a finish time: judged by its creation.
		endedAction(t, s, "c", moonwake.StatusFailed, now.Add(-95*day), nil),
	}
	kept := []string{
		// Running, however old: the hub takes it up again after a restart.
		endedAction(t, s, "d", moonwake.StatusRunning, now.Add(-400*day), nil),
		// Created long ago but ended recently.
		endedAction(t, s, "e", moonwake.StatusSucceeded, now.Add(-100*day), ptr(now.Add(-1*day))),
		// Ended exactly at the cutoff: not before it.
		endedAction(t, s, "f", moonwake.StatusSucceeded, now.Add(-91*day), ptr(cutoff)),
		endedAction(t, s, "g", moonwake.StatusSucceeded, now.Add(-time.Hour), ptr(now)),
		endedAction(t, s, "h", moonwake.StatusFailed, now.Add(-time.Hour), nil),
		MustCreateAction(t, s, newAction("i")).ID, // running, new
	}
	// A running action that ends after the cutoff has passed its creation.
	running := newAction("j")
	running.CreatedAt = now.Add(-200 * day)
	MustCreateAction(t, s, running)

	n, err := s.PruneActions(ctx, cutoff, 0)
	if err != nil || n != len(gone) {
		t.Fatalf("pruned %d, %v; want %d", n, err, len(gone))
	}
	for _, id := range gone {
		if _, err := s.FindAction(ctx, id); moonwake.ErrorCode(err) != moonwake.ENotFound {
			t.Errorf("%s: still there (%v)", id, err)
		}
	}
	for _, id := range append(kept, running.ID) {
		if _, err := s.FindAction(ctx, id); err != nil {
			t.Errorf("%s: %v", id, err)
		}
	}
	rs, err := s.RunningActions(ctx)
	if err != nil || len(rs) != 3 {
		t.Errorf("running after pruning: %d, %v; want 3", len(rs), err)
	}
	if n, err := s.PruneActions(ctx, cutoff, 0); err != nil || n != 0 {
		t.Errorf("again: pruned %d, %v; want 0", n, err)
	}

	// The old running action ends today: it is kept for the period from now.
	running.Status = moonwake.StatusSucceeded
	if err := s.UpdateAction(ctx, running); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.PruneActions(ctx, cutoff, 0); n != 0 {
		t.Errorf("an action ended today was pruned")
	}
	// Everything ended goes: e, f, g, h and j; d and i still run.
	if n, _ := s.PruneActions(ctx, now.Add(time.Second), 0); n != 5 {
		t.Errorf("pruning everything ended: %d, want 5", n)
	}
}

func TestPruneActions_Batches(t *testing.T) {
	ctx := context.Background()
	db, clk := MustOpenDB(t)
	s := sqlite.NewActionService(db)
	now := clk.Now()
	for i := range 7 {
		endedAction(t, s, "pc", moonwake.StatusSucceeded, now.Add(-50*day), ptr(now.Add(-40*day+time.Duration(i)*time.Minute)))
	}
	recent := endedAction(t, s, "pc", moonwake.StatusSucceeded, now.Add(-time.Hour), ptr(now))
	n, err := s.PruneActions(ctx, now.Add(-30*day), 2)
	if err != nil || n != 7 {
		t.Fatalf("pruned %d, %v; want 7", n, err)
	}
	left, _ := s.ListActions(ctx, moonwake.ActionFilter{})
	if len(left) != 1 || left[0].ID != recent {
		t.Errorf("left %d actions, want the recent one", len(left))
	}
}

func appendEvents(tb testing.TB, es *sqlite.EventService, from, to int64, at time.Time) {
	tb.Helper()
	for seq := from; seq <= to; seq++ {
		if err := es.AppendEvent(context.Background(), &moonwake.Event{Seq: seq, At: at.Add(time.Duration(seq) * time.Millisecond), Type: moonwake.EventState, Machine: "pc"}); err != nil {
			tb.Fatal(err)
		}
	}
}

func seqs(tb testing.TB, es *sqlite.EventService) []int64 {
	tb.Helper()
	evs, err := es.ListEvents(context.Background(), moonwake.EventFilter{Limit: 1000})
	if err != nil {
		tb.Fatal(err)
	}
	var out []int64
	for _, e := range evs {
		out = append(out, e.Seq)
	}
	return out
}

func TestPruneEvents(t *testing.T) {
	ctx := context.Background()
	path := t.TempDir() + "/moonwake.db"
	db, clk := MustOpenDBAt(t, path, newClock())
	es := sqlite.NewEventService(db)
	now := clk.Now()
	appendEvents(t, es, 1, 7, now.Add(-40*day)) // 7 old ones
	appendEvents(t, es, 8, 9, now.Add(-time.Hour))

	n, err := es.PruneEvents(ctx, now.Add(-30*day), 2)
	if err != nil || n != 7 {
		t.Fatalf("pruned %d, %v; want 7", n, err)
	}
	if got := seqs(t, es); !slices.Equal(got, []int64{8, 9}) {
		t.Errorf("left %v, want [8 9]", got)
	}
	if last, err := es.LastEventSeq(ctx); err != nil || last != 9 {
		t.Errorf("last seq %d, %v; want 9", last, err)
	}

	// Every event is old (a hub that saw nothing for months): the newest
	// is kept, so the hub goes on numbering from 9, not from 1.
	n, err = es.PruneEvents(ctx, now.Add(time.Hour), 2)
	if err != nil || n != 1 {
		t.Fatalf("pruned %d, %v; want 1", n, err)
	}
	if last, err := es.LastEventSeq(ctx); err != nil || last != 9 {
		t.Errorf("last seq after pruning all but one: %d, %v; want 9", last, err)
	}
	db = Reopen(t, db, path, clk)
	es = sqlite.NewEventService(db)
	if last, _ := es.LastEventSeq(ctx); last != 9 {
		t.Errorf("last seq after reopening: %d, want 9", last)
	}
	if n, _ := es.PruneEvents(ctx, now.Add(time.Hour), 2); n != 0 {
		t.Errorf("pruned the last event")
	}
	appendEvents(t, es, 10, 10, now)
	if got := seqs(t, es); !slices.Equal(got, []int64{9, 10}) {
		t.Errorf("after a new event: %v, want [9 10]", got)
	}
}

// syncBuffer is a log sink that the retention goroutine and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRetention_Run(t *testing.T) {
	db, clk := MustOpenDB(t)
	s, es := sqlite.NewActionService(db), sqlite.NewEventService(db)
	now := clk.Now()
	for range 3 {
		endedAction(t, s, "pc", moonwake.StatusFailed, now.Add(-100*day), ptr(now.Add(-100*day)))
	}
	keep := endedAction(t, s, "pc", moonwake.StatusFailed, now.Add(-80*day), ptr(now.Add(-80*day)))
	appendEvents(t, es, 1, 4, now.Add(-31*day))
	appendEvents(t, es, 5, 5, now)

	var logs syncBuffer
	r := sqlite.NewRetention(db, 90*day, 30*day, slog.New(slog.NewTextHandler(&logs, nil)))
	r.Interval = 20 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()

	// The first pruning runs at once.
	deadline := time.Now().Add(5 * time.Second)
	for {
		as, _ := s.ListActions(context.Background(), moonwake.ActionFilter{})
		if len(as) == 1 && as[0].ID == keep && slices.Equal(seqs(t, es), []int64{5}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not pruned: %d actions, events %v", len(as), seqs(t, es))
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Later rounds find the clock moved on.
	clk.Add(15 * day)
	for {
		as, _ := s.ListActions(context.Background(), moonwake.ActionFilter{})
		if len(as) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not pruned on a later round")
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(60 * time.Millisecond) // rounds with nothing to do
	cancel()
	<-done
	out := logs.String()
	if c := bytes.Count([]byte(out), []byte("deleted history")); c != 2 {
		t.Errorf("%d log lines, want one per pruning that deleted something:\n%s", c, out)
	}
	if !bytes.Contains([]byte(out), []byte("actions=3 events=4")) {
		t.Errorf("log does not count the rows:\n%s", out)
	}

	// Both periods 0: Run returns at once and deletes nothing.
	endedAction(t, s, "pc", moonwake.StatusFailed, now.Add(-1000*day), ptr(now.Add(-1000*day)))
	sqlite.NewRetention(db, 0, 0, nil).Run(context.Background())
	if as, _ := s.ListActions(context.Background(), moonwake.ActionFilter{}); len(as) != 1 {
		t.Errorf("kept forever, yet %d actions left", len(as))
	}
}

// TestRetentionClockJumps prunes after the hub's clock jumped (a Raspberry
// Pi without a real-time clock boots at its last saved time, then NTP sets
// it right). Set back, nothing is pruned that was not due before: rows from
// the clock's "future" are kept. Set forward past the retention period,
// ended actions and old events go, as the periods say; a running action
// (the hub takes it up again) and the newest event (new events are
// numbered after it) stay whatever the clock says, and numbering goes on.
func TestRetentionClockJumps(t *testing.T) {
	ctx := context.Background()
	db, clk := MustOpenDB(t)
	s, es := sqlite.NewActionService(db), sqlite.NewEventService(db)
	r := sqlite.NewRetention(db, 90*day, 30*day, slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)))
	now := clk.Now()
	ended := endedAction(t, s, "pc", moonwake.StatusSucceeded, now.Add(-time.Hour), ptr(now))
	running := MustCreateAction(t, s, newAction("pc")).ID
	appendEvents(t, es, 1, 3, now)

	clk.Add(-365 * day)
	if a, e, err := r.Prune(ctx); err != nil || a != 0 || e != 0 {
		t.Fatalf("clock set back a year: pruned %d actions, %d events, %v; want none", a, e, err)
	}
	// Written while the clock is wrong, a year in the past.
	early := endedAction(t, s, "pc", moonwake.StatusFailed, clk.Now(), ptr(clk.Now()))
	appendEvents(t, es, 4, 4, clk.Now())

	clk.Add(2 * 365 * day) // NTP, and another year on
	a, e, err := r.Prune(ctx)
	if err != nil || a != 2 || e != 3 {
		t.Fatalf("clock set forward: pruned %d actions, %d events, %v; want 2 and 3", a, e, err)
	}
	for _, id := range []string{ended, early} {
		if _, err := s.FindAction(ctx, id); moonwake.ErrorCode(err) != moonwake.ENotFound {
			t.Errorf("ended action %s: %v, want pruned", id, err)
		}
	}
	if _, err := s.FindAction(ctx, running); err != nil {
		t.Errorf("running action pruned by a clock jump: %v", err)
	}
	if last, err := es.LastEventSeq(ctx); err != nil || last != 4 {
		t.Errorf("last event seq %d, %v; want 4 kept", last, err)
	}
}
