package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// The power commands the agent carries out.
const (
	CmdShutdown  = "shutdown"
	CmdReboot    = "reboot"
	CmdSleep     = "sleep"
	CmdHibernate = "hibernate"
)

// CommandNames lists the commands the hub can send and the configuration
// can override.
var CommandNames = []string{CmdShutdown, CmdReboot, CmdSleep, CmdHibernate}

// Plan says how one command is carried out: a program run without a shell
// (an override from the configuration, or the OS's tool), or an OS call.
// Nothing in it comes from the hub but the command's name, which only
// selects a plan.
type Plan struct {
	Command  string
	Argv     []string // the program and its arguments; empty for an OS call
	Call     string   // the OS call, for people (Windows)
	Override bool     // from the configuration
}

// String describes p for logs and for the hub.
func (p Plan) String() string {
	if len(p.Argv) > 0 {
		return fmt.Sprintf("%q", p.Argv)
	}
	return p.Call
}

// PlanCommand returns how the command called name is carried out here: by
// its override if there is one, otherwise the OS's own way. An unknown
// command, or one this OS cannot do, is an error.
func PlanCommand(name string, overrides map[string][]string) (Plan, error) {
	if !slices.Contains(CommandNames, name) {
		return Plan{}, fmt.Errorf("unknown command %.40q (known: %s)", name, strings.Join(CommandNames, ", "))
	}
	if argv, ok := overrides[name]; ok && len(argv) > 0 {
		return Plan{Command: name, Argv: slices.Clone(argv), Override: true}, nil
	}
	return defaultPlan(name)
}

// execTimeout bounds a command's program: systemctl returns at once, and
// an override that hangs must not hold the agent.
const execTimeout = time.Minute

// Execute carries p out. In a test binary it refuses every plan but an
// override: a test must never power off the machine it runs on.
func Execute(ctx context.Context, p Plan) error {
	if !p.Override && testing.Testing() {
		return fmt.Errorf("%s: refusing the system's own command in a test; give an override", p.Command)
	}
	if len(p.Argv) == 0 {
		return osCall(ctx, p.Command)
	}
	ctx, cancel := context.WithTimeout(ctx, execTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, p.Argv[0], p.Argv[1:]...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		if msg := tail(out.Bytes(), 200); msg != "" {
			return fmt.Errorf("%s %s: %w: %s", p.Command, p, err, msg)
		}
		return fmt.Errorf("%s %s: %w", p.Command, p, err)
	}
	return nil
}

// tail returns the last n bytes of b as one line of valid UTF-8.
func tail(b []byte, n int) string {
	b = bytes.TrimSpace(b)
	if len(b) > n {
		b = b[len(b)-n:]
		for len(b) > 0 && !utf8.RuneStart(b[0]) {
			b = b[1:]
		}
	}
	return strings.Join(strings.Fields(strings.ToValidUTF8(string(b), "?")), " ")
}

var errNoOSCall = errors.New("no OS call for this command here")
