package wol_test

import (
	"context"
	"net"
	"net/netip"
	"testing"

	"github.com/moonwake/moonwake/wol"
)

func BenchmarkMarshal(b *testing.B) {
	p := wol.Packet{Target: net.HardwareAddr{0, 0x11, 0x22, 0x33, 0x44, 0x55}, Password: []byte{1, 2, 3, 4, 5, 6}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.MarshalBinary(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnmarshal(b *testing.B) {
	pkt := mustPacket(b, "00:11:22:33:44:55", 1, 2, 3, 4, 5, 6)
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	var p wol.Packet
	for b.Loop() {
		if err := p.UnmarshalBinary(pkt); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSendLoopback measures a real send through the kernel, to a
// listener on 127.0.0.1 that drains what arrives.
func BenchmarkSendLoopback(b *testing.B) {
	ln, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	drained := make(chan int)
	go func() {
		buf := make([]byte, 2048)
		n := 0
		for {
			if _, _, err := ln.ReadFromUDP(buf); err != nil {
				drained <- n
				return
			}
			n++
		}
	}()
	targets, err := wol.Plan(wol.Options{Broadcast: netip.MustParseAddr("127.0.0.1"), Port: ln.LocalAddr().(*net.UDPAddr).Port}, nil)
	if err != nil {
		b.Fatal(err)
	}
	pkt := mustPacket(b, "00:11:22:33:44:55")
	var s wol.Sender
	defer s.Close()
	ctx := context.Background()
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	for b.Loop() {
		if err := s.SendRepeated(ctx, pkt, targets, 1, 0, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	ln.Close()
	if n := <-drained; n == 0 {
		b.Error("the listener received nothing")
	}
}
