package hub_test

import (
	"net"
	"testing"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/wol"
)

// TestRelay sends magic packets to the hub's relay listener on loopback:
// a burst for a registered machine wakes it once, from the registry's own
// settings, recorded with the relay as its author; an unregistered MAC and
// a wrong password send nothing.
func TestRelay(t *testing.T) {
	cfg := newConfig(t)
	cfg.Relay.Listen = []string{"127.0.0.1:0"}
	th := startHub(t, cfg)
	if len(th.RelayAddrs()) != 1 {
		t.Fatalf("relay addresses %v", th.RelayAddrs())
	}
	to := th.RelayAddrs()[0].(*net.UDPAddr)
	r := newReceiver(t)
	th.addMachine("gaming-pc", "02:00:00:00:00:01", r, nil)
	th.addMachine("locked", "02:00:00:00:00:02", r, map[string]any{"password": "0a1b2c3d"})

	send := func(mac string, password []byte, n int) {
		t.Helper()
		hw, _ := wol.ParseMAC(mac)
		b, err := (&wol.Packet{Target: hw, Password: password}).MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		c, err := net.DialUDP("udp", nil, to)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for range n {
			if _, err := c.Write(b); err != nil {
				t.Fatal(err)
			}
		}
	}

	send("02:00:00:00:00:09", nil, 3)
	send("02:00:00:00:00:02", []byte{0x0a, 0x1b, 0x2c, 0x00}, 3)
	send("02:00:00:00:00:02", nil, 3)
	if got := r.next(300 * time.Millisecond); got != nil {
		t.Fatalf("relayed % x", got)
	}

	send("02:00:00:00:00:01", nil, 10)
	wantPacket(t, r.next(2*time.Second), "02:00:00:00:00:01", "")
	var acts []moonwake.Action
	deadline := time.Now().Add(5 * time.Second)
	for {
		var list struct{ Actions []moonwake.Action }
		a := th.must(200, "GET", "/api/v1/actions", th.Admin, nil)
		a.decode(t, &list)
		acts = list.Actions
		if len(acts) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(acts) != 1 || acts[0].Machine != "gaming-pc" || acts[0].Actor.Kind != "relay" || acts[0].Actor.Name != "moonlight" || acts[0].Actor.Addr != "127.0.0.1" {
		t.Fatalf("actions %+v, want one wake of gaming-pc by the relay", acts)
	}

	// The right password wakes the locked machine, with the registry's
	// password in the packet it sends.
	send("02:00:00:00:00:02", []byte{0x0a, 0x1b, 0x2c, 0x3d}, 1)
	for {
		got := r.next(2 * time.Second)
		if got == nil {
			t.Fatal("no packet for the locked machine")
		}
		if len(got) == wol.Size+4 {
			wantPacket(t, got, "02:00:00:00:00:02", "0a1b2c3d")
			break
		}
	}
}
