package agent

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// Tests here never carry out a system plan: Execute refuses them in a test
// binary, and every plan they execute is an override that touches a file
// in a temporary directory.

func TestPlanCommand(t *testing.T) {
	over := map[string][]string{CmdShutdown: {"/usr/bin/touch", "/tmp/x"}}
	p, err := PlanCommand(CmdShutdown, over)
	if err != nil || !p.Override || !reflect.DeepEqual(p.Argv, over[CmdShutdown]) {
		t.Fatalf("override: %+v, %v", p, err)
	}
	p.Argv[0] = "changed"
	if over[CmdShutdown][0] != "/usr/bin/touch" {
		t.Error("the plan shares the configuration's slice")
	}
	for _, name := range []string{"", "format", "shutdown; reboot", "SHUTDOWN", "../shutdown"} {
		if _, err := PlanCommand(name, over); err == nil || !strings.Contains(err.Error(), "unknown command") {
			t.Errorf("PlanCommand(%q) = %v", name, err)
		}
	}
	// The system's own ways: fixed argv, never anything from the hub.
	want := map[string][]string{}
	switch runtime.GOOS {
	case "linux":
		want = map[string][]string{
			CmdShutdown: {"systemctl", "poweroff"}, CmdReboot: {"systemctl", "reboot"},
			CmdSleep: {"systemctl", "suspend"}, CmdHibernate: {"systemctl", "hibernate"},
		}
	case "darwin":
		want = map[string][]string{
			CmdShutdown: {"/sbin/shutdown", "-h", "now"}, CmdReboot: {"/sbin/shutdown", "-r", "now"},
			CmdSleep: {"/usr/bin/pmset", "sleepnow"},
		}
	}
	for name, argv := range want {
		p, err := PlanCommand(name, nil)
		if err != nil || p.Override || !reflect.DeepEqual(p.Argv, argv) {
			t.Errorf("default %s: %+v, %v; want %q", name, p, err, argv)
		}
	}
}

func TestExecuteRefusesSystemPlansInTests(t *testing.T) {
	for _, name := range CommandNames {
		p, err := PlanCommand(name, nil)
		if err != nil {
			continue // no default here
		}
		if err := Execute(context.Background(), p); err == nil || !strings.Contains(err.Error(), "refusing") {
			t.Fatalf("Execute(%+v) = %v", p, err)
		}
	}
}

func TestExecuteOverride(t *testing.T) {
	dir := t.TempDir()
	// Shell syntax in an argument is just characters: no shell runs.
	name := filepath.Join(dir, "off; $(id) `id` | x &")
	p, err := PlanCommand(CmdShutdown, map[string][]string{CmdShutdown: {"touch", name}})
	if err != nil {
		t.Fatal(err)
	}
	if err := Execute(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(name); err != nil {
		t.Fatalf("the override did not run: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("files %v: an argument went through a shell", entries)
	}

	// A failing program: its exit status and the end of its output.
	p, _ = PlanCommand(CmdReboot, map[string][]string{CmdReboot: {"ls", filepath.Join(dir, "missing")}})
	err = Execute(context.Background(), p)
	if err == nil || !strings.Contains(err.Error(), "exit status") || !strings.Contains(err.Error(), "missing") {
		t.Errorf("failing override: %v", err)
	}
	p, _ = PlanCommand(CmdSleep, map[string][]string{CmdSleep: {filepath.Join(dir, "no-such-program")}})
	if err := Execute(context.Background(), p); err == nil {
		t.Error("a missing program succeeded")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p, _ = PlanCommand(CmdSleep, map[string][]string{CmdSleep: {"sleep", "10"}})
	if err := Execute(ctx, p); err == nil {
		t.Error("a cancelled command succeeded")
	}
}

func TestTail(t *testing.T) {
	for in, want := range map[string]string{
		"":                       "",
		"  one\n two \n":         "one two",
		"é" + "abcdefghi":        "abcdefghi",
		"\xff\xfeabc":            "?abc",
		strings.Repeat("x", 300): strings.Repeat("x", 10),
	} {
		if got := tail([]byte(in), 10); got != want {
			t.Errorf("tail(%q) = %q, want %q", in, got, want)
		}
	}
}
