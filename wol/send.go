package wol

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"
)

// Sender sends magic packets to Targets. It keeps one UDP socket per address
// family open for its lifetime, so a busy hub does not open a socket per
// wake. The zero value is ready to use; Close releases the sockets.
type Sender struct {
	// ListenPacket opens the UDP sockets ("udp4" or "udp6"). Tests replace
	// it to observe what is written; nil means net.ListenPacket.
	ListenPacket func(network, address string) (net.PacketConn, error)
	// Raw sends an Ethernet frame payload with EtherType 0x0842 on an
	// interface; nil means SendRaw (Linux only).
	Raw func(ifname string, payload []byte) error
	// Sent, when set, hears of every packet Send tried, and its error
	// (the hub's metrics count them).
	Sent func(t Target, err error)

	mu   sync.Mutex
	udp4 net.PacketConn
	udp6 net.PacketConn
}

func (s *Sender) conn(v6 bool) (net.PacketConn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, network := &s.udp4, "udp4"
	if v6 {
		c, network = &s.udp6, "udp6"
	}
	if *c != nil {
		return *c, nil
	}
	listen := s.ListenPacket
	if listen == nil {
		listen = net.ListenPacket
	}
	// Go sets SO_BROADCAST on datagram sockets, so one unbound socket can
	// send to directed broadcasts, unicast and multicast alike.
	pc, err := listen(network, ":0")
	if err != nil {
		return nil, fmt.Errorf("open %s socket: %w", network, err)
	}
	*c = pc
	return pc, nil
}

// Send sends the encoded packet b to t once.
func (s *Sender) Send(b []byte, t Target) error {
	err := s.send(b, t)
	if s.Sent != nil {
		s.Sent(t, err)
	}
	return err
}

func (s *Sender) send(b []byte, t Target) error {
	switch t.Via {
	case ViaRaw:
		raw := s.Raw
		if raw == nil {
			raw = SendRaw
		}
		if err := raw(t.Interface, b); err != nil {
			return fmt.Errorf("raw frame on %s: %w", t.Interface, err)
		}
		return nil
	case ViaUDP:
		pc, err := s.conn(t.Addr.Addr().Is6())
		if err != nil {
			return err
		}
		if _, err := pc.WriteTo(b, net.UDPAddrFromAddrPort(t.Addr)); err != nil {
			return fmt.Errorf("send to %s: %w", t, err)
		}
		return nil
	default:
		return fmt.Errorf("unknown way to send %q", t.Via)
	}
}

// Result is the outcome of one packet sent by SendRepeated.
type Result struct {
	At     time.Time
	Target Target
	Err    error
}

// SendRepeated sends b to every target, count times, interval apart, calling
// report after each packet when report is not nil. It stops early when ctx
// ends, and returns the first error, if any, after trying every target.
func (s *Sender) SendRepeated(ctx context.Context, b []byte, targets []Target, count int, interval time.Duration, report func(Result)) error {
	if count < 1 {
		count = 1
	}
	var first error
	for i := 0; i < count; i++ {
		if i > 0 {
			t := time.NewTimer(interval)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		}
		for _, t := range targets {
			err := s.Send(b, t)
			if err != nil && first == nil {
				first = err
			}
			if report != nil {
				report(Result{At: time.Now(), Target: t, Err: err})
			}
		}
	}
	return first
}

// Close closes the sender's sockets.
func (s *Sender) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	for _, c := range []*net.PacketConn{&s.udp4, &s.udp6} {
		if *c != nil {
			if e := (*c).Close(); e != nil && err == nil {
				err = e
			}
			*c = nil
		}
	}
	return err
}
