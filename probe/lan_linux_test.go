//go:build linux

package probe_test

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/internal/testlan"
	"github.com/moonwake/moonwake/probe"
)

// These tests run in network namespaces (testlan): host "hub" probes host
// "pc" on a LAN of their own. They need root and skip without it.

// listenIn opens a TCP listener inside h's namespace.
func listenIn(t *testing.T, h *testlan.Host, addr string) net.Listener {
	t.Helper()
	var l net.Listener
	if err := h.Do(func() error {
		var err error
		l, err = net.Listen("tcp", addr)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func sysctl(t *testing.T, h *testlan.Host, key, value string) {
	t.Helper()
	if err := h.Do(func() error {
		return os.WriteFile(filepath.Join("/proc/sys/net", key), []byte(value), 0)
	}); err != nil {
		t.Fatal(err)
	}
}

func ip(t *testing.T, h *testlan.Host, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := h.Run(ctx, append([]string{"ip"}, args...)...); err != nil {
		t.Fatal(err)
	}
}

func addrOf(cidr string) string { return cidr[:strings.IndexByte(cidr, '/')] }

// answerTimeout bounds the probes of a host that answers: they return as
// soon as it does, so the bound is only for a broken test.
const answerTimeout = 10 * time.Second

func TestLANProbe(t *testing.T) {
	lan := testlan.New(t)
	hub, pc := lan.AddHost("hub"), lan.AddHost("pc")
	var app atomic.Int64
	serveSunshine(t, listenIn(t, pc, ":47989"), &app)

	// What answers returns at once: a timeout that a loaded machine cannot
	// outrun would only turn an answer into silence. The silent probes
	// below have a short one of their own.
	p := probe.NewProber(probe.ProberOptions{Enter: hub.Do, Timeout: answerTimeout, SunshineTimeout: answerTimeout})
	defer p.Close()
	target := probe.Target{Name: "pc", Host: pc.Addr().String(), MAC: pc.MAC(), Ports: []int{47989, 22}, ICMP: true, SunshinePort: 47989}
	ev := p.Probe(t.Context(), target)
	if len(ev.TCP) != 2 || ev.TCP[0].Outcome != moonwake.OutcomeOpen || ev.TCP[1].Outcome != moonwake.OutcomeRefused {
		t.Errorf("tcp %+v", ev.TCP)
	}
	if ev.ICMP == nil || ev.ICMP.Outcome != moonwake.OutcomeReply || ev.ICMP.Mode != moonwake.ICMPPrivileged {
		t.Errorf("icmp %+v", ev.ICMP)
	}
	if n := ev.Neighbour; n == nil || n.Identity != moonwake.IdentityMatch || n.MAC != pc.MAC().String() || n.IP != pc.Addr().String() {
		t.Errorf("neighbour %+v", n)
	}
	if s := ev.Sunshine; s == nil || !s.Reachable || s.Hostname != "pc" {
		t.Errorf("sunshine %+v", s)
	}
	if st, why := moonwake.DeriveState(ev, moonwake.Pending{}, 0); st != moonwake.StateOn || !strings.Contains(why, "matches") {
		t.Errorf("state %s: %s", st, why)
	}

	// The neighbour table, read directly.
	var mac net.HardwareAddr
	var state string
	err := hub.Do(func() error {
		var err error
		mac, state, err = probe.LookupNeighbour(pc.Addr())
		return err
	})
	if err != nil || !bytes.Equal(mac, pc.MAC()) || (state != "reachable" && state != "stale" && state != "delay") {
		t.Errorf("LookupNeighbour = %v, %q, %v", mac, state, err)
	}

	// Nobody holds this address: every probe is silent and the kernel
	// could not resolve it.
	off := probe.Target{Name: "off", Host: addrOf(lan.CIDR(200)), MAC: net.HardwareAddr{2, 0, 0, 0, 0, 0xc8}, Ports: []int{47989}, ICMP: true, SunshinePort: 47989}
	silent := probe.NewProber(probe.ProberOptions{Enter: hub.Do, Timeout: 500 * time.Millisecond, SunshineTimeout: 500 * time.Millisecond})
	defer silent.Close()
	ev = silent.Probe(t.Context(), off)
	if len(ev.TCP) != 1 || !ev.TCP[0].Outcome.Silent() || ev.ICMP == nil || !ev.ICMP.Outcome.Silent() {
		t.Errorf("off: tcp %+v icmp %+v", ev.TCP, ev.ICMP)
	}
	if n := ev.Neighbour; n == nil || n.Identity != moonwake.IdentityAbsent {
		t.Errorf("off: neighbour %+v", n)
	}
	if st, why := moonwake.DeriveState(ev, moonwake.Pending{}, 0); st != moonwake.StateOff {
		t.Errorf("off: state %s: %s", st, why)
	}

	// Off the link: the identity cannot be checked.
	ip(t, hub, "route", "add", "10.200.0.0/16", "via", pc.Addr().String())
	ev = p.Probe(t.Context(), probe.Target{Name: "far", Host: "10.200.0.1", MAC: pc.MAC()})
	if n := ev.Neighbour; n == nil || n.Identity != moonwake.IdentityUnknown || n.State != "not on-link" {
		t.Errorf("routed: neighbour %+v", n)
	}
}

// The PC's address now answers from another MAC, as when DHCP gives it to
// another device: not evidence that the PC is on.
func TestLANReusedIP(t *testing.T) {
	lan := testlan.New(t)
	hub, pc := lan.AddHost("hub"), lan.AddHost("pc")
	listenIn(t, pc, ":47989")
	p := probe.NewProber(probe.ProberOptions{Enter: hub.Do, Timeout: answerTimeout})
	defer p.Close()
	target := probe.Target{Name: "pc", Host: pc.Addr().String(), MAC: pc.MAC(), Ports: []int{47989}, ICMP: true}
	if ev := p.Probe(t.Context(), target); ev.Neighbour.Identity != moonwake.IdentityMatch {
		t.Fatalf("before: %+v", ev.Neighbour)
	}

	other := net.HardwareAddr{0x02, 0x99, 0x00, 0x00, 0x00, 0x01}
	ip(t, pc, "link", "set", "eth0", "address", other.String())
	// The hub's entry for the address would age out in time; a new device
	// is met with an empty cache.
	ip(t, hub, "neigh", "flush", "dev", "eth0")

	ev := p.Probe(t.Context(), target)
	if ev.TCP[0].Outcome != moonwake.OutcomeOpen || ev.ICMP.Outcome != moonwake.OutcomeReply {
		t.Fatalf("the address should still answer: %+v %+v", ev.TCP, ev.ICMP)
	}
	if n := ev.Neighbour; n.Identity != moonwake.IdentityMismatch || n.MAC != other.String() {
		t.Fatalf("neighbour %+v, want a mismatch with %s", n, other)
	}
	st, why := moonwake.DeriveState(ev, moonwake.Pending{}, 0)
	if st == moonwake.StateOn || st.Up() || !strings.Contains(why, "answered but belongs to MAC "+other.String()) {
		t.Errorf("state %s: %s", st, why)
	}
}

func TestLANUnprivilegedICMP(t *testing.T) {
	lan := testlan.New(t)
	hub, pc, other := lan.AddHost("hub"), lan.AddHost("pc"), lan.AddHost("other")
	ctx := t.Context()

	// Ping sockets for every group in the hub's namespace only.
	sysctl(t, hub, "ipv4/ping_group_range", "0 2147483647")
	p := &probe.Pinger{Enter: hub.Do, Modes: []moonwake.ICMPMode{moonwake.ICMPUnprivileged}}
	defer p.Close()
	if r := p.Ping(ctx, pc.Addr(), time.Second); r.Mode != moonwake.ICMPUnprivileged || r.Outcome != moonwake.OutcomeReply {
		t.Errorf("unprivileged: %+v", r)
	}
	// Nobody at this address: no reply.
	if r := p.Ping(ctx, netip.MustParseAddr(addrOf(lan.CIDR(201))), 300*time.Millisecond); !r.Outcome.Silent() {
		t.Errorf("unprivileged, nobody: %+v", r)
	}

	// The default range of a new namespace allows no group.
	sysctl(t, other, "ipv4/ping_group_range", "1 0")
	q := &probe.Pinger{Enter: other.Do, Modes: []moonwake.ICMPMode{moonwake.ICMPUnprivileged}}
	defer q.Close()
	r := q.Ping(ctx, pc.Addr(), time.Second)
	if r.Mode != moonwake.ICMPUnavailable || r.Outcome != moonwake.OutcomeError || r.Error == "" {
		t.Errorf("unavailable: %+v", r)
	}
	if st, _ := moonwake.DeriveState(moonwake.Evidence{ICMP: &r}, moonwake.Pending{}, 0); st != moonwake.StateUnknown {
		t.Errorf("unavailable ICMP alone gives %s", st)
	}

	// Root may open raw sockets: the default order uses them.
	d := &probe.Pinger{Enter: other.Do}
	defer d.Close()
	if r := d.Ping(ctx, pc.Addr(), time.Second); r.Mode != moonwake.ICMPPrivileged || r.Outcome != moonwake.OutcomeReply {
		t.Errorf("default: %+v", r)
	}
}

// A PC boots during a wake: the Watcher sees it within a second of its
// port opening. Then it shuts down, and the Watcher sees that too.
func TestLANWatchWakeAndShutdown(t *testing.T) {
	lan := testlan.New(t)
	hub, pc := lan.AddHost("hub"), lan.AddHost("pc")
	// "Off": the PC's interface is down. It will come up without a
	// gratuitous ARP, so the hub's neighbour entry stays failed until the
	// hub asks again: the Prober's own ARP request (Solicit) is what makes
	// this quick, not the kernel's retry a second later.
	sysctl(t, pc, "ipv4/conf/eth0/arp_notify", "0")
	ip(t, pc, "link", "set", "eth0", "down")

	p := probe.NewProber(probe.ProberOptions{Enter: hub.Do, Timeout: time.Second})
	defer p.Close()
	c := newChanges()
	w := startWatcher(t, probe.WatchOptions{Probe: p.Probe, Rest: 2 * time.Second, Fast: 250 * time.Millisecond, OnChange: c.add})
	w.Watch(probe.Target{Name: "pc", Host: pc.Addr().String(), MAC: pc.MAC(), Ports: []int{47989}, ICMP: true})
	w.ProbeNow("pc")
	if sc := c.wait(t, "pc", 5*time.Second); sc.To != moonwake.StateOff {
		t.Fatalf("first state %+v", sc)
	}

	w.SetPending("pc", moonwake.Pending{Kind: moonwake.PendingWake, Since: time.Now()})
	if sc := c.wait(t, "pc", 3*time.Second); sc.To != moonwake.StateWaking {
		t.Fatalf("%+v", sc)
	}
	time.Sleep(1500 * time.Millisecond) // rounds in flight against a dead address

	// Boot: the service listens, then the link comes up.
	listenIn(t, pc, ":47989")
	ip(t, pc, "link", "set", "eth0", "up")
	up := time.Now()
	sc := c.wait(t, "pc", 5*time.Second)
	seen := time.Since(up)
	t.Logf("on %s after the port opened: %s", seen, sc.Reason)
	if sc.To != moonwake.StateOn {
		t.Fatalf("%+v", sc)
	}
	if seen > time.Second {
		t.Errorf("on seen %s after the port opened, want within 1s", seen)
	}
	w.SetPending("pc", moonwake.Pending{})

	// Shutdown: still up, then gone.
	w.SetPending("pc", moonwake.Pending{Kind: moonwake.PendingShutdown, Since: time.Now()})
	if sc := c.wait(t, "pc", 3*time.Second); sc.To != moonwake.StateShuttingDown {
		t.Fatalf("%+v", sc)
	}
	ip(t, pc, "link", "set", "eth0", "down")
	down := time.Now()
	sc = c.wait(t, "pc", 10*time.Second)
	t.Logf("off %s after the link went down: %s", time.Since(down), sc.Reason)
	if sc.To != moonwake.StateOff || !strings.Contains(sc.Reason, "shutdown verified") {
		t.Fatalf("%+v", sc)
	}
}

// A PC asleep with ARP offload: its IP stack answers nothing (emulated by
// a blackhole rule after the local table: what it receives is delivered,
// every answer it would send is dropped), while ARP, answered outside
// routing, still is. The Prober's own ARP request gets an answer, and the
// evidence says asleep; the same PC with its address gone (off), or its
// link down, gets none, although the hub's neighbour entry is still there.
func TestLANAsleepAnswersARP(t *testing.T) {
	lan := testlan.New(t)
	hub, pc := lan.AddHost("hub"), lan.AddHost("pc")
	listenIn(t, pc, ":47989")
	p := probe.NewProber(probe.ProberOptions{Enter: hub.Do, Timeout: 300 * time.Millisecond})
	defer p.Close()
	target := probe.Target{Name: "pc", Host: pc.Addr().String(), MAC: pc.MAC(), Ports: []int{47989}, ICMP: true}
	ev := p.Probe(t.Context(), target)
	if st, _ := moonwake.DeriveState(ev, moonwake.Pending{}, 0); st != moonwake.StateOn || ev.Neighbour.Answered || moonwake.Asleep(ev) {
		t.Fatalf("on: %s %+v", st, ev.Neighbour)
	}

	ip(t, pc, "rule", "add", "priority", "1", "blackhole")
	for i := range 3 { // round after round, an answer
		ev = p.Probe(t.Context(), target)
		st, reason := moonwake.DeriveState(ev, moonwake.Pending{Kind: moonwake.PendingShutdown}, 0)
		t.Logf("asleep %d: %s: %s", i, st, reason)
		if st != moonwake.StateOff || !moonwake.Asleep(ev) || !strings.Contains(reason, moonwake.AsleepLabel) {
			t.Fatalf("asleep: %s %q %+v %+v %+v", st, reason, ev.TCP, ev.ICMP, ev.Neighbour)
		}
	}

	// Off: the address gone, the hub's entry still lists the MAC.
	ip(t, pc, "addr", "del", pc.Prefix().String(), "dev", testlan.Iface)
	ev = p.Probe(t.Context(), target)
	st, reason := moonwake.DeriveState(ev, moonwake.Pending{Kind: moonwake.PendingShutdown}, 0)
	t.Logf("off: %s: %s", st, reason)
	if st != moonwake.StateOff || moonwake.Asleep(ev) || ev.Neighbour.Answered || strings.Contains(reason, "asleep") {
		t.Fatalf("off: %s %q %+v", st, reason, ev.Neighbour)
	}
	if ev.Neighbour.Identity != moonwake.IdentityMatch {
		t.Errorf("the hub's entry went: %+v; it is kept (reachable) for a while, and the point is that it is not enough", ev.Neighbour)
	}
}
