package passthrough_test

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/moonwake/moonwake/hub/passthrough"
)

// FuzzHandle feeds arbitrary datagrams through the whole datagram path: it
// must never panic, and it must wake only a registered machine named by a
// strictly well-formed magic packet carrying the password that machine
// needs.
func FuzzHandle(f *testing.F) {
	f.Add(magic(f, "02:00:00:00:00:01"))
	f.Add(magic(f, "02:00:00:00:00:02", 0x0a, 0x1b, 0x2c, 0x3d, 0x4e, 0x5f))
	f.Add(magic(f, "02:00:00:00:00:03", 192, 168, 1, 1))
	f.Add(magic(f, "02:00:00:00:00:09"))
	f.Add([]byte{})
	ms := testMachines(f)
	src := netip.MustParseAddr("203.0.113.7")
	f.Fuzz(func(t *testing.T, b []byte) {
		pw, w := recordWakes(nil)
		l := passthrough.New(passthrough.Options{Machines: ms, Power: pw, Local: notLocal})
		got := l.Handle(t.Context(), src, b)
		calls := w.Calls()
		if got != passthrough.Woken {
			if got == passthrough.Failed {
				t.Fatalf("failed on % x", b)
			}
			if len(calls) != 0 {
				t.Fatalf("outcome %v but woke %+v", got, calls)
			}
			return
		}
		if len(calls) != 1 {
			t.Fatalf("woken with %d calls", len(calls))
		}
		if n := len(b); n != 102 && n != 106 && n != 108 {
			t.Fatalf("woke on a %d-byte datagram", n)
		}
		mac := calls[0].machine.MAC
		want := magic(t, mac)
		if !bytes.Equal(b[:102], want) {
			t.Fatalf("woke %s on % x", mac, b)
		}
		switch calls[0].machine.Name {
		case "locked":
			if !bytes.Equal(b[102:], []byte{0x0a, 0x1b, 0x2c, 0x3d, 0x4e, 0x5f}) {
				t.Fatalf("woke locked with password % x", b[102:])
			}
		case "locked4":
			if !bytes.Equal(b[102:], []byte{192, 168, 1, 1}) {
				t.Fatalf("woke locked4 with password % x", b[102:])
			}
		}
	})
}
