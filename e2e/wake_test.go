//go:build linux

package e2e

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moonwake/moonwake/internal/testlan"
)

// recvTimeout bounds every wait for a packet that should come; packets on
// a veth arrive in microseconds, the margin is for a loaded CI machine.
const recvTimeout = 6 * time.Second

// expect receives n datagrams on rx and checks each is want.
func expect(t *testing.T, rx *testlan.Receiver, n int, want []byte) []testlan.Datagram {
	t.Helper()
	got, err := rx.Expect(n, recvTimeout)
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range got {
		if !bytes.Equal(d.Data, want) {
			t.Errorf("packet %d of %d:\n% x\nwant\n% x", i+1, n, d.Data, want)
		}
	}
	return got
}

// TestWakeUDP runs "moonwake wake" in a and checks, byte for byte, what b
// receives: every MAC form, passwords, ports, addresses and counts.
func TestWakeUDP(t *testing.T) {
	t.Parallel()
	lan, a, b := newLAN(t)
	moonwake(t)
	rx9, err := b.ListenUDP(9)
	if err != nil {
		t.Fatal(err)
	}
	rx7, err := b.ListenUDP(7)
	if err != nil {
		t.Fatal(err)
	}
	bcast := lan.Broadcast().String()

	// Each case wakes its own MAC, so a stray extra packet from one case
	// shows up as a wrong packet in the next.
	tests := []struct {
		name     string
		args     []string
		mac      string // canonical
		password []byte
		rx       *testlan.Receiver
		n        int    // packets expected
		to       string // printed target
	}{
		{"colon", []string{"aa:bb:cc:dd:ee:01"}, "aa:bb:cc:dd:ee:01", nil, rx9, 2, bcast + ":9"},
		{"colon upper", []string{"AA:BB:CC:DD:EE:02"}, "aa:bb:cc:dd:ee:02", nil, rx9, 2, bcast + ":9"},
		{"dash", []string{"aa-bb-cc-dd-ee-03"}, "aa:bb:cc:dd:ee:03", nil, rx9, 2, bcast + ":9"},
		{"dash upper", []string{"AA-BB-CC-DD-EE-04"}, "aa:bb:cc:dd:ee:04", nil, rx9, 2, bcast + ":9"},
		{"dotted", []string{"aabb.ccdd.ee05"}, "aa:bb:cc:dd:ee:05", nil, rx9, 2, bcast + ":9"},
		{"dotted mixed case", []string{"AaBb.cCdD.eE06"}, "aa:bb:cc:dd:ee:06", nil, rx9, 2, bcast + ":9"},
		{"bare", []string{"aabbccddee07"}, "aa:bb:cc:dd:ee:07", nil, rx9, 2, bcast + ":9"},
		{"bare upper", []string{"AABBCCDDEE08"}, "aa:bb:cc:dd:ee:08", nil, rx9, 2, bcast + ":9"},
		{"password 4 hex", []string{"00:11:22:33:44:01", "--password", "0a1b2c3d"}, "00:11:22:33:44:01", []byte{0x0a, 0x1b, 0x2c, 0x3d}, rx9, 2, bcast + ":9"},
		{"password 4 dotted", []string{"00:11:22:33:44:02", "--password", "192.168.1.1"}, "00:11:22:33:44:02", []byte{192, 168, 1, 1}, rx9, 2, bcast + ":9"},
		{"password 6 colon", []string{"00:11:22:33:44:03", "--password", "01:02:03:04:05:06"}, "00:11:22:33:44:03", []byte{1, 2, 3, 4, 5, 6}, rx9, 2, bcast + ":9"},
		{"password 6 dash", []string{"00:11:22:33:44:04", "--password", "A1-B2-C3-D4-E5-F6"}, "00:11:22:33:44:04", []byte{0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6}, rx9, 2, bcast + ":9"},
		{"port 7", []string{"00:11:22:33:44:05", "--port", "7"}, "00:11:22:33:44:05", nil, rx7, 2, bcast + ":7"},
		{"port 7 short flag", []string{"00:11:22:33:44:06", "-p", "7"}, "00:11:22:33:44:06", nil, rx7, 2, bcast + ":7"},
		{"count 1", []string{"00:11:22:33:44:07", "--count", "1"}, "00:11:22:33:44:07", nil, rx9, 1, bcast + ":9"},
		{"count 5", []string{"00:11:22:33:44:08", "--count", "5"}, "00:11:22:33:44:08", nil, rx9, 5, bcast + ":9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{}, tt.args...)
			args = append(args, "--interface", "eth0", "--interval", "1ms")
			if !strings.Contains(strings.Join(args, " "), "--count") {
				args = append(args, "--count", "2")
			}
			r := wake(t, a, args...)
			got := expect(t, tt.rx, tt.n, magic(t, tt.mac, tt.password...))
			for _, d := range got {
				if d.From.Addr() != a.Addr() {
					t.Errorf("packet from %v, want from %v", d.From, a.Addr())
				}
			}
			want := fmt.Sprintf("sent magic packet for %s to %s (udp) ×%d\n", tt.mac, tt.to, tt.n)
			if r.stdout != want || r.stderr != "" {
				t.Errorf("output %s, want stdout %q", r, want)
			}
		})
	}

	t.Run("explicit broadcast", func(t *testing.T) {
		wake(t, a, "00:11:22:33:55:01", "--broadcast", bcast, "--count", "2", "--interval", "1ms")
		expect(t, rx9, 2, magic(t, "00:11:22:33:55:01"))
	})
	t.Run("explicit broadcast with port 7", func(t *testing.T) {
		wake(t, a, "00:11:22:33:55:02", "-b", bcast, "-p", "7", "-c", "2", "--interval", "1ms")
		expect(t, rx7, 2, magic(t, "00:11:22:33:55:02"))
	})
	t.Run("unicast", func(t *testing.T) {
		r := wake(t, a, "00:11:22:33:55:03", "--unicast", b.Addr().String(), "--count", "2", "--interval", "1ms")
		expect(t, rx9, 2, magic(t, "00:11:22:33:55:03"))
		if !strings.Contains(r.stdout, b.Addr().String()+":9") {
			t.Errorf("stdout %q does not name %s", r.stdout, b.Addr())
		}
	})
	t.Run("dry run sends nothing", func(t *testing.T) {
		r := wake(t, a, "00:11:22:33:55:04", "--interface", "eth0", "--dry-run")
		if !strings.Contains(r.stdout, "would send magic packet for 00:11:22:33:55:04 to "+bcast+":9 (udp) ×3") {
			t.Errorf("dry run printed %q", r.stdout)
		}
	})
	// Nothing else arrived: no extra copies, no packet from the dry run.
	for _, rx := range []*testlan.Receiver{rx9, rx7} {
		if err := rx.Quiet(200 * time.Millisecond); err != nil {
			t.Error(err)
		}
	}
}

// TestWakeDefault runs "moonwake wake MAC" with no address at all on a
// multi-homed host: both subnets' directed broadcasts, and nothing else
// (the namespace has only lo and eth0, so "every interface" is safe here).
func TestWakeDefault(t *testing.T) {
	t.Parallel()
	lan := testlan.New(t)
	second := lan.Prefix().Addr().As4()
	second[1]++ // 10.78.N.0/16: another subnet on the same wire
	cidr := func(host byte) string {
		return netip.PrefixFrom(netip.AddrFrom4([4]byte{second[0], second[1], second[2], host}), 16).String()
	}
	a := lan.AddHost("a", lan.CIDR(10), cidr(10))
	b := lan.AddHost("b", lan.CIDR(20), cidr(20))
	rx, err := b.ListenUDP(9)
	if err != nil {
		t.Fatal(err)
	}
	r := wake(t, a, "02:00:00:00:00:42", "--count", "1")
	got := expect(t, rx, 2, magic(t, "02:00:00:00:00:42"))
	// The kernel picks each subnet's own source address: one packet per
	// subnet.
	from := map[netip.Addr]bool{}
	for _, d := range got {
		from[d.From.Addr()] = true
	}
	for _, p := range a.Prefixes() {
		if !from[p.Addr()] {
			t.Errorf("no packet from %s (got %v)", p.Addr(), from)
		}
	}
	for _, want := range []string{lan.Broadcast().String() + ":9", fmt.Sprintf("%d.%d.255.255:9", second[0], second[1])} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout %q does not name %s", r.stdout, want)
		}
	}
	if strings.Contains(r.stdout, "255.255.255.255") {
		t.Errorf("sent to the limited broadcast: %q", r.stdout)
	}
	if err := rx.Quiet(100 * time.Millisecond); err != nil {
		t.Error(err)
	}
}

// TestWakeRaw checks the raw Ethernet frame: to ff:ff:ff:ff:ff:ff, from a's
// MAC, EtherType 0x0842, the magic packet as payload and nothing more.
func TestWakeRaw(t *testing.T) {
	t.Parallel()
	_, a, b := newLAN(t)
	moonwake(t)
	raw, err := b.ListenRaw("eth0", 0x0842)
	if err != nil {
		t.Fatal(err)
	}
	udp, err := b.ListenUDP(9)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		mac      string
		password []byte
	}{
		{"plain", []string{"aa:bb:cc:dd:ee:11"}, "aa:bb:cc:dd:ee:11", nil},
		{"dotted form", []string{"aabb.ccdd.ee12"}, "aa:bb:cc:dd:ee:12", nil},
		{"password 4", []string{"aa-bb-cc-dd-ee-13", "--password", "10.0.0.1"}, "aa:bb:cc:dd:ee:13", []byte{10, 0, 0, 1}},
		{"password 6", []string{"AABBCCDDEE14", "--password", "0a1b2c3d4e5f"}, "aa:bb:cc:dd:ee:14", []byte{0x0a, 0x1b, 0x2c, 0x3d, 0x4e, 0x5f}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := wake(t, a, append(tt.args, "--raw", "--interface", "eth0", "--count", "2", "--interval", "1ms")...)
			want := magic(t, tt.mac, tt.password...)
			got, err := raw.Expect(2, recvTimeout)
			if err != nil {
				t.Fatal(err)
			}
			for i, d := range got {
				f, err := testlan.ParseFrame(d.Data)
				if err != nil {
					t.Fatal(err)
				}
				if f.Dst.String() != "ff:ff:ff:ff:ff:ff" || f.Src.String() != a.MAC().String() || f.EtherType != 0x0842 {
					t.Errorf("frame %d: dst %s src %s type %#04x, want ff:ff:ff:ff:ff:ff %s 0x0842", i+1, f.Dst, f.Src, f.EtherType, a.MAC())
				}
				if !bytes.Equal(f.Payload, want) {
					t.Errorf("frame %d payload:\n% x\nwant\n% x", i+1, f.Payload, want)
				}
			}
			if want := fmt.Sprintf("sent magic packet for %s to eth0 (raw) ×2\n", tt.mac); r.stdout != want {
				t.Errorf("stdout %q, want %q", r.stdout, want)
			}
		})
	}
	if err := raw.Quiet(100 * time.Millisecond); err != nil {
		t.Error(err)
	}
	if err := udp.Quiet(0); err != nil {
		t.Errorf("--raw also sent UDP: %v", err)
	}
}

// TestWakeIPv6 checks --ipv6: the IPv4 broadcast plus ff02::1 on eth0,
// each --count times.
func TestWakeIPv6(t *testing.T) {
	t.Parallel()
	lan, a, b := newLAN(t)
	moonwake(t)
	rx, err := b.ListenUDP(9) // dual-stack: gets both
	if err != nil {
		t.Fatal(err)
	}
	ll, err := a.LinkLocal(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	r := wake(t, a, "aa:bb:cc:dd:ee:21", "--ipv6", "--interface", "eth0", "--count", "2", "--interval", "1ms", "--password", "01:02:03:04")
	got := expect(t, rx, 4, magic(t, "aa:bb:cc:dd:ee:21", 1, 2, 3, 4))
	var v4, v6 int
	for _, d := range got {
		switch d.From.Addr().WithZone("") {
		case a.Addr():
			v4++
		case ll.WithZone(""):
			v6++
		default:
			t.Errorf("packet from %v, want %v or %v", d.From, a.Addr(), ll)
		}
	}
	if v4 != 2 || v6 != 2 {
		t.Errorf("%d IPv4 and %d IPv6 packets, want 2 and 2", v4, v6)
	}
	want := fmt.Sprintf("sent magic packet for aa:bb:cc:dd:ee:21 to %s:9 (udp) ×2\nsent magic packet for aa:bb:cc:dd:ee:21 to [ff02::1%%eth0]:9 (udp) ×2\n", lan.Broadcast())
	if r.stdout != want {
		t.Errorf("stdout %q, want %q", r.stdout, want)
	}
	if err := rx.Quiet(100 * time.Millisecond); err != nil {
		t.Error(err)
	}
}

// TestWakeBadInput checks that bad input exits 2 with a message and that
// nothing at all reaches the LAN: not our receivers, not tshark.
func TestWakeBadInput(t *testing.T) {
	t.Parallel()
	lan, a, b := newLAN(t)
	moonwake(t)
	tshark := startTshark(t, b, a, lan.Broadcast(), "udp or ether proto 0x0842")
	rx9, err := b.ListenUDP(9)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := b.ListenRaw("eth0", 0x0842)
	if err != nil {
		t.Fatal(err)
	}
	bcast := lan.Broadcast().String()
	tests := []struct {
		name string
		args []string
		msg  string // in stderr
	}{
		{"broadcast MAC", []string{"ff:ff:ff:ff:ff:ff"}, "broadcast"},
		{"broadcast MAC bare", []string{"FFFFFFFFFFFF"}, "broadcast"},
		{"multicast MAC", []string{"01:00:5e:00:00:01"}, "multicast"},
		{"IPv6 multicast MAC", []string{"33-33-00-00-00-01"}, "multicast"},
		{"zero MAC", []string{"00:00:00:00:00:00"}, "all-zero"},
		{"garbage", []string{"zz:zz:zz:zz:zz:zz"}, "not hexadecimal"},
		{"a word", []string{"hello"}, "MAC address"},
		{"a name without config", []string{"gaming-pc"}, "--config"},
		{"too short", []string{"aa:bb:cc:dd:ee"}, "want 6 bytes"},
		{"EUI-64", []string{"aa:bb:cc:dd:ee:ff:00:11"}, "want 6 bytes"},
		{"mixed separators", []string{"aa:bb-cc:dd:ee:ff"}, "separators"},
		{"empty", []string{""}, "empty MAC"},
		{"bad password", []string{"aa:bb:cc:dd:ee:31", "--password", "0102"}, "password"},
		{"password with 5 bytes", []string{"aa:bb:cc:dd:ee:31", "--password", "01:02:03:04:05"}, "password"},
		{"bad port", []string{"aa:bb:cc:dd:ee:31", "--port", "70000"}, "port"},
		{"port 0", []string{"aa:bb:cc:dd:ee:31", "--port", "0"}, "port"},
		{"bad broadcast", []string{"aa:bb:cc:dd:ee:31", "--broadcast", "10.77.0"}, "broadcast"},
		{"bad unicast", []string{"aa:bb:cc:dd:ee:31", "--unicast", "host.example"}, "unicast"},
		{"raw without interface", []string{"aa:bb:cc:dd:ee:31", "--raw"}, "interface"},
		{"ipv6 without interface", []string{"aa:bb:cc:dd:ee:31", "--ipv6"}, "interface"},
		{"unknown interface", []string{"aa:bb:cc:dd:ee:31", "--interface", "nosuch0"}, "nosuch0"},
		{"count 0", []string{"aa:bb:cc:dd:ee:31", "--count", "0"}, "count"},
		{"count 101", []string{"aa:bb:cc:dd:ee:31", "--count", "101"}, "count"},
		{"unknown flag", []string{"aa:bb:cc:dd:ee:31", "--frobnicate"}, "unknown flag"},
		{"no argument", []string{}, "arg"},
		{"two arguments", []string{"aa:bb:cc:dd:ee:31", "aa:bb:cc:dd:ee:32"}, "arg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// With a valid destination, so only the bad part can stop it.
			args := append([]string{"wake"}, tt.args...)
			if !slices.Contains(args, "--broadcast") {
				args = append(args, "--broadcast", bcast)
			}
			r := run(t, a, args...)
			if r.code != 2 {
				t.Errorf("moonwake %q: %s; want exit 2", args, r)
			}
			if !strings.HasPrefix(r.stderr, "moonwake: ") || !strings.Contains(r.stderr, tt.msg) {
				t.Errorf("stderr %q, want a message with %q", r.stderr, tt.msg)
			}
			if strings.Contains(r.stdout, "sent") {
				t.Errorf("stdout %q", r.stdout)
			}
		})
	}
	for _, rx := range []*testlan.Receiver{rx9, raw} {
		if err := rx.Quiet(500 * time.Millisecond); err != nil {
			t.Error(err)
		}
	}
	if recs := tshark.records(t, 0, time.Second); len(recs) != 0 {
		t.Errorf("tshark captured %d packets: %+v", len(recs), recs)
	}
}
