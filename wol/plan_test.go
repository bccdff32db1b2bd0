package wol_test

import (
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moonwake/moonwake/wol"
)

func TestDirectedBroadcast(t *testing.T) {
	tests := []struct {
		prefix string
		want   string // "" means none
	}{
		{"192.168.1.10/24", "192.168.1.255"},
		{"192.168.1.0/24", "192.168.1.255"},
		{"192.168.1.255/24", "192.168.1.255"},
		{"10.1.2.3/16", "10.1.255.255"},
		{"10.1.2.3/8", "10.255.255.255"},
		{"172.16.5.1/12", "172.31.255.255"},
		{"10.0.0.5/30", "10.0.0.7"},
		{"10.0.0.9/29", "10.0.0.15"},
		{"10.0.0.4/31", ""}, // RFC 3021 point-to-point: no broadcast
		{"10.0.0.4/32", ""},
		{"127.0.0.1/8", "127.255.255.255"},
		// The all-ones address of 0.0.0.0/0 (or of a class E /24) is the
		// limited broadcast, which leaves by whichever interface the route
		// picks: never a directed broadcast.
		{"0.0.0.0/0", ""},
		{"10.0.0.1/0", ""},
		{"255.255.255.0/24", ""},
		{"fe80::1/64", ""},
		{"2001:db8::1/64", ""},
		{"::ffff:10.0.0.1/120", ""}, // IPv4-mapped: Interfaces unmaps before this
		{"::/0", ""},
	}
	for _, tt := range tests {
		got, ok := wol.DirectedBroadcast(netip.MustParsePrefix(tt.prefix))
		if tt.want == "" {
			if ok {
				t.Errorf("DirectedBroadcast(%s) = %s, want none", tt.prefix, got)
			}
			continue
		}
		if !ok || got != netip.MustParseAddr(tt.want) {
			t.Errorf("DirectedBroadcast(%s) = %s, %v, want %s", tt.prefix, got, ok, tt.want)
		}
	}
	if got, ok := wol.DirectedBroadcast(netip.Prefix{}); ok {
		t.Errorf("DirectedBroadcast(invalid) = %s", got)
	}
}

// fakeIfaces is a host with every kind of interface Plan must tell apart.
func fakeIfaces() []wol.Iface {
	p := netip.MustParsePrefix
	return []wol.Iface{
		{Name: "lo", Up: true, Loopback: true, Prefixes: []netip.Prefix{p("127.0.0.1/8"), p("::1/128")}},
		{Name: "eth0", Up: true, Broadcast: true, HardwareAddr: net.HardwareAddr{2, 0, 0, 0, 0, 1},
			Prefixes: []netip.Prefix{p("192.168.1.10/24"), p("fe80::1/64")}},
		// Multi-homed: two IPv4 subnets on one link.
		{Name: "eth1", Up: true, Broadcast: true, HardwareAddr: net.HardwareAddr{2, 0, 0, 0, 0, 2},
			Prefixes: []netip.Prefix{p("10.0.0.5/16"), p("172.16.5.1/24"), p("fd00::5/64")}},
		// A tunnel: no broadcast capability.
		{Name: "wg0", Up: true, Prefixes: []netip.Prefix{p("10.9.0.1/24")}},
		{Name: "v6only", Up: true, Broadcast: true, HardwareAddr: net.HardwareAddr{2, 0, 0, 0, 0, 3},
			Prefixes: []netip.Prefix{p("fe80::3/64"), p("2001:db8::3/64")}},
		{Name: "down0", Broadcast: true, HardwareAddr: net.HardwareAddr{2, 0, 0, 0, 0, 4},
			Prefixes: []netip.Prefix{p("192.168.99.1/24")}},
		{Name: "p2p", Up: true, Broadcast: true, Prefixes: []netip.Prefix{p("100.64.0.0/31"), p("100.64.1.1/32")}},
		// A misconfigured default-route prefix: its all-ones address is
		// 255.255.255.255, which Plan must never pick on its own.
		{Name: "weird", Up: true, Broadcast: true, Prefixes: []netip.Prefix{p("10.200.0.1/0")}},
		{Name: "nobcast", Up: true, Prefixes: []netip.Prefix{p("192.168.50.1/24")}},
	}
}

func TestPlan(t *testing.T) {
	a := netip.MustParseAddr
	tests := []struct {
		name    string
		o       wol.Options
		ifs     []wol.Iface // nil: fakeIfaces()
		want    []string    // Target.String of each, with via "raw:" prefixed for raw
		wantErr string      // substring of the error
	}{
		{
			name: "default is every up broadcast-capable non-loopback subnet",
			o:    wol.Options{},
			want: []string{"192.168.1.255:9", "10.0.255.255:9", "172.16.5.255:9"},
		},
		{
			name: "default with port 7",
			o:    wol.Options{Port: 7},
			want: []string{"192.168.1.255:7", "10.0.255.255:7", "172.16.5.255:7"},
		},
		{
			name:    "default with nothing usable",
			o:       wol.Options{},
			ifs:     []wol.Iface{fakeIfaces()[0], fakeIfaces()[3], fakeIfaces()[5]},
			wantErr: "no interface",
		},
		{
			name:    "default with no interfaces",
			o:       wol.Options{},
			ifs:     []wol.Iface{},
			wantErr: "no interface",
		},
		{
			name: "interface broadcast",
			o:    wol.Options{Interface: "eth0"},
			want: []string{"192.168.1.255:9"},
		},
		{
			name: "multi-homed interface gets both subnets",
			o:    wol.Options{Interface: "eth1", Port: 47009},
			want: []string{"10.0.255.255:47009", "172.16.5.255:47009"},
		},
		{
			name: "an interface is used even without the broadcast flag",
			o:    wol.Options{Interface: "nobcast"},
			want: []string{"192.168.50.255:9"},
		},
		{
			name:    "interface with no IPv4",
			o:       wol.Options{Interface: "v6only"},
			wantErr: "no IPv4 subnet",
		},
		{
			name:    "interface with only /31 and /32",
			o:       wol.Options{Interface: "p2p"},
			wantErr: "no IPv4 subnet",
		},
		{
			name:    "interface whose only broadcast would be 255.255.255.255",
			o:       wol.Options{Interface: "weird"},
			wantErr: "no IPv4 subnet",
		},
		{
			name: "ipv6 only interface with ipv6",
			o:    wol.Options{Interface: "v6only", IPv6: true},
			want: []string{"[ff02::1%v6only]:9"},
		},
		{
			name: "ipv6 adds ff02::1 with the zone",
			o:    wol.Options{Interface: "eth0", IPv6: true},
			want: []string{"192.168.1.255:9", "[ff02::1%eth0]:9"},
		},
		{
			name:    "ipv6 needs an interface",
			o:       wol.Options{IPv6: true},
			wantErr: "needs an interface",
		},
		{
			name: "explicit broadcast",
			o:    wol.Options{Broadcast: a("10.1.2.255")},
			want: []string{"10.1.2.255:9"},
		},
		{
			name: "explicit broadcast wins over the interface's",
			o:    wol.Options{Broadcast: a("10.1.2.255"), Interface: "eth0", Port: 7},
			want: []string{"10.1.2.255:7"},
		},
		{
			name: "explicit broadcast with an interface and ipv6",
			o:    wol.Options{Broadcast: a("10.1.2.255"), Interface: "eth0", IPv6: true},
			want: []string{"10.1.2.255:9", "[ff02::1%eth0]:9"},
		},
		{
			name: "explicit broadcast, IPv4-mapped",
			o:    wol.Options{Broadcast: a("::ffff:10.1.2.255")},
			want: []string{"10.1.2.255:9"},
		},
		{
			name: "255.255.255.255 only when asked for",
			o:    wol.Options{Broadcast: a("255.255.255.255")},
			want: []string{"255.255.255.255:9"},
		},
		{
			name: "explicit broadcast needs no interfaces",
			o:    wol.Options{Broadcast: a("127.0.0.1"), Port: 4000},
			ifs:  []wol.Iface{},
			want: []string{"127.0.0.1:4000"},
		},
		{
			name: "unicast alone",
			o:    wol.Options{Unicast: []netip.Addr{a("192.168.1.20"), a("2001:db8::20")}},
			want: []string{"192.168.1.20:9", "[2001:db8::20]:9"},
		},
		{
			name: "unicast with an interface, deduplicated",
			o:    wol.Options{Interface: "eth0", Unicast: []netip.Addr{a("192.168.1.20"), a("::ffff:192.168.1.20"), a("192.168.1.255")}},
			want: []string{"192.168.1.255:9", "192.168.1.20:9"},
		},
		{
			name: "raw",
			o:    wol.Options{Raw: true, Interface: "eth0"},
			want: []string{"raw:eth0"},
		},
		{
			name: "raw ignores addresses",
			o:    wol.Options{Raw: true, Interface: "v6only", Broadcast: a("10.1.2.255"), IPv6: true, Port: 7},
			want: []string{"raw:v6only"},
		},
		{
			name:    "raw needs an interface",
			o:       wol.Options{Raw: true},
			wantErr: "needs an interface",
		},
		{
			name:    "raw on a down interface",
			o:       wol.Options{Raw: true, Interface: "down0"},
			wantErr: "down",
		},
		{
			name:    "raw on an unknown interface",
			o:       wol.Options{Raw: true, Interface: "eth9"},
			wantErr: `"eth9"`,
		},
		{
			name:    "down interface",
			o:       wol.Options{Interface: "down0"},
			wantErr: "down",
		},
		{
			name:    "down interface even with a broadcast",
			o:       wol.Options{Interface: "down0", Broadcast: a("192.168.99.255")},
			wantErr: "down",
		},
		{
			name:    "unknown interface",
			o:       wol.Options{Interface: "eth9"},
			wantErr: `"eth9"`,
		},
		{
			name:    "negative port",
			o:       wol.Options{Interface: "eth0", Port: -1},
			wantErr: "port",
		},
		{
			name:    "port too big",
			o:       wol.Options{Interface: "eth0", Port: 65536},
			wantErr: "port",
		},
		{
			name: "port 65535",
			o:    wol.Options{Interface: "eth0", Port: 65535},
			want: []string{"192.168.1.255:65535"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ifs := tt.ifs
			if ifs == nil {
				ifs = fakeIfaces()
			}
			got, err := wol.Plan(tt.o, ifs)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Plan = %v, %v; want an error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, tg := range got {
				switch tg.Via {
				case wol.ViaRaw:
					names = append(names, "raw:"+tg.String())
					if tg.Addr.IsValid() {
						t.Errorf("raw target %v has an address", tg)
					}
				case wol.ViaUDP:
					names = append(names, tg.String())
					if tg.Interface != "" {
						t.Errorf("UDP target %v names an interface", tg)
					}
				default:
					t.Errorf("target %v: via %q", tg, tg.Via)
				}
			}
			if !slices.Equal(names, tt.want) {
				t.Errorf("Plan = %q, want %q", names, tt.want)
			}
		})
	}
}

// TestPlanNeverLimitedBroadcast checks the promise of the package doc on
// every combination of options that does not ask for it.
func TestPlanNeverLimitedBroadcast(t *testing.T) {
	limited := netip.MustParseAddr("255.255.255.255")
	for _, ifc := range append(fakeIfaces(), wol.Iface{}) {
		for _, ipv6 := range []bool{false, true} {
			for _, port := range []int{0, 7} {
				o := wol.Options{Interface: ifc.Name, IPv6: ipv6, Port: port}
				targets, _ := wol.Plan(o, fakeIfaces())
				for _, tg := range targets {
					if tg.Addr.Addr() == limited {
						t.Errorf("Plan(%+v) sends to %v", o, tg)
					}
				}
			}
		}
	}
}

func TestTargetString(t *testing.T) {
	tests := []struct {
		t    wol.Target
		want string
	}{
		{wol.Target{Via: wol.ViaUDP, Addr: netip.MustParseAddrPort("10.0.0.255:9")}, "10.0.0.255:9"},
		{wol.Target{Via: wol.ViaUDP, Addr: netip.AddrPortFrom(wol.IPv6AllNodes.WithZone("eth0"), 9)}, "[ff02::1%eth0]:9"},
		{wol.Target{Via: wol.ViaRaw, Interface: "eth0"}, "eth0"},
	}
	for _, tt := range tests {
		if got := tt.t.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}

func TestParseAddr(t *testing.T) {
	if a, err := wol.ParseAddr("192.168.1.255"); err != nil || a != netip.MustParseAddr("192.168.1.255") {
		t.Errorf("ParseAddr = %v, %v", a, err)
	}
	if a, err := wol.ParseAddr("ff02::1"); err != nil || a != wol.IPv6AllNodes {
		t.Errorf("ParseAddr = %v, %v", a, err)
	}
	for _, bad := range []string{"", "192.168.1", "192.168.1.0/24", "host.example", "192.168.1.255:9"} {
		if _, err := wol.ParseAddr(bad); err == nil || !strings.Contains(err.Error(), "not an IP address") {
			t.Errorf("ParseAddr(%q): %v", bad, err)
		}
	}
}

// TestInterfaces only reads the host's interfaces (nothing is sent): the
// loopback interface must be found and flagged, as Plan relies on it.
func TestInterfaces(t *testing.T) {
	ifs, err := wol.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	var lo *wol.Iface
	for i := range ifs {
		if ifs[i].Loopback {
			lo = &ifs[i]
		}
	}
	if lo == nil {
		t.Fatalf("no loopback interface in %+v", ifs)
	}
	if !lo.Up || !slices.Contains(lo.Prefixes, netip.MustParsePrefix("127.0.0.1/8")) {
		t.Errorf("loopback = %+v", *lo)
	}
	for _, p := range lo.Prefixes {
		if p.Addr().Is4In6() {
			t.Errorf("prefix %s is IPv4-mapped: Interfaces must unmap", p)
		}
	}

	c := wol.InterfaceCache{TTL: time.Hour}
	first, err := c.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	second, err := c.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	if len(first) == 0 || &first[0] != &second[0] {
		t.Error("InterfaceCache listed the interfaces again within its TTL")
	}
	var fresh wol.InterfaceCache // TTL 0: always fresh
	first, _ = fresh.Interfaces()
	second, _ = fresh.Interfaces()
	if len(first) == 0 || &first[0] == &second[0] {
		t.Error("InterfaceCache with TTL 0 returned a cached list")
	}
}
