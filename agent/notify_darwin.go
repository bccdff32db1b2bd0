package agent

import (
	"context"
	"fmt"
	"log/slog"
	"os/exec"
	"time"
)

// On macOS a countdown is a user notification from osascript ("display
// notification"): it has no buttons, so input, or moonwake-agent cancel,
// is the way out. It is shown once, and again each minute while the
// countdown runs.
type osascriptNotifier struct{ log *slog.Logger }

func osNotifier(log *slog.Logger) Notifier { return osascriptNotifier{log} }

// Show implements Notifier: it never reports a Cancel button.
func (o osascriptNotifier) Show(ctx context.Context, n Notification) (bool, error) {
	for {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		// The text goes as AppleScript string literals, quoted here: no
		// shell, and no way for a quote in By to end the literal.
		script := fmt.Sprintf("display notification %s with title %s", appleQuote(n.Body()), appleQuote(n.Title(time.Now())))
		out, err := exec.CommandContext(cctx, "osascript", "-e", script).CombinedOutput()
		cancel()
		if err != nil {
			return false, fmt.Errorf("osascript: %w: %s", err, tail(out, 200))
		}
		left := time.Until(n.Until)
		if left <= time.Minute {
			<-ctx.Done()
			return false, nil
		}
		select {
		case <-ctx.Done():
			return false, nil
		case <-time.After(time.Minute):
		}
	}
}
