package agent

import (
	"context"
	"fmt"
)

// defaultPlan uses macOS's own tools. macOS decides by itself when a
// sleeping Mac hibernates (hibernatemode), so there is no hibernate
// command; override it in the configuration if you have a way.
func defaultPlan(name string) (Plan, error) {
	switch name {
	case CmdShutdown:
		return Plan{Command: name, Argv: []string{"/sbin/shutdown", "-h", "now"}}, nil
	case CmdReboot:
		return Plan{Command: name, Argv: []string{"/sbin/shutdown", "-r", "now"}}, nil
	case CmdSleep:
		return Plan{Command: name, Argv: []string{"/usr/bin/pmset", "sleepnow"}}, nil
	case CmdHibernate:
		return Plan{}, fmt.Errorf("hibernate is not supported on macOS; set commands.hibernate in the agent's configuration")
	}
	return Plan{}, fmt.Errorf("unknown command %q", name)
}

func osCall(ctx context.Context, name string) error { return errNoOSCall }
