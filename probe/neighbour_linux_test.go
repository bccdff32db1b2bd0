//go:build linux

package probe

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/jsimonetti/rtnetlink/v2"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/moonwake/moonwake/internal/testlan"
)

// The .bin fixtures are what a Linux 6.18 kernel answered on a testlan
// host (10.77.37.11 on eth0, ifindex 2) after probes of 10.77.37.12 (up),
// .200 and .201 (nobody), with a permanent entry and an IPv6 one added by
// hand (the kernel adds loopback's and a multicast one). They were taken
// with the hand-written parser this package had before rtnetlink, and the
// expectations are that parser's: the library's decoding, with
// neighbourFrom and routeFrom on top, must give the same entries. Netlink
// is in the host's byte order: they were taken little-endian.
func fixture(t testing.TB, name string) []syscall.NetlinkMessage {
	t.Helper()
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("netlink fixtures are little-endian")
	}
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := syscall.ParseNetlinkMessage(b)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

// neighbours decodes every RTM_NEWNEIGH message of a fixture.
func neighbours(t *testing.T, name string) []Neighbour {
	t.Helper()
	var out []Neighbour
	for _, m := range fixture(t, name) {
		if m.Header.Type != unix.RTM_NEWNEIGH {
			continue
		}
		var nm rtnetlink.NeighMessage
		if err := nm.UnmarshalBinary(m.Data); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		n, err := neighbourFrom(&nm)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out = append(out, n)
	}
	return out
}

func TestNeighbourFromKernelAnswers(t *testing.T) {
	// Two dumps, IPv4 then IPv6, each ending with NLMSG_DONE.
	want := []string{
		"10.99.0.7 02:aa:bb:cc:dd:ee 2 permanent",
		"10.77.37.200  2 failed",
		"10.77.37.201  2 failed",
		"0.0.0.0 00:00:00:00:00:00 1 noarp", // lo
		"10.77.37.12 02:77:7c:60:2e:02 2 reachable",
		"fd00::7 02:aa:bb:cc:dd:ef 2 stale",
		"ff02::16 33:33:00:00:00:16 2 noarp", // MLDv2 routers, multicast
	}
	var lines []string
	for _, n := range neighbours(t, "neigh-dump.bin") {
		lines = append(lines, strings.Join([]string{n.IP.String(), n.MAC.String(), strconv.Itoa(n.Ifindex), n.State.String()}, " "))
		if n.State.Unresolved() != (n.State == NUDFailed) {
			t.Errorf("%s: Unresolved() = %v", n.State, n.State.Unresolved())
		}
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}

	got := neighbours(t, "neigh-get.bin")
	if len(got) != 1 || got[0].IP != netip.MustParseAddr("10.77.37.12") || got[0].State != NUDReachable ||
		got[0].MAC.String() != "02:77:7c:60:2e:02" || got[0].Ifindex != 2 {
		t.Fatalf("get: %+v", got)
	}
}

func TestRouteFromKernelAnswers(t *testing.T) {
	tests := []struct {
		file string
		want route
	}{
		{"route-onlink.bin", route{Type: unix.RTN_UNICAST, Ifindex: 2, PrefSrc: netip.MustParseAddr("10.77.37.11")}},
		{"route-local.bin", route{Type: unix.RTN_LOCAL, Ifindex: 1, PrefSrc: netip.MustParseAddr("10.77.37.11")}},
		{"route-gateway.bin", route{Type: unix.RTN_UNICAST, Ifindex: 2, Gateway: netip.MustParseAddr("10.77.37.12"), PrefSrc: netip.MustParseAddr("10.77.37.11")}},
	}
	for _, tt := range tests {
		msgs := fixture(t, tt.file)
		if len(msgs) != 1 || msgs[0].Header.Type != unix.RTM_NEWROUTE {
			t.Fatalf("%s: %+v", tt.file, msgs)
		}
		var rm rtnetlink.RouteMessage
		if err := rm.UnmarshalBinary(msgs[0].Data); err != nil {
			t.Fatalf("%s: %v", tt.file, err)
		}
		if r := routeFrom(&rm); r != tt.want {
			t.Errorf("%s: %+v; want %+v", tt.file, r, tt.want)
		}
	}
}

// Entries the kernel would never send are errors, and what cannot be a
// MAC is left out.
func TestNeighbourFromChecks(t *testing.T) {
	ip4 := net.IP{10, 0, 0, 5}
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	msg := func(fam uint16, a *rtnetlink.NeighAttributes) *rtnetlink.NeighMessage {
		return &rtnetlink.NeighMessage{Family: fam, Index: 3, State: uint16(NUDStale), Attributes: a}
	}
	n, err := neighbourFrom(msg(unix.AF_INET, &rtnetlink.NeighAttributes{Address: ip4, LLAddress: mac}))
	if err != nil || n.IP.String() != "10.0.0.5" || n.MAC.String() != mac.String() || n.Ifindex != 3 || n.State != NUDStale {
		t.Fatalf("%+v, %v", n, err)
	}
	if n, err := neighbourFrom(msg(unix.AF_INET, &rtnetlink.NeighAttributes{Address: ip4, LLAddress: make([]byte, 21)})); err != nil || n.MAC != nil {
		t.Errorf("21-byte link-layer address: %+v, %v", n, err)
	}
	bad := map[string]*rtnetlink.NeighMessage{
		"no attributes":   msg(unix.AF_INET, nil),
		"no address":      msg(unix.AF_INET, &rtnetlink.NeighAttributes{LLAddress: mac}),
		"short address":   msg(unix.AF_INET, &rtnetlink.NeighAttributes{Address: ip4[:3]}),
		"family mismatch": msg(unix.AF_INET6, &rtnetlink.NeighAttributes{Address: ip4}),
		"v6 as v4":        msg(unix.AF_INET, &rtnetlink.NeighAttributes{Address: net.ParseIP("fd00::1")}),
	}
	for name, m := range bad {
		if n, err := neighbourFrom(m); err == nil {
			t.Errorf("%s: %+v, want an error", name, n)
		}
	}

	// Routes: a next hop of another family, or several, are off the link.
	r := routeFrom(&rtnetlink.RouteMessage{Type: unix.RTN_UNICAST, Attributes: rtnetlink.RouteAttributes{
		OutIface: 2, Via: &rtnetlink.RouteVia{Family: unix.AF_INET6, Addr: net.ParseIP("fe80::1")},
	}})
	if r.Gateway != netip.MustParseAddr("fe80::1") || r.Ifindex != 2 {
		t.Errorf("via: %+v", r)
	}
	r = routeFrom(&rtnetlink.RouteMessage{Type: unix.RTN_UNICAST, Attributes: rtnetlink.RouteAttributes{
		Multipath: []rtnetlink.NextHop{{Hop: rtnetlink.RTNextHop{IfIndex: 2}}, {Hop: rtnetlink.RTNextHop{IfIndex: 3}}},
	}})
	if !r.Multi || r.Gateway.IsValid() {
		t.Errorf("multipath: %+v", r)
	}
}

// The get request carries NDA_DST and nothing else: the kernel rejects any
// other attribute in a get.
func TestNeighGetRequest(t *testing.T) {
	for _, ip := range []netip.Addr{netip.MustParseAddr("10.0.0.5"), netip.MustParseAddr("fd00::7")} {
		req := &neighGet{NeighMessage: rtnetlink.NeighMessage{Family: family(ip), Index: 7}, Dst: ip}
		b, err := req.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if len(b) < unix.SizeofNdMsg || uint16(b[0]) != family(ip) || binary.NativeEndian.Uint32(b[4:8]) != 7 {
			t.Fatalf("%s: header % x", ip, b)
		}
		ad, err := netlink.NewAttributeDecoder(b[unix.SizeofNdMsg:])
		if err != nil {
			t.Fatal(err)
		}
		var types []uint16
		var dst []byte
		for ad.Next() {
			types = append(types, ad.Type())
			dst = ad.Bytes()
		}
		if err := ad.Err(); err != nil || len(types) != 1 || types[0] != unix.NDA_DST || !net.IP(dst).Equal(ip.AsSlice()) {
			t.Errorf("%s: attributes %v, dst % x, %v", ip, types, dst, err)
		}
	}
}

func TestKernelAnswer(t *testing.T) {
	for err, want := range map[error]bool{
		&netlink.OpError{Op: "receive", Err: unix.ENOENT}:                                 true,
		&netlink.OpError{Op: "receive", Err: os.NewSyscallError("recvmsg", unix.ENOBUFS)}: false,
		&netlink.OpError{Op: "receive", Err: os.ErrDeadlineExceeded}:                      false,
		errors.New("rtnetlink NeighMessage is invalid or too short"):                      false,
	} {
		if kernelAnswer(err) != want {
			t.Errorf("kernelAnswer(%v) = %v", err, !want)
		}
	}
}

// The API-level errors in a LAN of namespaces, through the single get (not
// the dump that only kernels before 5.0 need), and a table that recovers
// from a broken connection and from an answer it did not wait for.
func TestNeighbourTableLAN(t *testing.T) {
	lan := testlan.New(t)
	hub, pc := lan.AddHost("hub"), lan.AddHost("pc")
	if err := hub.Reach(pc); err != nil {
		t.Fatal(err)
	}
	tab := &NeighbourTable{Enter: hub.Do}
	defer tab.Close()

	lookupPC := func(when string) {
		t.Helper()
		n, err := tab.Lookup(pc.Addr())
		if err != nil || n.IP != pc.Addr() || n.MAC.String() != pc.MAC().String() || n.Ifindex <= 0 || n.State.Unresolved() {
			t.Fatalf("%s: %+v, %v", when, n, err)
		}
	}
	lookupPC("pc")
	nobody := netip.MustParseAddr(strings.Split(lan.CIDR(200), "/")[0])
	if _, err := tab.Lookup(nobody); !errors.Is(err, ErrNoEntry) {
		t.Errorf("nobody: %v, want ErrNoEntry", err)
	}
	if _, err := tab.Lookup(hub.Addr()); !errors.Is(err, ErrLocal) {
		t.Errorf("own address: %v, want ErrLocal", err)
	}
	if ok, err := tab.Solicit(nobody); ok || err != nil {
		t.Errorf("solicit without an entry: %v, %v", ok, err)
	}
	ctx := t.Context()
	if _, err := hub.Run(ctx, "ip", "route", "add", "10.200.0.0/16", "via", pc.Addr().String()); err != nil {
		t.Fatal(err)
	}
	if _, err := tab.Lookup(netip.MustParseAddr("10.200.0.1")); !errors.Is(err, ErrNotOnLink) || !strings.Contains(err.Error(), "via "+pc.Addr().String()) {
		t.Errorf("routed: %v, want ErrNotOnLink via %s", err, pc.Addr())
	}
	if tab.noGet {
		t.Error("the kernel refused the single get: every lookup dumps the table")
	}

	// A connection broken behind the table's back is replaced.
	tab.mu.Lock()
	_ = tab.conn.Close()
	tab.mu.Unlock()
	if _, err := tab.Lookup(pc.Addr()); err == nil {
		t.Error("lookup on a closed connection: no error")
	}
	lookupPC("after a broken connection")

	// An answer nobody waited for (as after a timeout) costs at most the
	// exchange that meets it.
	tab.mu.Lock()
	_, err := tab.conn.Send(&rtnetlink.NeighMessage{Family: unix.AF_INET}, unix.RTM_GETNEIGH, netlink.Request|netlink.Dump)
	tab.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	_, err = tab.Lookup(pc.Addr())
	t.Logf("the lookup that met the stray answer: %v", err)
	lookupPC("after a stray answer")
}
