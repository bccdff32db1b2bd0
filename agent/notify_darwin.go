package agent

import (
	"context"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"
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

// appleQuote writes s as an AppleScript string literal: backslashes and
// quotes escaped, control characters dropped.
func appleQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range strings.ToValidUTF8(s, "?") {
		switch {
		case r == '\\' || r == '"':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
