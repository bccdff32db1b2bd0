//go:build linux

package e2e

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/moonwake/moonwake/internal/testlan"
)

// TestRelayMoonlight plays Moonlight's "Wake PC" button pressed on 4G: host
// c ("the internet", through the router's port-forward) sends magic
// packets to the hub in a on UDP 47009, and b, on the LAN, receives the
// hub's own wake on UDP 9 for registered machines only: never for an
// unregistered MAC or a wrong SecureOn password, and one wake per burst.
func TestRelayMoonlight(t *testing.T) {
	t.Parallel()
	lan := testlan.New(t)
	a, b, c := lan.AddHost("a"), lan.AddHost("b"), lan.AddHost("c")
	rx9, err := b.ListenUDP(9)
	if err != nil {
		t.Fatal(err)
	}
	hp := startHub(t, a, t.TempDir(), "MOONWAKE_RELAY_LISTEN=:47009", "MOONWAKE_RATE_LIMIT_BURST=100")
	// The log reaches the buffer through a pipe: wait for it, the hub may
	// answer /healthz before the line is copied.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := hp.stderr.WaitUntil(ctx, func(s string) bool {
		return strings.Contains(s, "relay listening") && strings.Contains(s, "47009")
	}, nil); err != nil {
		t.Errorf("the hub did not log its relay: %v\n%s", err, hp.stderr)
	}
	hp.addMachine(t, map[string]any{"name": "gaming-pc", "mac": "02:00:00:00:47:01", "interface": "eth0"})
	hp.addMachine(t, map[string]any{"name": "locked", "mac": "02:00:00:00:47:02", "interface": "eth0", "password": "0a:1b:2c:3d:4e:5f"})
	relayAddr := netip.AddrPortFrom(a.Addr(), 47009)

	// wakeonlan is Debian's: one packet per MAC on the command line.
	wakeonlan := func(t *testing.T, macs ...string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		args := append([]string{"wakeonlan", "-i", a.Addr().String(), "-p", "47009"}, macs...)
		if out, err := c.Run(ctx, args...); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	// send sends datagrams from c as a Go sender, as Moonlight does.
	send := func(t *testing.T, to netip.AddrPort, payloads ...[]byte) {
		t.Helper()
		err := c.Do(func() error {
			conn, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(to))
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
	actions := func(t *testing.T) []wireAction {
		t.Helper()
		var list struct{ Actions []wireAction }
		hp.must(t, http.StatusOK, "GET", "/api/v1/actions", hp.admin, nil).decode(t, &list)
		return list.Actions
	}

	t.Run("unregistered MAC sends nothing", func(t *testing.T) {
		wakeonlan(t, "02:00:00:00:47:09", "02:00:00:00:47:09", "02:00:00:00:47:09")
		quiet(t, 500*time.Millisecond, rx9)
		if acts := actions(t); len(acts) != 0 {
			t.Errorf("actions %+v, want none", acts)
		}
	})

	t.Run("wrong or missing SecureOn password sends nothing", func(t *testing.T) {
		wakeonlan(t, "02:00:00:00:47:02")
		send(t, relayAddr,
			magic(t, "02:00:00:00:47:02", 0x0a, 0x1b, 0x2c, 0x3d, 0x4e, 0x00),
			magic(t, "02:00:00:00:47:02", 0x0a, 0x1b, 0x2c, 0x3d))
		quiet(t, 500*time.Millisecond, rx9)
		if acts := actions(t); len(acts) != 0 {
			t.Errorf("actions %+v, want none", acts)
		}
	})

	t.Run("malformed datagrams send nothing", func(t *testing.T) {
		pkt := magic(t, "02:00:00:00:47:01")
		send(t, relayAddr, pkt[:101], append(pkt, 1, 2, 3), []byte("GET / HTTP/1.0\r\n\r\n"))
		quiet(t, 300*time.Millisecond, rx9)
	})

	t.Run("one burst wakes once", func(t *testing.T) {
		burst := make([]string, 10)
		for i := range burst {
			burst[i] = "02:00:00:00:47:01"
		}
		wakeonlan(t, burst...)
		// Moonlight also sends to ports the router does not forward to
		// the hub: they reach nothing.
		send(t, netip.AddrPortFrom(a.Addr(), 9), magic(t, "02:00:00:00:47:01"))
		// The hub's own wake, from the registry: a blind wake (the
		// machine has no address) sends its bursts and ends.
		// The bursts are 1 s and 2 s apart: the third comes about 3 s
		// after the first, so wait longer than one receive timeout.
		ds, err := rx9.Expect(blindBursts, blindWake+2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		for i, d := range ds {
			if want := magic(t, "02:00:00:00:47:01"); !bytes.Equal(d.Data, want) {
				t.Errorf("packet %d: % x, want % x", i+1, d.Data, want)
			}
		}
		for _, d := range ds {
			if d.From.Addr() != a.Addr() {
				t.Errorf("packet from %v, want the hub %v", d.From, a.Addr())
			}
		}
		time.Sleep(blindWake - ds[len(ds)-1].At.Sub(ds[0].At) + 300*time.Millisecond)
		acts := actions(t)
		if len(acts) != 1 {
			t.Fatalf("%d actions, want one wake: %+v", len(acts), acts)
		}
		act := acts[0]
		if act.Kind != "wake" || act.Machine != "gaming-pc" || act.Actor.Kind != "relay" || act.Actor.Name != "moonlight" {
			t.Errorf("action %+v", act)
		}
		var full struct {
			Actor struct{ Addr string } `json:"actor"`
		}
		hp.must(t, http.StatusOK, "GET", "/api/v1/actions/"+act.ID, hp.admin, nil).decode(t, &full)
		if full.Actor.Addr != c.Addr().String() {
			t.Errorf("action author address %q, want the phone %s", full.Actor.Addr, c.Addr())
		}
		quiet(t, 300*time.Millisecond, rx9)
	})

	t.Run("right password wakes", func(t *testing.T) {
		send(t, relayAddr, magic(t, "02:00:00:00:47:02", 0x0a, 0x1b, 0x2c, 0x3d, 0x4e, 0x5f))
		expect(t, rx9, 1, magic(t, "02:00:00:00:47:02", 0x0a, 0x1b, 0x2c, 0x3d, 0x4e, 0x5f))
	})
}
