package mock

import (
	"context"
	"time"

	"github.com/moonwake/moonwake"
)

var _ moonwake.GroupService = (*GroupService)(nil)

// GroupService is a fake moonwake.GroupService.
type GroupService struct {
	StartGroupFn      func(ctx context.Context, kind, tag string, machines []*moonwake.Machine, stagger time.Duration) (*moonwake.GroupAction, error)
	FindGroupActionFn func(ctx context.Context, id string) (*moonwake.GroupAction, error)
	WaitGroupActionFn func(ctx context.Context, id string) (*moonwake.GroupAction, error)
}

// StartGroup calls StartGroupFn; it panics when StartGroupFn is nil.
func (s *GroupService) StartGroup(ctx context.Context, kind, tag string, machines []*moonwake.Machine, stagger time.Duration) (*moonwake.GroupAction, error) {
	if s.StartGroupFn == nil {
		unexpected("GroupService.StartGroup")
	}
	return s.StartGroupFn(ctx, kind, tag, machines, stagger)
}

// FindGroupAction calls FindGroupActionFn; it panics when it is nil.
func (s *GroupService) FindGroupAction(ctx context.Context, id string) (*moonwake.GroupAction, error) {
	if s.FindGroupActionFn == nil {
		unexpected("GroupService.FindGroupAction")
	}
	return s.FindGroupActionFn(ctx, id)
}

// WaitGroupAction calls WaitGroupActionFn; it panics when it is nil.
func (s *GroupService) WaitGroupAction(ctx context.Context, id string) (*moonwake.GroupAction, error) {
	if s.WaitGroupActionFn == nil {
		unexpected("GroupService.WaitGroupAction")
	}
	return s.WaitGroupActionFn(ctx, id)
}
