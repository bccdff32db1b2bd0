package wol_test

import (
	"bytes"
	"testing"

	"github.com/moonwake/moonwake/wol"
)

func TestParseMAC(t *testing.T) {
	const want = "aa:bb:cc:dd:ee:0f"
	tests := []struct {
		in   string
		want string // "" means an error is expected
	}{
		{"aa:bb:cc:dd:ee:0f", want},
		{"aa-bb-cc-dd-ee-0f", want},
		{"aabb.ccdd.ee0f", want},
		{"aabbccddee0f", want},
		{"AA:BB:CC:DD:EE:0F", want},
		{"AA-BB-CC-DD-EE-0F", want},
		{"AABB.CCDD.EE0F", want},
		{"AABBCCDDEE0F", want},
		{"aA:Bb:cC:dD:Ee:0F", want},
		{"  aa:bb:cc:dd:ee:0f\n", want}, // pasted with blanks
		{"00:11:22:33:44:55", "00:11:22:33:44:55"},
		{"02:00:00:00:00:00", "02:00:00:00:00:00"}, // locally administered is fine
		{"fe:ff:ff:ff:ff:ff", "fe:ff:ff:ff:ff:ff"}, // even, so unicast

		// Not a single machine.
		{"ff:ff:ff:ff:ff:ff", ""},
		{"FF-FF-FF-FF-FF-FF", ""},
		{"ffffffffffff", ""},
		{"00:00:00:00:00:00", ""},
		{"0000.0000.0000", ""},
		{"01:00:5e:00:00:01", ""}, // IPv4 multicast
		{"33:33:00:00:00:01", ""}, // IPv6 multicast
		{"01:80:c2:00:00:00", ""}, // STP
		{"03:00:00:00:00:01", ""},

		// Malformed.
		{"", ""},
		{"   ", ""},
		{"aa:bb:cc:dd:ee", ""},
		{"aa:bb:cc:dd:ee:ff:00", ""},
		{"aa:bb:cc:dd:ee:f", ""},
		{"aabbccddeef", ""},
		{"aabbccddee0f0", ""},
		{"aa:bb:cc:dd:ee:0f:00:11", ""}, // EUI-64
		{"aa-bb-cc-dd-ee-0f-00-11", ""},
		{"aabb.ccdd.ee0f.0011", ""},
		{"aabbccddee0f0011", ""},
		{"aa:bb-cc:dd:ee:0f", ""}, // mixed separators
		{"aa-bb-cc-dd-ee:0f", ""},
		{"aa:bb:cc:dd:ee-0f", ""},
		{"aa.bb.cc.dd.ee.0f", ""},
		{"aabb:ccdd:ee0f", ""},
		{"aabb.ccdd-ee0f", ""},
		{"aabbc.cdd.ee0f", ""},
		{"gg:bb:cc:dd:ee:0f", ""}, // not hex
		{"aa:bb:cc:dd:ee:0g", ""},
		{"zzbb.ccdd.ee0f", ""},
		{"aabbccddee0x", ""},
		{"0xaabbccddee", ""},
		{"aa::bb:cc:dd:e0f", ""},
		{"aa:bb:cc:dd:ee:+f", ""},
		{" a:bb:cc:dd:ee:0f", ""}, // the blank is trimmed, then it is short
		{"aa:bb:cc:dd:ee:0f\x00", ""},
		{"gaming-pc", ""},
		{"éé:bb:cc:dd:ee", ""},
	}
	for _, tt := range tests {
		got, err := wol.ParseMAC(tt.in)
		switch {
		case tt.want == "" && err == nil:
			t.Errorf("ParseMAC(%q) = %s, want an error", tt.in, got)
		case tt.want != "" && err != nil:
			t.Errorf("ParseMAC(%q): %v", tt.in, err)
		case tt.want != "" && got.String() != tt.want:
			t.Errorf("ParseMAC(%q) = %s, want %s", tt.in, got, tt.want)
		case err != nil && err.Error() == "":
			t.Errorf("ParseMAC(%q): empty error message", tt.in)
		}
	}
}

func TestParsePassword(t *testing.T) {
	tests := []struct {
		in   string
		want []byte // nil means an error is expected
	}{
		{"0a1b2c3d", []byte{0x0a, 0x1b, 0x2c, 0x3d}},
		{"0A1B2C3D", []byte{0x0a, 0x1b, 0x2c, 0x3d}},
		{"0a:1b:2c:3d", []byte{0x0a, 0x1b, 0x2c, 0x3d}},
		{"0a-1b-2c-3d", []byte{0x0a, 0x1b, 0x2c, 0x3d}},
		{"0a1b2c3d4e5f", []byte{0x0a, 0x1b, 0x2c, 0x3d, 0x4e, 0x5f}},
		{"0a:1b:2c:3d:4e:5f", []byte{0x0a, 0x1b, 0x2c, 0x3d, 0x4e, 0x5f}},
		{"0A-1B-2C-3D-4E-5F", []byte{0x0a, 0x1b, 0x2c, 0x3d, 0x4e, 0x5f}},
		{"192.168.1.1", []byte{192, 168, 1, 1}}, // as etherwake reads it
		{"0.0.0.0", []byte{0, 0, 0, 0}},
		{"255.255.255.255", []byte{255, 255, 255, 255}},
		{" 10.0.0.1 ", []byte{10, 0, 0, 1}},
		{"ff:ff:ff:ff:ff:ff", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}, // any bytes will do
		{"00000000", []byte{0, 0, 0, 0}},

		{"", nil},
		{"0a1b2c", nil},         // 3 bytes
		{"0a1b2c3d4e", nil},     // 5 bytes
		{"0a1b2c3d4e5f60", nil}, // 7 bytes
		{"0a:1b:2c", nil},       // 3 bytes
		{"0a:1b:2c:3d:4e", nil}, // 5 bytes
		{"0a:1b:2c:3d:4e:5f:60", nil},
		{"0a:1b-2c:3d", nil}, // mixed separators
		{"0a:1b:2c:3d:4e-5f", nil},
		{"0a.1b.2c.3d", nil}, // not decimal, not hex
		{"0a 1b 2c 3d", nil},
		{"0a1b2c3g", nil},
		{"0a:1b:2c:3g", nil},
		{"0x0a1b2c", nil},
		{"256.1.1.1", nil},
		{"1.2.3", nil},
		{"01.2.3.4", nil},
		{"::1", nil},
		{"::ffff:1.2.3.4", nil},
		{"1.2.3.4%eth0", nil},
		{"secret", nil},
		{"0a::1b:2c:3", nil},
	}
	for _, tt := range tests {
		got, err := wol.ParsePassword(tt.in)
		switch {
		case tt.want == nil && err == nil:
			t.Errorf("ParsePassword(%q) = %x, want an error", tt.in, got)
		case tt.want != nil && err != nil:
			t.Errorf("ParsePassword(%q): %v", tt.in, err)
		case tt.want != nil && !bytes.Equal(got, tt.want):
			t.Errorf("ParsePassword(%q) = %x, want %x", tt.in, got, tt.want)
		}
	}
}
