package wol_test

import (
	"bytes"
	"errors"
	"net"
	"testing"

	"github.com/moonwake/moonwake/wol"
)

// magic builds a packet by hand, independently of MarshalBinary.
func magic(mac string, password ...byte) []byte {
	hw, err := net.ParseMAC(mac)
	if err != nil {
		panic(err)
	}
	b := bytes.Repeat([]byte{0xff}, 6)
	for range 16 {
		b = append(b, hw...)
	}
	return append(b, password...)
}

func TestPacketRoundTrip(t *testing.T) {
	tests := []struct {
		name     string
		mac      string
		password []byte
	}{
		{"plain", "aa:bb:cc:dd:ee:0f", nil},
		{"4-byte password", "00:11:22:33:44:55", []byte{192, 168, 1, 1}},
		{"6-byte password", "02:00:00:00:00:01", []byte{1, 2, 3, 4, 5, 6}},
		{"zero password", "00:11:22:33:44:55", []byte{0, 0, 0, 0}},
		{"ff password", "00:11:22:33:44:55", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mac, err := net.ParseMAC(tt.mac)
			if err != nil {
				t.Fatal(err)
			}
			p := wol.Packet{Target: mac, Password: tt.password}
			b, err := p.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if want := magic(tt.mac, tt.password...); !bytes.Equal(b, want) {
				t.Fatalf("MarshalBinary =\n% x\nwant\n% x", b, want)
			}
			if len(b) != wol.Size+len(tt.password) {
				t.Errorf("len = %d", len(b))
			}
			var q wol.Packet
			if err := q.UnmarshalBinary(b); err != nil {
				t.Fatal(err)
			}
			if q.Target.String() != tt.mac || !bytes.Equal(q.Password, tt.password) {
				t.Errorf("UnmarshalBinary = %s %x, want %s %x", q.Target, q.Password, tt.mac, tt.password)
			}
			if tt.password == nil && q.Password != nil {
				t.Errorf("Password = %x, want nil", q.Password)
			}
			// The decoded packet must not alias the input buffer.
			b[6] ^= 0xff
			b[len(b)-1] ^= 0xff
			if q.Target.String() != tt.mac || !bytes.Equal(q.Password, tt.password) {
				t.Error("the decoded packet shares memory with its input")
			}
		})
	}
}

func TestPacketMarshalRejects(t *testing.T) {
	tests := []struct {
		name string
		p    wol.Packet
	}{
		{"nil target", wol.Packet{}},
		{"short target", wol.Packet{Target: net.HardwareAddr{0, 1, 2, 3, 4}}},
		{"EUI-64 target", wol.Packet{Target: net.HardwareAddr{0, 1, 2, 3, 4, 5, 6, 7}}},
		{"broadcast", wol.Packet{Target: net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}},
		{"zero", wol.Packet{Target: net.HardwareAddr{0, 0, 0, 0, 0, 0}}},
		{"multicast", wol.Packet{Target: net.HardwareAddr{0x01, 0, 0x5e, 0, 0, 1}}},
		{"1-byte password", wol.Packet{Target: net.HardwareAddr{0, 1, 2, 3, 4, 5}, Password: []byte{1}}},
		{"5-byte password", wol.Packet{Target: net.HardwareAddr{0, 1, 2, 3, 4, 5}, Password: []byte{1, 2, 3, 4, 5}}},
		{"8-byte password", wol.Packet{Target: net.HardwareAddr{0, 1, 2, 3, 4, 5}, Password: make([]byte, 8)}},
	}
	for _, tt := range tests {
		if b, err := tt.p.MarshalBinary(); err == nil {
			t.Errorf("%s: MarshalBinary = % x, want an error", tt.name, b)
		}
	}
}

func TestPacketUnmarshalRejects(t *testing.T) {
	good := magic("00:11:22:33:44:55")
	with := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	tests := []struct {
		name string
		b    []byte
		want error // nil: any error
	}{
		{"empty", nil, wol.ErrLength},
		{"sync only", bytes.Repeat([]byte{0xff}, 6), wol.ErrLength},
		{"one byte short", good[:wol.Size-1], wol.ErrLength},
		{"one extra byte", append(magic("00:11:22:33:44:55"), 1), wol.ErrLength},
		{"5-byte password", magic("00:11:22:33:44:55", 1, 2, 3, 4, 5), wol.ErrLength},
		{"7-byte password", magic("00:11:22:33:44:55", 1, 2, 3, 4, 5, 6, 7), wol.ErrLength},
		{"17 copies", append(magic("00:11:22:33:44:55"), 0, 0x11, 0x22, 0x33, 0x44, 0x55), nil}, // 108 bytes: read as a password, it is fine
		{"bad sync", with(func(b []byte) []byte { b[0] = 0xfe; return b }), wol.ErrSync},
		{"bad sync end", with(func(b []byte) []byte { b[5] = 0; return b }), wol.ErrSync},
		{"second copy differs", with(func(b []byte) []byte { b[12] ^= 1; return b }), wol.ErrRepetitions},
		{"last copy differs", with(func(b []byte) []byte { b[wol.Size-1] ^= 1; return b }), wol.ErrRepetitions},
		{"broadcast target", magic("ff:ff:ff:ff:ff:ff"), nil},
		{"zero target", magic("00:00:00:00:00:00"), nil},
		{"multicast target", magic("01:00:5e:00:00:01"), nil},
		{"all ff with password", append(bytes.Repeat([]byte{0xff}, wol.Size), 1, 2, 3, 4), nil},
		{"reversed MAC sleep packet of the wrong length", bytes.Repeat([]byte{0xff}, 103), wol.ErrLength},
	}
	for _, tt := range tests {
		var p wol.Packet
		err := p.UnmarshalBinary(tt.b)
		if tt.name == "17 copies" {
			// A 17th copy is indistinguishable from a 6-byte password.
			if err != nil || len(p.Password) != 6 {
				t.Errorf("%s: %v, password %x", tt.name, err, p.Password)
			}
			continue
		}
		switch {
		case err == nil:
			t.Errorf("%s: UnmarshalBinary accepted % x", tt.name, tt.b)
		case tt.want != nil && !errors.Is(err, tt.want):
			t.Errorf("%s: error %v, want %v", tt.name, err, tt.want)
		}
		if p.Target != nil || p.Password != nil {
			t.Errorf("%s: a rejected packet changed p to %s %x", tt.name, p.Target, p.Password)
		}
	}
}

// TestUnmarshalClearsPassword checks that reusing a Packet does not keep a
// password from an earlier packet.
func TestUnmarshalClearsPassword(t *testing.T) {
	var p wol.Packet
	if err := p.UnmarshalBinary(magic("00:11:22:33:44:55", 1, 2, 3, 4)); err != nil {
		t.Fatal(err)
	}
	if err := p.UnmarshalBinary(magic("00:11:22:33:44:66")); err != nil {
		t.Fatal(err)
	}
	if p.Password != nil || p.Target.String() != "00:11:22:33:44:66" {
		t.Errorf("got %s %x", p.Target, p.Password)
	}
}
