//go:build linux

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moonwake/moonwake/internal/testlan"
)

// The hub tests run "moonwake serve" as a process in host a of a LAN, and
// receive in host b what it sends: on UDP port 9, and as whole IPv4 frames
// on a raw AF_PACKET socket (which also proves that no other UDP datagram
// arrived, on any port; the hub's probes of a machine at b's address are
// TCP and ICMP, and left out). Requests come from the test process through
// sockets opened inside a's namespace, or from the moonwake CLI run in a.
//
// A wake is verified when the hub can see the machine (it has an address,
// or an agent): the hub resends with backoff until it sees the machine on.
// Otherwise the hub sends a first burst and two blind resends, 1 s and 2 s
// later, and then says the wake succeeded, not verified: about 3.5 s. The
// tests wait for that end with ?wait=true (or the CLI, which follows the
// action) and count the three bursts.

// blindBursts is how many bursts a wake sends to a machine the hub cannot
// see, and blindWake how long it takes.
const (
	blindBursts = 3
	blindWake   = 4 * time.Second
)

// blindDetail is how such a wake ends.
func blindDetail(name string) string {
	return fmt.Sprintf("sent %d burst(s) of magic packets; not verified: %s has no address to probe and no agent", blindBursts, name)
}

// hubLAN builds a LAN, starts a hub in a with a fresh data directory and
// extra environment, and opens b's receivers.
func hubLAN(t *testing.T, env ...string) (lan *testlan.LAN, a, b *testlan.Host, hp *hub, data string, rx9, raw *testlan.Receiver) {
	t.Helper()
	lan, a, b = newLAN(t)
	var err error
	if rx9, err = b.ListenUDP(9); err != nil {
		t.Fatal(err)
	}
	if raw, err = b.ListenRaw(testlan.Iface, 0x0800); err != nil {
		t.Fatal(err)
	}
	data = t.TempDir()
	hp = startHub(t, a, data, env...)
	return lan, a, b, hp, data, rx9, raw
}

// TestHubWakeAPI registers machines through the API and wakes them with
// POST /api/v1/machines/{name}/wake?wait=true: b gets each packet byte for
// byte, at the directed broadcast of a's subnet (and at b's own address for
// a machine with a host), in bursts 1 s and 2 s apart, and the action's
// steps name those targets, burst after burst.
func TestHubWakeAPI(t *testing.T) {
	t.Parallel()
	lan, a, b, hp, _, rx9, raw := hubLAN(t, "MOONWAKE_PROBE_INTERVAL=500ms")
	bcast := lan.Broadcast().String() + ":9"

	t.Run("broadcast with password", func(t *testing.T) {
		ans := hp.must(t, http.StatusCreated, "POST", "/api/v1/machines", hp.admin, map[string]any{
			"name": "gaming-pc", "mac": "AA-BB-CC-DD-EE-51", "interface": "eth0", "password": "01:02:03:04:05:06",
		})
		var m map[string]any
		ans.decode(t, &m)
		if m["mac"] != "aa:bb:cc:dd:ee:51" || m["interface"] != "eth0" || m["password_set"] != true {
			t.Errorf("created machine %s", ans)
		}
		if _, ok := m["password"]; ok || bytes.Contains(ans.body, []byte("01:02:03")) {
			t.Errorf("the API shows the password: %s", ans)
		}

		act, took := hp.act(t, "gaming-pc", "wake")
		wantTargets := slices.Repeat([]string{bcast}, blindBursts)
		if got := act.targets(t); !slices.Equal(got, wantTargets) {
			t.Errorf("action steps target %q, want %q", got, wantTargets)
		}
		if act.MAC != "aa:bb:cc:dd:ee:51" || act.Actor.Name != "admin" || act.Status != "succeeded" ||
			act.Detail != blindDetail("gaming-pc") || took < blindWake-100*time.Millisecond {
			t.Errorf("action %+v, answered in %s", act, took)
		}
		want := magic(t, "aa:bb:cc:dd:ee:51", 1, 2, 3, 4, 5, 6)
		ds := expect(t, rx9, blindBursts, want)
		for i, d := range ds {
			if d.From.Addr() != a.Addr() {
				t.Errorf("packet from %v, want %v", d.From, a.Addr())
			}
			// The resends back off: 1 s, then 2 s.
			if i > 0 {
				if gap, min := d.At.Sub(ds[i-1].At), time.Duration(i)*time.Second-100*time.Millisecond; gap < min {
					t.Errorf("burst %d came %s after the one before, want at least %s", i+1, gap, min)
				}
			}
		}
		for _, f := range expectFrames(t, raw, blindBursts) {
			if f.dstMAC.String() != "ff:ff:ff:ff:ff:ff" || f.srcMAC.String() != a.MAC().String() ||
				f.srcIP != a.Addr() || f.dstIP != lan.Broadcast() || f.dstPort != 9 || !bytes.Equal(f.payload, want) {
				t.Errorf("frame %s→%s %v→%v:%d payload % x; want ff:ff:ff:ff:ff:ff from %s, %v→%v:9",
					f.srcMAC, f.dstMAC, f.srcIP, f.dstIP, f.dstPort, f.payload, a.MAC(), a.Addr(), lan.Broadcast())
			}
		}

		// The action as stored, by the Location the wake answered.
		var got wireAction
		hp.must(t, http.StatusOK, "GET", "/api/v1/actions/"+act.ID, hp.admin, nil).decode(t, &got)
		if got.ID != act.ID || got.Status != "succeeded" || got.Detail != act.Detail || !slices.Equal(got.targets(t), wantTargets) {
			t.Errorf("stored action %+v, want %+v", got, act)
		}
	})

	t.Run("host gets unicast too", func(t *testing.T) {
		// The machine is b itself (its MAC, in another form): the hub
		// probes b, sees it up with the right MAC, and the wake succeeds
		// verified, after as many bursts as it took.
		mac := b.MAC()
		dotted := fmt.Sprintf("%02x%02x.%02x%02x.%02x%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5])
		// b serves SSH-like TCP: being "on" means a service answers, not
		// just an echo reply.
		var ln net.Listener
		if err := b.Do(func() (err error) { ln, err = net.Listen("tcp", ":2222"); return err }); err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		hp.addMachine(t, map[string]any{"name": "nas", "mac": dotted, "interface": "eth0", "host": b.Addr().String(), "ports": []int{2222}})
		act, took := hp.act(t, "nas", "wake")
		if act.Status != "succeeded" || !strings.HasPrefix(act.Detail, "nas is on after ") || act.Steps[len(act.Steps)-1].Kind != "verify" {
			t.Fatalf("wake: %s %q", act.Status, act.Detail)
		}
		unicast := b.Addr().String() + ":9"
		got := act.targets(t)
		bursts := len(got) / 2
		t.Logf("verified in %s after %d burst(s): %q", took, bursts, act.Detail)
		if bursts < 1 || !slices.Equal(got, slices.Repeat([]string{bcast, unicast}, bursts)) {
			t.Errorf("action steps target %q, want [%s %s] per burst", got, bcast, unicast)
		}
		want := magic(t, mac.String())
		expect(t, rx9, 2*bursts, want)
		// Per burst, one frame to everyone, one to b alone (in either
		// order: the unicast one may wait for ARP).
		seen := map[string]int{}
		for _, f := range expectFrames(t, raw, 2*bursts) {
			if !bytes.Equal(f.payload, want) || f.dstPort != 9 || f.srcIP != a.Addr() {
				t.Errorf("frame %v→%v:%d payload % x", f.srcIP, f.dstIP, f.dstPort, f.payload)
			}
			seen[f.dstMAC.String()+" "+f.dstIP.String()]++
		}
		for _, w := range []string{"ff:ff:ff:ff:ff:ff " + lan.Broadcast().String(), b.MAC().String() + " " + b.Addr().String()} {
			if seen[w] != bursts {
				t.Errorf("%d frames to %s, want %d; got %v", seen[w], w, bursts, seen)
			}
		}
	})

	// No copies, no more repeats: the hub sends one packet per target and
	// burst by default, and nothing once the actions ended.
	quiet(t, 300*time.Millisecond, rx9)
	quietRaw(t, 0, raw)
}

// TestHubWakeByMAC checks the compatibility route GET /wake?mac=&token=:
// every MAC form wakes the registered machine with that MAC for a token
// scoped to it, and every refusal sends nothing at all. Each form names
// its own machine, so the five wakes run at once and each packet tells
// which form it answered.
func TestHubWakeByMAC(t *testing.T) {
	t.Parallel()
	_, _, _, hp, _, rx9, raw := hubLAN(t, "MOONWAKE_RATE_LIMIT_BURST=100")
	forms := []string{"aa:bb:cc:dd:ee:61", "AA:BB:CC:DD:EE:62", "aa-bb-cc-dd-ee-63", "aabb.ccdd.ee64", "AABBCCDDEE65"}
	var pcs []string
	for i := range forms {
		name := fmt.Sprintf("pc%d", i+1)
		pcs = append(pcs, name)
		hp.addMachine(t, map[string]any{"name": name, "mac": fmt.Sprintf("aa:bb:cc:dd:ee:6%d", i+1), "interface": "eth0"})
	}
	hp.addMachine(t, map[string]any{"name": "other", "mac": "aa:bb:cc:dd:ee:6a", "interface": "eth0"})
	phone := hp.addToken(t, map[string]any{"name": "phone", "machines": pcs, "actions": []string{"wake"}})
	anyMachine := hp.addToken(t, map[string]any{"name": "everything"})

	// At once, from goroutines rather than parallel subtests, which would
	// wait for the slots of the other parallel tests.
	var wg sync.WaitGroup
	for i, form := range forms {
		wg.Go(func() {
			ans, err := hp.send(t.Context(), "GET", "/wake?mac="+url.QueryEscape(form)+"&token="+phone+"&wait=true", "", nil)
			var act wireAction
			if err != nil || ans.status != http.StatusOK || json.Unmarshal(ans.body, &act) != nil ||
				act.Machine != pcs[i] || act.Actor.Name != "phone" || act.Status != "succeeded" || act.Detail != blindDetail(pcs[i]) {
				t.Errorf("%s: %s %v", form, ans, err)
			}
		})
	}
	wg.Wait()
	// Every machine got its three bursts, and nothing else came.
	got := map[string]int{}
	for _, d := range expectAny(t, rx9, blindBursts*len(forms)) {
		got[fmt.Sprintf("% x", d.Data)]++
	}
	for _, f := range expectFrames(t, raw, blindBursts*len(forms)) {
		got["frame "+fmt.Sprintf("% x", f.payload)]++
	}
	for i := range forms {
		want := fmt.Sprintf("% x", magic(t, fmt.Sprintf("aa:bb:cc:dd:ee:6%d", i+1)))
		if got[want] != blindBursts || got["frame "+want] != blindBursts {
			t.Errorf("%s: %d packets, %d frames, want %d", pcs[i], got[want], got["frame "+want], blindBursts)
		}
	}

	refusals := []struct {
		name   string
		path   string
		bearer string
		status int
		code   string
	}{
		{"unregistered MAC", "/wake?mac=aa:bb:cc:dd:ee:6f&token=" + anyMachine, "", 404, "not_found"},
		{"unregistered MAC, admin", "/wake?mac=aa:bb:cc:dd:ee:6f", hp.admin, 404, "not_found"},
		// A scoped token cannot tell unregistered MACs from others' MACs.
		{"unregistered MAC, scoped token", "/wake?mac=aa:bb:cc:dd:ee:6f&token=" + phone, "", 403, "forbidden"},
		{"another machine's MAC", "/wake?mac=aa:bb:cc:dd:ee:6a&token=" + phone, "", 403, "forbidden"},
		{"another machine by name", "/api/v1/machines/other/wake?token=" + phone, "", 403, "forbidden"},
		{"no token", "/wake?mac=aa:bb:cc:dd:ee:61", "", 401, "unauthorized"},
		{"empty token", "/wake?mac=aa:bb:cc:dd:ee:61&token=", "", 401, "unauthorized"},
		{"wrong token", "/wake?mac=aa:bb:cc:dd:ee:61&token=mw_" + strings.Repeat("A", 43), "", 401, "unauthorized"},
		{"broadcast MAC", "/wake?mac=ff:ff:ff:ff:ff:ff&token=" + phone, "", 400, "invalid"},
		{"no MAC", "/wake?token=" + phone, "", 400, "invalid"},
	}
	for _, r := range refusals {
		t.Run(r.name, func(t *testing.T) {
			method := "GET"
			if strings.HasPrefix(r.path, "/api/") {
				method = "POST"
			}
			ans := hp.do(t, method, r.path, r.bearer, nil)
			var e struct{ Error, Code string }
			ans.decode(t, &e)
			if ans.status != r.status || e.Code != r.code || e.Error == "" {
				t.Errorf("%s: %s; want %d %s", r.path, ans, r.status, r.code)
			}
			if r.status == 401 && ans.header.Get("WWW-Authenticate") == "" {
				t.Errorf("401 without WWW-Authenticate")
			}
			if strings.Contains(string(ans.body), "mw_") {
				t.Errorf("the answer shows a token: %s", ans)
			}
		})
	}
	quiet(t, 300*time.Millisecond, rx9, raw)

	// Tokens in URLs never reach the log.
	for _, secret := range []string{phone, anyMachine, hp.admin} {
		if strings.Contains(hp.stderr.String(), secret) {
			t.Errorf("the hub logged a token secret:\n%s", hp.stderr)
		}
	}
}

// TestHubRateLimit starts a hub allowing a burst of 2 wakes and 1 a minute:
// the third is refused with 429 and Retry-After, per token and per address,
// and nothing is sent for the refused ones. The two allowed wakes are of
// two machines, at once, and waited for, so their resends are over before
// the refusals.
func TestHubRateLimit(t *testing.T) {
	t.Parallel()
	_, _, _, hp, _, rx9, raw := hubLAN(t, "MOONWAKE_RATE_LIMIT_PER_MINUTE=1", "MOONWAKE_RATE_LIMIT_BURST=2")
	hp.addMachine(t, map[string]any{"name": "pc", "mac": "aa:bb:cc:dd:ee:81", "interface": "eth0"})
	hp.addMachine(t, map[string]any{"name": "pc2", "mac": "aa:bb:cc:dd:ee:82", "interface": "eth0"})
	// Creating a token is not an action: not limited.
	other := hp.addToken(t, map[string]any{"name": "other"})
	path := "/wake?mac=aa:bb:cc:dd:ee:81&token=" + hp.admin

	var wg sync.WaitGroup
	for _, p := range []string{path + "&wait=true", "/wake?mac=aa:bb:cc:dd:ee:82&wait=true&token=" + hp.admin} {
		wg.Go(func() {
			if a, err := hp.send(t.Context(), "GET", p, "", nil); err != nil || a.status != http.StatusOK {
				t.Errorf("GET %s: %s %v", p, a, err)
			}
		})
	}
	wg.Wait()
	got := map[string]int{}
	for _, d := range expectAny(t, rx9, 2*blindBursts) {
		got[string(d.Data)]++
	}
	expectFrames(t, raw, 2*blindBursts)
	for _, mac := range []string{"aa:bb:cc:dd:ee:81", "aa:bb:cc:dd:ee:82"} {
		if n := got[string(magic(t, mac))]; n != blindBursts {
			t.Errorf("%s: %d packets, want %d", mac, n, blindBursts)
		}
	}
	refused := []struct{ name, method, path, msg string }{
		{"same token", "GET", path, "token"},
		{"same token, POST", "POST", "/api/v1/machines/pc/wake?token=" + hp.admin, "token"},
		// A fresh token passes its own bucket, but the address's is empty.
		{"same address, other token", "GET", "/wake?mac=aa:bb:cc:dd:ee:81&token=" + other, "address"},
	}
	for _, r := range refused {
		t.Run(r.name, func(t *testing.T) {
			ans := hp.do(t, r.method, r.path, "", nil)
			var e struct{ Error, Code string }
			ans.decode(t, &e)
			if ans.status != http.StatusTooManyRequests || e.Code != "rate_limited" || !strings.Contains(e.Error, r.msg) {
				t.Errorf("%s: %s; want 429 rate_limited about the %s", r.name, ans, r.msg)
			}
			// At one a minute, the next one comes in up to 60 s.
			if s, err := strconv.Atoi(ans.header.Get("Retry-After")); err != nil || s < 1 || s > 60 {
				t.Errorf("Retry-After %q, want 1 to 60 seconds", ans.header.Get("Retry-After"))
			}
		})
	}
	// Reading is not limited.
	hp.must(t, http.StatusOK, "GET", "/api/v1/machines/pc", hp.admin, nil)
	quiet(t, 300*time.Millisecond, rx9, raw)
}

// TestHubCLI drives the hub with the moonwake command line, run in a: wake
// by name, list machines, and a token made on the hub host's data
// directory while the hub runs, which works at once.
func TestHubCLI(t *testing.T) {
	t.Parallel()
	_, a, _, hp, data, rx9, raw := hubLAN(t, "MOONWAKE_RATE_LIMIT_BURST=100")
	hp.addMachine(t, map[string]any{"name": "gaming-pc", "mac": "aa:bb:cc:dd:ee:91", "interface": "eth0", "password": "c0a80101"})
	want := magic(t, "aa:bb:cc:dd:ee:91", 0xc0, 0xa8, 0x01, 0x01)
	admin := "MOONWAKE_TOKEN=" + hp.admin

	t.Run("wake", func(t *testing.T) {
		// The CLI follows the action to its end: three bursts.
		r := runEnv(t, a, []string{admin}, "wake", "gaming-pc", "--hub", hp.url)
		if r.code != 0 || !strings.HasPrefix(r.stdout, "wake gaming-pc: action act_") || !strings.Contains(r.stdout, "\nwake gaming-pc: succeeded") ||
			!strings.Contains(r.stdout, "not verified") || r.stderr != "" {
			t.Errorf("moonwake wake: %s", r)
		}
		expect(t, rx9, blindBursts, want)
		expectFrames(t, raw, blindBursts)
	})
	t.Run("machines list", func(t *testing.T) {
		r := runEnv(t, a, []string{admin}, "machines", "list", "--hub", hp.url)
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("moonwake machines list: %s", r)
		}
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if len(lines) != 2 || !strings.HasPrefix(lines[0], "NAME") {
			t.Fatalf("moonwake machines list printed %q", r.stdout)
		}
		if f := strings.Fields(lines[1]); len(f) < 2 || f[0] != "gaming-pc" || f[1] != "aa:bb:cc:dd:ee:91" || !strings.Contains(lines[1], "if eth0 port 9") {
			t.Errorf("machine line %q", lines[1])
		}
	})
	t.Run("unknown machine", func(t *testing.T) {
		r := runEnv(t, a, []string{admin}, "wake", "nosuch", "--hub", hp.url)
		if r.code != 1 || !strings.Contains(r.stderr, "nosuch") || r.stdout != "" {
			t.Errorf("moonwake wake nosuch: %s; want exit 1", r)
		}
	})
	t.Run("bad token", func(t *testing.T) {
		r := runEnv(t, a, []string{"MOONWAKE_TOKEN=mw_" + strings.Repeat("B", 43)}, "wake", "gaming-pc", "--hub", hp.url)
		if r.code == 0 || r.stdout != "" {
			t.Errorf("moonwake wake with a bad token: %s", r)
		}
	})
	quiet(t, 200*time.Millisecond, rx9, raw)

	t.Run("token made on the data directory", func(t *testing.T) {
		r := runEnv(t, a, nil, "tokens", "create", "--data", data, "--name", "x", "--machines", "gaming-pc")
		secret := strings.TrimSpace(r.stdout)
		if r.code != 0 || r.stdout != secret+"\n" || !strings.HasPrefix(secret, "mw_") {
			t.Fatalf("moonwake tokens create: %s", r)
		}
		// At once: the first request with it already works.
		hp.must(t, http.StatusOK, "GET", "/wake?mac=AABBCCDDEE91&wait=true&token="+secret, "", nil)
		expect(t, rx9, blindBursts, want)
		expectFrames(t, raw, blindBursts)
		r = runEnv(t, a, []string{"MOONWAKE_TOKEN=" + secret}, "wake", "gaming-pc", "--hub", hp.url, "--quiet")
		if r.code != 0 || r.stdout != "" || r.stderr != "" {
			t.Errorf("moonwake wake with the new token: %s", r)
		}
		expect(t, rx9, blindBursts, want)
		expectFrames(t, raw, blindBursts)
	})
	quiet(t, 200*time.Millisecond, rx9, raw)
}

// TestHubTshark has Wireshark's WOL dissector read what the hub sends: the
// first burst of each wake, and whatever resends tshark printed before it
// stopped.
func TestHubTshark(t *testing.T) {
	t.Parallel()
	needCommand(t, "tshark")
	lan, a, b := newLAN(t)
	hp := startHub(t, a, t.TempDir())
	hp.addMachine(t, map[string]any{"name": "pc", "mac": "AA:BB:CC:DD:EE:A1", "interface": "eth0", "password": "a1b2c3d4e5f6"})
	hp.addMachine(t, map[string]any{"name": "nas", "mac": "aa-bb-cc-dd-ee-a2", "interface": "eth0", "host": b.Addr().String(), "password": "10.0.0.1"})
	ts := startTshark(t, b, a, lan.Broadcast(), "udp port 9")
	hp.wake(t, "pc", hp.admin)
	hp.wake(t, "nas", hp.admin) // to the broadcast and to b

	recs := ts.records(t, 3, 10*time.Second)
	if len(recs) < 3 {
		t.Fatalf("tshark decoded %d packets, want 3:\n%s\n%s", len(recs), ts.out, ts.stderr)
	}
	wants := []struct{ mac, info string }{
		{"aa:bb:cc:dd:ee:a1", "MagicPacket for aa:bb:cc:dd:ee:a1, password a1:b2:c3:d4:e5:f6"},
		{"aa:bb:cc:dd:ee:a2", "MagicPacket for aa:bb:cc:dd:ee:a2, password 10.0.0.1"},
		{"aa:bb:cc:dd:ee:a2", "MagicPacket for aa:bb:cc:dd:ee:a2, password 10.0.0.1"},
	}
	for i, r := range recs {
		w := wants[min(i, 2)]
		if i >= 3 && strings.Contains(r.info, wants[0].mac) {
			w = wants[0] // a resend of pc's
		}
		if r.protocols != "eth:ethertype:ip:udp:wol" || r.info != w.info || len(r.macs) != 16 {
			t.Errorf("packet %d: %q %q, %d MACs; want eth:ethertype:ip:udp:wol %q, 16 MACs", i+1, r.protocols, r.info, len(r.macs), w.info)
		}
		for _, m := range r.macs {
			if m != w.mac {
				t.Errorf("packet %d: tshark read MAC %s, want %s", i+1, m, w.mac)
			}
		}
	}
	if t.Failed() {
		t.Logf("tshark output:\n%s", strings.TrimSpace(ts.out.String()))
	}
}

// waitDone polls an action until it has ended.
func (hp *hub) waitDone(t *testing.T, id, token string, timeout time.Duration) wireAction {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var a wireAction
		hp.must(t, http.StatusOK, "GET", "/api/v1/actions/"+id, token, nil).decode(t, &a)
		if a.Status != "running" {
			return a
		}
		if time.Now().After(deadline) {
			t.Fatalf("action %s still running after %s: %+v", id, timeout, a)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestHubRestart stops the hub cleanly in the middle of a wake and
// restarts it on the same data directory, then kills it right after a
// burst of accepted wakes: what it accepted survives, every action cut
// short is taken up again and ends with what was really done (one burst,
// not verified), none is left running, and the new hub sends nothing for
// them.
func TestHubRestart(t *testing.T) {
	t.Parallel()
	env := []string{"MOONWAKE_RATE_LIMIT_BURST=100"}
	lan, a, _, hp, data, rx9, raw := hubLAN(t, env...)
	admin := hp.admin
	hp.addMachine(t, map[string]any{"name": "pc", "mac": "aa:bb:cc:dd:ee:b1", "interface": "eth0", "password": "01:02:03:04"})
	phone := hp.addToken(t, map[string]any{"name": "phone", "machines": []string{"pc"}})
	want := magic(t, "aa:bb:cc:dd:ee:b1", 1, 2, 3, 4)
	bcast := lan.Broadcast().String() + ":9"
	// The machines of the kill -9 below: one action each.
	const n = 20
	for i := range n {
		hp.addMachine(t, map[string]any{"name": fmt.Sprintf("pc%02d", i), "mac": fmt.Sprintf("aa:bb:cc:dd:ef:%02x", i), "interface": "eth0"})
	}

	first := hp.wake(t, "pc", phone)
	if first.Status != "running" {
		t.Errorf("wake with resends pending: status %q, want running", first.Status)
	}
	expect(t, rx9, 1, want)
	expectFrames(t, raw, 1)

	// SIGTERM: a clean exit before the first resend (due 1 s after the
	// first burst), the action left running for the next start.
	if code := hp.signal(syscall.SIGTERM); code != 0 {
		t.Fatalf("hub exited %d after SIGTERM, want 0\nstderr: %s", code, hp.stderr)
	}
	hp = startHub(t, a, data, env...)
	hp.admin = admin

	var ms struct {
		Machines []struct {
			Name, MAC   string
			PasswordSet bool `json:"password_set"`
		}
	}
	hp.must(t, http.StatusOK, "GET", "/api/v1/machines", admin, nil).decode(t, &ms)
	if len(ms.Machines) != n+1 || ms.Machines[0].Name != "pc" || ms.Machines[0].MAC != "aa:bb:cc:dd:ee:b1" || !ms.Machines[0].PasswordSet {
		t.Errorf("machines after restart: %+v", ms.Machines)
	}
	var ts struct{ Tokens []struct{ Name string } }
	hp.must(t, http.StatusOK, "GET", "/api/v1/tokens", admin, nil).decode(t, &ts)
	var names []string
	for _, tk := range ts.Tokens {
		names = append(names, tk.Name)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"admin", "phone"}) {
		t.Errorf("tokens after restart: %q, want [admin phone]", names)
	}
	// The new hub takes the wake up, sends nothing more (it cannot verify
	// it, and blind resends are not repeated after a restart), and ends
	// it at its deadline saying what was done.
	got := hp.waitDone(t, first.ID, phone, 10*time.Second)
	if got.Status != "succeeded" || got.FinishedAt == nil || got.Detail != "sent 1 burst(s) of magic packets; not verified: pc has no address to probe and no agent" ||
		got.Actor.Name != "phone" || !slices.Equal(got.targets(t), []string{bcast}) || !slices.Equal(stepKinds(got), []string{"send", "resume"}) {
		t.Errorf("action after a clean stop: %+v", got)
	}
	quiet(t, 200*time.Millisecond, rx9, raw)
	// The phone's token still wakes, the password still in the packet.
	hp.must(t, http.StatusOK, "GET", "/wake?mac=aabbccddeeb1&wait=true&token="+phone, "", nil)
	expect(t, rx9, blindBursts, want)
	expectFrames(t, raw, blindBursts)

	// n wakes of n machines at once, all accepted, then SIGKILL at once.
	ids := make([]string, n)
	var wg sync.WaitGroup
	errs := make(chan string, n)
	start := time.Now()
	for i := range n {
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(t.Context(), "POST", hp.url+fmt.Sprintf("/api/v1/machines/pc%02d/wake", i), nil)
			req.Header.Set("Authorization", "Bearer "+admin)
			resp, err := hp.http.Do(req)
			if err != nil {
				errs <- err.Error()
				return
			}
			defer resp.Body.Close()
			var a wireAction
			if resp.StatusCode != http.StatusAccepted || jsonDecode(resp, &a) != nil || a.ID == "" || a.Status != "running" {
				errs <- fmt.Sprintf("wake %d: %s %+v", i, resp.Status, a)
				return
			}
			ids[i] = a.ID
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if t.Failed() {
		t.FailNow()
	}
	if code := hp.signal(syscall.SIGKILL); code != -1 {
		t.Errorf("hub exited %d, want killed", code)
	}
	t.Logf("%d wakes accepted and the hub killed in %s", n, time.Since(start).Round(time.Millisecond))
	// Every accepted wake had sent its first burst, and the hub was dead
	// before any resend (1 s later).
	seen := map[string]int{}
	for _, d := range expectAny(t, rx9, n) {
		seen[string(d.Data)]++
	}
	expectFrames(t, raw, n)
	for i := range n {
		if c := seen[string(magic(t, fmt.Sprintf("aa:bb:cc:dd:ef:%02x", i)))]; c != 1 {
			t.Errorf("pc%02d: %d packets, want 1", i, c)
		}
	}

	hp = startHub(t, a, data, env...)
	hp.admin = admin
	for i, id := range ids {
		act := hp.waitDone(t, id, admin, 10*time.Second)
		if act.ID != id || act.Status != "succeeded" || act.FinishedAt == nil ||
			act.Detail != fmt.Sprintf("sent 1 burst(s) of magic packets; not verified: pc%02d has no address to probe and no agent", i) ||
			!slices.Equal(act.targets(t), []string{bcast}) || !slices.Equal(stepKinds(act), []string{"send", "resume"}) {
			t.Errorf("action after SIGKILL: %+v", act)
		}
	}
	var list struct{ Actions []wireAction }
	hp.must(t, http.StatusOK, "GET", "/api/v1/actions?limit=500", admin, nil).decode(t, &list)
	if len(list.Actions) != n+2 {
		t.Errorf("%d actions listed, want %d", len(list.Actions), n+2)
	}
	for _, act := range list.Actions {
		if act.Status == "running" {
			t.Errorf("action %s still running after a restart", act.ID)
		}
	}
	// The log comes through a pipe: give it a moment to arrive.
	wctx, wcancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer wcancel()
	hp.stderr.WaitUntil(wctx, func(s string) bool { return strings.Count(s, `msg="resumed action"`) >= n }, nil)
	if c := strings.Count(hp.stderr.String(), `msg="resumed action"`); c != n {
		t.Errorf("the restarted hub resumed %d actions, want %d:\n%s", c, n, hp.stderr)
	}
	// Nothing more was sent: no repeats from a dead hub, none replayed by
	// the new one.
	quiet(t, 200*time.Millisecond, rx9, raw)
}
