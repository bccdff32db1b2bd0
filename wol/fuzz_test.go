package wol_test

import (
	"bytes"
	"net"
	"testing"

	"github.com/moonwake/moonwake/wol"
)

// The seed corpora live in testdata/fuzz/FuzzXxx; these add the ordinary
// cases so the fuzzers start from every accepted form.

func FuzzParseMAC(f *testing.F) {
	for _, s := range []string{"aa:bb:cc:dd:ee:0f", "AA-BB-CC-DD-EE-0F", "aabb.ccdd.ee0f", "aabbccddee0f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		mac, err := wol.ParseMAC(s)
		if err != nil {
			if mac != nil {
				t.Fatalf("ParseMAC(%q) = %v with error %v", s, mac, err)
			}
			return
		}
		if len(mac) != 6 {
			t.Fatalf("ParseMAC(%q) = %v: %d bytes", s, mac, len(mac))
		}
		if mac[0]&1 == 1 || bytes.Equal(mac, make([]byte, 6)) {
			t.Fatalf("ParseMAC(%q) = %v: not a unicast station", s, mac)
		}
		// Whatever was accepted is what the standard library reads too,
		// and its canonical form parses back to the same address.
		if std, err := net.ParseMAC(normalize(s)); err == nil && !bytes.Equal(std, mac) {
			t.Fatalf("ParseMAC(%q) = %v, net.ParseMAC says %v", s, mac, std)
		}
		again, err := wol.ParseMAC(mac.String())
		if err != nil || !bytes.Equal(again, mac) {
			t.Fatalf("ParseMAC(%q) = %v, which parses back as %v, %v", s, mac, again, err)
		}
		// A packet for it encodes and decodes.
		b, err := (&wol.Packet{Target: mac}).MarshalBinary()
		if err != nil {
			t.Fatalf("MarshalBinary for %v: %v", mac, err)
		}
		var p wol.Packet
		if err := p.UnmarshalBinary(b); err != nil || !bytes.Equal(p.Target, mac) {
			t.Fatalf("round trip of %v: %v, %v", mac, p.Target, err)
		}
	})
}

// normalize turns the forms net.ParseMAC lacks (bare hex) into one it has,
// and trims what ParseMAC trims.
func normalize(s string) string {
	s = string(bytes.TrimSpace([]byte(s)))
	if len(s) == 12 {
		return s[0:4] + "." + s[4:8] + "." + s[8:12]
	}
	return s
}

func FuzzParsePassword(f *testing.F) {
	for _, s := range []string{"0a1b2c3d", "0a:1b:2c:3d:4e:5f", "0a-1b-2c-3d", "192.168.1.1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		pw, err := wol.ParsePassword(s)
		if err != nil {
			if pw != nil {
				t.Fatalf("ParsePassword(%q) = %x with error %v", s, pw, err)
			}
			return
		}
		if len(pw) != 4 && len(pw) != 6 {
			t.Fatalf("ParsePassword(%q) = %x: %d bytes", s, pw, len(pw))
		}
		// Every accepted password fits in a packet.
		b, err := (&wol.Packet{Target: net.HardwareAddr{0, 1, 2, 3, 4, 5}, Password: pw}).MarshalBinary()
		if err != nil || len(b) != wol.Size+len(pw) {
			t.Fatalf("MarshalBinary with password %x: %d bytes, %v", pw, len(b), err)
		}
	})
}

func FuzzUnmarshal(f *testing.F) {
	good, _ := (&wol.Packet{Target: net.HardwareAddr{0, 0x11, 0x22, 0x33, 0x44, 0x55}}).MarshalBinary()
	f.Add(good)
	f.Add(append(append([]byte(nil), good...), 1, 2, 3, 4))
	f.Add(append(append([]byte(nil), good...), 1, 2, 3, 4, 5, 6))
	f.Fuzz(func(t *testing.T, b []byte) {
		var p wol.Packet
		if err := p.UnmarshalBinary(b); err != nil {
			return
		}
		// Strict decoding: whatever is accepted re-encodes to the very
		// same bytes.
		again, err := p.MarshalBinary()
		if err != nil {
			t.Fatalf("UnmarshalBinary accepted % x, MarshalBinary refuses it: %v", b, err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("re-encoded\n% x\nfrom\n% x", again, b)
		}
	})
}
