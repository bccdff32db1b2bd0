package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/moonwake/moonwake/hub/sqlite"
)

// fillOld writes n ended actions and n events from 100 days ago straight
// into the file, in one transaction.
func fillOld(tb testing.TB, path string, n int) {
	tb.Helper()
	raw := rawDB(tb, path)
	tx, err := raw.Begin()
	if err != nil {
		tb.Fatal(err)
	}
	old := time.Now().Add(-100 * day)
	for i := range n {
		at := old.Add(time.Duration(i) * time.Millisecond)
		ts := at.UTC().Format("2006-01-02T15:04:05.000000000Z")
		if _, err := tx.Exec(`INSERT INTO actions (id, kind, machine, mac, actor, status, detail, steps, created_at, finished_at)
			VALUES (?, 'wake', ?, '02:00:00:00:00:01', '{"kind":"token","name":"ha"}', 'succeeded', '', '[{"at":"x","what":"sent 1 packet"}]', ?, ?)`,
			sqlite.NewActionID(at.UnixMilli()), fmt.Sprintf("m%03d", i%100), ts, ts); err != nil {
			tb.Fatal(err)
		}
		if _, err := tx.Exec(`INSERT INTO events (seq, at, type, machine, data) VALUES (?, ?, 'state', ?, '{"state":"on"}')`,
			i+1, ts, fmt.Sprintf("m%03d", i%100)); err != nil {
			tb.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
}

// writeLatencies runs CreateAction one after another until stop is closed
// (or n writes when stop is nil) and returns each one's latency.
func writeLatencies(tb testing.TB, s *sqlite.ActionService, stop <-chan struct{}, n int) []time.Duration {
	var out []time.Duration
	for i := 0; ; i++ {
		if stop == nil && i == n {
			return out
		}
		if stop != nil {
			select {
			case <-stop:
				return out
			default:
			}
		}
		start := time.Now()
		if err := s.CreateAction(context.Background(), newAction("pc")); err != nil {
			tb.Fatal(err)
		}
		out = append(out, time.Since(start))
	}
}

func reportLatencies(b *testing.B, prefix string, ls []time.Duration) {
	slices.Sort(ls)
	q := func(p float64) float64 { return float64(ls[int(p*float64(len(ls)-1))].Microseconds()) }
	b.ReportMetric(q(0.5), prefix+"-p50-µs")
	b.ReportMetric(q(0.99), prefix+"-p99-µs")
	b.ReportMetric(float64(ls[len(ls)-1].Microseconds()), prefix+"-max-µs")
}

// BenchmarkPruneWhileWriting prunes 50,000 old actions and then 50,000 old
// events, 500 a transaction (resting between batches), while one client stores actions one after
// another, and reports how long those writes took beside the same writes
// with no pruning. It measures; it asserts nothing about time. Run it with
// -benchtime=1x.
func BenchmarkPruneWhileWriting(b *testing.B) {
	const rows, batch = 50_000, sqlite.DefaultPruneBatch
	for range b.N {
		b.StopTimer()
		path := filepath.Join(b.TempDir(), "moonwake.db")
		db := sqlite.NewDB(path)
		if err := db.Open(context.Background()); err != nil {
			b.Fatal(err)
		}
		fillOld(b, path, rows)
		s, es := sqlite.NewActionService(db), sqlite.NewEventService(db)
		idle := writeLatencies(b, s, nil, 2000)
		b.StartTimer()

		stop := make(chan struct{})
		var pruned, prunedEvents int
		var pruneTime time.Duration
		go func() {
			defer close(stop)
			start := time.Now()
			var err error
			if pruned, err = s.PruneActions(context.Background(), time.Now().Add(-90*day), batch); err != nil {
				b.Error(err)
			}
			if prunedEvents, err = es.PruneEvents(context.Background(), time.Now().Add(-30*day), batch); err != nil {
				b.Error(err)
			}
			pruneTime = time.Since(start)
		}()
		busy := writeLatencies(b, s, stop, 0)
		b.StopTimer()
		if pruned != rows || prunedEvents != rows-1 {
			b.Fatalf("pruned %d actions and %d events, want %d and %d", pruned, prunedEvents, rows, rows-1)
		}
		b.ReportMetric(float64(pruneTime.Milliseconds()), "prune-100k-rows-ms")
		b.ReportMetric(float64(len(busy)), "writes-during-prune")
		slow := 0
		for _, l := range busy {
			if l > 15*time.Millisecond {
				slow++
			}
		}
		b.ReportMetric(float64(slow), "writes-over-15ms")
		reportLatencies(b, "idle", idle)
		reportLatencies(b, "pruning", busy)
		if err := db.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
