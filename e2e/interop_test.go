//go:build linux

package e2e

import (
	"bytes"
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/moonwake/moonwake/internal/testlan"
	"github.com/moonwake/moonwake/wol"
)

// TestEtherwakeInterop has Debian's etherwake send raw frames in a, and our
// decoder (wol.Packet.UnmarshalBinary) read them in b.
func TestEtherwakeInterop(t *testing.T) {
	t.Parallel()
	needCommand(t, "etherwake")
	_, a, b := newLAN(t)
	raw, err := b.ListenRaw("eth0", wol.EtherType)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		mac      string
		dst      string // frame destination
		password []byte
	}{
		{"unicast frame", []string{"00:11:22:33:44:a1"}, "00:11:22:33:44:a1", "00:11:22:33:44:a1", nil},
		{"broadcast frame", []string{"-b", "00:11:22:33:44:a2"}, "00:11:22:33:44:a2", "ff:ff:ff:ff:ff:ff", nil},
		{"password 6", []string{"-p", "01:02:03:04:05:06", "00:11:22:33:44:a3"}, "00:11:22:33:44:a3", "00:11:22:33:44:a3", []byte{1, 2, 3, 4, 5, 6}},
		{"password dotted", []string{"-b", "-p", "192.168.1.1", "00:11:22:33:44:a4"}, "00:11:22:33:44:a4", "ff:ff:ff:ff:ff:ff", []byte{192, 168, 1, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			if out, err := a.Run(ctx, append([]string{"etherwake", "-i", "eth0"}, tt.args...)...); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			d, err := raw.Next(recvTimeout)
			if err != nil {
				t.Fatal(err)
			}
			f, err := testlan.ParseFrame(d.Data)
			if err != nil {
				t.Fatal(err)
			}
			if f.Dst.String() != tt.dst || f.Src.String() != a.MAC().String() || f.EtherType != wol.EtherType {
				t.Errorf("frame dst %s src %s type %#04x, want %s %s 0x0842", f.Dst, f.Src, f.EtherType, tt.dst, a.MAC())
			}
			var p wol.Packet
			if err := p.UnmarshalBinary(f.Payload); err != nil {
				t.Fatalf("our decoder rejects etherwake's packet: %v\n% x", err, f.Payload)
			}
			if p.Target.String() != tt.mac {
				t.Errorf("target %s, want %s", p.Target, tt.mac)
			}
			if !bytes.Equal(p.Password, tt.password) {
				t.Errorf("password %x, want %x", p.Password, tt.password)
			}
		})
	}
	if err := raw.Quiet(100 * time.Millisecond); err != nil {
		t.Error(err)
	}
}

// TestWakeonlanInterop has Debian's wakeonlan (Perl) send UDP to the
// directed broadcast in a, and our decoder read it in b.
func TestWakeonlanInterop(t *testing.T) {
	t.Parallel()
	needCommand(t, "wakeonlan")
	lan, a, b := newLAN(t)
	rx9, err := b.ListenUDP(9)
	if err != nil {
		t.Fatal(err)
	}
	rx7, err := b.ListenUDP(7)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		port string
		rx   *testlan.Receiver
		arg  string // as typed
		mac  string
	}{
		{"colon", "9", rx9, "00:11:22:33:44:b1", "00:11:22:33:44:b1"},
		{"upper case", "9", rx9, "00:11:22:33:44:B2", "00:11:22:33:44:b2"}, // wakeonlan knows no other form
		{"port 7", "7", rx7, "00:11:22:33:44:b3", "00:11:22:33:44:b3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			// Always -i: wakeonlan's default is 255.255.255.255.
			if out, err := a.Run(ctx, "wakeonlan", "-i", lan.Broadcast().String(), "-p", tt.port, tt.arg); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			d, err := tt.rx.Next(recvTimeout)
			if err != nil {
				t.Fatal(err)
			}
			if d.From.Addr() != a.Addr() {
				t.Errorf("from %v, want %v", d.From, a.Addr())
			}
			var p wol.Packet
			if err := p.UnmarshalBinary(d.Data); err != nil {
				t.Fatalf("our decoder rejects wakeonlan's packet: %v\n% x", err, d.Data)
			}
			if p.Target.String() != tt.mac || p.Password != nil {
				t.Errorf("decoded %s %x, want %s and no password", p.Target, p.Password, tt.mac)
			}
		})
	}
	for _, rx := range []*testlan.Receiver{rx9, rx7} {
		if err := rx.Quiet(100 * time.Millisecond); err != nil {
			t.Error(err)
		}
	}
}

// TestSenderInNamespace drives package wol directly inside a's namespace:
// Plan with empty Options over the namespace's real interfaces (only lo and
// a multi-homed eth0, so "every interface" cannot reach the host's
// network), then SendRepeated, raw frames included.
func TestSenderInNamespace(t *testing.T) {
	t.Parallel()
	lan := testlan.New(t)
	second := lan.Prefix().Addr().As4()
	second[1] += 2 // 10.79.N.0/24
	second[3] = 10
	secondA := netip.PrefixFrom(netip.AddrFrom4(second), 24)
	second[3] = 20
	secondB := netip.PrefixFrom(netip.AddrFrom4(second), 24)
	a := lan.AddHost("a", lan.CIDR(10), secondA.String())
	b := lan.AddHost("b", lan.CIDR(20), secondB.String())
	rx, err := b.ListenUDP(wol.DefaultPort)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := b.ListenRaw("eth0", wol.EtherType)
	if err != nil {
		t.Fatal(err)
	}
	pkt := magic(t, "02:00:00:00:00:99", 9, 8, 7, 6)

	var targets []wol.Target
	var s wol.Sender
	err = a.Do(func() error {
		ifs, err := wol.Interfaces()
		if err != nil {
			return err
		}
		if targets, err = wol.Plan(wol.Options{}, ifs); err != nil {
			return err
		}
		raws, err := wol.Plan(wol.Options{Raw: true, Interface: "eth0"}, ifs)
		if err != nil {
			return err
		}
		// The sockets open here, inside the namespace, on first use.
		return s.SendRepeated(context.Background(), pkt, append(targets, raws...), 2, time.Millisecond, nil)
	})
	defer s.Close()
	if err != nil {
		t.Fatal(err)
	}
	bc2 := secondA.Masked().Addr().As4()
	bc2[3] = 255
	want := []string{netip.AddrPortFrom(lan.Broadcast(), 9).String(), netip.AddrPortFrom(netip.AddrFrom4(bc2), 9).String()}
	if len(targets) != 2 || targets[0].String() != want[0] || targets[1].String() != want[1] {
		t.Fatalf("Plan(Options{}) in the namespace = %v, want %v", targets, want)
	}
	got := expect(t, rx, 4, pkt)
	from := map[netip.Addr]int{}
	for _, d := range got {
		from[d.From.Addr()]++
	}
	if from[a.Addr()] != 2 || from[secondA.Addr()] != 2 {
		t.Errorf("sources %v, want 2 from each of a's addresses", from)
	}
	frames, err := raw.Expect(2, recvTimeout)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range frames {
		f, _ := testlan.ParseFrame(d.Data)
		if !bytes.Equal(f.Payload, pkt) || f.Src.String() != a.MAC().String() {
			t.Errorf("raw frame from %s: % x", f.Src, f.Payload)
		}
	}
	if err := rx.Quiet(100 * time.Millisecond); err != nil {
		t.Error(err)
	}
}
