package relay

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/moonwake/moonwake/probe"
	"github.com/moonwake/moonwake/uplink"
	"github.com/moonwake/moonwake/wol"
)

// Nothing in these tests reaches the network: magic packets go to a fake
// network (fakeNet), and probes either run through a prober whose Enter
// refuses every socket (noNetProber) or, in the few tests that need an
// answer, to a listener on loopback.

// datagram is one packet the relay asked the fake network to send.
type datagram struct {
	network string // "udp4", "udp6" or "raw"
	to      string // address, or the interface of a raw frame
	b       []byte
}

// fakeNet stands for the host's sockets: it records every datagram the
// relay's wol.Sender writes, and can fail the writes.
type fakeNet struct {
	mu       sync.Mutex
	sent     []datagram
	writeErr error
}

func (f *fakeNet) ListenPacket(network, address string) (net.PacketConn, error) {
	return &fakeConn{net: f, network: network}, nil
}

func (f *fakeNet) Raw(ifname string, payload []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.writeErr != nil {
		return f.writeErr
	}
	f.sent = append(f.sent, datagram{"raw", ifname, append([]byte(nil), payload...)})
	return nil
}

// datagrams returns what was sent so far.
func (f *fakeNet) datagrams() []datagram {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]datagram(nil), f.sent...)
}

// sender is a wol.Sender on f.
func (f *fakeNet) sender() *wol.Sender {
	return &wol.Sender{ListenPacket: f.ListenPacket, Raw: f.Raw}
}

type fakeConn struct {
	net.PacketConn // nil: a method not below panics, showing the relay used it
	net            *fakeNet
	network        string
}

func (c *fakeConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	c.net.mu.Lock()
	defer c.net.mu.Unlock()
	if c.net.writeErr != nil {
		return 0, c.net.writeErr
	}
	c.net.sent = append(c.net.sent, datagram{c.network, addr.String(), append([]byte(nil), b...)})
	return len(b), nil
}

func (c *fakeConn) Close() error { return nil }

// testIfaces is the relay host's interfaces in these tests: two LANs that
// are up, a loopback, an interface that is down, one with IPv6 only (a
// global and a link-local prefix) and one without broadcast.
func testIfaces() []wol.Iface {
	return []wol.Iface{
		{Name: "lo", Up: true, Loopback: true, Prefixes: []netip.Prefix{
			netip.MustParsePrefix("127.0.0.1/8"), netip.MustParsePrefix("::1/128")}},
		{Name: "eth0", Up: true, Broadcast: true, HardwareAddr: net.HardwareAddr{2, 0, 0, 0, 0, 1}, Prefixes: []netip.Prefix{
			netip.MustParsePrefix("192.168.1.10/24"), netip.MustParsePrefix("fe80::1/64")}},
		{Name: "wlan0", Up: true, Broadcast: true, HardwareAddr: net.HardwareAddr{2, 0, 0, 0, 0, 2}, Prefixes: []netip.Prefix{
			netip.MustParsePrefix("10.20.0.5/16")}},
		{Name: "eth1", Up: false, Broadcast: true, Prefixes: []netip.Prefix{
			netip.MustParsePrefix("172.16.0.2/24")}},
		{Name: "eth2", Up: true, Broadcast: true, Prefixes: []netip.Prefix{
			netip.MustParsePrefix("2001:db8:1::5/64"), netip.MustParsePrefix("fe80::2/64")}},
		{Name: "wg0", Up: true, Broadcast: false, Prefixes: []netip.Prefix{
			netip.MustParsePrefix("10.99.0.1/24"), netip.MustParsePrefix("169.254.7.7/16")}},
	}
}

// errNoNetwork is what every socket a noNetProber would open fails with.
var errNoNetwork = errors.New("no network in unit tests")

// noNetProber is a prober that cannot reach anything: every socket it
// would open (TCP, ICMP, netlink, ARP, Sunshine's HTTP) fails in Enter,
// and names do not resolve (no DNS server is dialled; /etc/hosts is read).
func noNetProber(t testing.TB) *probe.Prober {
	t.Helper()
	p := probe.NewProber(probe.ProberOptions{
		Timeout: 50 * time.Millisecond, SunshineTimeout: 50 * time.Millisecond,
		Enter:    func(func() error) error { return errNoNetwork },
		Resolver: noDNS,
	})
	t.Cleanup(func() { p.Close() })
	return p
}

// noDNS resolves nothing but what /etc/hosts holds.
var noDNS = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
	return nil, errNoNetwork
}}

// newTestRelay returns a relay as Run builds it from o, with the fake
// network, the test interfaces and a prober that reaches nothing where o
// leaves them out.
func newTestRelay(t testing.TB, f *fakeNet, o Options) *Relay {
	t.Helper()
	if o.Interfaces == nil {
		o.Interfaces = func() ([]wol.Iface, error) { return testIfaces(), nil }
	}
	if o.Prober == nil {
		o.Prober = noNetProber(t)
	}
	if o.Sender == nil {
		o.Sender = f.sender()
	}
	return &Relay{o: o, log: slog.New(slog.DiscardHandler), prober: o.Prober, sender: o.Sender, ifs: o.Interfaces}
}

// handle gives r the command name with args (bytes as they are, anything
// else as JSON), checks the answer's shape and returns it.
func handle(t testing.TB, r *Relay, name string, args any) uplink.Result {
	t.Helper()
	var raw json.RawMessage
	switch a := args.(type) {
	case nil:
	case []byte:
		raw = a
	case string:
		raw = json.RawMessage(a)
	default:
		b, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		raw = b
	}
	res, then := r.Handle(context.Background(), uplink.Command{ID: "cmd_1", Name: name, Args: raw})
	if then != nil {
		t.Errorf("%s: Handle returned something to run after the answer", name)
	}
	if res.OK == (res.Error != "") {
		t.Errorf("%s: OK %v with error %q", name, res.OK, res.Error)
	}
	if !res.OK && res.Data != nil {
		t.Errorf("%s: refused, with data %s", name, res.Data)
	}
	return res
}

// magic is the magic packet for mac, with the SecureOn password pw if any.
func magic(t testing.TB, mac string, pw ...byte) []byte {
	t.Helper()
	hw, err := wol.ParseMAC(mac)
	if err != nil {
		t.Fatal(err)
	}
	b, err := (&wol.Packet{Target: hw, Password: pw}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
