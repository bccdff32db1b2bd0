//go:build linux

package testlan_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/moonwake/moonwake/internal/testlan"
)

// TestLAN checks what the other tests rely on: hosts see each other by
// unicast, directed broadcast, ff02::1 and raw frames, sockets opened with
// Do live in the namespace, and everything disappears at cleanup.
func TestLAN(t *testing.T) {
	var names []string
	t.Run("lan", func(t *testing.T) {
		lan := testlan.New(t)
		a := lan.AddHost("a")
		b := lan.AddHost("b", lan.CIDR(99), "fd77::99/64")
		names = []string{a.Netns(), b.Netns(), lan.Switch().Netns()}
		for _, n := range names {
			if _, err := os.Stat(filepath.Join("/run/netns", n)); err != nil {
				t.Fatalf("namespace %s: %v", n, err)
			}
		}
		if got, want := b.Addr(), netip.MustParseAddr(lan.CIDR(99)[:strings.IndexByte(lan.CIDR(99), '/')]); got != want {
			t.Errorf("b.Addr() = %v, want %v", got, want)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()

		// The host's own view of eth0 is what AddHost promised.
		out, err := b.Run(ctx, "ip", "-o", "addr", "show", "dev", "eth0")
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{lan.CIDR(99) + " brd " + lan.Broadcast().String(), "fd77::99/64"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("b's eth0 lacks %q:\n%s", want, out)
			}
		}
		// The sysctls were set in the namespace, not in the test's own.
		out, err = b.Run(ctx, "cat", "/proc/sys/net/ipv6/conf/eth0/accept_dad")
		if err != nil || strings.TrimSpace(string(out)) != "0" {
			t.Errorf("accept_dad on b's eth0 = %q, %v; want 0", out, err)
		}
		if own, err := os.ReadFile("/proc/sys/net/ipv6/conf/lo/disable_ipv6"); err != nil || strings.TrimSpace(string(own)) != "0" {
			t.Errorf("the test process's own lo has disable_ipv6 = %q, %v", own, err)
		}
		if out, err := lan.Switch().Run(ctx, "ip", "-6", "-o", "addr"); err != nil || len(out) != 0 {
			t.Errorf("the switch has IPv6 addresses: %q, %v", out, err)
		}
		var mac net.HardwareAddr
		if err := a.Do(func() error {
			ifi, err := net.InterfaceByName("eth0")
			if ifi != nil {
				mac = ifi.HardwareAddr
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if mac.String() != a.MAC().String() {
			t.Errorf("a's eth0 has MAC %s, MAC() says %s", mac, a.MAC())
		}

		rx, err := b.ListenUDP(4242)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := b.ListenRaw("eth0", 0x88b5) // local experimental EtherType
		if err != nil {
			t.Fatal(err)
		}
		send := func(dst netip.AddrPort, msg string) {
			t.Helper()
			err := a.Do(func() error {
				network := "udp4"
				if dst.Addr().Is6() {
					network = "udp6"
				}
				c, err := net.ListenPacket(network, ":0")
				if err != nil {
					return err
				}
				defer c.Close()
				_, err = c.WriteTo([]byte(msg), net.UDPAddrFromAddrPort(dst))
				return err
			})
			if err != nil {
				t.Fatalf("send to %s: %v", dst, err)
			}
			d, err := rx.Next(2 * time.Second)
			if err != nil {
				t.Fatalf("to %s: %v", dst, err)
			}
			if string(d.Data) != msg {
				t.Errorf("to %s: got %q, want %q", dst, d.Data, msg)
			}
		}
		send(netip.AddrPortFrom(b.Addr(), 4242), "unicast")
		send(netip.AddrPortFrom(lan.Broadcast(), 4242), "broadcast")
		if _, err := a.LinkLocal(ctx); err != nil {
			t.Fatal(err)
		}
		send(netip.AddrPortFrom(netip.MustParseAddr("ff02::1").WithZone("eth0"), 4242), "all nodes")
		if err := rx.Quiet(50 * time.Millisecond); err != nil {
			t.Error(err)
		}

		// A raw frame from a, through the switch, to b's packet socket.
		err = a.Do(func() error {
			ifi, err := net.InterfaceByName("eth0")
			if err != nil {
				return err
			}
			return sendFrame(ifi, []byte("hello raw"), 0x88b5)
		})
		if err != nil {
			t.Fatal(err)
		}
		d, err := raw.Next(2 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		f, err := testlan.ParseFrame(d.Data)
		if err != nil {
			t.Fatal(err)
		}
		if f.Src.String() != a.MAC().String() || f.EtherType != 0x88b5 || !strings.HasPrefix(string(f.Payload), "hello raw") {
			t.Errorf("frame: src %s type %#x payload %q", f.Src, f.EtherType, f.Payload)
		}

		// A process started on b is stopped at cleanup.
		var buf testlan.Buffer
		cmd := b.Exec(context.Background(), "sh", "-c", "echo ready; exec sleep 60")
		cmd.Stdout = &buf
		p, err := b.Start(cmd)
		if err != nil {
			t.Fatal(err)
		}
		if err := buf.WaitFor(ctx, "ready", p.Done()); err != nil {
			t.Fatal(err)
		}
	})
	for _, n := range names {
		if _, err := os.Stat(filepath.Join("/run/netns", n)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("namespace %s still exists after cleanup (%v)", n, err)
		}
	}
}

// TestParallelLANs builds several LANs at once, as parallel tests do.
func TestParallelLANs(t *testing.T) {
	for _, name := range []string{"one", "two", "three", "four"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			lan := testlan.New(t)
			a, b := lan.AddHost("a"), lan.AddHost("b")
			rx, err := b.ListenUDP(9)
			if err != nil {
				t.Fatal(err)
			}
			err = a.Do(func() error {
				c, err := net.Dial("udp4", netip.AddrPortFrom(lan.Broadcast(), 9).String())
				if err != nil {
					return err
				}
				defer c.Close()
				_, err = c.Write([]byte(name))
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			d, err := rx.Next(2 * time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if string(d.Data) != name || d.From.Addr() != a.Addr() {
				t.Errorf("got %q from %v, want %q from %v", d.Data, d.From, name, a.Addr())
			}
		})
	}
}

func TestBuffer(t *testing.T) {
	var b testlan.Buffer
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	go func() {
		time.Sleep(10 * time.Millisecond)
		b.Write([]byte("Capturing on 'eth0'\n"))
	}()
	if err := b.WaitFor(ctx, "Capturing on", nil); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	close(done)
	if err := b.WaitFor(ctx, "never", done); err == nil {
		t.Error("WaitFor on an exited process returned nil")
	}
}

func TestParseFrame(t *testing.T) {
	if _, err := testlan.ParseFrame(make([]byte, 13)); err == nil {
		t.Error("ParseFrame accepted 13 bytes")
	}
	f, err := testlan.ParseFrame([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0x08, 0x42, 0xff})
	if err != nil {
		t.Fatal(err)
	}
	if f.Dst.String() != "01:02:03:04:05:06" || f.Src.String() != "07:08:09:0a:0b:0c" || f.EtherType != 0x0842 || len(f.Payload) != 1 {
		t.Errorf("ParseFrame = %+v", f)
	}
}

// sendFrame broadcasts payload in an Ethernet frame on ifi, from inside the
// namespace Do put the calling thread in.
func sendFrame(ifi *net.Interface, payload []byte, etherType uint16) error {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	bcast := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	frame := append(append(append(append([]byte{}, bcast...), ifi.HardwareAddr...), byte(etherType>>8), byte(etherType)), payload...)
	sa := &unix.SockaddrLinklayer{Ifindex: ifi.Index, Halen: 6}
	copy(sa.Addr[:], bcast)
	return unix.Sendto(fd, frame, 0, sa)
}

// TestDoPanics checks that a panic in Do reaches the caller and that no
// thread is left in the namespace afterwards.
func TestDoPanics(t *testing.T) {
	lan := testlan.New(t)
	h := lan.AddHost("a")
	own, err := os.Readlink("/proc/thread-self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Errorf("recovered %v, want boom", r)
			}
		}()
		h.Do(func() error { panic("boom") })
		t.Error("Do returned after a panic")
	}()
	if err := h.Do(func() error { runtime.Goexit(); return nil }); err == nil {
		t.Error("Do returned nil after runtime.Goexit")
	}
	var inside string
	if err := h.Do(func() error {
		var err error
		inside, err = os.Readlink("/proc/thread-self/ns/net")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if inside == own {
		t.Fatalf("Do ran in the test's own namespace %s", own)
	}
	// Every thread the runtime hands out is back in the test's namespace.
	for range 50 {
		c := make(chan string)
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			ns, _ := os.Readlink("/proc/thread-self/ns/net")
			c <- ns
		}()
		if ns := <-c; ns != own {
			t.Fatalf("a thread is in namespace %s, want %s", ns, own)
		}
	}
}
