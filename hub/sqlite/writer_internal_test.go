package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/moonwake/moonwake"
)

// TestWriter_BatchWithConflict stalls the writer so that many writes queue
// up, one of them a duplicate, and checks that they are committed together
// and that only the duplicate fails.
func TestWriter_BatchWithConflict(t *testing.T) {
	ctx := context.Background()
	db := NewDB(filepath.Join(t.TempDir(), "moonwake.db"))
	if err := db.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s := NewActionService(db)
	if err := s.CreateAction(ctx, &moonwake.Action{ID: "act_dup", Kind: "wake"}); err != nil {
		t.Fatal(err)
	}

	// Hold the only write connection, so the writer blocks on its next batch.
	conn, err := db.wdb.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const n = 100
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			a := &moonwake.Action{Kind: "wake", Machine: fmt.Sprint(i)}
			if i == n/2 {
				a.ID = "act_dup"
			}
			if i == n/3 {
				errs[i] = s.UpdateAction(ctx, &moonwake.Action{ID: "act_missing", Status: moonwake.StatusFailed})
				return
			}
			errs[i] = s.CreateAction(ctx, a)
		})
	}
	// Let them all queue; the first one's batch waits for the connection.
	for deadline := time.Now().Add(5 * time.Second); len(db.queue) < n-1 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	conn.Close()
	wg.Wait()

	for i, err := range errs {
		switch i {
		case n / 2:
			if moonwake.ErrorCode(err) != moonwake.EConflict {
				t.Errorf("duplicate: %v", err)
			}
		case n / 3:
			if moonwake.ErrorCode(err) != moonwake.ENotFound {
				t.Errorf("missing update: %v", err)
			}
		default:
			if err != nil {
				t.Errorf("write %d: %v", i, err)
			}
		}
	}
	as, err := s.ListActions(ctx, moonwake.ActionFilter{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != n-1 { // n-2 new ones and act_dup
		t.Fatalf("%d actions, want %d", len(as), n-1)
	}
}

func TestNewActionID(t *testing.T) {
	prev := ""
	for ms := int64(1700000000000); ms < 1700000000000+1000; ms += 7 {
		id := newActionID(ms)
		if len(id) != 30 || id[:4] != "act_" {
			t.Fatalf("bad id %q", id)
		}
		if id <= prev {
			t.Fatalf("%q sorts before %q", id, prev)
		}
		prev = id
	}
	// The time is in the first 10 characters.
	if a, b := newActionID(42), newActionID(42); a[:14] != b[:14] || a == b {
		t.Fatalf("%q and %q", a, b)
	}
	if got := newActionID(1<<48 - 1); got[4:14] != "7zzzzzzzzz" {
		t.Fatalf("max time id %q", got)
	}
}

// TestWatcher_OwnWritesDoNotReload checks that this process's own writes,
// actions included, do not look like another process's.
func TestWatcher_OwnWritesDoNotReload(t *testing.T) {
	ctx := context.Background()
	db := NewDB(filepath.Join(t.TempDir(), "moonwake.db"))
	db.watchInterval = time.Hour
	if err := db.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	v0 := db.dataVersion
	if err := NewMachineService(db).CreateMachine(ctx, &moonwake.Machine{Name: "pc", MAC: "02:00:00:00:00:01"}); err != nil {
		t.Fatal(err)
	}
	secret, err := NewTokenService(db).CreateToken(ctx, &moonwake.Token{Name: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewTokenService(db).Authenticate(ctx, secret); err != nil {
		t.Fatal(err)
	}
	if err := db.flushLastUsed(ctx); err != nil {
		t.Fatal(err)
	}
	if err := NewActionService(db).CreateAction(ctx, &moonwake.Action{Kind: "wake"}); err != nil {
		t.Fatal(err)
	}
	db.mu.RLock()
	before := db.machines
	db.mu.RUnlock()
	if err := db.reloadIfChanged(ctx); err != nil {
		t.Fatal(err)
	}
	db.mu.RLock()
	after := db.machines
	db.mu.RUnlock()
	if db.dataVersion != v0 || fmt.Sprintf("%p", before) != fmt.Sprintf("%p", after) {
		t.Fatalf("own writes triggered a reload (data_version %d → %d)", v0, db.dataVersion)
	}
}
