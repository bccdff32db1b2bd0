package lan

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/probe"
)

func mac(s string) net.HardwareAddr { m, _ := net.ParseMAC(s); return m }

func TestPick(t *testing.T) {
	ns := []probe.Neighbour{
		{IP: netip.MustParseAddr("192.0.2.20"), MAC: mac("d8:bb:c1:00:00:20"), Ifindex: 1, State: probe.NUDStale},
		{IP: netip.MustParseAddr("2001:db8::10"), MAC: mac("d8:bb:c1:00:00:10"), Ifindex: 1, State: probe.NUDStale}, // the same device
		{IP: netip.MustParseAddr("192.0.2.10"), MAC: mac("d8:bb:c1:00:00:10"), Ifindex: 1, State: probe.NUDReachable},
		{IP: netip.MustParseAddr("192.0.2.11"), Ifindex: 1, State: probe.NUDIncomplete},
		{IP: netip.MustParseAddr("192.0.2.12"), MAC: mac("d8:bb:c1:00:00:12"), Ifindex: 1, State: probe.NUDFailed},
		{IP: netip.MustParseAddr("224.0.0.251"), MAC: mac("01:00:5e:00:00:fb"), Ifindex: 1, State: probe.NUDNoARP},
		{IP: netip.MustParseAddr("192.0.2.255"), MAC: mac("ff:ff:ff:ff:ff:ff"), Ifindex: 1, State: probe.NUDPermanent},
		{IP: netip.MustParseAddr("192.0.2.13"), MAC: mac("00:00:00:00:00:00"), Ifindex: 1, State: probe.NUDReachable},
		{IP: netip.MustParseAddr("fe80::30"), MAC: mac("d8:bb:c1:00:00:30"), Ifindex: 1, State: probe.NUDReachable}, // link-local only
		{IP: netip.MustParseAddr("2001:db8::40"), MAC: mac("d8:bb:c1:00:00:40"), Ifindex: 2, State: probe.NUDDelay},
	}
	var got []string
	for _, d := range Pick(ns, 10) {
		got = append(got, d.IP.String()+" "+d.MAC.String())
	}
	want := []string{"192.0.2.10 d8:bb:c1:00:00:10", "192.0.2.20 d8:bb:c1:00:00:20", "2001:db8::40 d8:bb:c1:00:00:40"}
	if !slices.Equal(got, want) {
		t.Errorf("Pick = %q, want %q", got, want)
	}
	if n := len(Pick(ns, 1)); n != 1 {
		t.Errorf("Pick(ns, 1) kept %d", n)
	}
}

func TestMachineName(t *testing.T) {
	for in, want := range map[string]string{
		"gaming-pc.lan.":        "gaming-pc",
		"Gaming_PC":             "gaming_pc",
		"DESKTOP-AB12CD.fritz.": "desktop-ab12cd",
		"--x--.example":         "x",
		"émile.lan":             "mile",
		"...":                   "",
		"":                      "",
		strings.Repeat("a", 90): strings.Repeat("a", 63),
	} {
		if got := MachineName(in); got != want {
			t.Errorf("MachineName(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzMachineName(f *testing.F) {
	f.Add("gaming-pc.lan.")
	f.Add("é.x")
	f.Fuzz(func(t *testing.T, s string) {
		if n := MachineName(s); n != "" && !moonwake.ValidName(n) {
			t.Fatalf("MachineName(%q) = %q, not a valid name", s, n)
		}
	})
}

func TestReverseName(t *testing.T) {
	if n, ok := ReverseName(netip.MustParseAddr("192.168.1.4")); !ok || n != "4.1.168.192.in-addr.arpa." {
		t.Errorf("ReverseName = %q, %v", n, ok)
	}
	if _, ok := ReverseName(netip.MustParseAddr("2001:db8::1")); ok {
		t.Error("an IPv6 address has an in-addr.arpa name")
	}
}

// response builds an mDNS response as a responder would send it.
func response(t testing.TB, records ...dnsmessage.Resource) []byte {
	t.Helper()
	msg := dnsmessage.Message{Header: dnsmessage.Header{Response: true, Authoritative: true}, Answers: records}
	b, err := msg.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ptr(name, target string, class dnsmessage.Class) dnsmessage.Resource {
	return dnsmessage.Resource{
		Header: dnsmessage.ResourceHeader{Name: dnsmessage.MustNewName(name), Type: dnsmessage.TypePTR, Class: class, TTL: 120},
		Body:   &dnsmessage.PTRResource{PTR: dnsmessage.MustNewName(target)},
	}
}

func TestMDNSQuery(t *testing.T) {
	q, err := MDNSQuery(netip.MustParseAddr("192.168.1.4"), netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("10.0.0.7"))
	if err != nil {
		t.Fatal(err)
	}
	var m dnsmessage.Message
	if err := m.Unpack(q); err != nil {
		t.Fatal(err)
	}
	if m.Header.ID != 0 || m.Header.Response || len(m.Questions) != 2 {
		t.Fatalf("query %+v", m)
	}
	for i, want := range []string{"4.1.168.192.in-addr.arpa.", "7.0.0.10.in-addr.arpa."} {
		q := m.Questions[i]
		if q.Name.String() != want || q.Type != dnsmessage.TypePTR || q.Class != dnsmessage.ClassINET|unicastResponse {
			t.Errorf("question %d: %v", i, q)
		}
	}
	if _, err := MDNSQuery(netip.MustParseAddr("2001:db8::1")); err == nil {
		t.Error("a query with no IPv4 address was built")
	}
}

func TestParseMDNSResponse(t *testing.T) {
	// An answer with the cache-flush bit, an A record to skip, an
	// implausible target, and a name in capitals.
	a := dnsmessage.Resource{
		Header: dnsmessage.ResourceHeader{Name: dnsmessage.MustNewName("gaming-pc.local."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, TTL: 120},
		Body:   &dnsmessage.AResource{A: [4]byte{192, 168, 1, 4}},
	}
	b := response(t,
		ptr("4.1.168.192.in-addr.arpa.", "gaming-pc.local.", dnsmessage.ClassINET|unicastResponse),
		a,
		ptr("5.1.168.192.in-addr.arpa.", "a\\ b.local.", dnsmessage.ClassINET),
		ptr("6.1.168.192.IN-ADDR.ARPA.", "NAS.local.", dnsmessage.ClassINET),
		ptr("7.1.168.192.in-addr.arpa.", "chaos.local.", dnsmessage.ClassCHAOS),
	)
	got, err := ParseMDNSResponse(b)
	if err != nil {
		t.Fatal(err)
	}
	want := []PTR{{"4.1.168.192.in-addr.arpa.", "gaming-pc.local"}, {"6.1.168.192.in-addr.arpa.", "NAS.local"}}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	q, _ := MDNSQuery(netip.MustParseAddr("192.168.1.4"))
	if _, err := ParseMDNSResponse(q); err == nil {
		t.Error("a query parsed as a response")
	}
	if _, err := ParseMDNSResponse(b[:20]); err == nil {
		t.Error("a truncated response parsed")
	}
}

func FuzzParseMDNSResponse(f *testing.F) {
	f.Add(response(f, ptr("4.1.168.192.in-addr.arpa.", "gaming-pc.local.", dnsmessage.ClassINET|unicastResponse)))
	q, _ := MDNSQuery(netip.MustParseAddr("192.168.1.4"))
	f.Add(q)
	f.Fuzz(func(t *testing.T, b []byte) {
		ptrs, _ := ParseMDNSResponse(b)
		if len(ptrs) > maxMDNSRecords {
			t.Fatalf("%d records", len(ptrs))
		}
		for _, p := range ptrs {
			if !plausibleHost(p.Target) || p.Name != strings.ToLower(p.Name) {
				t.Fatalf("record %q", p)
			}
		}
	})
}

func TestSweepAddrs(t *testing.T) {
	for in, want := range map[string]int{"10.0.0.0/24": 254, "10.0.0.0/22": 1022, "10.0.0.5/30": 2, "10.0.0.4/31": 2, "10.0.0.4/32": 1} {
		got, err := SweepAddrs(netip.MustParsePrefix(in))
		if err != nil || len(got) != want {
			t.Errorf("SweepAddrs(%s): %d addresses, %v; want %d", in, len(got), err, want)
		}
	}
	got, _ := SweepAddrs(netip.MustParsePrefix("10.0.1.77/24"))
	if got[0] != netip.MustParseAddr("10.0.1.1") || got[len(got)-1] != netip.MustParseAddr("10.0.1.254") {
		t.Errorf("first %s, last %s", got[0], got[len(got)-1])
	}
	for _, in := range []string{"10.0.0.0/21", "2001:db8::/120", "0.0.0.0/0"} {
		if _, err := SweepAddrs(netip.MustParsePrefix(in)); err == nil {
			t.Errorf("SweepAddrs(%s) did not refuse", in)
		}
	}
}

func TestSweepRate(t *testing.T) {
	addrs, _ := SweepAddrs(netip.MustParsePrefix("10.0.0.0/28")) // 14
	var sent []netip.Addr
	start := time.Now()
	n, err := Sweep(t.Context(), addrs, 100, func(a netip.Addr) error { sent = append(sent, a); return nil })
	took := time.Since(start)
	if err != nil || n != 14 || !slices.Equal(sent, addrs) {
		t.Fatalf("swept %d, %v", n, err)
	}
	if took < 120*time.Millisecond {
		t.Errorf("14 addresses at 100 a second took %s", took)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if n, err := Sweep(ctx, addrs, 100, func(netip.Addr) error { return nil }); n != 1 || err == nil {
		t.Errorf("a cancelled sweep sent %d, %v", n, err)
	}
}

func TestNamer(t *testing.T) {
	ds := []Device{
		{IP: netip.MustParseAddr("192.0.2.10"), Ifindex: 2},
		{IP: netip.MustParseAddr("192.0.2.11"), Ifindex: 2},
		{IP: netip.MustParseAddr("192.0.2.12"), Ifindex: 3},
		{IP: netip.MustParseAddr("2001:db8::1"), Ifindex: 3},
	}
	n := Namer{
		Timeout: 300 * time.Millisecond,
		LookupAddr: func(ctx context.Context, addr string) ([]string, error) {
			switch addr {
			case "192.0.2.10":
				return []string{"gaming-pc.home.lan."}, nil
			case "192.0.2.12":
				<-ctx.Done() // too slow: left out
				return nil, ctx.Err()
			}
			return nil, &net.DNSError{Err: "no such host", IsNotFound: true}
		},
		MDNS: func(ctx context.Context, ifindex int, addrs []netip.Addr) (map[netip.Addr]string, error) {
			return map[netip.Addr]string{netip.MustParseAddr("192.0.2.10"): "gaming-pc.local.", netip.MustParseAddr("192.0.2.12"): "nas.local"}, nil
		},
	}
	start := time.Now()
	n.Name(t.Context(), ds)
	if took := time.Since(start); took > time.Second {
		t.Errorf("naming took %s", took)
	}
	got := [][]string{ds[0].Names, ds[1].Names, ds[2].Names, ds[3].Names}
	want := [][]string{{"gaming-pc.home.lan", "gaming-pc.local"}, nil, {"nas.local"}, nil}
	for i := range want {
		if !slices.Equal(got[i], want[i]) {
			t.Errorf("device %d: names %q, want %q", i, got[i], want[i])
		}
	}
}
