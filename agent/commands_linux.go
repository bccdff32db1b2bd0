package agent

import (
	"context"
	"fmt"
)

// defaultPlan asks systemd (logind) to change the power state: a clean
// shutdown that stops services and unmounts file systems. The agent runs as
// root, which logind lets power off even while users are logged in.
func defaultPlan(name string) (Plan, error) {
	switch name {
	case CmdShutdown:
		return Plan{Command: name, Argv: []string{"systemctl", "poweroff"}}, nil
	case CmdReboot:
		return Plan{Command: name, Argv: []string{"systemctl", "reboot"}}, nil
	case CmdSleep:
		return Plan{Command: name, Argv: []string{"systemctl", "suspend"}}, nil
	case CmdHibernate:
		return Plan{Command: name, Argv: []string{"systemctl", "hibernate"}}, nil
	}
	return Plan{}, fmt.Errorf("unknown command %q", name)
}

func osCall(ctx context.Context, name string) error { return errNoOSCall }
