package mock

import (
	"context"

	"github.com/moonwake/moonwake"
)

var _ moonwake.ActionService = (*ActionService)(nil)

// ActionService is a moonwake.ActionService, the audit log. Tests that need
// a real one use hub/sqlite; this double is for what a test wants to
// control exactly (a fixed list, a failing store).
type ActionService struct {
	CreateActionFn   func(ctx context.Context, a *moonwake.Action) error
	UpdateActionFn   func(ctx context.Context, a *moonwake.Action) error
	FindActionFn     func(ctx context.Context, id string) (*moonwake.Action, error)
	ListActionsFn    func(ctx context.Context, f moonwake.ActionFilter) ([]*moonwake.Action, error)
	RunningActionsFn func(ctx context.Context) ([]*moonwake.Action, error)
}

// CreateAction calls CreateActionFn; it panics when it is nil.
func (s *ActionService) CreateAction(ctx context.Context, a *moonwake.Action) error {
	if s.CreateActionFn == nil {
		unexpected("ActionService.CreateAction")
	}
	return s.CreateActionFn(ctx, a)
}

// UpdateAction calls UpdateActionFn; it panics when it is nil.
func (s *ActionService) UpdateAction(ctx context.Context, a *moonwake.Action) error {
	if s.UpdateActionFn == nil {
		unexpected("ActionService.UpdateAction")
	}
	return s.UpdateActionFn(ctx, a)
}

// FindAction calls FindActionFn; ENotFound when it is nil.
func (s *ActionService) FindAction(ctx context.Context, id string) (*moonwake.Action, error) {
	if s.FindActionFn == nil {
		return nil, moonwake.Errorf(moonwake.ENotFound, "no action %q", id)
	}
	return s.FindActionFn(ctx, id)
}

// ListActions calls ListActionsFn; none when it is nil.
func (s *ActionService) ListActions(ctx context.Context, f moonwake.ActionFilter) ([]*moonwake.Action, error) {
	if s.ListActionsFn == nil {
		return nil, nil
	}
	return s.ListActionsFn(ctx, f)
}

// RunningActions calls RunningActionsFn; none when it is nil.
func (s *ActionService) RunningActions(ctx context.Context) ([]*moonwake.Action, error) {
	if s.RunningActionsFn == nil {
		return nil, nil
	}
	return s.RunningActionsFn(ctx)
}
