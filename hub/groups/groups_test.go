package groups_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/hub/groups"
	"github.com/moonwake/moonwake/mock"
)

// TestStaggeredGroupWake: the members start in order, no sooner than a
// stagger apart, with the actor of the request; the group ends with each
// member's verified outcome, and fails when one did.
func TestStaggeredGroupWake(t *testing.T) {
	const stagger = 40 * time.Millisecond
	var mu sync.Mutex
	starts := map[string]time.Time{}
	var actors []string
	power := &mock.PowerService{
		WakeFn: func(ctx context.Context, m *moonwake.Machine) (*moonwake.Action, error) {
			mu.Lock()
			defer mu.Unlock()
			starts[m.Name] = time.Now()
			a, _ := moonwake.ActorFrom(ctx)
			actors = append(actors, a.Name)
			if m.Name == "pc-c" {
				return nil, moonwake.Errorf(moonwake.EUnavailable, "no packet could be sent")
			}
			return &moonwake.Action{ID: "act-" + m.Name, Machine: m.Name, Status: moonwake.StatusRunning}, nil
		},
		WaitFn: func(ctx context.Context, id string) (*moonwake.Action, error) {
			if id == "act-pc-d" {
				return &moonwake.Action{ID: id, Status: moonwake.StatusFailed, Detail: "pc-d is still off after 5s"}, nil
			}
			return &moonwake.Action{ID: id, Status: moonwake.StatusSucceeded, Detail: "on after 1s"}, nil
		},
	}
	s := groups.New(power, nil, nil)
	defer s.Close()
	ms := []*moonwake.Machine{{Name: "pc-a"}, {Name: "pc-b"}, {Name: "pc-c"}, {Name: "pc-d"}}
	ctx := moonwake.WithActor(t.Context(), moonwake.Actor{Kind: "token", Name: "phone"})
	g, err := s.StartGroup(ctx, moonwake.ActionWake, "lan-party", ms, stagger)
	if err != nil {
		t.Fatal(err)
	}
	if g.Status != moonwake.StatusRunning || g.Members[0].Action != "act-pc-a" || g.Members[1].Status != moonwake.StatusPending || g.StaggerMS != 40 {
		t.Fatalf("at start: %+v", g)
	}
	g, err = s.WaitGroupAction(t.Context(), g.ID)
	if err != nil || !g.Done() {
		t.Fatalf("wait: %+v %v", g, err)
	}
	if g.Status != moonwake.StatusFailed || g.Detail != "2 of 4 succeeded; failed: pc-c, pc-d" || g.Tag != "lan-party" || g.Actor.Name != "phone" {
		t.Fatalf("group %+v", g)
	}
	want := []moonwake.GroupMember{
		{Machine: "pc-a", Status: "succeeded", Detail: "on after 1s", Action: "act-pc-a"},
		{Machine: "pc-b", Status: "succeeded", Detail: "on after 1s", Action: "act-pc-b"},
		{Machine: "pc-c", Status: "failed", Detail: "no packet could be sent"},
		{Machine: "pc-d", Status: "failed", Detail: "pc-d is still off after 5s", Action: "act-pc-d"},
	}
	for i, m := range g.Members {
		if m.StartedAt == nil {
			t.Errorf("member %s has no start", m.Machine)
		}
		m.StartedAt = nil
		if m != want[i] {
			t.Errorf("member %d: %+v, want %+v", i, m, want[i])
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for i := 1; i < len(ms); i++ {
		// No upper bound: a loaded machine may start late, never early,
		// and never sooner than a stagger after the one before.
		if gap := starts[ms[i].Name].Sub(starts[ms[0].Name]); gap < time.Duration(i)*stagger-time.Millisecond {
			t.Errorf("%s started %v after the first, want at least %v", ms[i].Name, gap, time.Duration(i)*stagger)
		}
		if gap := starts[ms[i].Name].Sub(starts[ms[i-1].Name]); gap < stagger-time.Millisecond {
			t.Errorf("%s started %v after %s", ms[i].Name, gap, ms[i-1].Name)
		}
	}
	for _, a := range actors {
		if a != "phone" {
			t.Errorf("actors %q", actors)
		}
	}
	if found, err := s.FindGroupAction(t.Context(), g.ID); err != nil || found.Status != g.Status {
		t.Errorf("find: %+v %v", found, err)
	}
	if _, err := s.FindGroupAction(t.Context(), "grp_nope"); moonwake.ErrorCode(err) != moonwake.ENotFound {
		t.Errorf("find unknown: %v", err)
	}
}

func TestGroupRefusals(t *testing.T) {
	s := groups.New(&mock.PowerService{}, nil, nil)
	defer s.Close()
	ms := []*moonwake.Machine{{Name: "pc"}}
	for _, tc := range []struct {
		kind    string
		ms      []*moonwake.Machine
		stagger time.Duration
	}{
		{"explode", ms, 0},
		{moonwake.ActionWake, nil, 0},
		{moonwake.ActionWake, ms, -time.Second},
		{moonwake.ActionWake, ms, time.Hour},
	} {
		if _, err := s.StartGroup(t.Context(), tc.kind, "", tc.ms, tc.stagger); moonwake.ErrorCode(err) != moonwake.EInvalid {
			t.Errorf("%+v: %v", tc, err)
		}
	}
}

// Ended group actions beyond the latest 100 are forgotten, oldest first,
// even while an older one still runs: a long group does not hold back the
// pruning of those that ended after it, and it is itself kept.
func TestGroupsPruneAroundARunningOne(t *testing.T) {
	release := make(chan struct{})
	power := &mock.PowerService{
		WakeFn: func(ctx context.Context, m *moonwake.Machine) (*moonwake.Action, error) {
			return &moonwake.Action{ID: "act-" + m.Name, Machine: m.Name, Status: moonwake.StatusRunning}, nil
		},
		WaitFn: func(ctx context.Context, id string) (*moonwake.Action, error) {
			if id == "act-slow" {
				select {
				case <-release:
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
			return &moonwake.Action{ID: id, Status: moonwake.StatusSucceeded}, nil
		},
	}
	s := groups.New(power, nil, nil)
	defer s.Close()
	defer close(release)
	ctx := t.Context()
	slow, err := s.StartGroup(ctx, moonwake.ActionWake, "", []*moonwake.Machine{{Name: "slow"}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for range 150 {
		g, err := s.StartGroup(ctx, moonwake.ActionWake, "", []*moonwake.Machine{{Name: "quick"}}, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.WaitGroupAction(ctx, g.ID); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, g.ID)
	}
	if _, err := s.FindGroupAction(ctx, slow.ID); err != nil {
		t.Errorf("the running group was forgotten: %v", err)
	}
	if _, err := s.FindGroupAction(ctx, ids[0]); moonwake.ErrorCode(err) != moonwake.ENotFound {
		t.Errorf("the oldest ended group is still kept behind a running one: %v", err)
	}
	if _, err := s.FindGroupAction(ctx, ids[len(ids)-1]); err != nil {
		t.Errorf("the newest group: %v", err)
	}
}
