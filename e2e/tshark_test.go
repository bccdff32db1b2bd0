//go:build linux

package e2e

import (
	"net"
	"strings"
	"testing"
	"time"
)

// TestTsharkDecodes has Wireshark's own WOL dissector read what moonwake
// sends: an independent decoder agreeing on the MAC and the password, over
// UDP (IPv4 and IPv6, matched by the dissector's UDP heuristic, so any
// port works) and in raw 0x0842 frames.
func TestTsharkDecodes(t *testing.T) {
	t.Parallel()
	lan, a, b := newLAN(t)
	moonwake(t)
	if _, err := a.LinkLocal(t.Context()); err != nil {
		t.Fatal(err)
	}
	sends := []struct {
		args      []string
		protocols string // tshark's frame.protocols
		mac       string
		password  []byte
	}{
		{[]string{"aa:bb:cc:dd:ee:41", "--interface", "eth0"}, "eth:ethertype:ip:udp:wol", "aa:bb:cc:dd:ee:41", nil},
		{[]string{"aa-bb-cc-dd-ee-42", "--broadcast", lan.Broadcast().String(), "--port", "7", "--password", "01:02:03:04:05:06"}, "eth:ethertype:ip:udp:wol", "aa:bb:cc:dd:ee:42", []byte{1, 2, 3, 4, 5, 6}},
		{[]string{"aabb.ccdd.ee43", "--interface", "eth0", "--password", "192.168.1.1"}, "eth:ethertype:ip:udp:wol", "aa:bb:cc:dd:ee:43", []byte{192, 168, 1, 1}},
		{[]string{"aabbccddee44", "--raw", "--interface", "eth0"}, "eth:ethertype:wol", "aa:bb:cc:dd:ee:44", nil},
		{[]string{"AA:BB:CC:DD:EE:45", "--raw", "--interface", "eth0", "--password", "a1b2c3d4e5f6"}, "eth:ethertype:wol", "aa:bb:cc:dd:ee:45", []byte{0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6}},
		{[]string{"aa:bb:cc:dd:ee:46", "--raw", "--interface", "eth0", "--password", "0a0b0c0d"}, "eth:ethertype:wol", "aa:bb:cc:dd:ee:46", []byte{10, 11, 12, 13}},
	}
	// The IPv6 send makes two packets: the IPv4 broadcast, then ff02::1.
	v6 := []string{"aa:bb:cc:dd:ee:47", "--interface", "eth0", "--ipv6"}

	ts := startTshark(t, b, a, lan.Broadcast(), "udp port 9 or udp port 7 or ether proto 0x0842")
	for _, s := range sends {
		wake(t, a, append(s.args, "--count", "1")...)
	}
	wake(t, a, append(v6, "--count", "1")...)

	recs := ts.records(t, len(sends)+2, 10*time.Second)
	if len(recs) != len(sends)+2 {
		t.Fatalf("tshark decoded %d packets, want %d:\n%s\n%s", len(recs), len(sends)+2, ts.out, ts.stderr)
	}
	check := func(r wolRecord, protocols, mac string, password []byte) {
		t.Helper()
		if r.protocols != protocols {
			t.Errorf("protocols %q, want %q", r.protocols, protocols)
		}
		if len(r.macs) != 16 {
			t.Errorf("%s: tshark found %d MACs, want 16: %q", mac, len(r.macs), r.macs)
		}
		for _, m := range r.macs {
			if m != mac {
				t.Errorf("tshark read MAC %s, want %s", m, mac)
			}
		}
		// The Info column, because the wol.passwd field itself is broken
		// in tshark 4.0: its value is the text of the password, cut to
		// the password's length ("a1:b2:" for a1b2c3d4e5f6).
		want := "MagicPacket for " + mac // -n: no "(Vendor_ee:ff:00)"
		switch len(password) {
		case 4:
			want += ", password " + net.IP(password).String()
		case 6:
			want += ", password " + net.HardwareAddr(password).String()
		}
		if r.info != want {
			t.Errorf("tshark says %q, want %q", r.info, want)
		}
	}
	for i, s := range sends {
		check(recs[i], s.protocols, s.mac, s.password)
	}
	check(recs[len(sends)], "eth:ethertype:ip:udp:wol", "aa:bb:cc:dd:ee:47", nil)
	check(recs[len(sends)+1], "eth:ethertype:ipv6:udp:wol", "aa:bb:cc:dd:ee:47", nil)
	if t.Failed() {
		t.Logf("tshark output:\n%s", strings.TrimSpace(ts.out.String()))
	}
}
