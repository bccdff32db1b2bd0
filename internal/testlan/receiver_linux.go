//go:build linux

package testlan

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Datagram is one thing a Receiver got.
type Datagram struct {
	Data []byte         // a UDP payload, or a whole Ethernet frame for ListenRaw
	From netip.AddrPort // UDP: the sender; raw: the zero value
	At   time.Time
}

// Receiver collects what a socket inside a namespace receives, so a test
// can wait for packets with a timeout, or check that none come.
type Receiver struct {
	c         chan Datagram
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
	close     func() error
}

func newReceiver(read func(buf []byte) (int, netip.AddrPort, error), closeFn func() error) *Receiver {
	r := &Receiver{c: make(chan Datagram, 1024), done: make(chan struct{}), close: closeFn}
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := read(buf)
			if err != nil {
				// Closed (or broken): nothing more will come.
				return
			}
			d := Datagram{Data: append([]byte(nil), buf[:n]...), From: from, At: time.Now()}
			select {
			case r.c <- d:
			case <-r.done:
				return
			}
		}
	}()
	return r
}

// Next returns the next datagram, waiting at most timeout.
func (r *Receiver) Next(timeout time.Duration) (Datagram, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case d := <-r.c:
		return d, nil
	case <-t.C:
		return Datagram{}, fmt.Errorf("nothing received in %s", timeout)
	}
}

// Expect returns n datagrams, waiting at most timeout for all of them; on
// timeout it returns those received and an error.
func (r *Receiver) Expect(n int, timeout time.Duration) ([]Datagram, error) {
	deadline := time.Now().Add(timeout)
	var out []Datagram
	for len(out) < n {
		d, err := r.Next(time.Until(deadline))
		if err != nil {
			return out, fmt.Errorf("received %d of %d in %s", len(out), n, timeout)
		}
		out = append(out, d)
	}
	return out, nil
}

// Quiet waits d and fails if anything arrives meanwhile (or was already
// waiting): the way to prove that nothing was sent.
func (r *Receiver) Quiet(d time.Duration) error {
	got, err := r.Next(d)
	if err != nil {
		return nil
	}
	return fmt.Errorf("received %d unexpected bytes from %v: % x", len(got.Data), got.From, got.Data)
}

// Close closes the socket. The LAN closes it anyway when the test ends.
func (r *Receiver) Close() error {
	r.closeOnce.Do(func() {
		close(r.done)
		r.closeErr = r.close()
	})
	return r.closeErr
}

// ListenUDP opens a UDP socket on port in the host's namespace, on every
// address, IPv4 and IPv6 (a dual-stack socket): it receives unicast,
// directed broadcasts and ff02::1 alike.
func (h *Host) ListenUDP(port int) (*Receiver, error) {
	var c *net.UDPConn
	err := h.Do(func() error {
		var err error
		c, err = net.ListenUDP("udp", &net.UDPAddr{Port: port})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%s: listen on UDP port %d: %w", h.name, port, err)
	}
	r := newReceiver(func(buf []byte) (int, netip.AddrPort, error) {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		return n, netip.AddrPortFrom(from.Addr().Unmap(), from.Port()), err
	}, c.Close)
	h.lan.track(r.Close)
	return r, nil
}

// ListenRaw opens an AF_PACKET socket bound to iface in the host's
// namespace that receives whole Ethernet frames of the given EtherType
// (0x0842 for Wake-on-LAN), whatever their destination MAC. Frames the host
// sends itself are left out.
func (h *Host) ListenRaw(iface string, etherType uint16) (*Receiver, error) {
	var f *os.File
	err := h.Do(func() error {
		ifi, err := net.InterfaceByName(iface)
		if err != nil {
			return err
		}
		proto := int(htons(etherType))
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, proto)
		if err != nil {
			return fmt.Errorf("packet socket: %w", err)
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(etherType), Ifindex: ifi.Index}); err != nil {
			unix.Close(fd)
			return fmt.Errorf("bind packet socket to %s: %w", iface, err)
		}
		// Frames that arrived on other interfaces between socket() and
		// bind() would be queued already; drain them.
		buf := make([]byte, 65536)
		for {
			if _, _, err := unix.Recvfrom(fd, buf, 0); err != nil {
				break
			}
		}
		// Non-blocking, so os.File hands it to the runtime's poller and
		// Close wakes a pending read.
		f = os.NewFile(uintptr(fd), "packet:"+iface)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: listen for EtherType %#04x on %s: %w", h.name, etherType, iface, err)
	}
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	r := newReceiver(func(buf []byte) (int, netip.AddrPort, error) {
		for {
			var n int
			var from unix.Sockaddr
			var rerr error
			err := rc.Read(func(fd uintptr) bool {
				n, from, rerr = unix.Recvfrom(int(fd), buf, 0)
				return !errors.Is(rerr, unix.EAGAIN)
			})
			if err != nil {
				return 0, netip.AddrPort{}, err
			}
			if rerr != nil {
				return 0, netip.AddrPort{}, rerr
			}
			if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
				continue
			}
			return n, netip.AddrPort{}, nil
		}
	}, f.Close)
	h.lan.track(r.Close)
	return r, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// Frame is a parsed Ethernet II frame.
type Frame struct {
	Dst, Src  net.HardwareAddr
	EtherType uint16
	Payload   []byte
}

// ParseFrame splits an Ethernet II frame (as ListenRaw returns them) into
// its header fields and payload.
func ParseFrame(b []byte) (Frame, error) {
	if len(b) < 14 {
		return Frame{}, fmt.Errorf("ethernet frame of %d bytes: shorter than its header", len(b))
	}
	return Frame{
		Dst:       net.HardwareAddr(b[0:6]),
		Src:       net.HardwareAddr(b[6:12]),
		EtherType: uint16(b[12])<<8 | uint16(b[13]),
		Payload:   b[14:],
	}, nil
}
