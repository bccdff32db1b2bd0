// Package groups carries out power actions on groups of machines: it
// starts the members' actions through the power service one after the
// other, a stagger apart, and follows each to its verified end.
package groups

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/moonwake/moonwake"
)

// Bounds.
const (
	// MaxStagger bounds the time between two members' starts.
	MaxStagger = 5 * time.Minute
	// MaxMembers bounds a group.
	MaxMembers = 500
	// keep is how many ended group actions are remembered.
	keep = 100
)

// Service implements moonwake.GroupService over a power service.
type Service struct {
	power moonwake.PowerService
	log   *slog.Logger
	now   func() time.Time

	base context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup

	mu      sync.Mutex
	actions map[string]*group
	order   []string // ids, oldest first
}

// group is a group action and what waits for its end.
type group struct {
	g    moonwake.GroupAction
	done chan struct{}
}

var _ moonwake.GroupService = (*Service)(nil)

// New returns a Service; Close stops the group actions under way (their
// members' actions go on in the power service).
func New(power moonwake.PowerService, log *slog.Logger, now func() time.Time) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	s := &Service{power: power, log: log, now: now, actions: map[string]*group{}}
	s.base, s.stop = context.WithCancel(context.Background())
	return s
}

// Close stops starting members and following them, and waits.
func (s *Service) Close() error {
	s.stop()
	s.wg.Wait()
	return nil
}

// StartGroup implements moonwake.GroupService.
func (s *Service) StartGroup(ctx context.Context, kind, tag string, machines []*moonwake.Machine, stagger time.Duration) (*moonwake.GroupAction, error) {
	if kind != moonwake.ActionWake && !slices.Contains(moonwake.PowerActions, kind) {
		return nil, moonwake.Errorf(moonwake.EInvalid, "unknown action %q", kind)
	}
	if len(machines) == 0 {
		return nil, moonwake.Errorf(moonwake.EInvalid, "a group action needs at least one machine")
	}
	if len(machines) > MaxMembers {
		return nil, moonwake.Errorf(moonwake.EInvalid, "a group holds at most %d machines", MaxMembers)
	}
	if stagger < 0 || stagger > MaxStagger {
		return nil, moonwake.Errorf(moonwake.EInvalid, "stagger %v: between 0 and %v", stagger, MaxStagger)
	}
	if s.base.Err() != nil {
		return nil, moonwake.Errorf(moonwake.EUnavailable, "the hub is shutting down")
	}
	actor, _ := moonwake.ActorFrom(ctx)
	gr := &group{done: make(chan struct{}), g: moonwake.GroupAction{
		ID: newID(), Kind: kind, Tag: tag, StaggerMS: stagger.Milliseconds(), Actor: actor,
		Status: moonwake.StatusRunning, CreatedAt: s.now().UTC(),
	}}
	for _, m := range machines {
		gr.g.Members = append(gr.g.Members, moonwake.GroupMember{Machine: m.Name, Status: moonwake.StatusPending})
	}
	s.mu.Lock()
	s.actions[gr.g.ID] = gr
	s.order = append(s.order, gr.g.ID)
	s.mu.Unlock()
	// The members' actions belong to the hub, not to the request that
	// asked: they go on after it returns, with its actor.
	run := moonwake.WithActor(s.base, actor)
	s.log.Info("group action", "id", gr.g.ID, "kind", kind, "tag", tag, "members", len(machines), "stagger", stagger, "actor", actor.Name)
	t0 := s.now()
	s.start(run, gr, 0, machines[0])
	s.wg.Go(func() { s.run(run, gr, machines, stagger, t0) })
	return s.snapshot(gr), nil
}

// run starts the other members on time, then waits for every member's
// action to end.
func (s *Service) run(ctx context.Context, gr *group, machines []*moonwake.Machine, stagger time.Duration, t0 time.Time) {
	var follow sync.WaitGroup
	follow.Go(func() { s.follow(ctx, gr, 0) })
	prev := t0
	for i := 1; i < len(machines); i++ {
		// On the plan counted from the first start, so that slow starts do
		// not add up; but never sooner than a stagger after the one
		// before, which a slow start would otherwise make a burst.
		due := t0.Add(time.Duration(i) * stagger)
		if after := prev.Add(stagger); after.After(due) {
			due = after
		}
		if d := due.Sub(s.now()); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
			case <-t.C:
			}
		}
		if ctx.Err() != nil {
			s.setMember(gr, i, moonwake.StatusFailed, "not started: the hub stopped", "")
			continue
		}
		prev = s.now()
		s.start(ctx, gr, i, machines[i])
		follow.Go(func() { s.follow(ctx, gr, i) })
	}
	follow.Wait()
	s.finish(gr)
}

// start starts member i's action.
func (s *Service) start(ctx context.Context, gr *group, i int, m *moonwake.Machine) {
	now := s.now().UTC() // when it began, not when the first packets were out
	var a *moonwake.Action
	var err error
	if gr.g.Kind == moonwake.ActionWake {
		a, err = s.power.Wake(ctx, m)
	} else {
		a, err = s.power.Command(ctx, m, gr.g.Kind)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	mem := &gr.g.Members[i]
	mem.StartedAt = &now
	switch {
	case a != nil:
		mem.Action, mem.Status, mem.Detail = a.ID, a.Status, a.Detail
	case err != nil:
		mem.Status, mem.Detail = moonwake.StatusFailed, moonwake.ErrorMessage(err)
	}
}

// follow waits for member i's action to end and records how.
func (s *Service) follow(ctx context.Context, gr *group, i int) {
	s.mu.Lock()
	id, status := gr.g.Members[i].Action, gr.g.Members[i].Status
	s.mu.Unlock()
	if id == "" || status != moonwake.StatusRunning {
		return
	}
	a, err := s.power.Wait(ctx, id)
	switch {
	case err != nil:
		s.setMember(gr, i, moonwake.StatusFailed, "lost track of its action: "+moonwake.ErrorMessage(err), id)
	case a.Done():
		s.setMember(gr, i, a.Status, a.Detail, id)
	default: // Wait gave up: the hub is stopping
		s.setMember(gr, i, moonwake.StatusFailed, "no longer followed: the hub stopped (see its action)", id)
	}
}

func (s *Service) setMember(gr *group, i int, status, detail, action string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := &gr.g.Members[i]
	m.Status, m.Detail = status, detail
	if action != "" {
		m.Action = action
	}
}

// finish ends the group action: succeeded when every member's did.
func (s *Service) finish(gr *group) {
	s.mu.Lock()
	ok := 0
	var failed []string
	for _, m := range gr.g.Members {
		if m.Status == moonwake.StatusSucceeded {
			ok++
		} else {
			failed = append(failed, m.Machine)
		}
	}
	now := s.now().UTC()
	gr.g.FinishedAt = &now
	gr.g.Status = moonwake.StatusSucceeded
	gr.g.Detail = fmt.Sprintf("%d of %d succeeded", ok, len(gr.g.Members))
	if len(failed) > 0 {
		gr.g.Status = moonwake.StatusFailed
		gr.g.Detail += "; failed: " + strings.Join(failed, ", ")
	}
	// Forget the oldest ended ones beyond keep; a long one still running
	// stays, and holds back none that ended after it.
	for i := 0; len(s.order) > keep && i < len(s.order); {
		if old := s.actions[s.order[i]]; old != nil && !old.g.Done() {
			i++
			continue
		}
		delete(s.actions, s.order[i])
		s.order = append(s.order[:i], s.order[i+1:]...)
	}
	s.mu.Unlock()
	s.log.Info("group action ended", "id", gr.g.ID, "kind", gr.g.Kind, "status", gr.g.Status, "detail", gr.g.Detail)
	close(gr.done)
}

func (s *Service) snapshot(gr *group) *moonwake.GroupAction {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := gr.g
	g.Members = slices.Clone(gr.g.Members)
	return &g
}

// FindGroupAction implements moonwake.GroupService.
func (s *Service) FindGroupAction(ctx context.Context, id string) (*moonwake.GroupAction, error) {
	s.mu.Lock()
	gr := s.actions[id]
	s.mu.Unlock()
	if gr == nil {
		return nil, moonwake.Errorf(moonwake.ENotFound, "no group action %q", id)
	}
	return s.snapshot(gr), nil
}

// WaitGroupAction implements moonwake.GroupService.
func (s *Service) WaitGroupAction(ctx context.Context, id string) (*moonwake.GroupAction, error) {
	s.mu.Lock()
	gr := s.actions[id]
	s.mu.Unlock()
	if gr == nil {
		return nil, moonwake.Errorf(moonwake.ENotFound, "no group action %q", id)
	}
	select {
	case <-gr.done:
	case <-ctx.Done():
	}
	return s.snapshot(gr), nil
}

// newID returns "grp_" and 26 base32 characters.
func newID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return "grp_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))[:26]
}
