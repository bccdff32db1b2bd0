package probe

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// The .bin fixtures are what a Linux 6.18 kernel answered on a testlan
// host (10.77.37.11 on eth0, ifindex 2) after probes of 10.77.37.12 (up),
// .200 and .201 (nobody), with a permanent entry and an IPv6 one added by
// hand (the kernel adds loopback's and a multicast one). Netlink is in the host's byte order: they were taken little-endian.
func fixture(t testing.TB, name string) []byte {
	t.Helper()
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("netlink fixtures are little-endian")
	}
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseNeighbourDump(t *testing.T) {
	// Two dumps, IPv4 then IPv6, each ending with NLMSG_DONE.
	b := fixture(t, "neigh-dump.bin")
	v4, err := ParseNeighbourMessages(b)
	if err != nil {
		t.Fatal(err)
	}
	rest := b
	for len(rest) >= nlmsgHdrLen {
		n := align4(int(binary.NativeEndian.Uint32(rest)))
		typ := binary.NativeEndian.Uint16(rest[4:])
		rest = rest[n:]
		if typ == nlmsgDone {
			break
		}
	}
	v6, err := ParseNeighbourMessages(rest)
	if err != nil {
		t.Fatal(err)
	}
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
	for _, n := range append(v4, v6...) {
		lines = append(lines, strings.Join([]string{n.IP.String(), n.MAC.String(), strconv.Itoa(n.Ifindex), n.State.String()}, " "))
		if n.State.Unresolved() != (n.State == NUDFailed) {
			t.Errorf("%s: Unresolved() = %v", n.State, n.State.Unresolved())
		}
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

func TestParseNeighbourGet(t *testing.T) {
	got, err := ParseNeighbourMessages(fixture(t, "neigh-get.bin"))
	if err != nil || len(got) != 1 || got[0].IP != netip.MustParseAddr("10.77.37.12") || got[0].State != NUDReachable ||
		got[0].MAC.String() != "02:77:7c:60:2e:02" {
		t.Fatalf("%+v, %v", got, err)
	}
	got, err = ParseNeighbourMessages(fixture(t, "neigh-enoent.bin"))
	if !errors.Is(err, syscall.ENOENT) || len(got) != 0 {
		t.Fatalf("%+v, %v; want ENOENT", got, err)
	}
}

func TestParseRoute(t *testing.T) {
	tests := []struct {
		file string
		want route
	}{
		{"route-onlink.bin", route{Type: rtnUnicast, Ifindex: 2, PrefSrc: netip.MustParseAddr("10.77.37.11")}},
		{"route-local.bin", route{Type: rtnLocal, Ifindex: 1, PrefSrc: netip.MustParseAddr("10.77.37.11")}},
		{"route-gateway.bin", route{Type: rtnUnicast, Ifindex: 2, Gateway: netip.MustParseAddr("10.77.37.12"), PrefSrc: netip.MustParseAddr("10.77.37.11")}},
	}
	for _, tt := range tests {
		msgs, err := splitMessages(fixture(t, tt.file))
		if err != nil || len(msgs) != 1 || msgs[0].Type != rtmNewRoute {
			t.Fatalf("%s: %+v, %v", tt.file, msgs, err)
		}
		r, err := parseRoute(msgs[0].Body)
		if err != nil || r != tt.want {
			t.Errorf("%s: %+v, %v; want %+v", tt.file, r, err, tt.want)
		}
	}
}

// Messages built here, as the kernel would send them, and broken ones.
func TestParseNeighbourMessagesBuilt(t *testing.T) {
	ndm := func(fam byte, ifindex int32, state NUDState) []byte {
		b := make([]byte, ndmsgLen)
		b[0] = fam
		binary.NativeEndian.PutUint32(b[4:8], uint32(ifindex))
		binary.NativeEndian.PutUint16(b[8:10], uint16(state))
		return b
	}
	ip4 := []byte{10, 0, 0, 5}
	mac := []byte{2, 0, 0, 0, 0, 1}
	ok := nlRequest(rtmNewNeigh, nlmFMulti, 7, ndm(afInet, 3, NUDStale), nlAttr{ndaDst, ip4}, nlAttr{ndaLLAddr, mac}, nlAttr{99, []byte{1, 2, 3}})
	done := nlRequest(nlmsgDone, nlmFMulti, 7, []byte{0, 0, 0, 0})
	got, err := ParseNeighbourMessages(append(append([]byte(nil), ok...), done...))
	if err != nil || len(got) != 1 || got[0].IP.String() != "10.0.0.5" || got[0].MAC.String() != "02:00:00:00:00:01" ||
		got[0].Ifindex != 3 || got[0].State != NUDStale {
		t.Fatalf("%+v, %v", got, err)
	}
	// An acknowledgement is not an error; messages after DONE are ignored.
	ack := nlRequest(nlmsgError, 0, 7, make([]byte, 20))
	if got, err := ParseNeighbourMessages(append(append(append([]byte(nil), ack...), done...), ok...)); err != nil || len(got) != 0 {
		t.Fatalf("ack: %+v, %v", got, err)
	}

	bad := map[string][]byte{
		"short header":     ok[:10],
		"length too long":  func() []byte { b := append([]byte(nil), ok...); binary.NativeEndian.PutUint32(b, 4000); return b }(),
		"length too short": func() []byte { b := append([]byte(nil), ok...); binary.NativeEndian.PutUint32(b, 8); return b }(),
		"short ndmsg":      nlRequest(rtmNewNeigh, 0, 1, []byte{afInet}),
		"no address":       nlRequest(rtmNewNeigh, 0, 1, ndm(afInet, 1, NUDReachable), nlAttr{ndaLLAddr, mac}),
		"family mismatch":  nlRequest(rtmNewNeigh, 0, 1, ndm(afInet6, 1, NUDReachable), nlAttr{ndaDst, ip4}),
		"attribute overflow": func() []byte {
			b := append([]byte(nil), ok...)
			binary.NativeEndian.PutUint16(b[nlmsgHdrLen+ndmsgLen:], 200)
			return b
		}(),
		"errno":       nlRequest(nlmsgError, 0, 1, []byte{0xf3, 0xff, 0xff, 0xff}), // -13, EACCES
		"short error": nlRequest(nlmsgError, 0, 1, []byte{1}),
	}
	for name, b := range bad {
		if got, err := ParseNeighbourMessages(b); err == nil {
			t.Errorf("%s: %+v, want an error", name, got)
		}
	}
}

func TestNUDState(t *testing.T) {
	for s, want := range map[NUDState]string{
		0: "none", NUDReachable: "reachable", NUDFailed: "failed", NUDIncomplete: "incomplete",
		NUDStale | NUDPermanent: "stale|permanent", 0x100: "0x100",
	} {
		if s.String() != want {
			t.Errorf("%#x: %q, want %q", uint16(s), s.String(), want)
		}
	}
	if !NUDIncomplete.Unresolved() || NUDReachable.Unresolved() || NUDState(0).Unresolved() || (NUDFailed | NUDPermanent).Unresolved() {
		t.Error("Unresolved")
	}
}

func FuzzParseNeighbourMessages(f *testing.F) {
	if binary.NativeEndian.Uint16([]byte{1, 0}) == 1 {
		for _, name := range []string{"neigh-dump.bin", "neigh-get.bin", "neigh-enoent.bin", "route-onlink.bin", "route-gateway.bin"} {
			f.Add(fixture(f, name))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ns, err := ParseNeighbourMessages(b)
		if err != nil {
			return
		}
		for _, n := range ns {
			if !n.IP.IsValid() || len(n.MAC) > 20 {
				t.Fatalf("%+v", n)
			}
		}
		// Routes parse without panicking too.
		msgs, _ := splitMessages(b)
		for _, m := range msgs {
			_, _ = parseRoute(m.Body)
		}
	})
}
