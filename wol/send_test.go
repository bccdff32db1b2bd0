package wol_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moonwake/moonwake/wol"
)

// write is one datagram a fakeConn was asked to send.
type write struct {
	network string
	to      string
	b       []byte
}

// fakeNet hands out fakeConns and records everything written to them, so
// Sender can be tested without a network.
type fakeNet struct {
	mu        sync.Mutex
	listens   []string // "network address" per ListenPacket call
	writes    []write
	closed    int
	listenErr error
	writeErr  error
}

func (f *fakeNet) ListenPacket(network, address string) (net.PacketConn, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.listens = append(f.listens, network+" "+address)
	if f.listenErr != nil {
		return nil, f.listenErr
	}
	return &fakeConn{net: f, network: network}, nil
}

type fakeConn struct {
	net.PacketConn // nil: any method not below panics, showing Sender used it
	net            *fakeNet
	network        string
}

func (c *fakeConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	c.net.mu.Lock()
	defer c.net.mu.Unlock()
	if c.net.writeErr != nil {
		return 0, c.net.writeErr
	}
	c.net.writes = append(c.net.writes, write{c.network, addr.String(), append([]byte(nil), b...)})
	return len(b), nil
}

func (c *fakeConn) Close() error {
	c.net.mu.Lock()
	defer c.net.mu.Unlock()
	c.net.closed++
	return nil
}

func mustPacket(t testing.TB, mac string, password ...byte) []byte {
	t.Helper()
	hw, err := wol.ParseMAC(mac)
	if err != nil {
		t.Fatal(err)
	}
	b, err := (&wol.Packet{Target: hw, Password: password}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func udp(s string) wol.Target {
	return wol.Target{Via: wol.ViaUDP, Addr: netip.MustParseAddrPort(s)}
}

func TestSenderSend(t *testing.T) {
	var f fakeNet
	var raws []write
	s := wol.Sender{
		ListenPacket: f.ListenPacket,
		Raw: func(ifname string, payload []byte) error {
			raws = append(raws, write{"raw", ifname, append([]byte(nil), payload...)})
			return nil
		},
	}
	b := mustPacket(t, "00:11:22:33:44:55", 1, 2, 3, 4)
	targets := []wol.Target{
		udp("192.168.1.255:9"),
		udp("[ff02::1%eth0]:9"),
		udp("10.0.0.255:7"),
		udp("[2001:db8::1]:47009"),
		{Via: wol.ViaRaw, Interface: "eth0"},
	}
	for _, tg := range targets {
		if err := s.Send(b, tg); err != nil {
			t.Fatalf("Send(%v): %v", tg, err)
		}
	}
	// One unbound socket per family, reused.
	if want := []string{"udp4 :0", "udp6 :0"}; !slices.Equal(f.listens, want) {
		t.Errorf("ListenPacket calls = %q, want %q", f.listens, want)
	}
	wantWrites := []write{
		{"udp4", "192.168.1.255:9", b},
		{"udp6", "[ff02::1%eth0]:9", b},
		{"udp4", "10.0.0.255:7", b},
		{"udp6", "[2001:db8::1]:47009", b},
	}
	if len(f.writes) != len(wantWrites) {
		t.Fatalf("writes = %v", f.writes)
	}
	for i, w := range wantWrites {
		g := f.writes[i]
		if g.network != w.network || g.to != w.to || !bytes.Equal(g.b, w.b) {
			t.Errorf("write %d = %s to %s % x, want %s to %s", i, g.network, g.to, g.b, w.network, w.to)
		}
	}
	if len(raws) != 1 || raws[0].to != "eth0" || !bytes.Equal(raws[0].b, b) {
		t.Errorf("raw sends = %v", raws)
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if f.closed != 2 {
		t.Errorf("Close closed %d sockets, want 2", f.closed)
	}
	if err := s.Close(); err != nil || f.closed != 2 {
		t.Errorf("second Close: %v, %d closes", err, f.closed)
	}
	// A closed Sender opens a fresh socket when used again.
	if err := s.Send(b, targets[0]); err != nil {
		t.Fatal(err)
	}
	if len(f.listens) != 3 {
		t.Errorf("ListenPacket calls after Close = %q", f.listens)
	}
}

func TestSenderErrors(t *testing.T) {
	b := mustPacket(t, "00:11:22:33:44:55")
	boom := errors.New("boom")

	f := fakeNet{listenErr: boom}
	s := wol.Sender{ListenPacket: f.ListenPacket}
	if err := s.Send(b, udp("10.0.0.255:9")); !errors.Is(err, boom) || !strings.Contains(err.Error(), "udp4") {
		t.Errorf("listen failure: %v", err)
	}

	f = fakeNet{writeErr: boom}
	s = wol.Sender{ListenPacket: f.ListenPacket}
	if err := s.Send(b, udp("10.0.0.255:9")); !errors.Is(err, boom) || !strings.Contains(err.Error(), "10.0.0.255:9") {
		t.Errorf("write failure: %v", err)
	}

	s = wol.Sender{Raw: func(string, []byte) error { return boom }}
	if err := s.Send(b, wol.Target{Via: wol.ViaRaw, Interface: "eth3"}); !errors.Is(err, boom) || !strings.Contains(err.Error(), "eth3") {
		t.Errorf("raw failure: %v", err)
	}

	if err := s.Send(b, wol.Target{Via: "carrier-pigeon"}); err == nil {
		t.Error("Send with an unknown Via succeeded")
	}
}

func TestSendRepeated(t *testing.T) {
	b := mustPacket(t, "00:11:22:33:44:55")
	targets := []wol.Target{udp("10.0.0.255:9"), udp("10.1.0.255:9")}

	t.Run("count and order", func(t *testing.T) {
		var f fakeNet
		s := wol.Sender{ListenPacket: f.ListenPacket}
		defer s.Close()
		var reports []string
		err := s.SendRepeated(context.Background(), b, targets, 3, time.Millisecond, func(r wol.Result) {
			if r.Err != nil || r.At.IsZero() {
				t.Errorf("report %+v", r)
			}
			reports = append(reports, r.Target.String())
		})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"10.0.0.255:9", "10.1.0.255:9", "10.0.0.255:9", "10.1.0.255:9", "10.0.0.255:9", "10.1.0.255:9"}
		if !slices.Equal(reports, want) {
			t.Errorf("reports = %q, want %q", reports, want)
		}
		if len(f.writes) != 6 {
			t.Errorf("%d writes, want 6", len(f.writes))
		}
	})

	t.Run("count below 1 sends once", func(t *testing.T) {
		for _, count := range []int{0, -5} {
			var f fakeNet
			s := wol.Sender{ListenPacket: f.ListenPacket}
			if err := s.SendRepeated(context.Background(), b, targets, count, time.Hour, nil); err != nil {
				t.Fatal(err)
			}
			if len(f.writes) != 2 {
				t.Errorf("count %d: %d writes, want 2", count, len(f.writes))
			}
		}
	})

	t.Run("interval", func(t *testing.T) {
		var f fakeNet
		s := wol.Sender{ListenPacket: f.ListenPacket}
		start := time.Now()
		if err := s.SendRepeated(context.Background(), b, targets[:1], 3, 20*time.Millisecond, nil); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < 40*time.Millisecond {
			t.Errorf("3 sends 20ms apart took %s", d)
		}
	})

	t.Run("context ends the repeats", func(t *testing.T) {
		var f fakeNet
		s := wol.Sender{ListenPacket: f.ListenPacket}
		ctx, cancel := context.WithCancel(context.Background())
		n := 0
		err := s.SendRepeated(ctx, b, targets, 5, time.Hour, func(wol.Result) {
			n++
			if n == 2 {
				cancel() // after the first round
			}
		})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
		if n != 2 {
			t.Errorf("%d packets sent, want the first round of 2", n)
		}
	})

	t.Run("an error does not stop the other targets", func(t *testing.T) {
		boom := errors.New("no route")
		var sent []string
		s := wol.Sender{Raw: func(ifname string, _ []byte) error {
			sent = append(sent, ifname)
			if ifname == "bad0" {
				return boom
			}
			return nil
		}}
		raw := []wol.Target{{Via: wol.ViaRaw, Interface: "bad0"}, {Via: wol.ViaRaw, Interface: "eth0"}}
		var failed int
		err := s.SendRepeated(context.Background(), b, raw, 2, 0, func(r wol.Result) {
			if r.Err != nil {
				failed++
			}
		})
		if !errors.Is(err, boom) {
			t.Errorf("err = %v, want %v", err, boom)
		}
		if want := []string{"bad0", "eth0", "bad0", "eth0"}; !slices.Equal(sent, want) || failed != 2 {
			t.Errorf("sent %q with %d failures, want %q with 2", sent, failed, want)
		}
	})
}

// TestSendLoopback sends real datagrams, to a listener on 127.0.0.1 (and
// ::1 when the host has it) only.
func TestSendLoopback(t *testing.T) {
	for _, addr := range []string{"127.0.0.1", "::1"} {
		t.Run(addr, func(t *testing.T) {
			network := "udp4"
			if strings.Contains(addr, ":") {
				network = "udp6"
			}
			ln, err := net.ListenPacket(network, net.JoinHostPort(addr, "0"))
			if err != nil {
				t.Skipf("no %s loopback: %v", network, err)
			}
			defer ln.Close()
			port := ln.LocalAddr().(*net.UDPAddr).Port

			targets, err := wol.Plan(wol.Options{Broadcast: netip.MustParseAddr(addr), Port: port}, nil)
			if err != nil {
				t.Fatal(err)
			}
			b := mustPacket(t, "aa-bb-cc-dd-ee-0f", 0xde, 0xad, 0xbe, 0xef, 0x00, 0x01)
			var s wol.Sender
			defer s.Close()
			if err := s.SendRepeated(context.Background(), b, targets, 3, time.Millisecond, nil); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 2048)
			for i := range 3 {
				ln.SetReadDeadline(time.Now().Add(2 * time.Second))
				n, from, err := ln.ReadFrom(buf)
				if err != nil {
					t.Fatalf("packet %d: %v", i+1, err)
				}
				if !bytes.Equal(buf[:n], b) {
					t.Errorf("packet %d = % x, want % x", i+1, buf[:n], b)
				}
				var p wol.Packet
				if err := p.UnmarshalBinary(buf[:n]); err != nil || p.Target.String() != "aa:bb:cc:dd:ee:0f" {
					t.Errorf("packet %d decodes as %v, %v", i+1, p.Target, err)
				}
				if ip := from.(*net.UDPAddr).IP; !ip.IsLoopback() {
					t.Errorf("packet %d came from %v", i+1, from)
				}
			}
			ln.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			if n, _, err := ln.ReadFrom(buf); err == nil {
				t.Errorf("a fourth packet arrived: % x", buf[:n])
			}
		})
	}
}
