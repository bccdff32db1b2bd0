package probe

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/moonwake/moonwake"
)

// Pinger sends ICMP echo requests. It keeps one socket per IP family,
// opened on first use and shared by all pings (a raw socket gets a copy of
// every ICMP packet the host receives, so one per ping would cost the
// square of the pings in flight), and one goroutine reading replies, which
// Close stops. Replies are matched by sequence number, source address and
// a random token in the payload.
type Pinger struct {
	// Enter runs f with the calling goroutine in the namespace to ping
	// from; nil pings from the process's own.
	Enter func(f func() error) error
	// Modes are tried in order when a socket is opened; nil means
	// privileged, then unprivileged.
	Modes []moonwake.ICMPMode

	once  sync.Once
	token [8]byte
	id    uint16

	mu     sync.Mutex
	socks  [2]*pingSock // IPv4, IPv6
	closed bool
}

type pingSock struct {
	conn *icmp.PacketConn
	mode moonwake.ICMPMode
	v6   bool

	mu      sync.Mutex
	next    uint16
	waiting map[uint16]*pingWaiter
	dead    bool
	done    chan struct{} // the reader has returned
}

type pingWaiter struct {
	dst netip.Addr
	ch  chan pingReply // buffered, 1
}

type pingReply struct {
	at          time.Time
	unreachable bool // an ICMP destination unreachable about our request
}

// Ping sends one echo request to ip and waits up to timeout for the reply.
// The result's Mode says which socket was used, ICMPUnavailable when none
// could be opened (then Outcome is OutcomeError).
func (p *Pinger) Ping(ctx context.Context, ip netip.Addr, timeout time.Duration) moonwake.ICMPResult {
	ip = ip.Unmap()
	if !ip.IsValid() {
		return moonwake.ICMPResult{Mode: moonwake.ICMPUnavailable, Outcome: moonwake.OutcomeError, Error: "invalid address"}
	}
	s, err := p.sock(ip.Is6())
	if err != nil {
		return moonwake.ICMPResult{Mode: moonwake.ICMPUnavailable, Outcome: moonwake.OutcomeError, Error: err.Error()}
	}
	r := moonwake.ICMPResult{Mode: s.mode}
	seq, w, err := s.register(ip)
	if err != nil {
		r.Outcome, r.Error = moonwake.OutcomeError, err.Error()
		return r
	}
	defer s.unregister(seq)

	var typ icmp.Type = ipv4.ICMPTypeEcho
	if s.v6 {
		typ = ipv6.ICMPTypeEchoRequest
	}
	data := make([]byte, 16)
	copy(data, p.token[:])
	msg := icmp.Message{Type: typ, Body: &icmp.Echo{ID: int(p.id), Seq: int(seq), Data: data}}
	b, err := msg.Marshal(nil) // the kernel fills in the ICMPv6 checksum
	if err != nil {
		r.Outcome, r.Error = moonwake.OutcomeError, err.Error()
		return r
	}
	var dst net.Addr = &net.IPAddr{IP: ip.AsSlice(), Zone: ip.Zone()}
	if s.mode == moonwake.ICMPUnprivileged {
		dst = &net.UDPAddr{IP: ip.AsSlice(), Zone: ip.Zone()}
	}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	if _, err := s.conn.WriteTo(b, dst); err != nil {
		r.Outcome, r.Error = classify(pctx, err)
		return r
	}
	select {
	case rep := <-w.ch:
		if rep.unreachable {
			r.Outcome, r.Error = moonwake.OutcomeUnreachable, "destination unreachable"
			return r
		}
		r.Outcome, r.RTT = moonwake.OutcomeReply, rep.at.Sub(start)
	case <-pctx.Done():
		r.Outcome, r.Error = classify(pctx, pctx.Err())
	}
	return r
}

// Close closes the sockets and waits for their readers to return.
func (p *Pinger) Close() error {
	p.mu.Lock()
	p.closed = true
	socks := p.socks
	p.socks = [2]*pingSock{}
	p.mu.Unlock()
	var errs []error
	for _, s := range socks {
		if s != nil {
			errs = append(errs, s.conn.Close())
			<-s.done
		}
	}
	return errors.Join(errs...)
}

// sock returns the open socket of the family, opening it if needed, and
// again after its reader died.
func (p *Pinger) sock(v6 bool) (*pingSock, error) {
	p.once.Do(func() {
		_, _ = rand.Read(p.token[:])
		var id [2]byte
		_, _ = rand.Read(id[:])
		p.id = binary.BigEndian.Uint16(id[:])
	})
	i := 0
	if v6 {
		i = 1
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errors.New("pinger closed")
	}
	if s := p.socks[i]; s != nil {
		s.mu.Lock()
		dead := s.dead
		s.mu.Unlock()
		if !dead {
			return s, nil
		}
		s.conn.Close()
		<-s.done
		p.socks[i] = nil
	}
	s, err := p.open(v6)
	if err != nil {
		return nil, err
	}
	p.socks[i] = s
	go s.read(p)
	return s, nil
}

func (p *Pinger) open(v6 bool) (*pingSock, error) {
	modes := p.Modes
	if len(modes) == 0 {
		modes = []moonwake.ICMPMode{moonwake.ICMPPrivileged, moonwake.ICMPUnprivileged}
	}
	var errs []error
	for _, mode := range modes {
		var network, addr string
		switch {
		case mode == moonwake.ICMPPrivileged && !v6:
			network, addr = "ip4:icmp", "0.0.0.0"
		case mode == moonwake.ICMPPrivileged && v6:
			network, addr = "ip6:ipv6-icmp", "::"
		case mode == moonwake.ICMPUnprivileged && !v6:
			network, addr = "udp4", "0.0.0.0"
		case mode == moonwake.ICMPUnprivileged && v6:
			network, addr = "udp6", "::"
		default:
			continue
		}
		var c *icmp.PacketConn
		err := inNamespace(p.Enter, func() error {
			var err error
			c, err = icmp.ListenPacket(network, addr)
			return err
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", mode, err))
			continue
		}
		if mode == moonwake.ICMPPrivileged {
			// Let the kernel drop what is not for us: every echo request
			// this host answers, redirects, and so on.
			if v6 {
				var f ipv6.ICMPFilter
				f.SetAll(true)
				f.Accept(ipv6.ICMPTypeEchoReply)
				f.Accept(ipv6.ICMPTypeDestinationUnreachable)
				_ = c.IPv6PacketConn().SetICMPFilter(&f)
			} else {
				var f ipv4.ICMPFilter
				f.SetAll(true)
				f.Accept(ipv4.ICMPTypeEchoReply)
				f.Accept(ipv4.ICMPTypeDestinationUnreachable)
				_ = c.IPv4PacketConn().SetICMPFilter(&f)
			}
		}
		return &pingSock{conn: c, mode: mode, v6: v6, waiting: map[uint16]*pingWaiter{}, done: make(chan struct{})}, nil
	}
	if len(errs) == 0 {
		return nil, errors.New("icmp: no mode to try")
	}
	return nil, fmt.Errorf("icmp: %w", errors.Join(errs...))
}

func (s *pingSock) register(dst netip.Addr) (uint16, *pingWaiter, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.waiting) >= 1<<16-1 {
		return 0, nil, errors.New("icmp: too many pings in flight")
	}
	for {
		s.next++
		if _, used := s.waiting[s.next]; !used {
			break
		}
	}
	w := &pingWaiter{dst: dst.WithZone(""), ch: make(chan pingReply, 1)}
	s.waiting[s.next] = w
	return s.next, w, nil
}

func (s *pingSock) unregister(seq uint16) {
	s.mu.Lock()
	delete(s.waiting, seq)
	s.mu.Unlock()
}

// read delivers replies to the waiting pings until the socket is closed.
func (s *pingSock) read(p *Pinger) {
	defer close(s.done)
	proto := 1
	if s.v6 {
		proto = 58
	}
	buf := make([]byte, 1500)
	for {
		n, from, err := s.conn.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				s.mu.Lock()
				s.dead = true
				s.mu.Unlock()
				return
			}
			// An error queued on the socket (a host unreachable reported
			// for an earlier send) is not the end of it.
			if errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) ||
				errors.Is(err, syscall.EHOSTDOWN) || errors.Is(err, syscall.ECONNREFUSED) ||
				errors.Is(err, syscall.EINTR) {
				continue
			}
			s.mu.Lock()
			s.dead = true
			s.mu.Unlock()
			return
		}
		at := time.Now()
		var src netip.Addr
		switch a := from.(type) {
		case *net.IPAddr:
			src, _ = netip.AddrFromSlice(a.IP)
		case *net.UDPAddr:
			src, _ = netip.AddrFromSlice(a.IP)
		}
		src = src.Unmap()
		seq, dst, unreachable, ok := s.match(p, proto, buf[:n], src)
		if !ok {
			continue
		}
		s.mu.Lock()
		w := s.waiting[seq]
		if w != nil && w.dst == dst {
			select {
			case w.ch <- pingReply{at: at, unreachable: unreachable}:
			default:
			}
		}
		s.mu.Unlock()
	}
}

// match reads an ICMP message: an echo reply of ours (seq, from dst), or a
// destination unreachable quoting an echo request of ours (seq, to dst).
func (s *pingSock) match(p *Pinger, proto int, b []byte, src netip.Addr) (seq uint16, dst netip.Addr, unreachable, ok bool) {
	m, err := icmp.ParseMessage(proto, b)
	if err != nil {
		return 0, dst, false, false
	}
	switch body := m.Body.(type) {
	case *icmp.Echo:
		if m.Type != ipv4.ICMPTypeEchoReply && m.Type != ipv6.ICMPTypeEchoReply {
			return 0, dst, false, false
		}
		// A ping socket's id is chosen by the kernel, which also sorts
		// replies by it; a raw socket sees everyone's.
		if s.mode == moonwake.ICMPPrivileged && uint16(body.ID) != p.id {
			return 0, dst, false, false
		}
		if !bytes.HasPrefix(body.Data, p.token[:]) {
			return 0, dst, false, false
		}
		return uint16(body.Seq), src, false, true
	case *icmp.DstUnreach:
		return quotedEcho(body.Data, s.v6, p)
	}
	return 0, dst, false, false
}

// quotedEcho reads the IP header and first 8 bytes of our echo request that
// a destination unreachable message quotes.
func quotedEcho(q []byte, v6 bool, p *Pinger) (seq uint16, dst netip.Addr, unreachable, ok bool) {
	var hdr int
	if v6 {
		if len(q) < 40 || q[0]>>4 != 6 || q[6] != 58 {
			return 0, dst, false, false
		}
		hdr = 40
		dst, _ = netip.AddrFromSlice(q[24:40])
	} else {
		if len(q) < 20 || q[0]>>4 != 4 || q[9] != 1 {
			return 0, dst, false, false
		}
		hdr = int(q[0]&0x0f) * 4
		dst, _ = netip.AddrFromSlice(q[16:20])
	}
	if hdr < 20 || len(q) < hdr+8 {
		return 0, dst, false, false
	}
	e := q[hdr : hdr+8]
	if (!v6 && e[0] != 8) || (v6 && e[0] != 128) || binary.BigEndian.Uint16(e[4:6]) != p.id {
		return 0, dst, false, false
	}
	return binary.BigEndian.Uint16(e[6:8]), dst, true, true
}
