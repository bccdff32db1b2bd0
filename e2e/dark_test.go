//go:build linux

package e2e

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// darkHubEnv gives a pcLAN's hub the default probes (a round every 5 s at
// rest, every 250 ms while an action runs, 1 s timeouts) and an 8 s
// shutdown deadline: the setup of the report in which a PC that went dark
// was seen off 17.8 s after a shutdown (which failed, falsely) and 21.5 s
// after at rest, when its agent's link failed its periodic ping.
func darkHubEnv(t testing.TB) []string {
	cfg := filepath.Join(t.TempDir(), "defaults.yaml")
	if err := os.WriteFile(cfg, []byte("{}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{"MOONWAKE_CONFIG=" + cfg, "MOONWAKE_PROBE_INTERVAL=5s", "MOONWAKE_SHUTDOWN_DEADLINE=8s"}
}

// linkPingWait is the least time the link's periodic ping needs to find a
// silent peer (uplink.DefaultPingInterval and DefaultPingTimeout: a ping
// sent just before the PC went dark is answered, the next one 10 s later
// waits 10 s for its pong). A PC seen off sooner was not waiting for it.
const linkPingWait = 10 * time.Second

// TestDarkPC: a PC that goes dark with its agent still running (its
// address gone, its uplink open on the agent's side) is seen off without
// waiting for the link's periodic ping, at rest and after a shutdown the
// agent accepted; and that shutdown succeeds within its 8 s deadline, with
// the one command it sent.
func TestDarkPC(t *testing.T) {
	t.Parallel()
	l := newPCLAN(t, pcOptions{DarkAgent: true}, darkHubEnv(t)...)
	l.bootAndPair(t)

	// At rest.
	l.pc.PowerOff(t)
	dark := l.pc.Stats().OffAt
	p := l.hp.waitPower(t, "pc", 3*linkPingWait, "off", func(p wirePower) bool { return p.State == "off" })
	seen := time.Since(dark)
	t.Logf("at rest: dark to off %s (%s)", seen.Round(time.Millisecond), p)
	if seen >= linkPingWait {
		t.Errorf("seen off %s after going dark: it waited for the link's periodic ping", seen)
	}
	if p.Agent == nil || p.Agent.Connected {
		t.Errorf("agent %+v, want one that is not connected: its link no longer answers", p.Agent)
	}

	// On again, with a fresh agent (the dark one's link may have broken by
	// now); then a shutdown that makes it go dark.
	l.pc.PowerOn(t)
	l.pc.restartAgent(t)
	l.hp.waitPower(t, "pc", 3*linkPingWait, "on with its agent linked", func(p wirePower) bool {
		return p.Agent != nil && p.Agent.Connected && up(p.State)
	})
	a, took := l.hp.act(t, "pc", "shutdown")
	st := l.pc.Stats()
	if a.Status != "succeeded" {
		t.Fatalf("shutdown: %s %q; steps %+v", a.Status, a.Detail, a.Steps)
	}
	commands := 0
	for _, s := range a.Steps {
		if s.Kind == "command" {
			commands++
		}
	}
	verified := a.FinishedAt.Sub(st.OffAt)
	t.Logf("shutdown: request to verified %s (%q); PC dark to verified %s; steps %q",
		took.Round(time.Millisecond), a.Detail, verified.Round(time.Millisecond), stepKinds(a))
	if commands != 1 || st.Commands["poweroff"] != 1 {
		t.Errorf("%d commands sent, %d carried out; want 1 of each, within the deadline", commands, st.Commands["poweroff"])
	}
	if verified >= linkPingWait {
		t.Errorf("verified %s after the PC went dark: it waited for the link's periodic ping", verified)
	}
}
