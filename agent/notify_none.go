//go:build !linux && !darwin && !windows

package agent

import (
	"context"
	"fmt"
	"log/slog"
)

type noNotifier struct{}

func osNotifier(*slog.Logger) Notifier { return noNotifier{} }

// Show implements Notifier: nothing to show with here.
func (noNotifier) Show(ctx context.Context, n Notification) (bool, error) {
	return false, fmt.Errorf("countdown notification %w on this OS", ErrUnavailable)
}
