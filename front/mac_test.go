package front_test

import (
	"bytes"
	"testing"

	"github.com/moonwake/moonwake/front"
	"github.com/moonwake/moonwake/wol"
)

// FuzzParseMAC: the front accepts exactly the MACs the hub accepts, as the
// same address, so that its 400 never refuses what the hub would wake and
// never lets through what the hub refuses. The seeds are in
// testdata/fuzz/FuzzParseMAC.
func FuzzParseMAC(f *testing.F) {
	for _, s := range []string{"aa:bb:cc:dd:ee:ff", "AA-BB-CC-DD-EE-FF", "aabb.ccdd.eeff", "AABBCCDDEEFF", " aa:bb:cc:dd:ee:ff\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, gerr := front.ParseMAC(s)
		want, werr := wol.ParseMAC(s)
		if (gerr == nil) != (werr == nil) {
			t.Fatalf("ParseMAC(%q): front says %v, hub says %v", s, gerr, werr)
		}
		if gerr == nil && !bytes.Equal(got, want) {
			t.Fatalf("ParseMAC(%q): front %s, hub %s", s, got, want)
		}
		if gerr != nil && gerr.Error() != werr.Error() {
			t.Fatalf("ParseMAC(%q): front says %q, hub says %q", s, gerr, werr)
		}
	})
}
