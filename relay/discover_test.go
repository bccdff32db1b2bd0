package relay

import (
	"context"
	"encoding/json"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/probe"
	"github.com/moonwake/moonwake/uplink"
)

// TestNeighboursReport: the relay answers with the devices of its table
// worth suggesting, whether it may sweep, and its IPv4 networks.
func TestNeighboursReport(t *testing.T) {
	var f fakeNet
	mac := func(s string) net.HardwareAddr { m, _ := net.ParseMAC(s); return m }
	r := newTestRelay(t, &f, Options{DiscoverySweep: true, Networks: []netip.Prefix{netip.MustParsePrefix("192.168.1.0/24"), netip.MustParsePrefix("2001:db8:1::/64")},
		Neighbours: func(ctx context.Context) ([]probe.Neighbour, error) {
			return []probe.Neighbour{
				{IP: netip.MustParseAddr("192.168.1.20"), MAC: mac("d8:bb:c1:00:00:20"), Ifindex: 1, State: probe.NUDReachable},
				{IP: netip.MustParseAddr("192.168.1.21"), Ifindex: 1, State: probe.NUDFailed},
			}, nil
		}})
	res := handle(t, r, CommandNeighbours, NeighboursOrder{})
	if !res.OK {
		t.Fatal(res.Error)
	}
	rep, err := ParseNeighboursReport(res.Data)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Devices) != 1 || rep.Devices[0].IP != "192.168.1.20" || rep.Devices[0].MAC != "d8:bb:c1:00:00:20" || !rep.Sweep ||
		len(rep.Networks) != 1 || rep.Networks[0] != "192.168.1.0/24" {
		t.Errorf("report %+v", rep)
	}
}

// sweepOrder gives r a sweep order and returns its answer and whether a
// sweep would follow. The sweep itself is never run here: it would send
// to the host's real network.
func sweepOrder(t *testing.T, r *Relay, network string) (SweepReport, bool) {
	t.Helper()
	args, _ := json.Marshal(SweepOrder{Network: network})
	res, then := r.Handle(context.Background(), uplink.Command{ID: "c", Name: CommandSweep, Args: args})
	if !res.OK {
		t.Fatalf("sweep %q: %s", network, res.Error)
	}
	var rep SweepReport
	if err := json.Unmarshal(res.Data, &rep); err != nil {
		t.Fatal(err)
	}
	if (then != nil) != (rep.Error == "") {
		t.Errorf("sweep %q: answer %+v with a sweep to follow: %v", network, rep, then != nil)
	}
	return rep, then != nil
}

func TestSweepOrders(t *testing.T) {
	var f fakeNet
	off := newTestRelay(t, &f, Options{})
	if rep, _ := sweepOrder(t, off, ""); rep.Code != moonwake.EForbidden {
		t.Errorf("sweep not enabled: %+v", rep)
	}
	// Serves eth0's /24 and wlan0's /16 (testIfaces), and a network on no link.
	r := newTestRelay(t, &f, Options{DiscoverySweep: true, Networks: []netip.Prefix{
		netip.MustParsePrefix("192.168.1.0/24"), netip.MustParsePrefix("10.20.0.0/16"), netip.MustParsePrefix("10.40.0.0/24")}})
	for network, want := range map[string]string{
		"":               "name the network",
		"172.16.0.0/24":  "not a network this relay serves",
		"192.168.0.0/23": "not a network this relay serves", // wider than the one served
		"10.20.0.0/21":   "wider than a /22",
		"10.40.0.0/24":   "on none of this relay's links",
		"bogus":          "not a CIDR prefix",
	} {
		rep, _ := sweepOrder(t, r, network)
		if rep.Code != moonwake.EInvalid || !strings.Contains(rep.Error, want) {
			t.Errorf("sweep %q: %+v, want EInvalid %q", network, rep, want)
		}
	}
	rep, ok := sweepOrder(t, r, "10.20.4.0/22")
	if !ok || rep.Network != "10.20.4.0/22" || rep.Addresses != 1022 || rep.Rate != 50 {
		t.Fatalf("sweep of a /22 in the /16: %+v", rep)
	}
	if rep, _ := sweepOrder(t, r, "192.168.1.0/24"); rep.Code != moonwake.EConflict {
		t.Errorf("a second sweep while one runs: %+v", rep)
	}
	// One network: it is the default.
	one := newTestRelay(t, &f, Options{DiscoverySweep: true, Networks: []netip.Prefix{netip.MustParsePrefix("192.168.1.0/24")}})
	if rep, ok := sweepOrder(t, one, ""); !ok || rep.Network != "192.168.1.0/24" || rep.Addresses != 254 {
		t.Errorf("default network: %+v", rep)
	}
}

// FuzzParseNeighboursReport: whatever a relay sends, what the hub keeps is
// bounded and well formed (the seed corpus is in
// testdata/fuzz/FuzzParseNeighboursReport).
func FuzzParseNeighboursReport(f *testing.F) {
	f.Add([]byte(`{"devices":[{"ip":"192.168.1.20","mac":"d8:bb:c1:00:00:20","names":["pc.lan","pc.local"]}],"sweep":true,"networks":["192.168.1.0/24"]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		rep, err := ParseNeighboursReport(b)
		if err != nil {
			return
		}
		if len(rep.Devices) > MaxNeighbours || len(rep.Networks) > 32 {
			t.Fatalf("%d devices, %d networks", len(rep.Devices), len(rep.Networks))
		}
		for _, d := range rep.Devices {
			ip, err := netip.ParseAddr(d.IP)
			mac, merr := net.ParseMAC(d.MAC)
			if err != nil || merr != nil || len(mac) != 6 || mac[0]&1 != 0 || ip.Zone() != "" || len(d.Names) > maxNeighbourNames {
				t.Fatalf("device %+v", d)
			}
			for _, n := range d.Names {
				if n == "" || len(n) > maxNeighbourName {
					t.Fatalf("name %q", n)
				}
			}
		}
	})
}

// FuzzSweepOrder: whatever the order says, a sweep follows only for a
// subnet inside the one the relay serves, at most a /22 and at most 1,022
// addresses (the seed corpus is in testdata/fuzz/FuzzSweepOrder). The
// sweep itself is never run.
func FuzzSweepOrder(f *testing.F) {
	f.Add([]byte(`{"network":"192.168.1.0/24"}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, args []byte) {
		served := netip.MustParsePrefix("10.20.0.0/16") // wlan0's, in testIfaces
		r := newTestRelay(t, &fakeNet{}, Options{DiscoverySweep: true, Networks: []netip.Prefix{served}})
		res, then := r.Handle(context.Background(), uplink.Command{ID: "c", Name: CommandSweep, Args: args})
		if then == nil {
			return
		}
		var rep SweepReport
		if err := json.Unmarshal(res.Data, &rep); err != nil {
			t.Fatal(err)
		}
		p, err := netip.ParsePrefix(rep.Network)
		if err != nil || !res.OK || rep.Error != "" || p.Bits() < 22 || p.Bits() < served.Bits() || !served.Contains(p.Addr()) ||
			rep.Addresses < 1 || rep.Addresses > 1022 {
			t.Fatalf("order %s: a sweep of %+v", args, rep)
		}
	})
}

// TestSweepOneAtATime: a sweep holds the relay for as long as it runs,
// however slow, and not longer; an order whose answer never went out
// holds it only for a while, and does not run once another was ordered.
func TestSweepOneAtATime(t *testing.T) {
	r := newTestRelay(t, &fakeNet{}, Options{DiscoverySweep: true, Networks: []netip.Prefix{netip.MustParsePrefix("192.168.1.0/24")}})
	r.sweepWait = 20 * time.Millisecond
	started, release := make(chan struct{}, 1), make(chan struct{})
	var mu sync.Mutex
	var sent []netip.Addr
	r.sweepSend = func(a netip.Addr) error {
		mu.Lock()
		sent = append(sent, a)
		mu.Unlock()
		select {
		case started <- struct{}{}:
		default:
		}
		<-release
		return nil
	}
	order := func() (SweepReport, uplink.Then) {
		args, _ := json.Marshal(SweepOrder{Network: "192.168.1.0/30"})
		res, then := r.Handle(context.Background(), uplink.Command{ID: "c", Name: CommandSweep, Args: args})
		var rep SweepReport
		if err := json.Unmarshal(res.Data, &rep); err != nil {
			t.Fatal(err)
		}
		return rep, then
	}

	// A slow sweep: still running well past its time and the wait for
	// its answer, it holds the relay.
	_, then := order()
	if then == nil {
		t.Fatal("no sweep")
	}
	done := make(chan error, 1)
	go func() { done <- then(context.Background()) }()
	<-started
	time.Sleep(100 * time.Millisecond)
	if rep, then := order(); rep.Code != moonwake.EConflict || then != nil {
		t.Errorf("an order while a sweep runs: %+v", rep)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// Done: the relay is free. An order whose answer is lost holds it for
	// the wait; then another may come, and the lost one never runs.
	_, lost := order()
	if lost == nil {
		t.Fatal("no sweep after the first ended")
	}
	if rep, _ := order(); rep.Code != moonwake.EConflict {
		t.Errorf("an order while another's answer is on its way: %+v", rep)
	}
	time.Sleep(50 * time.Millisecond)
	_, next := order()
	if next == nil {
		t.Fatal("the relay is still held by an order whose answer was lost")
	}
	mu.Lock()
	before := len(sent)
	mu.Unlock()
	if err := lost(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(sent) != before {
		t.Errorf("the lost order swept %v", sent[before:])
	}
}
