//go:build linux

package e2e

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moonwake/moonwake/internal/testlan"
)

// relayLAN is a home LAN that the hub is not on: the hub sits on another
// LAN, the cluster's pod network, and sees the home LAN only through
// relays, each a host with a leg on both.
type relayLAN struct {
	home, pod *testlan.LAN
	pc        *pc
	hp        *hub
	token     string // the relay enrolment token, in tokenFile
	tokenFile string
}

// testEnrolToken is a relay enrolment token as a Kubernetes Secret would
// hold it ("mw_" and 43 characters).
const testEnrolToken = "mw_relayEnrolTokenForTests0123456789abcdefghij"

func newRelayLAN(t *testing.T) *relayLAN {
	t.Helper()
	l := &relayLAN{home: testlan.New(t), pod: testlan.New(t), token: testEnrolToken}
	l.pc = newPC(t, l.home, "pc", pcOptions{})
	hubHost := l.pod.AddHost("hub")
	dir := t.TempDir()
	l.tokenFile = filepath.Join(dir, "enrol-token")
	if err := os.WriteFile(l.tokenFile, []byte(l.token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "moonwake.yaml")
	if err := os.WriteFile(cfg, []byte("probe:\n  fast_interval: 100ms\n  timeout: 300ms\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	l.hp = startHub(t, hubHost, t.TempDir(),
		"MOONWAKE_CONFIG="+cfg, "MOONWAKE_PROBE_INTERVAL=500ms", "MOONWAKE_WAKE_DEADLINE=20s",
		"MOONWAKE_RATE_LIMIT_BURST=100", "MOONWAKE_RELAY_ENROL_TOKEN_FILE="+l.tokenFile)
	return l
}

// startRelay plugs a relay called name into the home LAN, with a leg on the
// pod network, and starts "moonwake relay" there with the enrolment token.
func (l *relayLAN) startRelay(t *testing.T, name string, index int) (*testlan.Host, *testlan.Proc, *testlan.Buffer) {
	t.Helper()
	h := l.home.AddHost(strings.ReplaceAll(name, "-", ""))
	l.pod.Attach(h, "pod0", l.pod.CIDR(200+index))
	return h, l.runRelay(t, h, name, l.tokenFile), nil
}

// runRelay starts "moonwake relay" on h, enrolling as name with the token
// in tokenFile, serving the home LAN.
func (l *relayLAN) runRelay(t *testing.T, h *testlan.Host, name, tokenFile string, env ...string) *testlan.Proc {
	t.Helper()
	cmd := h.Exec(context.Background(), moonwake(t), "relay")
	cmd.Env = moonwakeEnv(append([]string{
		"MOONWAKE_HUB=" + l.hp.url, "MOONWAKE_RELAY_NAME=" + name, "MOONWAKE_RELAY_TOKEN_FILE=" + tokenFile,
		"MOONWAKE_RELAY_STATE=" + filepath.Join(t.TempDir(), "relay.json"),
		"MOONWAKE_RELAY_NETWORKS=" + l.home.Prefix().String()}, env...)...)
	out := new(testlan.Buffer)
	cmd.Stdout, cmd.Stderr = out, out
	p, err := h.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Stop()
		if strings.Contains(out.String(), "DATA RACE") {
			t.Errorf("relay %s: data race:\n%s", name, out)
		}
	})
	return p
}

// wireRelay is a relay as GET /api/v1/relays shows it.
type wireRelay struct {
	Name      string   `json:"name"`
	Networks  []string `json:"networks"`
	Connected bool     `json:"connected"`
	Standby   []string `json:"standby"`
	Software  string   `json:"software"`
}

// waitRelay polls the hub's relays until ok holds for the one called name.
func (l *relayLAN) waitRelay(t *testing.T, name, what string, ok func(wireRelay) bool) wireRelay {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var rs []wireRelay
		l.hp.must(t, http.StatusOK, "GET", "/api/v1/relays", l.hp.admin, nil).decode(t, &rs)
		for _, r := range rs {
			if r.Name == name && ok(r) {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("relay %s not %s after 10 s: %+v", name, what, rs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRelayWakesAndProbesAnotherLAN is the k3s setup in namespaces: a hub
// on a pod network wakes and watches a PC on a home LAN it cannot reach,
// through a relay. A second relay stands by and takes over when the first
// drops; with none left, the PC is unknown (never off) and wakes fail at
// once, saying since when the relay is offline.
func TestRelayWakesAndProbesAnotherLAN(t *testing.T) {
	l := newRelayLAN(t)
	_, r1, _ := l.startRelay(t, "lan-a", 1)
	l.waitRelay(t, "lan-a", "online", func(r wireRelay) bool {
		return r.Connected && len(r.Networks) == 1 && r.Networks[0] == l.home.Prefix().String()
	})
	l.hp.addMachine(t, map[string]any{"name": "pc", "mac": l.pc.MAC().String(), "host": l.pc.Addr().String()})
	l.hp.waitPower(t, "pc", 10*time.Second, "off (seen by the relay)", func(p wirePower) bool { return p.State == "off" })

	a := l.hp.wake(t, "pc", l.hp.admin)
	var sends int
	for _, s := range a.Steps {
		if s.Kind == "send" {
			sends++
			if !strings.HasPrefix(s.Via, "relay lan-a ") || s.Error != "" {
				t.Errorf("send step %+v: want one sent by relay lan-a", s)
			}
			if !strings.Contains(s.Target, l.home.Broadcast().String()) && !strings.Contains(s.Target, l.pc.Addr().String()) {
				t.Errorf("send step %+v: not to the home LAN", s)
			}
		}
	}
	if sends == 0 {
		t.Fatalf("wake %s: no send step: %+v", a.ID, a.Steps)
	}
	t.Logf("wake steps: %+v", a.Steps)
	l.pc.waitState(t, pcOn, 10*time.Second)
	l.hp.waitPower(t, "pc", 10*time.Second, "on", func(p wirePower) bool { return up(p.State) })
	deadline := time.Now().Add(10 * time.Second)
	for {
		var got wireAction
		l.hp.must(t, http.StatusOK, "GET", "/api/v1/actions/"+a.ID, l.hp.admin, nil).decode(t, &got)
		if got.Status == "succeeded" {
			break
		}
		if time.Now().After(deadline) || got.Status == "failed" {
			t.Fatalf("wake through the relay: %s %s", got.Status, got.Detail)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// A second relay on the same LAN stands by.
	_, r2, _ := l.startRelay(t, "lan-b", 2)
	l.waitRelay(t, "lan-b", "online, standing by", func(r wireRelay) bool {
		return r.Connected && len(r.Standby) == 1 && r.Standby[0] == l.home.Prefix().String()
	})

	// The first drops: the second takes over, and the PC is never off.
	if err := r1.Stop(); err != nil {
		t.Logf("relay lan-a: %v", err)
	}
	l.waitRelay(t, "lan-a", "offline", func(r wireRelay) bool { return !r.Connected })
	never := func(until time.Time, what string, ok func(wirePower) bool) {
		for time.Now().Before(until) {
			p := l.hp.power(t, "pc")
			if p.State == "off" {
				t.Fatalf("pc seen off %s: %s", what, p)
			}
			if ok(p) {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("pc: %s", what)
	}
	never(time.Now().Add(10*time.Second), "while lan-b took over", func(p wirePower) bool {
		return up(p.State) && strings.Contains(p.Reason, "tcp/47989 open")
	})

	// With no relay left, the PC is unknown within seconds, and a wake
	// fails at once.
	if err := r2.Stop(); err != nil {
		t.Logf("relay lan-b: %v", err)
	}
	start := time.Now()
	never(start.Add(10*time.Second), "once its relays are gone", func(p wirePower) bool { return p.State == "unknown" })
	t.Logf("unknown %.1fs after the last relay stopped", time.Since(start).Seconds())
	ans := l.hp.must(t, http.StatusServiceUnavailable, "POST", "/api/v1/machines/pc/wake", l.hp.admin, nil)
	if !strings.Contains(string(ans.body), "relay lan-a offline since") {
		t.Errorf("wake with the relays gone: %s", ans)
	}
}

// TestRelayEnrolment checks the enrolment token: it enrols relays and
// does nothing else, and once revoked enrols none.
func TestRelayEnrolment(t *testing.T) {
	l := newRelayLAN(t)
	for _, p := range []string{"/api/v1/machines", "/api/v1/relays", "/api/v1/actions"} {
		if a := l.hp.do(t, "GET", p, l.token, nil); a.status != http.StatusForbidden {
			t.Errorf("GET %s with the enrolment token: %s, want 403", p, a)
		}
	}
	l.hp.must(t, http.StatusOK, "DELETE", "/api/v1/tokens/relay-enrol-file", l.hp.admin, nil)
	h := l.home.AddHost("relay")
	l.pod.Attach(h, "pod0", l.pod.CIDR(201))
	p := l.runRelay(t, h, "lan-a", l.tokenFile)
	select {
	case <-p.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("a relay with a revoked enrolment token is still running")
	}
	wctx, wcancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer wcancel()
	if l.hp.stderr.WaitUntil(wctx, func(s string) bool { return strings.Contains(s, "relay enrolment refused") }, nil) != nil {
		t.Errorf("the hub did not log the refused enrolment:\n%s", l.hp.stderr)
	}
	var rs []wireRelay
	l.hp.must(t, http.StatusOK, "GET", "/api/v1/relays", l.hp.admin, nil).decode(t, &rs)
	if len(rs) != 0 {
		t.Errorf("relays after a refused enrolment: %+v", rs)
	}
}

// TestRelayPassthroughMoonlight plays Moonlight's "Wake PC" button pressed
// on 4G with the router forwarding UDP 47009 to a relay on the k3s node:
// the phone's packets reach only the relay, which hands them to the hub;
// the hub checks the MAC against its registry and wakes the PC through the
// relay, recorded as the relay's with the phone's address.
func TestRelayPassthroughMoonlight(t *testing.T) {
	l := newRelayLAN(t)
	h := l.home.AddHost("relay")
	relayAddr := l.pod.Attach(h, "pod0", l.pod.CIDR(201))
	l.runRelay(t, h, "lan-a", l.tokenFile, "MOONWAKE_PASSTHROUGH_LISTEN=:47009")
	l.waitRelay(t, "lan-a", "online", func(r wireRelay) bool { return r.Connected })
	l.hp.addMachine(t, map[string]any{"name": "pc", "mac": l.pc.MAC().String(), "host": l.pc.Addr().String()})
	l.hp.waitPower(t, "pc", 10*time.Second, "off", func(p wirePower) bool { return p.State == "off" })

	phone := l.pod.AddHost("phone") // out on the internet, as far as the home LAN knows
	send := func(payloads ...[]byte) {
		t.Helper()
		err := phone.Do(func() error {
			conn, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(relayAddr, 47009)))
			if err != nil {
				return err
			}
			defer conn.Close()
			for _, p := range payloads {
				if _, err := conn.Write(p); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// Junk and an unregistered MAC wake nothing.
	send([]byte("GET / HTTP/1.0\r\n\r\n"), magic(t, "02:00:00:00:47:09"))
	time.Sleep(300 * time.Millisecond)
	var list struct{ Actions []wireAction }
	l.hp.must(t, http.StatusOK, "GET", "/api/v1/actions", l.hp.admin, nil).decode(t, &list)
	if len(list.Actions) != 0 {
		t.Fatalf("actions after junk: %+v", list.Actions)
	}

	// One press: a burst of packets for the PC's MAC.
	pkt := magic(t, l.pc.MAC().String())
	send(pkt, pkt, pkt, pkt, pkt)
	l.pc.waitState(t, pcOn, 10*time.Second)
	l.hp.waitPower(t, "pc", 10*time.Second, "on", func(p wirePower) bool { return up(p.State) })
	l.hp.must(t, http.StatusOK, "GET", "/api/v1/actions", l.hp.admin, nil).decode(t, &list)
	if len(list.Actions) != 1 {
		t.Fatalf("one press gave %d actions: %+v", len(list.Actions), list.Actions)
	}
	a := list.Actions[0]
	if a.Kind != "wake" || a.Machine != "pc" || a.Actor.Kind != "relay" || a.Actor.Name != "lan-a" {
		t.Errorf("action %+v: want a wake of pc by relay lan-a", a)
	}
}
