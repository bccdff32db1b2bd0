package relay

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/wol"
)

// FuzzHandle gives the relay arbitrary order arguments, as a wake and as
// a probe (the seed corpus is in testdata/fuzz/FuzzHandle). Handle must
// never panic, and must never answer OK to an order it cannot read or
// that is out of bounds; what it does answer OK must be what it did:
// Count packets, each the order's magic packet, to each target it
// reports. Packets go to a fake network and probes to a prober that
// reaches nothing.
//
// Not checked yet: that the rest of a wake order is valid as a machine
// (a broadcast that is not an IP address, a bad name or host); see
// TestWakeOrderIsValidated.
func FuzzHandle(f *testing.F) {
	f.Add([]byte(`{"machine":"pc","mac":"aa:bb:cc:dd:ee:01","host":"192.168.1.42","count":3}`))
	f.Add([]byte(`{"machine":"pc","host":"192.168.1.42","mac":"aa:bb:cc:dd:ee:01","ports":[22,47989],"icmp":true,"sunshine_port":47989}`))
	f.Fuzz(func(t *testing.T, args []byte) {
		checkWake(t, args)
		checkProbe(t, args)
	})
}

// checkWake gives args to Handle as a wake order.
func checkWake(t *testing.T, args []byte) {
	var f fakeNet
	r := newTestRelay(t, &f, Options{})
	res := handle(t, r, CommandWake, args)
	sent := f.datagrams()
	var o WakeOrder
	decErr := json.Unmarshal(args, &o)
	if !res.OK {
		if len(sent) != 0 {
			t.Fatalf("refused (%s), yet sent %d packets", res.Error, len(sent))
		}
		if decErr != nil && !strings.HasPrefix(res.Error, "malformed order: ") {
			t.Fatalf("unreadable order refused with %q", res.Error)
		}
		return
	}
	if decErr != nil {
		t.Fatalf("unreadable order (%v) answered OK: %s", decErr, res.Data)
	}
	if o.Count < 1 || o.Count > 20 {
		t.Fatalf("count %d answered OK", o.Count)
	}
	mac, err := wol.ParseMAC(o.MAC)
	if err != nil {
		t.Fatalf("MAC %q (%v) answered OK", o.MAC, err)
	}
	var pw []byte
	if o.Password != "" {
		if pw, err = wol.ParsePassword(o.Password); err != nil {
			t.Fatalf("password %q (%v) answered OK", o.Password, err)
		}
	}
	if o.Port < 0 || o.Port > 65535 {
		t.Fatalf("port %d answered OK", o.Port)
	}
	var rep WakeReport
	if err := json.Unmarshal(res.Data, &rep); err != nil {
		t.Fatalf("report %s: %v", res.Data, err)
	}
	if len(rep.Steps) == 0 || rep.Sent != o.Count*len(rep.Steps) || len(sent) != rep.Sent {
		t.Fatalf("report %+v for count %d, %d packets on the network", rep, o.Count, len(sent))
	}
	pkt, err := (&wol.Packet{Target: mac, Password: pw}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range sent {
		if !bytes.Equal(d.b, pkt) {
			t.Fatalf("packet %d is not the order's magic packet: % x", i, d.b)
		}
		if st := rep.Steps[i/o.Count]; d.to != st.Target || st.Kind != "send" || st.Via != wol.ViaUDP || st.Error != "" {
			t.Fatalf("packet %d to %s (%s), step %+v", i, d.to, d.network, st)
		}
	}
}

// checkProbe gives args to Handle as a probe order.
func checkProbe(t *testing.T, args []byte) {
	var f fakeNet
	r := newTestRelay(t, &f, Options{})
	res := handle(t, r, CommandProbe, args)
	if len(f.datagrams()) != 0 {
		t.Fatal("a probe sent magic packets")
	}
	var o ProbeOrder
	decErr := json.Unmarshal(args, &o)
	var targetErr error
	if decErr == nil {
		_, targetErr = o.target()
	}
	if !res.OK {
		// The prober never fails: only a bad order is refused, saying why.
		switch {
		case decErr != nil:
			if !strings.HasPrefix(res.Error, "malformed order: ") {
				t.Fatalf("unreadable order refused with %q", res.Error)
			}
		case targetErr != nil:
			if res.Error != moonwake.ErrorMessage(targetErr) {
				t.Fatalf("bad order (%v) refused with %q", targetErr, res.Error)
			}
		default:
			t.Fatalf("a valid order %+v refused: %s", o, res.Error)
		}
		return
	}
	if decErr != nil || targetErr != nil {
		t.Fatalf("bad order (%v, %v) answered OK: %s", decErr, targetErr, res.Data)
	}
	var ev moonwake.Evidence
	if err := json.Unmarshal(res.Data, &ev); err != nil {
		t.Fatalf("evidence %s: %v", res.Data, err)
	}
	if ev.At.IsZero() || ev.Agent != nil {
		t.Fatalf("evidence %s", res.Data)
	}
	if ev.Error == "" && len(ev.TCP) != len(o.Ports) {
		t.Fatalf("%d ports, evidence %s", len(o.Ports), res.Data)
	}
}
