//go:build !linux && !darwin && !windows

package agent

import (
	"context"
	"fmt"
	"runtime"
)

// defaultPlan knows no way here: every command needs an override.
func defaultPlan(name string) (Plan, error) {
	return Plan{}, fmt.Errorf("%s has no default on %s; set commands.%s in the agent's configuration", name, runtime.GOOS, name)
}

func osCall(ctx context.Context, name string) error { return errNoOSCall }
