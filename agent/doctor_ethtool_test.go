package agent

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"os"
	"strings"
	"testing"
)

// readHexFixture reads a testdata file of hex bytes with # comments.
func readHexFixture(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var digits strings.Builder
	for line := range strings.SplitSeq(string(data), "\n") {
		line, _, _ = strings.Cut(line, "#")
		digits.WriteString(strings.Join(strings.Fields(line), ""))
	}
	b, err := hex.DecodeString(digits.String())
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return b
}

func TestParseWolinfoFixtures(t *testing.T) {
	tests := []struct {
		file               string
		supported, wolopts string
		sopass             [6]byte
		wantErr            bool
	}{
		{file: "e1000e-g.hex", supported: "pumbg", wolopts: "g"},
		{file: "r8169-d.hex", supported: "pumbag", wolopts: "d"},
		{file: "usb-none.hex", supported: "p", wolopts: "d"},
		{file: "secureon.hex", supported: "pumbgs", wolopts: "gs", sopass: [6]byte{1, 2, 3, 4, 5, 6}},
		{file: "short.hex", wantErr: true},
		{file: "wrong-cmd.hex", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b := readHexFixture(t, "wolinfo/"+tt.file)
			w, err := parseWolinfo(b, binary.LittleEndian)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("parsed %+v, want an error", w)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := wolModes(w.supported); got != tt.supported {
				t.Errorf("supported = %s, want %s", got, tt.supported)
			}
			if got := wolModes(w.wolopts); got != tt.wolopts {
				t.Errorf("wolopts = %s, want %s", got, tt.wolopts)
			}
			if w.sopass != tt.sopass {
				t.Errorf("sopass = %x, want %x", w.sopass, tt.sopass)
			}
			// What ETHTOOL_SWOL would send back is the same struct with
			// another command.
			again := w.marshal(ethtoolGWOL, binary.LittleEndian)
			if !bytes.Equal(again, b) {
				t.Errorf("marshal = %x, want the fixture %x", again, b)
			}
		})
	}
}

func TestWolinfoBigEndian(t *testing.T) {
	w := wolInfo{supported: 0x2f, wolopts: wakeMagic}
	b := w.marshal(ethtoolSWOL, binary.BigEndian)
	if !bytes.Equal(b[:12], []byte{0, 0, 0, 6, 0, 0, 0, 0x2f, 0, 0, 0, 0x20}) {
		t.Fatalf("big-endian SWOL = %x", b)
	}
	if _, err := parseWolinfo(b, binary.BigEndian); err == nil {
		t.Fatal("an SWOL struct parsed as a GWOL answer")
	}
}

func TestWolModes(t *testing.T) {
	tests := []struct {
		bits uint32
		want string
	}{
		{0, "d"},
		{wakeMagic, "g"},
		{wakePHY | wakeUcast | wakeMcast | wakeBcast | wakeMagic, "pumbg"},
		{0xff, "pumbagsf"},
		{wakeMagic | 0x100, "g+0x100"},
	}
	for _, tt := range tests {
		if got := wolModes(tt.bits); got != tt.want {
			t.Errorf("wolModes(%#x) = %q, want %q", tt.bits, got, tt.want)
		}
		if tt.bits > 0xff {
			continue
		}
		back, err := parseWolModes(tt.want)
		if err != nil || back != tt.bits {
			t.Errorf("parseWolModes(%q) = %#x, %v; want %#x", tt.want, back, err, tt.bits)
		}
	}
	if _, err := parseWolModes("gx"); err == nil {
		t.Error(`parseWolModes("gx") succeeded`)
	}
}

// FuzzParseWolinfo: any bytes either fail to parse or round-trip.
func FuzzParseWolinfo(f *testing.F) {
	for _, name := range []string{"e1000e-g.hex", "r8169-d.hex", "secureon.hex", "short.hex"} {
		f.Add(readHexFixture(f, "wolinfo/"+name))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		w, err := parseWolinfo(b, binary.LittleEndian)
		if err != nil {
			return
		}
		again, err := parseWolinfo(w.marshal(ethtoolGWOL, binary.LittleEndian), binary.LittleEndian)
		if err != nil || again != w {
			t.Fatalf("round trip: %+v → %+v, %v", w, again, err)
		}
		if m := wolModes(w.wolopts); m == "" {
			t.Fatal("empty mode string")
		}
	})
}
