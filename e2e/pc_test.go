//go:build linux

package e2e

import (
	"context"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moonwake/moonwake/agent"
	"github.com/moonwake/moonwake/internal/testlan"
	"github.com/moonwake/moonwake/sunshine"
)

// TestEmulatedPC checks the emulated PC on its own, from another host of
// its LAN, before the hub tests trust it: off, nothing answers at its
// address; a magic packet for another MAC does nothing; one for its MAC,
// as UDP or as a raw frame, boots it after its delay, and then it answers
// ARP (announcing itself first), TCP and a /serverinfo that Sunshine's
// parser accepts; powered off, it is silent again; with a new MAC it wakes
// only for that one.
func TestEmulatedPC(t *testing.T) {
	t.Parallel()
	lan := testlan.New(t)
	x := lan.AddHost("x")
	const delay = 400 * time.Millisecond
	p := newPC(t, lan, "pc", pcOptions{BootDelay: delay})
	addr := netip.AddrPortFrom(p.Addr(), sunshinePort).String()

	// neverOn: x's neighbour table has no entry left from an earlier boot.
	silent := func(t *testing.T, neverOn bool) {
		t.Helper()
		err := x.Do(func() error {
			c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
			if err == nil {
				c.Close()
			}
			return err
		})
		if err == nil {
			t.Errorf("TCP %s connected while the PC is %s", addr, p.State())
		}
		if mac := neighbourMAC(t, x, p.Addr()); neverOn && mac != "" {
			t.Errorf("x resolved %s to %s while the PC is %s", p.Addr(), mac, p.State())
		}
	}
	silent(t, true)

	// Another MAC: nothing.
	wake(t, x, "aa:bb:cc:dd:ee:ff", "--interface", testlan.Iface)
	time.Sleep(2 * delay)
	if st := p.Stats(); st.Magic != 0 || st.Boots != 0 || p.State() != pcOff {
		t.Fatalf("a magic packet for another MAC: %+v, state %s", st, p.State())
	}

	// x's failed connect left an unresolved neighbour entry (for 3 s, the
	// kernel's ARP retries; then it may be dropped).
	entry := neighbourEntry(t, x, p.Addr())

	// Its MAC, as a raw frame: boots after the delay.
	sent := time.Now()
	wake(t, x, p.MAC().String(), "--raw", "--interface", testlan.Iface, "--count", "1")
	p.waitState(t, pcOn, 5*time.Second)
	st := p.Stats()
	if st.Magic != 1 || st.Boots != 1 || st.UpAt.Sub(sent) < delay {
		t.Errorf("after a raw magic packet: %+v (up %s after it was sent, want at least %s)", st, st.UpAt.Sub(sent), delay)
	}
	// Its gratuitous ARP updated x's entry without x asking (the kernel
	// updates an entry it has, and creates none from a gratuitous ARP).
	if mac := neighbourMAC(t, x, p.Addr()); entry != "" && mac != p.MAC().String() {
		t.Errorf("x's neighbour entry for %s after the boot: %q (before: %q), want %s", p.Addr(), mac, entry, p.MAC())
	} else if entry == "" {
		t.Logf("x had no neighbour entry left for %s: the gratuitous ARP is not checked", p.Addr())
	}
	sc := &sunshine.Client{BaseURL: "http://" + addr, HTTP: nsClient(x)}
	info, err := sc.ServerInfo(t.Context())
	if err != nil {
		t.Fatalf("serverinfo: %v", err)
	}
	if info.Hostname != "PC" || info.UniqueID != p.uniqueID || info.Busy || info.State != "SUNSHINE_SERVER_FREE" ||
		info.AppVersion != "7.1.431.-1" || info.MAC != nil || info.LocalIP != p.Addr().String() {
		t.Errorf("serverinfo %+v", info)
	}

	p.PowerOff(t)
	silent(t, false)

	// UDP to the subnet's broadcast, port 9: boots again.
	wake(t, x, p.MAC().String(), "--interface", testlan.Iface)
	p.waitState(t, pcOn, 5*time.Second)
	p.PowerOff(t)

	// A new NIC: the old MAC no longer wakes it, the new one does.
	old := p.MAC()
	p.SetMAC(t, net.HardwareAddr{0x02, 0x55, 0, 0, 0, 0x01})
	before := p.Stats()
	wake(t, x, old.String(), "--interface", testlan.Iface, "--count", "1")
	time.Sleep(2 * delay)
	if st := p.Stats(); st.Magic != before.Magic || p.State() != pcOff {
		t.Errorf("the old MAC woke the PC: %+v, state %s", st, p.State())
	}
	wake(t, x, "02:55:00:00:00:01", "--interface", testlan.Iface)
	p.waitState(t, pcOn, 5*time.Second)
	if mac := neighbourMAC(t, x, p.Addr()); mac != "02:55:00:00:00:01" {
		t.Errorf("x's neighbour entry after the new NIC booted: %q", mac)
	}
	if st := p.Stats(); st.Boots != 3 || st.Offs != 2 {
		t.Errorf("stats %+v, want 3 boots and 2 offs", st)
	}
}

// TestEmulatedPCAgentConfig checks the emulated PC's agent configuration
// with the agent's own parser: every power command is overridden with an
// absolute program that cannot power anything off, so the agent never
// falls back to systemctl.
func TestEmulatedPCAgentConfig(t *testing.T) {
	t.Parallel()
	for _, broken := range []bool{false, true} {
		p := &pc{dir: "/nonexistent/pc", opts: pcOptions{BrokenShutdown: broken}}
		b, err := p.agentConfig()
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := agent.ParseConfig(b)
		if err != nil {
			t.Fatalf("%v\n%s", err, b)
		}
		if cfg.State != "/nonexistent/pc/state.json" || cfg.Hub != "" {
			t.Errorf("configuration %+v", cfg)
		}
		for _, name := range agent.CommandNames {
			plan, err := agent.PlanCommand(name, cfg.Commands)
			if err != nil {
				t.Fatal(err)
			}
			prog := filepath.Base(plan.Argv[0])
			switch {
			case !filepath.IsAbs(plan.Argv[0]):
				t.Errorf("%s: %q is not absolute", name, plan.Argv)
			case broken && (prog != "true" || len(plan.Argv) != 1):
				t.Errorf("%s, broken: %q", name, plan.Argv)
			case !broken && (prog != "touch" || len(plan.Argv) != 2 || !strings.HasPrefix(plan.Argv[1], "/nonexistent/pc/")):
				t.Errorf("%s: %q", name, plan.Argv)
			}
		}
	}
	env := (&pc{dir: "/nonexistent/pc"}).agentEnv()
	if !slices.Contains(env, "PATH=/nonexistent/pc/bin") {
		t.Errorf("agent environment %q", env)
	}
}

// neighbourEntry returns h's neighbour entry for ip, as "ip neigh" shows
// it, "" when there is none.
func neighbourEntry(t *testing.T, h *testlan.Host, ip netip.Addr) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	out, err := h.Run(ctx, "ip", "neigh", "show", ip.String(), "dev", testlan.Iface)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// neighbourMAC returns the MAC in h's neighbour entry for ip, "" when it
// has none resolved.
func neighbourMAC(t *testing.T, h *testlan.Host, ip netip.Addr) string {
	t.Helper()
	f := strings.Fields(neighbourEntry(t, h, ip))
	if i := slices.Index(f, "lladdr"); i >= 0 && i+1 < len(f) {
		return f[i+1]
	}
	return ""
}
