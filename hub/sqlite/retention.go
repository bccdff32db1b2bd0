package sqlite

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// DefaultPruneBatch is how many rows one pruning transaction deletes when
// the caller does not say: small enough that the write lock is held for a
// few milliseconds, so queued action writes (which share the one write
// connection) wait at most that long.
const DefaultPruneBatch = 500

// Each statement deletes one batch, found through an index of 0010: the
// cost of a batch grows with the batch, not with the table.
const (
	// pruneActionsSQL deletes ended actions that finished before ?1; a
	// running action is never deleted, however old.
	pruneActionsSQL = `DELETE FROM actions WHERE id IN (
		SELECT id FROM actions
		WHERE status != 'running' AND coalesce(finished_at, created_at) < ?1
		LIMIT ?2)`
	// pruneEventsSQL deletes events from before ?1, except the newest
	// event: the hub numbers new events from the largest stored seq
	// (LastEventSeq), which must never go backwards, or a client resuming
	// with Last-Event-ID would miss the events numbered again.
	pruneEventsSQL = `DELETE FROM events WHERE seq IN (
		SELECT seq FROM events
		WHERE at < ?1 AND seq < (SELECT max(seq) FROM events)
		LIMIT ?2)`
)

// PruneActions deletes the ended actions (succeeded or failed, never
// running) that finished before before, batch at a time (DefaultPruneBatch
// when batch <= 0), each batch its own transaction. It returns how many it
// deleted; on an error, how many it had deleted by then.
func (s *ActionService) PruneActions(ctx context.Context, before time.Time, batch int) (int, error) {
	n, err := s.db.prune(ctx, pruneActionsSQL, before, batch)
	if err != nil {
		return n, fmt.Errorf("prune actions: %w", err)
	}
	return n, nil
}

// PruneEvents deletes the events from before before, batch at a time
// (DefaultPruneBatch when batch <= 0), each batch its own transaction. The
// newest event is always kept, so LastEventSeq never goes backwards. It
// returns how many it deleted; on an error, how many it had deleted by then.
func (s *EventService) PruneEvents(ctx context.Context, before time.Time, batch int) (int, error) {
	n, err := s.db.prune(ctx, pruneEventsSQL, before, batch)
	if err != nil {
		return n, fmt.Errorf("prune events: %w", err)
	}
	return n, nil
}

// prune runs query, which deletes at most ?2 rows older than ?1, until it
// deletes fewer than batch. Each run is one statement, so one transaction,
// on the write connection: between two batches the connection goes back to
// the pool, where database/sql hands it to the action writer first if that
// is waiting, and prune rests as long as the batch took, so writes are
// delayed by one batch at most. Machine and token writes (wmu) are not held
// up beyond the same wait.
func (db *DB) prune(ctx context.Context, query string, before time.Time, batch int) (int, error) {
	if batch <= 0 {
		batch = DefaultPruneBatch
	}
	if db.wdb == nil {
		return 0, errClosed
	}
	cutoff := formatTime(before)
	total := 0
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		start := time.Now()
		res, err := db.wdb.ExecContext(ctx, query, cutoff, batch)
		if err != nil {
			return total, err
		}
		took := time.Since(start)
		n, err := res.RowsAffected()
		if err != nil {
			return total, err
		}
		total += int(n)
		if afterPruneBatch != nil {
			afterPruneBatch(int(n))
		}
		if int(n) < batch {
			return total, nil
		}
		// Rest as long as the batch took (at most a second): pruning then
		// holds the write connection half the time at most, the writes
		// waiting meanwhile go first, and the WAL is checkpointed between
		// batches rather than piling up. Nobody waits on pruning.
		pause := time.NewTimer(min(took, time.Second))
		select {
		case <-ctx.Done():
			pause.Stop()
			return total, ctx.Err()
		case <-pause.C:
		}
	}
}

// afterPruneBatch, when a test sets it, is called after each batch has
// committed and the write connection is free again.
var afterPruneBatch func(deleted int)

// Retention deletes ended actions and events older than their retention
// periods: once when Run starts, then every Interval. Build it with
// NewRetention; the hub runs it beside its other loops.
type Retention struct {
	// Actions and Events are how long ended actions and events are kept;
	// 0 keeps them forever.
	Actions, Events time.Duration
	// Interval is the time between two prunings (default an hour).
	Interval time.Duration
	// Delay is how long Run waits before its first pruning; 0: none. A
	// hub that just started has requests to answer first.
	Delay time.Duration
	// Batch is how many rows each transaction deletes (DefaultPruneBatch).
	Batch int
	// Logger hears how many rows went, when some did, and of failures.
	Logger *slog.Logger

	db *DB
}

// NewRetention returns a Retention on db that keeps ended actions for
// actions and events for events (0: forever), pruning every hour.
func NewRetention(db *DB, actions, events time.Duration, log *slog.Logger) *Retention {
	return &Retention{Actions: actions, Events: events, Interval: time.Hour, Batch: DefaultPruneBatch, Logger: log, db: db}
}

// Run prunes after Delay, then every Interval, until ctx ends. With both
// periods 0 it returns at once.
func (r *Retention) Run(ctx context.Context) {
	if r.Actions <= 0 && r.Events <= 0 {
		return
	}
	if r.Delay > 0 {
		t := time.NewTimer(r.Delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
	interval := r.Interval
	if interval <= 0 {
		interval = time.Hour
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		r.log(r.Prune(ctx))
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Prune deletes, once, what is past its retention period, and returns how
// many actions and events went.
func (r *Retention) Prune(ctx context.Context) (actions, events int, err error) {
	now := r.db.now()
	var errs []error
	if r.Actions > 0 {
		actions, err = NewActionService(r.db).PruneActions(ctx, now.Add(-r.Actions), r.Batch)
		errs = append(errs, err)
		// The receipts of CloudEvents go with the actions they started.
		_, err = NewReceiptService(r.db).PruneReceipts(ctx, now.Add(-r.Actions), r.Batch)
		errs = append(errs, err)
	}
	if r.Events > 0 {
		events, err = NewEventService(r.db).PruneEvents(ctx, now.Add(-r.Events), r.Batch)
		errs = append(errs, err)
	}
	return actions, events, errors.Join(errs...)
}

// log reports one pruning: the counts only when something went, the error
// unless the hub is stopping.
func (r *Retention) log(actions, events int, err error) {
	if r.Logger == nil {
		return
	}
	if actions > 0 || events > 0 {
		r.Logger.Info("deleted history past its retention", "actions", actions, "events", events,
			"actions_kept_for", r.Actions.String(), "events_kept_for", r.Events.String())
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		r.Logger.Warn("pruning history failed; it is tried again at the next round", "error", err)
	}
}
