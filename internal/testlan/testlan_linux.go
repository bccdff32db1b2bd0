//go:build linux

package testlan

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// netnsDir is where "ip netns" keeps its named namespaces.
const netnsDir = "/run/netns"

// Iface is the name of every host's interface on the LAN: tests can write
// "--interface eth0" without asking.
const Iface = "eth0"

var (
	probeOnce sync.Once
	probeErr  error

	reapOnce sync.Once

	// lanSeq and subnetBase give each LAN of a process its own 10.77.N.0/24.
	// Namespaces isolate LANs anyway; distinct subnets only make a failing
	// test's output unambiguous.
	lanSeq     atomic.Uint32
	subnetBase = uint32(os.Getpid())

	nameRE  = regexp.MustCompile(`^[a-z][a-z0-9]{0,11}$`)
	staleRE = regexp.MustCompile(`^mw-([0-9]+)-[0-9a-f]{6}-[a-z][a-z0-9]*$`)
)

// Require skips t unless LANs can be built here: Linux, root, the iproute2
// "ip" command, and a kernel that lets this process create network
// namespaces (an unprivileged container does not).
func Require(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("testlan: needs root to create network namespaces (CI runs the tests as root)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip(`testlan: needs the iproute2 "ip" command`)
	}
	probeOnce.Do(func() { probeErr = probeNetns() })
	if probeErr != nil {
		t.Skipf("testlan: cannot create network namespaces here: %v", probeErr)
	}
}

// probeNetns checks that unshare(CLONE_NEWNET) is allowed, on a thread that
// is then thrown away, so the probe leaves nothing to clean up.
func probeNetns() error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// Never unlocked: when this goroutine returns, the runtime ends the
		// thread, which may now be in a namespace of its own.
		errc <- unix.Unshare(unix.CLONE_NEWNET)
	}()
	return <-errc
}

// LAN is one Ethernet segment: a bridge in its own namespace (the switch)
// and the hosts plugged into it.
type LAN struct {
	t      testing.TB
	id     string // "<pid>-<6 hex>": unique among live processes
	prefix netip.Prefix
	sw     *Host

	mu       sync.Mutex
	hosts    []*Host
	procs    []*Proc
	closers  []func() error
	netnsSet []string // namespaces created, in order
	attached int      // hosts of other LANs attached (Attach)
	closed   bool
}

// New builds an empty LAN and removes it when t ends. It skips t like
// Require when LANs cannot be built. Call it, and AddHost, from the test's
// own goroutine: they stop the test with t.Fatal on failure.
func New(t testing.TB) *LAN {
	t.Helper()
	Require(t)
	reapOnce.Do(func() { reapStale(t) })

	var rnd [3]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		t.Fatalf("testlan: %v", err)
	}
	n := (subnetBase+lanSeq.Add(1))%250 + 1
	l := &LAN{
		t:      t,
		id:     fmt.Sprintf("%d-%s", os.Getpid(), hex.EncodeToString(rnd[:])),
		prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 77, byte(n), 0}), 24),
	}
	// Registered before anything exists, so a failure half-way through
	// still removes whatever was made.
	t.Cleanup(l.close)

	l.sw = &Host{lan: l, name: "sw", netns: l.netnsName("sw"), iface: "br0"}
	if err := l.addNetns(l.sw.netns); err != nil {
		t.Fatalf("testlan: %v", err)
	}
	// No IPv6 on the switch itself: its own router solicitations and MLD
	// reports would only be noise in captures.
	err := l.sw.Do(func() error {
		return writeSysctls(map[string]string{
			"ipv6/conf/all/disable_ipv6":     "1",
			"ipv6/conf/default/disable_ipv6": "1",
		})
	})
	if err != nil {
		t.Fatalf("testlan: switch: %v", err)
	}
	// STP off and no forwarding delay: ports forward as soon as they are up.
	// No multicast snooping: ff02::1 reaches every port without MLD state.
	if err := ipBatch(l.sw.netns,
		"link add br0 type bridge stp_state 0 forward_delay 0 mcast_snooping 0",
		"link set br0 up",
		"link set lo up",
	); err != nil {
		t.Fatalf("testlan: switch: %v", err)
	}
	return l
}

func (l *LAN) netnsName(host string) string { return "mw-" + l.id + "-" + host }

// addNetns creates a namespace and remembers it for cleanup.
func (l *LAN) addNetns(name string) error {
	if _, err := runIP("netns", "add", name); err != nil {
		return err
	}
	l.mu.Lock()
	l.netnsSet = append(l.netnsSet, name)
	l.mu.Unlock()
	return nil
}

// Prefix is the LAN's default subnet, 10.77.N.0/24.
func (l *LAN) Prefix() netip.Prefix { return l.prefix }

// Broadcast is the directed broadcast address of Prefix, 10.77.N.255.
func (l *LAN) Broadcast() netip.Addr {
	a := l.prefix.Addr().As4()
	a[3] = 255
	return netip.AddrFrom4(a)
}

// CIDR returns host address i of Prefix as "10.77.N.i/24", for AddHost.
func (l *LAN) CIDR(i int) string {
	a := l.prefix.Addr().As4()
	a[3] = byte(i)
	return netip.PrefixFrom(netip.AddrFrom4(a), 24).String()
}

// Switch is the namespace holding the bridge, "br0". Its Exec, Run, Do and
// ListenRaw("br0", …) see every frame on the LAN, for captures; it has no
// address and no MAC of its own.
func (l *LAN) Switch() *Host { return l.sw }

// Hosts lists the hosts in the order they were added.
func (l *LAN) Hosts() []*Host {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*Host(nil), l.hosts...)
}

// AddHost plugs a new host into the LAN: a namespace with lo up and an
// interface "eth0" on the bridge with the given addresses ("10.77.N.x/24",
// IPv6 too; several make a multi-homed interface). Without addresses the
// host gets CIDR(10+its index). name is 1-12 characters a-z, 0-9, starting
// with a letter, unique in the LAN.
func (l *LAN) AddHost(name string, cidrs ...string) *Host {
	l.t.Helper()
	h, err := l.addHost(name, cidrs)
	if err != nil {
		l.t.Fatalf("testlan: host %s: %v", name, err)
	}
	return h
}

func (l *LAN) addHost(name string, cidrs []string) (*Host, error) {
	if !nameRE.MatchString(name) || name == "sw" {
		return nil, fmt.Errorf("bad host name %q: want 1-12 of a-z0-9, starting with a letter, not \"sw\"", name)
	}
	l.mu.Lock()
	for _, h := range l.hosts {
		if h.name == name {
			l.mu.Unlock()
			return nil, fmt.Errorf("the LAN already has a host %q", name)
		}
	}
	idx := len(l.hosts) + 1
	l.mu.Unlock()
	if idx > 200 {
		return nil, errors.New("too many hosts on one LAN")
	}
	if len(cidrs) == 0 {
		cidrs = []string{l.CIDR(10 + idx)}
	}
	var prefixes []netip.Prefix
	for _, c := range cidrs {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return nil, fmt.Errorf("address %q: %v", c, err)
		}
		prefixes = append(prefixes, p)
	}
	// A locally administered unicast MAC, unique in the LAN and readable
	// in captures: 02:77:<LAN id>:<host index>.
	rnd, _ := hex.DecodeString(l.id[strings.LastIndexByte(l.id, '-')+1:])
	mac := net.HardwareAddr{0x02, 0x77, rnd[0], rnd[1], rnd[2], byte(idx)}

	h := &Host{lan: l, name: name, netns: l.netnsName(name), iface: Iface, mac: mac, prefixes: prefixes}
	if err := l.addNetns(h.netns); err != nil {
		return nil, err
	}
	// Before eth0 exists, so it inherits them: no duplicate address
	// detection (a link-local address is usable at once) and no router
	// solicitations (quieter captures).
	err := h.Do(func() error {
		return writeSysctls(map[string]string{
			"ipv6/conf/all/accept_dad":               "0",
			"ipv6/conf/default/accept_dad":           "0",
			"ipv6/conf/default/router_solicitations": "0",
		})
	})
	if err != nil {
		return nil, err
	}
	port := "p" + strconv.Itoa(idx)
	if err := ipBatch(l.sw.netns,
		fmt.Sprintf("link add %s type veth peer name %s netns %s address %s", port, Iface, h.netns, mac),
		fmt.Sprintf("link set %s master br0 up", port),
	); err != nil {
		return nil, err
	}
	cmds := []string{"link set lo up"}
	for _, p := range prefixes {
		if p.Addr().Is4() {
			cmds = append(cmds, fmt.Sprintf("addr add %s brd + dev %s", p, Iface))
		} else {
			cmds = append(cmds, fmt.Sprintf("addr add %s dev %s nodad", p, Iface))
		}
	}
	cmds = append(cmds, "link set "+Iface+" up")
	if err := ipBatch(h.netns, cmds...); err != nil {
		return nil, err
	}
	// A veth is "up" before its carrier is: a packet sent in between is
	// dropped (a test's first broadcast, now and then, on a loaded machine).
	if err := h.waitRunning(Iface); err != nil {
		return nil, err
	}
	if err := l.sw.waitRunning(port); err != nil {
		return nil, err
	}
	// Running is not yet ready: the kernel shows it before it gives the
	// interface its send queue (until then one that drops everything) and
	// before the bridge makes the port forward.
	if err := l.sw.waitForwarding(port); err != nil {
		return nil, err
	}
	if err := h.waitSends(Iface, mac, l.sw, port); err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.hosts = append(l.hosts, h)
	l.mu.Unlock()
	return h, nil
}

// Attach plugs h, a host of another LAN, into this one too: an interface
// named iface (not "eth0") on this LAN's bridge with address cidr (say
// CIDR(200)), which h's Addr does not report. A host on two LANs stands
// for a relay with a leg on a home LAN and one on a cluster's pod network.
// It returns the address.
func (l *LAN) Attach(h *Host, iface, cidr string) netip.Addr {
	l.t.Helper()
	p, err := netip.ParsePrefix(cidr)
	if err != nil || !p.Addr().Is4() || iface == Iface || !nameRE.MatchString(iface) {
		l.t.Fatalf("testlan: attach %s: want an IPv4 CIDR and an interface name other than %s", h.name, Iface)
	}
	l.mu.Lock()
	l.attached++
	port := "x" + strconv.Itoa(l.attached)
	l.mu.Unlock()
	rnd, _ := hex.DecodeString(l.id[strings.LastIndexByte(l.id, '-')+1:])
	mac := net.HardwareAddr{0x02, 0x78, rnd[0], rnd[1], rnd[2], byte(l.attached)}
	if err := ipBatch(l.sw.netns,
		fmt.Sprintf("link add %s type veth peer name %s netns %s address %s", port, iface, h.netns, mac),
		fmt.Sprintf("link set %s master br0 up", port),
	); err != nil {
		l.t.Fatalf("testlan: attach %s: %v", h.name, err)
	}
	if err := ipBatch(h.netns, fmt.Sprintf("addr add %s brd + dev %s", p, iface), "link set "+iface+" up"); err != nil {
		l.t.Fatalf("testlan: attach %s: %v", h.name, err)
	}
	if err := h.waitRunning(iface); err != nil {
		l.t.Fatalf("testlan: attach %s: %v", h.name, err)
	}
	if err := l.sw.waitRunning(port); err != nil {
		l.t.Fatalf("testlan: attach %s: %v", h.name, err)
	}
	if err := l.sw.waitForwarding(port); err != nil {
		l.t.Fatalf("testlan: attach %s: %v", h.name, err)
	}
	if err := h.waitSends(iface, mac, l.sw, port); err != nil {
		l.t.Fatalf("testlan: attach %s: %v", h.name, err)
	}
	return p.Addr()
}

// waitRunning waits until iface in h's namespace is operationally up: its
// carrier is on and packets sent through it go out.
func (h *Host) waitRunning(iface string) error {
	return h.Do(func() error {
		deadline := time.Now().Add(10 * time.Second)
		for {
			ifi, err := net.InterfaceByName(iface)
			if err != nil {
				return err
			}
			if ifi.Flags&net.FlagRunning != 0 {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s in %s is not running after 10s (flags %v)", iface, h.netns, ifi.Flags)
			}
			time.Sleep(2 * time.Millisecond)
		}
	})
}

// waitForwarding waits until the bridge port in the switch's namespace
// forwards frames.
func (sw *Host) waitForwarding(port string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := runIP("-n", sw.netns, "-d", "-j", "link", "show", "dev", port)
		if err != nil {
			return err
		}
		var links []struct {
			LinkInfo struct {
				SlaveData struct {
					State string `json:"state"`
				} `json:"info_slave_data"`
			} `json:"linkinfo"`
		}
		if err := json.Unmarshal(out, &links); err != nil {
			return fmt.Errorf("ip link show %s: %w", port, err)
		}
		if len(links) == 1 && links[0].LinkInfo.SlaveData.State == "forwarding" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("bridge port %s is not forwarding after 10s: %s", port, bytes.TrimSpace(out))
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// readyEtherType is IEEE 802's local experimental EtherType, for the frames
// waitSends sends: no test listens for it.
const readyEtherType = 0x88b5

// waitSends sends frames from iface, whose MAC is mac, in h's namespace
// until one reaches port, its end on the switch. They go to that same MAC,
// so the bridge, which has just learnt it on port, drops them there: no
// other host sees them.
func (h *Host) waitSends(iface string, mac net.HardwareAddr, sw *Host, port string) error {
	// Every EtherType: a socket for one sees nothing a bridge port takes.
	var fd int
	err := sw.Do(func() error {
		ifi, err := net.InterfaceByName(port)
		if err != nil {
			return err
		}
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return fmt.Errorf("packet socket: %w", err)
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
			unix.Close(fd)
			return fmt.Errorf("bind packet socket to %s: %w", port, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	tv := unix.NsecToTimeval((20 * time.Millisecond).Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return err
	}
	buf := make([]byte, 2048)
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := h.Do(func() error {
			ifi, err := net.InterfaceByName(iface)
			if err != nil {
				return err
			}
			return sendFrame(ifi, mac, readyEtherType)
		})
		if err != nil {
			return err
		}
		for {
			n, _, err := unix.Recvfrom(fd, buf, 0)
			if err != nil {
				break // nothing more within 20ms: send again
			}
			if f, err := ParseFrame(buf[:n]); err == nil && f.EtherType == readyEtherType && bytes.Equal(f.Src, mac) {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s sends nothing through %s after 10s", h.netns, iface)
		}
	}
}

// sendFrame sends an empty Ethernet frame of etherType from ifi to dst, in
// the namespace the calling thread is in.
func sendFrame(ifi *net.Interface, dst net.HardwareAddr, etherType uint16) error {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("packet socket: %w", err)
	}
	defer unix.Close(fd)
	frame := make([]byte, 60) // the Ethernet minimum, zero padded
	copy(frame, dst)
	copy(frame[6:], ifi.HardwareAddr)
	frame[12], frame[13] = byte(etherType>>8), byte(etherType)
	sa := &unix.SockaddrLinklayer{Ifindex: ifi.Index, Halen: 6}
	copy(sa.Addr[:], dst)
	if err := unix.Sendto(fd, frame, 0, sa); err != nil {
		return fmt.Errorf("send on %s: %w", ifi.Name, err)
	}
	return nil
}

// Reach makes h talk to other once (a TCP connection to a listener on
// other's address), so that h's neighbour table holds other's MAC.
func (h *Host) Reach(other *Host) error {
	var l net.Listener
	if err := other.Do(func() error {
		var err error
		l, err = net.Listen("tcp", net.JoinHostPort(other.Addr().String(), "0"))
		return err
	}); err != nil {
		return err
	}
	defer l.Close()
	return h.Do(func() error {
		c, err := net.DialTimeout("tcp", l.Addr().String(), 10*time.Second)
		if err != nil {
			return err
		}
		return c.Close()
	})
}

// close undoes New and AddHost: processes first (by pid), then sockets,
// then namespaces, hosts before the switch. A namespace that cannot be
// deleted fails the test, so leaks are never silent.
func (l *LAN) close() {
	l.mu.Lock()
	l.closed = true
	procs, closers, set := l.procs, l.closers, l.netnsSet
	l.procs, l.closers, l.netnsSet = nil, nil, nil
	l.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		procs[i].Stop()
	}
	for i := len(closers) - 1; i >= 0; i-- {
		_ = closers[i]()
	}
	for i := len(set) - 1; i >= 0; i-- {
		if _, err := runIP("netns", "delete", set[i]); err != nil {
			l.t.Errorf("testlan: %v", err)
		}
	}
}

// track registers something to close when the LAN goes away; if it already
// has, it is closed at once.
func (l *LAN) track(closer func() error) {
	l.mu.Lock()
	if !l.closed {
		l.closers = append(l.closers, closer)
		l.mu.Unlock()
		return
	}
	l.mu.Unlock()
	_ = closer()
}

// reapStale deletes namespaces left by earlier test processes that died
// without cleaning up, recognised by their name "mw-<pid>-…" and a pid that
// no longer exists.
func reapStale(t testing.TB) {
	entries, err := os.ReadDir(netnsDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		m := staleRE.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		pid, err := strconv.Atoi(m[1])
		if err != nil || pid == os.Getpid() {
			continue
		}
		if err := unix.Kill(pid, 0); !errors.Is(err, unix.ESRCH) {
			continue // alive, or not ours to judge
		}
		if _, err := runIP("netns", "delete", e.Name()); err == nil {
			t.Logf("testlan: deleted namespace %s left by dead process %d", e.Name(), pid)
		}
	}
}

// Host is a namespace on a LAN: a machine with one interface, eth0.
type Host struct {
	lan      *LAN
	name     string
	netns    string
	iface    string
	mac      net.HardwareAddr
	prefixes []netip.Prefix
}

// Name is the name given to AddHost.
func (h *Host) Name() string { return h.name }

// Netns is the namespace's name, for "ip netns exec" or "ip -n".
func (h *Host) Netns() string { return h.netns }

// Iface is the host's interface on the LAN: "eth0", or "br0" for the switch.
func (h *Host) Iface() string { return h.iface }

// MAC is the Ethernet address of the host's eth0.
func (h *Host) MAC() net.HardwareAddr { return append(net.HardwareAddr(nil), h.mac...) }

// Addr is the host's first address.
func (h *Host) Addr() netip.Addr {
	if len(h.prefixes) == 0 {
		return netip.Addr{}
	}
	return h.prefixes[0].Addr()
}

// Prefix is the host's first address with its prefix length.
func (h *Host) Prefix() netip.Prefix {
	if len(h.prefixes) == 0 {
		return netip.Prefix{}
	}
	return h.prefixes[0]
}

// Prefixes are all the addresses given to AddHost.
func (h *Host) Prefixes() []netip.Prefix { return append([]netip.Prefix(nil), h.prefixes...) }

// LinkLocal waits until eth0 has its IPv6 link-local address (at once, as
// duplicate address detection is off) and returns it, with its zone.
func (h *Host) LinkLocal(ctx context.Context) (netip.Addr, error) {
	for {
		var ll netip.Addr
		err := h.Do(func() error {
			ifi, err := net.InterfaceByName(h.iface)
			if err != nil {
				return err
			}
			addrs, err := ifi.Addrs()
			if err != nil {
				return err
			}
			for _, a := range addrs {
				if ipn, ok := a.(*net.IPNet); ok {
					if ip, ok := netip.AddrFromSlice(ipn.IP); ok && ip.Is6() && ip.IsLinkLocalUnicast() {
						ll = ip.WithZone(h.iface)
					}
				}
			}
			return nil
		})
		if err != nil || ll.IsValid() {
			return ll, err
		}
		select {
		case <-ctx.Done():
			return netip.Addr{}, fmt.Errorf("%s: no IPv6 link-local address on %s: %w", h.name, h.iface, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Exec prepares argv to run in the host's namespace ("ip netns exec", which
// execs argv in place, so the process's pid is argv's own). The process is
// killed if the test process dies, and when ctx ends.
func (h *Host) Exec(ctx context.Context, argv ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.netns}, argv...)...)
	// Pdeathsig: a test binary killed by -timeout takes its tshark along.
	// (It fires when the starting thread ends; Go ends threads only for
	// goroutines that exit while locked to one, which Do avoids.)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	// A killed process's children (tshark's dumpcap) may hold its output
	// open; do not wait for them forever.
	cmd.WaitDelay = 2 * time.Second
	return cmd
}

// Run runs argv in the host's namespace and returns its standard output.
// The error includes its standard error.
func (h *Host) Run(ctx context.Context, argv ...string) ([]byte, error) {
	cmd := h.Exec(ctx, argv...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s on %s: %w: %s", strings.Join(argv, " "), h.name, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return out, nil
}

// Proc is a process started with Host.Start.
type Proc struct {
	Cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// Start starts cmd (from Exec) and stops it, by its pid, when the LAN goes
// away. Give it io.Writers (a Buffer) for output, not StdoutPipe: the
// process is waited for in the background as soon as it starts.
func (h *Host) Start(cmd *exec.Cmd) (*Proc, error) {
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s on %s: %w", strings.Join(cmd.Args, " "), h.name, err)
	}
	p := &Proc{Cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	h.lan.mu.Lock()
	if h.lan.closed {
		h.lan.mu.Unlock()
		p.Stop()
		return nil, errors.New("the LAN is already closed")
	}
	h.lan.procs = append(h.lan.procs, p)
	h.lan.mu.Unlock()
	return p, nil
}

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Wait waits for the process to exit and returns what exec.Cmd.Wait did.
func (p *Proc) Wait() error {
	<-p.done
	return p.err
}

// Stop asks the process to end (SIGTERM, so tshark can stop its dumpcap),
// kills it after two seconds, and waits for it. It is safe to call more
// than once and after the process has exited.
func (p *Proc) Stop() error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	// os.Process signals through a pidfd: never another process that
	// reused the pid.
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(2 * time.Second)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		_ = p.Cmd.Process.Kill()
		<-p.done
	}
	return p.err
}

// Do runs f on an OS thread switched into the host's namespace, then
// switches the thread back. Sockets f opens stay in the namespace for
// their whole life, wherever they are used later; goroutines f starts do
// not run in the namespace. A panic in f is raised again in the caller;
// f must not call t.FailNow (it runs on another goroutine): return an error.
func (h *Host) Do(f func() error) error {
	type result struct {
		err      error
		panicked bool // f panicked, or called runtime.Goexit
		value    any
	}
	done := make(chan result, 1)
	go func() {
		res := result{panicked: true} // until f returns
		runtime.LockOSThread()
		defer func() {
			if res.panicked {
				res.value = recover()
			}
			done <- res
		}()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			res = result{err: fmt.Errorf("open own network namespace: %w", err)}
			return
		}
		defer unix.Close(orig)
		target, err := unix.Open(filepath.Join(netnsDir, h.netns), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			res = result{err: fmt.Errorf("open namespace %s: %w", h.netns, err)}
			return
		}
		defer unix.Close(target)
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			res = result{err: fmt.Errorf("enter namespace %s: %w", h.netns, err)}
			return
		}
		// Deferred, so it also runs when f panics.
		defer func() {
			if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
				// Stay locked: the runtime ends the thread with this
				// goroutine instead of reusing it in the wrong namespace.
				res.err = errors.Join(res.err, fmt.Errorf("leave namespace %s: %w", h.netns, err))
				return
			}
			runtime.UnlockOSThread()
		}()
		res.err = f()
		res.panicked = false
	}()
	res := <-done
	if res.panicked {
		if res.value == nil {
			return fmt.Errorf("in namespace %s: the function called runtime.Goexit (t.FailNow?)", h.netns)
		}
		panic(res.value)
	}
	return res.err
}

// writeSysctls sets /proc/sys/net values for the calling thread's namespace
// (call it inside Do); keys are relative to /proc/sys/net.
func writeSysctls(kv map[string]string) error {
	for k, v := range kv {
		if err := os.WriteFile(filepath.Join("/proc/sys/net", k), []byte(v), 0); err != nil {
			return fmt.Errorf("sysctl net/%s=%s: %w", k, v, err)
		}
	}
	return nil
}

// runIP runs the ip command in the test process's namespace.
func runIP(args ...string) ([]byte, error) {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return out, nil
}

// ipBatch runs several ip commands in one process inside a namespace.
func ipBatch(netns string, cmds ...string) error {
	cmd := exec.Command("ip", "-n", netns, "-batch", "-")
	cmd.Stdin = strings.NewReader(strings.Join(cmds, "\n") + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ip -n %s: %q: %w: %s", netns, cmds, err, bytes.TrimSpace(out))
	}
	return nil
}
