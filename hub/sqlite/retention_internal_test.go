package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moonwake/moonwake"
)

// TestPrune_QueryPlans checks that each batch is found through an index:
// no statement of the pruning reads a table through.
func TestPrune_QueryPlans(t *testing.T) {
	ctx := context.Background()
	db := NewDB(filepath.Join(t.TempDir(), "moonwake.db"))
	if err := db.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for name, q := range map[string]string{"actions": pruneActionsSQL, "events": pruneEventsSQL} {
		rows, err := db.rdb.QueryContext(ctx, "EXPLAIN QUERY PLAN "+q, formatTime(time.Now()), 500)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		t.Logf("%s: %q", name, plan)
		for _, d := range plan {
			if strings.HasPrefix(d, "SCAN ") {
				t.Errorf("%s: %q reads the table through; plan %q", name, d, plan)
			}
		}
		want := map[string]string{"actions": "USING INDEX actions_ended", "events": "USING COVERING INDEX events_at"}[name]
		if !slices.ContainsFunc(plan, func(d string) bool { return strings.Contains(d, want) }) {
			t.Errorf("%s: plan %q does not use %s", name, plan, want)
		}
	}
}

// TestPrune_ReleasesBetweenBatches prunes 7 actions 2 at a time and, after
// each batch, stores a new action: that write would never finish if the
// pruning held the write connection from one batch to the next.
func TestPrune_ReleasesBetweenBatches(t *testing.T) {
	ctx := context.Background()
	db := NewDB(filepath.Join(t.TempDir(), "moonwake.db"))
	if err := db.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s := NewActionService(db)
	old := time.Now().Add(-100 * 24 * time.Hour)
	for i := range 7 {
		at := old.Add(time.Duration(i) * time.Second)
		if err := s.CreateAction(ctx, &moonwake.Action{Kind: "wake", Machine: "pc", Status: moonwake.StatusSucceeded, CreatedAt: at, FinishedAt: &at}); err != nil {
			t.Fatal(err)
		}
	}
	var batches []int
	afterPruneBatch = func(n int) {
		batches = append(batches, n)
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := s.CreateAction(wctx, &moonwake.Action{Kind: "wake", Machine: fmt.Sprint("between-", len(batches))}); err != nil {
			t.Errorf("a write between two batches: %v", err)
		}
	}
	defer func() { afterPruneBatch = nil }()
	n, err := s.PruneActions(ctx, time.Now().Add(-90*24*time.Hour), 2)
	if err != nil || n != 7 {
		t.Fatalf("pruned %d, %v; want 7", n, err)
	}
	if !slices.Equal(batches, []int{2, 2, 2, 1}) {
		t.Errorf("batches %v, want [2 2 2 1]", batches)
	}
	left, err := s.ListActions(ctx, moonwake.ActionFilter{})
	if err != nil || len(left) != 4 {
		t.Fatalf("left %d actions, %v; want the 4 written between batches", len(left), err)
	}
}
