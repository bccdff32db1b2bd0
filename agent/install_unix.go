//go:build !windows

package agent

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// runServiceManager runs systemctl or launchctl with its output in the
// error.
func runServiceManager(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if msg != "" {
			return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, msg)
		}
		return fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return nil
}
