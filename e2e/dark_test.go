//go:build linux

package e2e

import (
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moonwake/moonwake/internal/testlan"
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

// BenchmarkPowerState measures how soon the hub's state follows the PC, on
// a namespace LAN with the real binaries, the hub's default probes and an
// agent that survives going dark (the hardest case: its link looks up):
//
//   - command: a shutdown the agent accepts makes the PC go dark; from
//     then to the hub's state off (goal: 2 s at p99);
//   - rest: the PC goes dark on its own, at a random moment of the 5 s
//     probe cycle; from then to off (goal: the interval plus 1 s, 6 s);
//   - up: a wake through the API; from the PC's first answer (Sunshine's
//     port open) to the state on (goal: 1 s).
//
// Each reports the 50th and 99th percentile and the maximum over b.N
// samples, one after the other (-benchtime Nx; a rest sample takes up to
// 15 s). bench/state.sh runs it. Build without -race.
func BenchmarkPowerState(b *testing.B) {
	testlan.Require(b)
	l := newPCLAN(b, pcOptions{DarkAgent: true}, darkHubEnv(b)...)
	l.bootAndPair(b)
	linked := func() {
		l.hp.waitPower(b, "pc", 3*linkPingWait, "on with its agent linked", func(p wirePower) bool {
			return p.Agent != nil && p.Agent.Connected && up(p.State) && p.Pending == nil
		})
	}
	// on boots the PC from dark with a fresh agent and waits until the
	// hub sees it on and linked.
	on := func() {
		l.pc.PowerOn(b)
		l.pc.restartAgent(b)
		linked()
	}
	report := func(b *testing.B, what string, ds []time.Duration) {
		slices.Sort(ds)
		b.ReportMetric(ms(percentile(ds, 50)), "p50-ms")
		b.ReportMetric(ms(percentile(ds, 99)), "p99-ms")
		b.ReportMetric(ms(ds[len(ds)-1]), "max-ms")
		b.Logf("%s: %d samples: p50 %.0f ms, p99 %.0f ms, max %.0f ms", what, len(ds),
			ms(percentile(ds, 50)), ms(percentile(ds, 99)), ms(ds[len(ds)-1]))
	}

	b.Run("command", func(b *testing.B) {
		var ds []time.Duration
		for range b.N {
			a, _ := l.hp.act(b, "pc", "shutdown")
			if a.Status != "succeeded" {
				b.Fatalf("shutdown: %s %q; steps %+v", a.Status, a.Detail, a.Steps)
			}
			ds = append(ds, a.FinishedAt.Sub(l.pc.Stats().OffAt))
			on()
		}
		report(b, "command: PC dark to off", ds)
	})
	b.Run("rest", func(b *testing.B) {
		var ds []time.Duration
		for range b.N {
			time.Sleep(rand.N(5 * time.Second)) // any moment of the probe cycle
			l.pc.PowerOff(b)
			dark := l.pc.Stats().OffAt
			p := l.hp.waitPower(b, "pc", 3*linkPingWait, "off", func(p wirePower) bool { return p.State == "off" })
			ds = append(ds, p.Since.Sub(dark))
			if d := p.Since.Sub(dark); d > 7*time.Second { // past the goal: say what the hub saw
				lines := strings.Split(l.hp.stderr.String(), "\n")
				b.Logf("dark at %s, off after %s; the hub's last lines:\n%s", dark.Format("15:04:05.000"), d.Round(time.Millisecond),
					strings.Join(lines[max(0, len(lines)-30):], "\n"))
			}
			on()
		}
		report(b, "rest: PC dark to off", ds)
	})
	b.Run("up", func(b *testing.B) {
		var ds []time.Duration
		for range b.N {
			a, _ := l.hp.act(b, "pc", "shutdown")
			if a.Status != "succeeded" {
				b.Fatalf("shutdown: %s %q", a.Status, a.Detail)
			}
			l.pc.restartAgent(b) // the dark agent goes; a new one starts at boot
			a, _ = l.hp.act(b, "pc", "wake")
			if a.Status != "succeeded" {
				b.Fatalf("wake: %s %q; steps %+v", a.Status, a.Detail, a.Steps)
			}
			ds = append(ds, a.FinishedAt.Sub(l.pc.Stats().PortOpen))
			linked()
		}
		report(b, "up: first answer to on", ds)
	})
}

// TestNoFalseOffUnderLoad: a PC that is on and streaming is never seen off
// (nor anything but streaming) while the hub is kept busy answering API
// requests on both cores, for three probe cycles at the default
// intervals; each round's link check may go unanswered in time under that
// load, but the PC's own answers keep it up.
func TestNoFalseOffUnderLoad(t *testing.T) {
	// Not parallel: the load is for this hub, not for the other tests'.
	env := append(darkHubEnv(t), "MOONWAKE_RATE_LIMIT_PER_MINUTE=1000000000", "MOONWAKE_RATE_LIMIT_BURST=1000000")
	l := newPCLAN(t, pcOptions{Streaming: true}, env...)
	l.bootAndPair(t)
	l.hp.waitPower(t, "pc", 3*linkPingWait, "streaming", func(p wirePower) bool { return p.State == "streaming" })
	before := len(l.hp.history(t, "pc"))

	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	var requests atomic.Int64
	var wg sync.WaitGroup
	client := keepAliveClient(l.hub)
	for range 32 {
		wg.Go(func() {
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, "GET", l.hp.url+"/api/v1/machines", nil)
				req.Header.Set("Authorization", "Bearer "+l.hp.admin)
				resp, err := client.Do(req)
				if err != nil {
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				requests.Add(1)
			}
		})
	}
	var seen []string
	for ctx.Err() == nil {
		if p := l.hp.power(t, "pc"); p.State != "streaming" {
			seen = append(seen, p.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	wg.Wait()
	t.Logf("%d API requests in 15 s", requests.Load())
	if len(seen) > 0 {
		t.Errorf("not streaming while under load: %q", seen)
	}
	if h := l.hp.history(t, "pc"); len(h) != before {
		t.Errorf("state changes while under load: %+v", h[before:])
	}
}
