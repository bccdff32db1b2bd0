package relay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/probe"
	"github.com/moonwake/moonwake/wol"
)

// wakeReport decodes a wake's answer.
func wakeReport(t *testing.T, data []byte) WakeReport {
	t.Helper()
	var rep WakeReport
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatalf("wake report %s: %v", data, err)
	}
	return rep
}

// TestWakePlansFromItsInterfaces checks the targets a wake order is sent
// to: the subnet broadcast of the interface whose subnet holds the host
// (a machine that is off answers no ARP, so unicast alone never reaches
// it) and the host itself; what the order names instead; and every LAN
// when it names nothing. Each target gets Count packets, all the same
// magic packet.
func TestWakePlansFromItsInterfaces(t *testing.T) {
	const mac = "aa:bb:cc:dd:ee:01"
	for _, tc := range []struct {
		name  string
		order WakeOrder
		want  []string // targets, in order
	}{
		{"host on eth0", WakeOrder{Host: "192.168.1.42"}, []string{"192.168.1.255:9", "192.168.1.42:9"}},
		{"host on wlan0 (/16), port 7", WakeOrder{Host: "10.20.3.4", Port: 7}, []string{"10.20.255.255:7", "10.20.3.4:7"}},
		{"IPv4-mapped host", WakeOrder{Host: "::ffff:192.168.1.42"}, []string{"192.168.1.255:9", "192.168.1.42:9"}},
		{"host on an interface without broadcast flag: its IPv4 subnets' broadcasts", WakeOrder{Host: "10.99.0.7"}, []string{"10.99.0.255:9", "169.254.255.255:9", "10.99.0.7:9"}},
		{"host on a LAN whose interface is down: unicast only", WakeOrder{Host: "172.16.0.9"}, []string{"172.16.0.9:9"}},
		{"host on no LAN of the relay: unicast only", WakeOrder{Host: "10.30.0.1"}, []string{"10.30.0.1:9"}},
		{"host on loopback: never broadcast there", WakeOrder{Host: "127.0.0.5"}, []string{"127.0.0.5:9"}},
		{"IPv6 host on dual-stack eth0: its IPv4 broadcast too", WakeOrder{Host: "fe80::9"}, []string{"192.168.1.255:9", "[fe80::9]:9"}},
		{"DNS name: every LAN that is up and broadcasts", WakeOrder{Host: "pc.lan"}, []string{"192.168.1.255:9", "10.20.255.255:9"}},
		{"no host: every LAN", WakeOrder{}, []string{"192.168.1.255:9", "10.20.255.255:9"}},
		{"interface named: it wins over the host's", WakeOrder{Host: "192.168.1.42", Interface: "wlan0"}, []string{"10.20.255.255:9", "192.168.1.42:9"}},
		{"broadcast named", WakeOrder{Host: "192.168.1.42", Broadcast: "192.168.1.127"}, []string{"192.168.1.127:9", "192.168.1.42:9"}},
		{"broadcast and interface", WakeOrder{Interface: "eth0", Broadcast: "10.20.255.255", Port: 47009}, []string{"10.20.255.255:47009"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var f fakeNet
			r := newTestRelay(t, &f, Options{})
			o := tc.order
			o.Machine, o.MAC, o.Count = "pc", mac, 3
			res := handle(t, r, CommandWake, o)
			if !res.OK {
				t.Fatalf("wake %+v refused: %s", o, res.Error)
			}
			rep := wakeReport(t, res.Data)
			var got []string
			for _, s := range rep.Steps {
				got = append(got, s.Target)
				if s.Kind != "send" || s.Via != wol.ViaUDP || s.Error != "" || s.At.IsZero() || s.At.Location() != time.UTC {
					t.Errorf("step %+v", s)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("targets %q, want %q", got, tc.want)
			}
			if rep.Sent != 3*len(tc.want) {
				t.Errorf("sent %d, want %d", rep.Sent, 3*len(tc.want))
			}
			sent := f.datagrams()
			if len(sent) != rep.Sent {
				t.Fatalf("%d datagrams on the network, %d reported", len(sent), rep.Sent)
			}
			pkt := magic(t, mac)
			for i, d := range sent {
				if want := tc.want[i/3]; d.to != want {
					t.Errorf("datagram %d to %s, want %s", i, d.to, want)
				}
				if !bytes.Equal(d.b, pkt) {
					t.Errorf("datagram %d is not the magic packet for %s: % x", i, mac, d.b)
				}
				v6 := strings.HasPrefix(d.to, "[")
				if (d.network == "udp6") != v6 {
					t.Errorf("datagram %d to %s on %s", i, d.to, d.network)
				}
			}
		})
	}
}

// TestWakeWithPassword checks the SecureOn password is in every packet.
func TestWakeWithPassword(t *testing.T) {
	var f fakeNet
	r := newTestRelay(t, &f, Options{})
	res := handle(t, r, CommandWake, WakeOrder{Machine: "pc", MAC: "aa:bb:cc:dd:ee:02", Password: "01:02:03:04:05:06", Host: "192.168.1.42", Count: 1})
	if !res.OK {
		t.Fatal(res.Error)
	}
	want := magic(t, "aa:bb:cc:dd:ee:02", 1, 2, 3, 4, 5, 6)
	sent := f.datagrams()
	if len(sent) != 2 {
		t.Fatalf("sent %+v", sent)
	}
	for _, d := range sent {
		if !bytes.Equal(d.b, want) {
			t.Errorf("to %s: % x, want % x", d.to, d.b, want)
		}
	}
}

// TestWakeCountLimits: 1 to 20 packets a target, nothing sent otherwise.
func TestWakeCountLimits(t *testing.T) {
	for _, n := range []int{1, 20} {
		var f fakeNet
		r := newTestRelay(t, &f, Options{})
		res := handle(t, r, CommandWake, WakeOrder{Machine: "pc", MAC: "aa:bb:cc:dd:ee:03", Host: "10.30.0.1", Count: n})
		if !res.OK {
			t.Fatalf("count %d: %s", n, res.Error)
		}
		if rep := wakeReport(t, res.Data); rep.Sent != n || len(f.datagrams()) != n {
			t.Errorf("count %d: sent %d, %d datagrams", n, rep.Sent, len(f.datagrams()))
		}
	}
	for _, n := range []int{0, 21, -1, 1 << 30} {
		var f fakeNet
		r := newTestRelay(t, &f, Options{})
		res := handle(t, r, CommandWake, WakeOrder{Machine: "pc", MAC: "aa:bb:cc:dd:ee:03", Host: "10.30.0.1", Count: n})
		if want := fmt.Sprintf("count %d: want 1 to 20", n); res.OK || res.Error != want {
			t.Errorf("count %d: %+v, want error %q", n, res, want)
		}
		if len(f.datagrams()) != 0 {
			t.Errorf("count %d: sent %+v", n, f.datagrams())
		}
	}
}

// TestBadOrders checks every order the relay cannot carry out is refused
// with an error that says why, and sends and probes nothing.
func TestBadOrders(t *testing.T) {
	wake := func(mod func(*WakeOrder)) WakeOrder {
		o := WakeOrder{Machine: "pc", MAC: "aa:bb:cc:dd:ee:04", Host: "192.168.1.42", Count: 2}
		mod(&o)
		return o
	}
	probeOrder := func(mod func(*ProbeOrder)) ProbeOrder {
		o := ProbeOrder{Machine: "pc", Host: "192.168.1.42", Ports: []int{47989}}
		mod(&o)
		return o
	}
	seventeen := make([]int, 17)
	for i := range seventeen {
		seventeen[i] = 1000 + i
	}
	for _, tc := range []struct {
		name, cmd string
		args      any
		want      string // in the error
	}{
		{"wake: no args", CommandWake, nil, "malformed order: unexpected end of JSON input"},
		{"wake: truncated JSON", CommandWake, `{"machine":"pc"`, "malformed order"},
		{"wake: an array", CommandWake, `[1,2]`, "malformed order: json: cannot unmarshal array"},
		{"wake: a string", CommandWake, `"pc"`, "malformed order: json: cannot unmarshal string"},
		{"wake: count as a string", CommandWake, `{"machine":"pc","mac":"aa:bb:cc:dd:ee:04","count":"3"}`, "malformed order: json: cannot unmarshal string"},
		{"wake: mac as a number", CommandWake, `{"machine":"pc","mac":5,"count":1}`, "malformed order"},
		{"wake: null", CommandWake, `null`, "count 0: want 1 to 20"},
		{"wake: empty object", CommandWake, `{}`, "count 0: want 1 to 20"},
		{"wake: no MAC", CommandWake, wake(func(o *WakeOrder) { o.MAC = "" }), "machine pc:"},
		{"wake: bad MAC", CommandWake, wake(func(o *WakeOrder) { o.MAC = "zz:bb:cc:dd:ee:04" }), "machine pc:"},
		{"wake: multicast MAC", CommandWake, wake(func(o *WakeOrder) { o.MAC = "01:00:5e:00:00:01" }), "machine pc:"},
		{"wake: broadcast MAC", CommandWake, wake(func(o *WakeOrder) { o.MAC = "ff:ff:ff:ff:ff:ff" }), "machine pc:"},
		{"wake: short MAC", CommandWake, wake(func(o *WakeOrder) { o.MAC = "aa:bb:cc:dd:ee" }), "machine pc:"},
		{"wake: bad password", CommandWake, wake(func(o *WakeOrder) { o.Password = "xyz" }), "machine pc: SecureOn password"},
		{"wake: count 0", CommandWake, wake(func(o *WakeOrder) { o.Count = 0 }), "count 0: want 1 to 20"},
		{"wake: count 21", CommandWake, wake(func(o *WakeOrder) { o.Count = 21 }), "count 21: want 1 to 20"},
		{"wake: port 65536", CommandWake, wake(func(o *WakeOrder) { o.Port = 65536 }), "cannot wake pc: port 65536: must be between 1 and 65535"},
		{"wake: port -1", CommandWake, wake(func(o *WakeOrder) { o.Port = -1 }), "cannot wake pc: port -1: must be between 1 and 65535"},
		{"wake: unknown interface", CommandWake, wake(func(o *WakeOrder) { o.Interface = "eth9" }), `cannot wake pc: no network interface named "eth9"`},
		{"wake: interface down", CommandWake, wake(func(o *WakeOrder) { o.Interface = "eth1" }), "cannot wake pc: interface eth1 is down"},
		{"wake: interface with no IPv4 subnet", CommandWake, wake(func(o *WakeOrder) { o.Interface = "eth2" }), "cannot wake pc: interface eth2 has no IPv4 subnet"},

		{"probe: no args", CommandProbe, nil, "malformed order"},
		{"probe: truncated JSON", CommandProbe, `{"machine":`, "malformed order"},
		{"probe: ports as a string", CommandProbe, `{"machine":"pc","host":"192.168.1.42","ports":"22"}`, "malformed order"},
		{"probe: null", CommandProbe, `null`, "a probe needs a machine name and a host"},
		{"probe: no host", CommandProbe, probeOrder(func(o *ProbeOrder) { o.Host = "" }), "a probe needs a machine name and a host"},
		{"probe: no machine", CommandProbe, probeOrder(func(o *ProbeOrder) { o.Machine = "" }), "a probe needs a machine name and a host"},
		{"probe: bad machine name", CommandProbe, probeOrder(func(o *ProbeOrder) { o.Machine = "PC one" }), "a probe needs a machine name and a host"},
		{"probe: port 0", CommandProbe, probeOrder(func(o *ProbeOrder) { o.Ports = []int{22, 0} }), "port 0 out of range"},
		{"probe: port 65536", CommandProbe, probeOrder(func(o *ProbeOrder) { o.Ports = []int{65536} }), "port 65536 out of range"},
		{"probe: port -22", CommandProbe, probeOrder(func(o *ProbeOrder) { o.Ports = []int{-22} }), "port -22 out of range"},
		{"probe: 17 ports", CommandProbe, probeOrder(func(o *ProbeOrder) { o.Ports = seventeen }), "at most 16 ports a probe"},
		{"probe: sunshine port -1", CommandProbe, probeOrder(func(o *ProbeOrder) { o.SunshinePort = -1 }), "sunshine port -1 out of range"},
		{"probe: sunshine port 65536", CommandProbe, probeOrder(func(o *ProbeOrder) { o.SunshinePort = 65536 }), "sunshine port 65536 out of range"},
		{"probe: bad MAC", CommandProbe, probeOrder(func(o *ProbeOrder) { o.MAC = "not-a-mac" }), "mac: address not-a-mac: invalid MAC address"},

		{"unknown command", "shutdown", `{}`, ""},
		{"no command", "", `{}`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var f fakeNet
			r := newTestRelay(t, &f, Options{Prober: probe.NewProber(probe.ProberOptions{
				Enter: func(func() error) error {
					t.Error("a bad order was probed")
					return errNoNetwork
				},
				Resolver: noDNS,
			})})
			defer r.prober.Close()
			res := handle(t, r, tc.cmd, tc.args)
			if res.OK || res.Error == "" {
				t.Fatalf("answer %+v, want a refusal", res)
			}
			if !strings.Contains(res.Error, tc.want) {
				t.Errorf("error %q, want it to say %q", res.Error, tc.want)
			}
			if res.Error == "internal error" && tc.want != "" {
				t.Errorf("error %q says nothing of the order", res.Error)
			}
			if d := f.datagrams(); len(d) != 0 {
				t.Errorf("a bad order sent %+v", d)
			}
		})
	}
}

// TestUnknownCommandSaysWhy: a command a relay does not carry out (a hub
// newer than the relay, or an agent's command sent to a relay) should be
// refused in words, not as "internal error": the hub shows the relay's
// error to people ("relay X refused: …").
func TestUnknownCommandSaysWhy(t *testing.T) {
	var f fakeNet
	r := newTestRelay(t, &f, Options{})
	res := handle(t, r, "shutdown", `{}`)
	if res.OK || !strings.Contains(res.Error, `"shutdown"`) {
		t.Fatalf("answer %+v, want an error naming the command", res)
	}
}

// TestWakeWhenInterfacesFail: a wake order that cannot be planned because
// the interfaces cannot be listed is refused, and nothing is sent.
func TestWakeWhenInterfacesFail(t *testing.T) {
	var f fakeNet
	r := newTestRelay(t, &f, Options{Interfaces: func() ([]wol.Iface, error) { return nil, errors.New("netlink: permission denied") }})
	res := handle(t, r, CommandWake, WakeOrder{Machine: "pc", MAC: "aa:bb:cc:dd:ee:05", Host: "192.168.1.42", Count: 1})
	if res.OK || res.Error == "" {
		t.Fatalf("answer %+v, want a refusal", res)
	}
	if len(f.datagrams()) != 0 {
		t.Errorf("sent %+v", f.datagrams())
	}
	t.Run("says why", func(t *testing.T) {
		if !strings.Contains(res.Error, "permission denied") {
			t.Errorf("error %q does not say why", res.Error)
		}
	})
}

// TestWakeIPv6OnlyLAN: a machine whose host is on a LAN of the relay that
// has no IPv4 subnet is woken by unicast, as the hub itself would wake it
// (moonwake.PlanWake with no interface), not refused.
func TestWakeIPv6OnlyLAN(t *testing.T) {
	var f fakeNet
	r := newTestRelay(t, &f, Options{})
	res := handle(t, r, CommandWake, WakeOrder{Machine: "pc", MAC: "aa:bb:cc:dd:ee:06", Host: "2001:db8:1::9", Count: 1})
	if !res.OK {
		t.Fatalf("refused: %s", res.Error)
	}
	if rep := wakeReport(t, res.Data); rep.Sent != 1 || rep.Steps[0].Target != "[2001:db8:1::9]:9" {
		t.Fatalf("report %+v", rep)
	}
}

// TestWakeLinkLocalHostKeepsZone: a link-local IPv6 host names its
// interface in its zone; without it the kernel cannot send the unicast
// (EINVAL on Linux).
func TestWakeLinkLocalHostKeepsZone(t *testing.T) {
	var f fakeNet
	r := newTestRelay(t, &f, Options{})
	res := handle(t, r, CommandWake, WakeOrder{Machine: "pc", MAC: "aa:bb:cc:dd:ee:0a", Host: "fe80::5%eth0", Count: 1})
	if !res.OK {
		t.Fatal(res.Error)
	}
	if rep := wakeReport(t, res.Data); len(rep.Steps) != 1 || rep.Steps[0].Target != "[fe80::5%eth0]:9" {
		t.Fatalf("report %+v, want one unicast to [fe80::5%%eth0]:9", rep)
	}
}

// TestWakeOrderIsValidated: the relay takes orders from the hub only, but
// an order it cannot read as the hub meant it must be refused, not carried
// out some other way: a broadcast address that does not parse is dropped
// by moonwake.PlanWake, and the packets go to the host's LAN instead.
func TestWakeOrderIsValidated(t *testing.T) {
	for _, o := range []WakeOrder{
		{Machine: "pc", MAC: "aa:bb:cc:dd:ee:07", Host: "192.168.1.42", Broadcast: "192.168.1.300", Count: 1},
		{Machine: "pc", MAC: "aa:bb:cc:dd:ee:07", Broadcast: "everywhere", Count: 1},
		{Machine: "", MAC: "aa:bb:cc:dd:ee:07", Host: "192.168.1.42", Count: 1},
		{Machine: "pc", MAC: "aa:bb:cc:dd:ee:07", Host: "192.168.1.42/24", Count: 1},
	} {
		var f fakeNet
		r := newTestRelay(t, &f, Options{})
		if res := handle(t, r, CommandWake, o); res.OK {
			t.Errorf("order %+v carried out: %s", o, res.Data)
		}
	}
}

// TestWakeSendFailures: packets that cannot be sent are in the steps, and
// the report says none went out (the hub fails the wake with the step's
// error).
func TestWakeSendFailures(t *testing.T) {
	f := fakeNet{writeErr: errors.New("network is unreachable")}
	r := newTestRelay(t, &f, Options{})
	res := handle(t, r, CommandWake, WakeOrder{Machine: "pc", MAC: "aa:bb:cc:dd:ee:08", Host: "192.168.1.42", Count: 2})
	if !res.OK {
		t.Fatal(res.Error)
	}
	rep := wakeReport(t, res.Data)
	if rep.Sent != 0 || len(rep.Steps) != 2 {
		t.Fatalf("report %+v", rep)
	}
	for _, s := range rep.Steps {
		if !strings.Contains(s.Error, "network is unreachable") || !strings.Contains(s.Error, s.Target) {
			t.Errorf("step %+v", s)
		}
	}
}

// TestWakeOrderRoundTrip: NewWakeOrder carries every field the relay
// needs to plan the packets, and nothing is lost over the wire.
func TestWakeOrderRoundTrip(t *testing.T) {
	m := &moonwake.Machine{Name: "pc", MAC: "aa:bb:cc:dd:ee:09", Password: "01:02:03:04", Host: "192.168.1.42",
		Interface: "eth0", Broadcast: "192.168.1.255", Port: 7, Relay: "lan-a", Tags: []string{"x"}}
	o := NewWakeOrder(m, 5)
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	var back WakeOrder
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back != o || back.Count != 5 {
		t.Fatalf("%+v → %s → %+v", o, b, back)
	}
	got := back.machine()
	want := &moonwake.Machine{Name: "pc", MAC: "aa:bb:cc:dd:ee:09", Password: "01:02:03:04", Host: "192.168.1.42",
		Interface: "eth0", Broadcast: "192.168.1.255", Port: 7}
	if fmt.Sprint(*got) != fmt.Sprint(*want) {
		t.Fatalf("machine %+v, want %+v", *got, *want)
	}
}

// TestProbeOrderTarget checks ProbeOrder.target, the validation of every
// probe order, and that NewProbeOrder's orders pass it unchanged.
func TestProbeOrderTarget(t *testing.T) {
	mac := net.HardwareAddr{0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x10}
	pt := probe.Target{Name: "pc", Host: "192.168.1.42", MAC: mac, Ports: []int{22, 47989}, ICMP: true,
		SunshinePort: 47989, SunshineID: "abc", Relay: "lan-a", IdleAfter: time.Minute}
	o := NewProbeOrder(pt)
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	var back ProbeOrder
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	got, err := back.target()
	if err != nil {
		t.Fatalf("target of %s: %v", b, err)
	}
	if got.Name != "pc" || got.Host != pt.Host || !bytes.Equal(got.MAC, mac) || !slices.Equal(got.Ports, pt.Ports) ||
		!got.ICMP || got.SunshinePort != 47989 || got.SunshineID != "abc" {
		t.Fatalf("target %+v from %s", got, b)
	}
	if got.Relay != "" || got.IdleAfter != 0 {
		t.Errorf("the relay's target carries the hub's routing and watching: %+v", got)
	}
	if o := NewProbeOrder(probe.Target{Name: "pc", Host: "pc.lan"}); o.MAC != "" {
		t.Errorf("no MAC: order %+v", o)
	}

	ports := func(n int) []int {
		p := make([]int, n)
		for i := range p {
			p[i] = i + 1
		}
		return p
	}
	for _, tc := range []struct {
		o  ProbeOrder
		ok bool
	}{
		{ProbeOrder{Machine: "pc", Host: "192.168.1.42"}, true},
		{ProbeOrder{Machine: "pc", Host: "pc.lan", Ports: ports(16), SunshinePort: 65535}, true},
		{ProbeOrder{Machine: "pc", Host: "::ffff:10.0.0.1", Ports: []int{1, 65535}, MAC: "AA-BB-CC-DD-EE-10"}, true},
		{ProbeOrder{Machine: "pc", Host: "192.168.1.42", Ports: ports(17)}, false},
		{ProbeOrder{Machine: "pc", Host: "192.168.1.42", Ports: []int{0}}, false},
		{ProbeOrder{Machine: "pc", Host: "192.168.1.42", Ports: []int{65536}}, false},
		{ProbeOrder{Machine: "pc", Host: "192.168.1.42", SunshinePort: -1}, false},
		{ProbeOrder{Machine: "pc", Host: "192.168.1.42", SunshinePort: 70000}, false},
		{ProbeOrder{Machine: "pc", Host: "192.168.1.42", MAC: "aa:bb"}, false},
		{ProbeOrder{Machine: "pc"}, false},
		{ProbeOrder{Host: "192.168.1.42"}, false},
		{ProbeOrder{Machine: "-pc", Host: "192.168.1.42"}, false},
		{ProbeOrder{Machine: strings.Repeat("a", 64), Host: "192.168.1.42"}, false},
	} {
		_, err := tc.o.target()
		if (err == nil) != tc.ok {
			t.Errorf("target of %+v: %v, want ok %v", tc.o, err, tc.ok)
		}
		if err != nil && moonwake.ErrorCode(err) != moonwake.EInvalid {
			t.Errorf("target of %+v: %v is not EInvalid", tc.o, err)
		}
	}
}

// TestProbeAnswersEvidence: a probe order is carried out by the prober
// and its evidence returned, also when nothing answers; the relay never
// derives a state itself.
func TestProbeAnswersEvidence(t *testing.T) {
	t.Run("nothing reachable", func(t *testing.T) {
		var f fakeNet
		r := newTestRelay(t, &f, Options{})
		res := handle(t, r, CommandProbe, ProbeOrder{Machine: "pc", Host: "192.168.1.42", Ports: []int{47989}, MAC: "aa:bb:cc:dd:ee:11"})
		if !res.OK {
			t.Fatal(res.Error)
		}
		var ev moonwake.Evidence
		if err := json.Unmarshal(res.Data, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Addr != "192.168.1.42" || len(ev.TCP) != 1 || ev.TCP[0].Port != 47989 || ev.TCP[0].Outcome == moonwake.OutcomeOpen ||
			ev.Neighbour == nil || ev.At.IsZero() {
			t.Fatalf("evidence %s", res.Data)
		}
	})
	t.Run("name that does not resolve", func(t *testing.T) {
		var f fakeNet
		r := newTestRelay(t, &f, Options{})
		res := handle(t, r, CommandProbe, ProbeOrder{Machine: "pc", Host: "pc.invalid", Ports: []int{22}})
		var ev moonwake.Evidence
		if !res.OK || json.Unmarshal(res.Data, &ev) != nil || !strings.Contains(ev.Error, "resolve pc.invalid") || len(ev.TCP) != 0 {
			t.Fatalf("answer %+v, evidence %+v", res, ev)
		}
	})
	t.Run("loopback", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
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
		closed, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		closedPort := closed.Addr().(*net.TCPAddr).Port
		closed.Close()
		// Loopback only: no ICMP, no MAC (so no neighbour solicitation), no DNS.
		p := probe.NewProber(probe.ProberOptions{Timeout: time.Second, Resolver: noDNS})
		defer p.Close()
		var f fakeNet
		r := newTestRelay(t, &f, Options{Prober: p})
		open := ln.Addr().(*net.TCPAddr).Port
		res := handle(t, r, CommandProbe, ProbeOrder{Machine: "pc", Host: "127.0.0.1", Ports: []int{open, closedPort}})
		var ev moonwake.Evidence
		if !res.OK || json.Unmarshal(res.Data, &ev) != nil || len(ev.TCP) != 2 {
			t.Fatalf("answer %+v", res)
		}
		if ev.TCP[0].Port != open || ev.TCP[0].Outcome != moonwake.OutcomeOpen {
			t.Errorf("port %d: %+v", open, ev.TCP[0])
		}
		if ev.TCP[1].Port != closedPort || ev.TCP[1].Outcome != moonwake.OutcomeRefused {
			t.Errorf("port %d: %+v", closedPort, ev.TCP[1])
		}
		if ev.Agent != nil || ev.Sunshine != nil || ev.ICMP != nil {
			t.Errorf("evidence %s", res.Data)
		}
	})
}

// TestReportNetworks: the networks a relay reports are those it is given,
// or else the subnets of its interfaces that are up, without loopback,
// link-local (IPv4 and IPv6) and interfaces that are down, masked.
func TestReportNetworks(t *testing.T) {
	t.Run("explicit", func(t *testing.T) {
		var f fakeNet
		r := newTestRelay(t, &f, Options{Software: "moonwake 1.2.3",
			Networks: []netip.Prefix{netip.MustParsePrefix("192.168.50.0/24"), netip.MustParsePrefix("2001:db8::/48")},
			Interfaces: func() ([]wol.Iface, error) {
				t.Error("the interfaces were listed though the networks were given")
				return nil, nil
			}})
		rep := r.Report(context.Background())
		if want := []string{"192.168.50.0/24", "2001:db8::/48"}; !slices.Equal(rep.Networks, want) {
			t.Errorf("networks %q, want %q", rep.Networks, want)
		}
		if rep.Software != "moonwake 1.2.3" || len(rep.Errors) != 0 {
			t.Errorf("report %+v", rep)
		}
		if h, _ := os.Hostname(); rep.Hostname != h {
			t.Errorf("hostname %q, want %q", rep.Hostname, h)
		}
	})
	t.Run("explicitly none", func(t *testing.T) {
		var f fakeNet
		r := newTestRelay(t, &f, Options{Networks: []netip.Prefix{}})
		if rep := r.Report(context.Background()); len(rep.Networks) != 0 || len(rep.Errors) != 0 {
			t.Errorf("report %+v", rep)
		}
	})
	t.Run("from the interfaces", func(t *testing.T) {
		var f fakeNet
		r := newTestRelay(t, &f, Options{})
		rep := r.Report(context.Background())
		want := []string{"192.168.1.0/24", "10.20.0.0/16", "2001:db8:1::/64", "10.99.0.0/24"}
		if !slices.Equal(rep.Networks, want) {
			t.Errorf("networks %q, want %q", rep.Networks, want)
		}
	})
	t.Run("a k3s node's virtual interfaces are not LANs", func(t *testing.T) {
		var f fakeNet
		ifs := []wol.Iface{
			{Name: "eth0", Up: true, Broadcast: true, Prefixes: []netip.Prefix{netip.MustParsePrefix("192.168.1.10/24")}},
			{Name: "cni0", Up: true, Broadcast: true, Prefixes: []netip.Prefix{netip.MustParsePrefix("10.42.0.1/24")}},
			{Name: "flannel.1", Up: true, Prefixes: []netip.Prefix{netip.MustParsePrefix("10.42.0.0/32")}},
			{Name: "docker0", Up: true, Broadcast: true, Prefixes: []netip.Prefix{netip.MustParsePrefix("172.17.0.1/16")}},
			{Name: "veth1a2b3c", Up: true, Broadcast: true, Prefixes: []netip.Prefix{netip.MustParsePrefix("10.42.0.5/24")}},
		}
		r := newTestRelay(t, &f, Options{Interfaces: func() ([]wol.Iface, error) { return ifs, nil }})
		if got := r.Report(context.Background()).Networks; !slices.Equal(got, []string{"192.168.1.0/24"}) {
			t.Errorf("networks %q, want only the LAN's", got)
		}
	})
	t.Run("interfaces fail", func(t *testing.T) {
		var f fakeNet
		r := newTestRelay(t, &f, Options{Interfaces: func() ([]wol.Iface, error) { return nil, errors.New("netlink: boom") }})
		rep := r.Report(context.Background())
		if len(rep.Networks) != 0 || !slices.Equal(rep.Errors, []string{"networks: netlink: boom"}) {
			t.Errorf("report %+v", rep)
		}
	})
}

// TestHealth: /healthz answers while the process lives, /readyz only while
// the uplink is up.
func TestHealth(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var f fakeNet
	r := newTestRelay(t, &f, Options{})
	stop, err := r.serveHealth(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	get := func(path string) int {
		t.Helper()
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := get("/healthz"); got != 200 {
		t.Errorf("/healthz: %d", got)
	}
	if got := get("/readyz"); got != 503 {
		t.Errorf("/readyz with the uplink down: %d", got)
	}
	r.up.Store(true)
	if got := get("/readyz"); got != 200 {
		t.Errorf("/readyz with the uplink up: %d", got)
	}
	if _, err := r.serveHealth(addr); err == nil || !strings.Contains(err.Error(), "health listener") {
		t.Errorf("second listener on %s: %v", addr, err)
	}
}
