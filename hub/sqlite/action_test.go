package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/hub/sqlite"
)

// MustCreateAction creates a or fails the test.
func MustCreateAction(tb testing.TB, s *sqlite.ActionService, a *moonwake.Action) *moonwake.Action {
	tb.Helper()
	if err := s.CreateAction(context.Background(), a); err != nil {
		tb.Fatal(err)
	}
	return a
}

func newAction(machine string) *moonwake.Action {
	return &moonwake.Action{
		Kind:    moonwake.ActionWake,
		Machine: machine,
		MAC:     "02:00:00:00:00:01",
		Actor:   moonwake.Actor{Kind: "token", Name: "ha", TokenID: "tok_0123456789ab", Addr: "10.0.0.9:5555"},
	}
}

func TestActionService_CreateFindUpdate(t *testing.T) {
	ctx := context.Background()
	db, clk := MustOpenDB(t)
	s := sqlite.NewActionService(db)

	a := MustCreateAction(t, s, newAction("pc"))
	if !sqlite.ValidID(a.ID, "act_", 26) || a.ID[4] > '7' {
		t.Fatalf("ID %q", a.ID)
	}
	if !a.CreatedAt.Equal(t0) || a.Status != moonwake.StatusRunning || a.Steps == nil {
		t.Fatalf("created %+v", a)
	}
	got, err := s.FindAction(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, a) {
		t.Fatalf("found\n%+v\nwant\n%+v", got, a)
	}

	t1 := clk.Add(time.Second)
	a.Status = moonwake.StatusSucceeded
	a.Detail = "sent 2 packets"
	a.Steps = []moonwake.Step{
		{At: t0, Kind: "send", Via: "udp", Target: "10.0.0.255:9"},
		{At: t1, Kind: "send", Via: "raw", Target: "eth0", Error: "permission denied"},
	}
	if err := s.UpdateAction(ctx, a); err != nil {
		t.Fatal(err)
	}
	if a.FinishedAt == nil || !a.FinishedAt.Equal(t1) {
		t.Fatalf("FinishedAt = %v, want %v", a.FinishedAt, t1)
	}
	got, err = s.FindAction(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, a) {
		t.Fatalf("found\n%+v\nwant\n%+v", got, a)
	}

	t.Run("FindMissing", func(t *testing.T) {
		_, err := s.FindAction(ctx, "act_nope")
		wantCode(t, err, moonwake.ENotFound)
		if moonwake.ErrorMessage(err) != `no action "act_nope"` {
			t.Fatalf("message %q", moonwake.ErrorMessage(err))
		}
	})
	t.Run("UpdateMissing", func(t *testing.T) {
		err := s.UpdateAction(ctx, &moonwake.Action{ID: "act_nope", Status: moonwake.StatusFailed})
		wantCode(t, err, moonwake.ENotFound)
	})
	t.Run("GivenIDAndTime", func(t *testing.T) {
		at := time.Date(2024, 1, 2, 3, 4, 5, 6, time.FixedZone("x", 3600))
		b := newAction("pc")
		b.ID, b.CreatedAt = "act_given", at
		MustCreateAction(t, s, b)
		got, err := s.FindAction(ctx, "act_given")
		if err != nil {
			t.Fatal(err)
		}
		if !got.CreatedAt.Equal(at) || got.CreatedAt.Location() != time.UTC {
			t.Fatalf("CreatedAt = %v", got.CreatedAt)
		}
		wantCode(t, s.CreateAction(ctx, &moonwake.Action{ID: "act_given", Kind: "wake"}), moonwake.EConflict)
	})
}

func TestActionService_ListActions(t *testing.T) {
	ctx := context.Background()
	db, clk := MustOpenDB(t)
	s := sqlite.NewActionService(db)

	var ids []string // oldest first
	for i := range 30 {
		clk.Add(time.Millisecond)
		a := MustCreateAction(t, s, newAction([]string{"pc", "nas"}[i%2]))
		ids = append(ids, a.ID)
	}
	reversed := func(s []string) []string {
		out := make([]string, len(s))
		for i, v := range s {
			out[len(s)-1-i] = v
		}
		return out
	}
	idsOf := func(as []*moonwake.Action) []string {
		out := []string{}
		for _, a := range as {
			out = append(out, a.ID)
		}
		return out
	}
	var pcIDs []string
	for i, id := range ids {
		if i%2 == 0 {
			pcIDs = append(pcIDs, id)
		}
	}

	for _, tt := range []struct {
		name string
		f    moonwake.ActionFilter
		want []string
	}{
		{"All", moonwake.ActionFilter{}, reversed(ids)},
		{"Limit", moonwake.ActionFilter{Limit: 3}, reversed(ids)[:3]},
		{"Machine", moonwake.ActionFilter{Machine: "pc"}, reversed(pcIDs)},
		{"MachineLimit", moonwake.ActionFilter{Machine: "pc", Limit: 2}, reversed(pcIDs)[:2]},
		{"NoSuchMachine", moonwake.ActionFilter{Machine: "tv"}, []string{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			as, err := s.ListActions(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			if got := idsOf(as); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %v\nwant %v", got, tt.want)
			}
		})
	}

	t.Run("DefaultAndMaxLimit", func(t *testing.T) {
		createMany(t, s, 480, "tv") // 510 in all
		for _, tt := range []struct{ limit, want int }{{0, 50}, {-1, 50}, {499, 499}, {1000, 500}} {
			as, err := s.ListActions(ctx, moonwake.ActionFilter{Limit: tt.limit})
			if err != nil {
				t.Fatal(err)
			}
			if len(as) != tt.want {
				t.Errorf("limit %d: %d actions, want %d", tt.limit, len(as), tt.want)
			}
		}
	})
}

// createMany creates n actions from several goroutines at once, so that the
// writer commits them in batches, and returns them.
func createMany(tb testing.TB, s *sqlite.ActionService, n int, machine string) []*moonwake.Action {
	tb.Helper()
	as := make([]*moonwake.Action, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			a := newAction(machine)
			if err := s.CreateAction(context.Background(), a); err != nil {
				errs <- err
				return
			}
			as[i] = a
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		tb.Fatal(err)
	}
	return as
}

func TestActionService_Concurrent(t *testing.T) {
	ctx := context.Background()
	db, _ := MustOpenDB(t)
	s := sqlite.NewActionService(db)

	const n = 400
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			a := newAction(fmt.Sprintf("m%d", i%7))
			if i == n/2 {
				a.ID = "act_dup" // a conflict in a batch must not fail the others
			}
			if err := s.CreateAction(ctx, a); err != nil {
				errs <- err
				return
			}
			a.Status = moonwake.StatusSucceeded
			if err := s.UpdateAction(ctx, a); err != nil {
				errs <- err
				return
			}
			if i == n/2 {
				// The same ID again, racing the others.
				errs <- s.CreateAction(ctx, &moonwake.Action{ID: "act_dup", Kind: "wake"})
			}
		})
	}
	wg.Wait()
	close(errs)
	var conflicts int
	for err := range errs {
		if moonwake.ErrorCode(err) != moonwake.EConflict {
			t.Fatal(err)
		}
		conflicts++
	}
	if conflicts != 1 {
		t.Fatalf("%d conflicts, want 1", conflicts)
	}
	as, err := s.ListActions(ctx, moonwake.ActionFilter{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != n {
		t.Fatalf("%d actions, want %d", len(as), n)
	}
	for _, a := range as {
		if a.Status != moonwake.StatusSucceeded || a.FinishedAt == nil {
			t.Fatalf("action %+v", a)
		}
	}
}

// TestActionService_RunningActions checks what the power service takes up
// again after a restart: the actions still running, oldest first, and
// none that ended.
func TestActionService_RunningActions(t *testing.T) {
	ctx := context.Background()
	db, _ := MustOpenDB(t)
	s := sqlite.NewActionService(db)
	running := createMany(t, s, 5, "pc")
	done := MustCreateAction(t, s, newAction("pc"))
	done.Status, done.Detail = moonwake.StatusSucceeded, "ok"
	if err := s.UpdateAction(ctx, done); err != nil {
		t.Fatal(err)
	}
	got, err := s.RunningActions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(running) {
		t.Fatalf("running: %d actions, want %d", len(got), len(running))
	}
	want := map[string]bool{}
	for _, a := range running {
		want[a.ID] = true
	}
	for i, a := range got {
		if !want[a.ID] || a.Status != moonwake.StatusRunning {
			t.Fatalf("running[%d] = %+v: not one of the running actions", i, a)
		}
		if i > 0 && a.ID <= got[i-1].ID {
			t.Fatalf("running actions out of order: %s after %s", a.ID, got[i-1].ID)
		}
	}
}

func TestActionService_Persist(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "moonwake.db")
	db, clk := MustOpenDBAt(t, path, newClock())
	s := sqlite.NewActionService(db)
	a := MustCreateAction(t, s, newAction("pc"))
	a.Status, a.Steps = moonwake.StatusFailed, []moonwake.Step{{At: t0, Kind: "send", Error: "no route"}}
	if err := s.UpdateAction(ctx, a); err != nil {
		t.Fatal(err)
	}
	createMany(t, s, 20, "nas")
	before, err := s.ListActions(ctx, moonwake.ActionFilter{})
	if err != nil {
		t.Fatal(err)
	}

	db = Reopen(t, db, path, clk)
	s = sqlite.NewActionService(db)
	after, err := s.ListActions(ctx, moonwake.ActionFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != 21 || !reflect.DeepEqual(before, after) {
		t.Fatalf("before\n%v\nafter reopen\n%v", before, after)
	}
}

func TestActionService_Closed(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "moonwake.db")
	db := sqlite.NewDB(path)
	if err := db.Open(ctx); err != nil {
		t.Fatal(err)
	}
	s := sqlite.NewActionService(db)

	// Close waits for what is queued.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var created []string
	for range 50 {
		wg.Go(func() {
			a := newAction("pc")
			if err := s.CreateAction(ctx, a); err == nil {
				mu.Lock()
				created = append(created, a.ID)
				mu.Unlock()
			}
		})
	}
	time.Sleep(time.Millisecond)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if err := s.CreateAction(ctx, newAction("pc")); err == nil {
		t.Fatal("CreateAction after Close succeeded")
	}

	db2, _ := MustOpenDBAt(t, path, newClock())
	s2 := sqlite.NewActionService(db2)
	for _, id := range created {
		if _, err := s2.FindAction(ctx, id); err != nil {
			t.Fatalf("action %s reported created but lost: %v", id, err)
		}
	}
}

func TestActionService_LatestActions(t *testing.T) {
	ctx := context.Background()
	db, clk := MustOpenDB(t)
	s := sqlite.NewActionService(db)

	latest := map[string]string{}
	for i := range 30 {
		clk.Add(time.Millisecond)
		m := []string{"pc", "nas", "desk"}[i%3]
		latest[m] = MustCreateAction(t, s, newAction(m)).ID
	}
	got, err := s.LatestActions(ctx, []string{"pc", "desk", "never-acted", "pc"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("got actions of %d machines, want 2 (pc, desk): %v", len(got), got)
	}
	for _, m := range []string{"pc", "desk"} {
		if a := got[m]; a == nil || a.ID != latest[m] || a.Machine != m {
			t.Errorf("%s: got %+v, want action %s", m, a, latest[m])
		}
	}
	if got, err := s.LatestActions(ctx, nil); err != nil || len(got) != 0 {
		t.Errorf("no machines: %v, %v", got, err)
	}
}
