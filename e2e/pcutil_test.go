//go:build linux

package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
	"golang.org/x/sys/unix"

	"github.com/moonwake/moonwake/agent"
	"github.com/moonwake/moonwake/internal/testlan"
)

// The emulated PC is a testlan host that behaves, as seen from the LAN,
// like a gaming PC with Wake-on-LAN, Sunshine and moonwake-agent:
//
//   - Off, its eth0 is up but has no IPv4 address, like a powered-down PC
//     whose NIC still listens for magic packets: nothing answers ARP, ICMP
//     or TCP at its address, and a raw socket sees every frame on the wire.
//   - A frame holding a magic packet for its MAC (anywhere in the frame, as
//     a NIC matches it: UDP to any port, EtherType 0x0842) "presses the
//     power button": after a boot delay, it takes its address back and
//     announces it with a gratuitous ARP (as Windows and Linux do when a
//     link comes up), opens Sunshine's HTTP port 47989 serving a
//     Sunshine-like /serverinfo, and starts the real moonwake-agent binary
//     in its namespace when it has been paired.
//   - The agent's configuration overrides every power command with a
//     program that creates a marker file in the PC's directory (or, for a
//     "broken shutdown", with one that does nothing). The PC watches for
//     the marker and powers off: it kills the agent by its pid, closes its
//     listener and removes its address. The hub's probes then see what a PC
//     that went off gives: TCP and ICMP time out, the neighbour entry fails
//     or goes silent.
//   - With ARPOffload, sleep and hibernate put it to sleep instead, as a PC
//     whose network card answers ARP for it while it sleeps: its address
//     stays, but a blackhole rule after the local routing table drops
//     every answer its IP stack would send (TCP, ICMP, the agent's
//     uplink), while ARP, answered outside routing, still is. A magic
//     packet wakes it: the rule goes.
//
// Safety: the agent runs on this machine, in a network namespace only. It
// must never power off, suspend or reboot the machine, so every command
// the agent knows (agent.CommandNames) is overridden with an absolute path
// to touch or true, run without a shell, and the agent's PATH holds
// nothing, so a command left to the system's default could not find
// systemctl either.

// sunshinePort is Sunshine's plain HTTP port, which the hub probes.
const sunshinePort = 47989

// defaultBootDelay is the time from a magic packet to the PC's address.
const defaultBootDelay = 300 * time.Millisecond

// pcOptions configure an emulated PC.
type pcOptions struct {
	// BootDelay is the time from the magic packet to the PC's address
	// coming up; 0 means defaultBootDelay.
	BootDelay time.Duration
	// BrokenShutdown overrides the agent's power commands with a program
	// that does nothing: the agent accepts them, runs it, and the PC stays
	// on.
	BrokenShutdown bool
	// NoWake makes the NIC ignore magic packets, as Windows Fast Startup
	// does (they are still counted).
	NoWake bool
	// DarkAgent makes the PC go dark rather than off: its address goes
	// (nothing answers at it, its link carries nothing more either way)
	// while its agent process keeps running with its uplink open, as after
	// sleep, a power cut seen from the LAN, or a dead switch port. The hub
	// sees a link that looks up until a ping on it goes unanswered.
	DarkAgent bool
	// Streaming makes its Sunshine say an app runs (SUNSHINE_SERVER_BUSY).
	Streaming bool
	// ARPOffload makes sleep and hibernate leave the PC's network card
	// answering ARP while nothing else answers (see above).
	ARPOffload bool
}

// PC power states.
const (
	pcOff      = "off"
	pcBooting  = "booting"
	pcOn       = "on"
	pcStopping = "stopping"
)

// pc is an emulated PC. Its methods are safe for concurrent use.
type pc struct {
	t        testing.TB
	host     *testlan.Host
	prefix   netip.Prefix // its address while it is on
	dir      string       // agent configuration, state and the command markers
	opts     pcOptions
	agentBin string
	hostname string
	uniqueID string

	mu        sync.Mutex
	mac       net.HardwareAddr
	state     string
	paired    bool
	hubURL    string // the hub the agent dials instead of the paired one; "" for that
	srv       *http.Server
	agent     *testlan.Proc
	agentLog  *testlan.Buffer // every run of the agent, one after the other
	magic     int             // magic packets for its MAC seen
	boots     int
	offs      int
	commands  map[string]int // power commands the agent carried out, by marker
	asleep    bool           // off, with the card answering ARP (ARPOffload)
	upAt      time.Time      // when its address last came up
	portOpen  time.Time      // when Sunshine's port last opened
	offAt     time.Time      // when it last went off
	changed   chan struct{}  // closed and replaced at every change
	closed    bool
	bootTimer *time.Timer

	stop chan struct{}
	wg   sync.WaitGroup
}

// newPC plugs an emulated PC called name into lan, powered off, and removes
// it when the test ends (before the LAN).
func newPC(t testing.TB, lan *testlan.LAN, name string, o pcOptions) *pc {
	t.Helper()
	if o.BootDelay <= 0 {
		o.BootDelay = defaultBootDelay
	}
	h := lan.AddHost(name)
	p := &pc{
		t: t, host: h, prefix: h.Prefix(), dir: t.TempDir(), opts: o,
		agentBin: moonwakeAgent(t),
		hostname: strings.ToUpper(name), uniqueID: fmt.Sprintf("5C0A4D9E-3B1F-4E52-9A7D-%012X", []byte(h.MAC())),
		mac: h.MAC(), state: pcOn, agentLog: new(testlan.Buffer),
		commands: map[string]int{}, changed: make(chan struct{}), stop: make(chan struct{}),
	}
	// The agent's PATH: an empty directory.
	if err := os.Mkdir(filepath.Join(p.dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	// Registered after the LAN's, so it runs before the LAN goes away.
	t.Cleanup(p.close)
	// AddHost gave it an address: take it away, it starts off.
	p.powerOff("starts off")
	p.mu.Lock()
	st := p.state
	p.offs = 0
	p.mu.Unlock()
	if st != pcOff {
		t.Fatalf("pc %s: could not power off", name)
	}
	rx, err := h.ListenRaw(testlan.Iface, 0x0003) // ETH_P_ALL: every frame
	if err != nil {
		t.Fatal(err)
	}
	p.wg.Add(2)
	go func() {
		defer p.wg.Done()
		for {
			select {
			case <-p.stop:
				return
			default:
			}
			if d, err := rx.Next(100 * time.Millisecond); err == nil {
				p.frame(d.Data)
			}
		}
	}()
	go func() {
		defer p.wg.Done()
		p.watchMarkers()
	}()
	return p
}

// close stops the PC's goroutines and its agent, and checks the agent did
// not report a data race.
func (p *pc) close() {
	p.mu.Lock()
	p.closed = true
	if p.bootTimer != nil && p.bootTimer.Stop() {
		p.wg.Done() // the boot will not run
	}
	agent, srv := p.agent, p.srv
	p.mu.Unlock()
	close(p.stop)
	if agent != nil {
		_ = agent.Cmd.Process.Kill() // by its pidfd: only our process
		<-agent.Done()
	}
	if srv != nil {
		srv.Close()
	}
	p.wg.Wait()
	if strings.Contains(p.agentLog.String(), "DATA RACE") {
		p.t.Errorf("moonwake-agent reported a data race:\n%s", p.agentLog)
	}
	if p.t.Failed() {
		p.t.Logf("pc %s agent log:\n%s", p.host.Name(), p.agentLog)
	}
}

// errorf reports a failure of the PC's own machinery from its goroutines.
func (p *pc) errorf(format string, args ...any) {
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if !closed {
		p.t.Errorf("pc %s: "+format, append([]any{p.host.Name()}, args...)...)
	}
}

// signal wakes those waiting for a change. p.mu is held.
func (p *pc) signal() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// Addr is the PC's IPv4 address (it has none while off).
func (p *pc) Addr() netip.Addr { return p.prefix.Addr() }

// MAC is the PC's current Ethernet address.
func (p *pc) MAC() net.HardwareAddr {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append(net.HardwareAddr(nil), p.mac...)
}

// State is pcOff, pcBooting, pcOn or pcStopping.
func (p *pc) State() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state
}

// pcStats are counters of what happened to a PC.
type pcStats struct {
	Magic, Boots, Offs int
	Commands           map[string]int // by marker: "poweroff", "reboot"
	UpAt, PortOpen     time.Time
	OffAt              time.Time
}

// Stats returns the PC's counters.
func (p *pc) Stats() pcStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := make(map[string]int, len(p.commands))
	for k, v := range p.commands {
		c[k] = v
	}
	return pcStats{Magic: p.magic, Boots: p.boots, Offs: p.offs, Commands: c, UpAt: p.upAt, PortOpen: p.portOpen, OffAt: p.offAt}
}

// AgentLog is what the agent printed, every run.
func (p *pc) AgentLog() string { return p.agentLog.String() }

// waitState waits until the PC's state is want.
func (p *pc) waitState(t testing.TB, want string, timeout time.Duration) {
	t.Helper()
	if err := p.waitUntil(timeout, func() bool { return p.state == want }); err != nil {
		t.Fatalf("pc %s: still %s %s later, want %s", p.host.Name(), p.State(), timeout, want)
	}
}

// waitUntil waits until ok, called with p.mu held, is true.
func (p *pc) waitUntil(timeout time.Duration, ok func() bool) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		done, ch := ok(), p.changed
		p.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ch:
		case <-deadline.C:
			return fmt.Errorf("not in %s", timeout)
		}
	}
}

// magicPattern is what a NIC looks for: 6 × 0xFF, then the MAC 16 times.
func magicPattern(mac net.HardwareAddr) []byte {
	b := bytes.Repeat([]byte{0xff}, 6)
	for range 16 {
		b = append(b, mac...)
	}
	return b
}

// frame is called for every frame eth0 receives.
func (p *pc) frame(b []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !bytes.Contains(b, magicPattern(p.mac)) {
		return
	}
	p.magic++
	p.signal()
	if p.state != pcOff || p.opts.NoWake || p.closed {
		return
	}
	p.state = pcBooting
	p.signal()
	p.wg.Add(1)
	p.bootTimer = time.AfterFunc(p.opts.BootDelay, func() {
		defer p.wg.Done()
		p.boot()
	})
}

// PowerOn boots the PC now, as its power button does, and waits until it
// is on.
func (p *pc) PowerOn(t testing.TB) {
	t.Helper()
	p.mu.Lock()
	if p.state != pcOff {
		p.mu.Unlock()
		t.Fatalf("pc %s: power button pressed while %s", p.host.Name(), p.state)
	}
	p.state = pcBooting
	p.signal()
	p.mu.Unlock()
	p.boot()
	p.waitState(t, pcOn, 5*time.Second)
}

// boot brings the PC up: address, gratuitous ARP, Sunshine, agent.
func (p *pc) boot() {
	p.mu.Lock()
	if p.state != pcBooting || p.closed {
		p.mu.Unlock()
		return
	}
	mac := append(net.HardwareAddr(nil), p.mac...)
	asleep := p.asleep
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	up := []string{"ip", "addr", "add", p.prefix.String(), "brd", "+", "dev", testlan.Iface}
	if asleep {
		up = sleepRule("del")
	}
	if _, err := p.host.Run(ctx, up...); err != nil {
		p.errorf("boot: %v", err)
		return
	}
	p.mu.Lock()
	p.asleep = false
	p.mu.Unlock()
	p.mu.Lock()
	p.upAt = time.Now()
	p.mu.Unlock()
	if err := p.announce(mac); err != nil {
		p.errorf("boot: gratuitous ARP: %v", err)
	}
	var ln net.Listener
	err := p.host.Do(func() error {
		var err error
		ln, err = net.Listen("tcp", fmt.Sprintf(":%d", sunshinePort))
		return err
	})
	if err != nil {
		p.errorf("boot: Sunshine: %v", err)
		return
	}
	srv := &http.Server{Handler: http.HandlerFunc(p.serverinfo), ReadHeaderTimeout: 5 * time.Second}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		ln.Close()
		return
	}
	p.srv, p.portOpen = srv, time.Now()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		_ = srv.Serve(ln)
	}()
	paired := p.paired && p.agent == nil // a dark PC's agent may still run
	p.mu.Unlock()
	if paired {
		if err := p.startAgent(); err != nil {
			p.errorf("boot: %v", err)
		}
	}
	p.mu.Lock()
	p.state = pcOn
	p.boots++
	p.signal()
	p.mu.Unlock()
}

// PowerOff powers the PC off at once, as holding its power button does.
func (p *pc) PowerOff(t testing.TB) {
	t.Helper()
	p.powerOff("power button")
	if st := p.State(); st != pcOff {
		t.Fatalf("pc %s: %s after power off", p.host.Name(), st)
	}
}

// powerOff kills the agent, closes Sunshine and drops the address.
func (p *pc) powerOff(why string) {
	p.mu.Lock()
	if p.state != pcOn {
		p.mu.Unlock()
		return
	}
	p.state = pcStopping
	agent, srv := p.agent, p.srv
	if p.opts.DarkAgent {
		agent = nil // it runs on, until close
	} else {
		p.agent = nil
	}
	p.srv = nil
	p.signal()
	p.mu.Unlock()
	if agent != nil {
		_ = agent.Cmd.Process.Kill()
		<-agent.Done()
		fmt.Fprintf(p.agentLog, "--- agent killed: %s\n", why)
	}
	if srv != nil {
		srv.Close()
	}
	// Dark from the moment the address starts to go: the kernel drops it
	// before ip exits, and the hub may see the silence before ip is reaped.
	p.mu.Lock()
	p.offAt = time.Now()
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := p.host.Run(ctx, "ip", "addr", "del", p.prefix.String(), "dev", testlan.Iface); err != nil {
		p.errorf("power off: %v", err)
	}
	p.mu.Lock()
	p.state = pcOff
	p.offs++
	p.signal()
	p.mu.Unlock()
}

// sleepRule is the ip command that adds or deletes the sleep's blackhole
// rule: after the local table (priority 0), so what comes in for the PC is
// still delivered, and before the main table, so no answer goes out.
func sleepRule(op string) []string {
	return []string{"ip", "rule", op, "priority", "1", "blackhole"}
}

// sleep puts the PC to sleep with its network card answering ARP: the
// agent and Sunshine stop, the address stays, and the blackhole rule
// silences the IP stack.
func (p *pc) sleep() {
	p.mu.Lock()
	if p.state != pcOn {
		p.mu.Unlock()
		return
	}
	p.state = pcStopping
	agent, srv := p.agent, p.srv
	p.agent, p.srv = nil, nil
	p.signal()
	p.mu.Unlock()
	if agent != nil {
		_ = agent.Cmd.Process.Kill()
		<-agent.Done()
		fmt.Fprintf(p.agentLog, "--- agent stopped: the PC sleeps\n")
	}
	if srv != nil {
		srv.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p.mu.Lock()
	p.offAt = time.Now()
	p.mu.Unlock()
	if _, err := p.host.Run(ctx, sleepRule("add")...); err != nil {
		p.errorf("sleep: %v", err)
	}
	p.mu.Lock()
	p.state, p.asleep = pcOff, true
	p.offs++
	p.signal()
	p.mu.Unlock()
}

// SetMAC gives the PC's NIC another address (a new network card).
func (p *pc) SetMAC(t testing.TB, mac net.HardwareAddr) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := p.host.Run(t.Context(), "ip", "link", "set", testlan.Iface, "address", mac.String()); err != nil {
		t.Fatal(err)
	}
	p.mac = append(net.HardwareAddr(nil), mac...)
}

// announce broadcasts a gratuitous ARP for the PC's address.
func (p *pc) announce(mac net.HardwareAddr) error {
	ip := p.prefix.Addr().As4()
	f := make([]byte, 60) // the Ethernet minimum, padded
	bcast := net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	copy(f[0:6], bcast)
	copy(f[6:12], mac)
	binary.BigEndian.PutUint16(f[12:], unix.ETH_P_ARP)
	a := f[14:]
	binary.BigEndian.PutUint16(a[0:], 1)      // Ethernet
	binary.BigEndian.PutUint16(a[2:], 0x0800) // IPv4
	a[4], a[5] = 6, 4
	binary.BigEndian.PutUint16(a[6:], 1) // request
	copy(a[8:14], mac)
	copy(a[14:18], ip[:])
	copy(a[24:28], ip[:])
	return p.host.Do(func() error {
		ifi, err := net.InterfaceByName(testlan.Iface)
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ARP)))
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ARP), Ifindex: ifi.Index, Halen: 6}
		copy(sa.Addr[:], bcast)
		return unix.Sendto(fd, f, 0, sa)
	})
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// serverInfoXML is a Sunshine /serverinfo answer to an unpaired client.
func serverInfoXML(hostname, uniqueID string, addr netip.Addr) string {
	return `<?xml version="1.0" encoding="utf-8"?>` + "\n" +
		`<root status_code="200"><hostname>` + hostname + `</hostname><appversion>7.1.431.-1</appversion>` +
		`<GfeVersion>3.23.0.74</GfeVersion><uniqueid>` + uniqueID + `</uniqueid><HttpsPort>47984</HttpsPort>` +
		`<ExternalPort>47989</ExternalPort><MaxLumaPixelsHEVC>1869449984</MaxLumaPixelsHEVC>` +
		`<mac>00:00:00:00:00:00</mac><LocalIP>` + addr.String() + `</LocalIP>` +
		`<ServerCodecModeSupport>3843</ServerCodecModeSupport><PairStatus>0</PairStatus>` +
		`<currentgame>0</currentgame><state>SUNSHINE_SERVER_FREE</state></root>`
}

// sunshineHandler serves /serverinfo as Sunshine does, closing the
// connection after each answer.
func sunshineHandler(hostname, uniqueID string, addr netip.Addr) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/serverinfo" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/xml")
		w.Header().Set("Connection", "close")
		fmt.Fprint(w, serverInfoXML(hostname, uniqueID, addr))
	}
}

func (p *pc) serverinfo(w http.ResponseWriter, r *http.Request) {
	if !p.opts.Streaming {
		sunshineHandler(p.hostname, p.uniqueID, p.prefix.Addr())(w, r)
		return
	}
	if r.URL.Path != "/serverinfo" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("Connection", "close")
	fmt.Fprint(w, strings.Replace(serverInfoXML(p.hostname, p.uniqueID, p.prefix.Addr()),
		"<currentgame>0</currentgame><state>SUNSHINE_SERVER_FREE</state>",
		"<currentgame>881</currentgame><state>SUNSHINE_SERVER_BUSY</state>", 1))
}

// markers are the files the agent's command overrides create, and what
// the PC does when one appears.
var markers = []struct {
	name   string
	reboot bool
}{{"poweroff", false}, {"reboot", true}, {"sleep", false}}

// agentCommands is the agent's command overrides: every command the agent
// knows, each an absolute program run without a shell.
func (p *pc) agentCommands() (map[string][]string, error) {
	touch, err := exec.LookPath("touch")
	if err != nil {
		return nil, err
	}
	nop, err := exec.LookPath("true")
	if err != nil {
		return nil, err
	}
	cmds := map[string][]string{}
	for _, name := range agent.CommandNames {
		marker := "poweroff"
		switch {
		case name == agent.CmdReboot:
			marker = "reboot"
		case p.opts.ARPOffload && (name == agent.CmdSleep || name == agent.CmdHibernate):
			marker = "sleep"
		}
		cmds[name] = []string{touch, filepath.Join(p.dir, marker)}
		if p.opts.BrokenShutdown {
			cmds[name] = []string{nop}
		}
	}
	// Belt and braces: the agent must never fall back to the system's
	// own command.
	for _, name := range agent.CommandNames {
		if argv := cmds[name]; len(argv) == 0 || !filepath.IsAbs(argv[0]) {
			return nil, fmt.Errorf("no absolute override for %s", name)
		}
	}
	return cmds, nil
}

// agentConfig returns the agent's configuration file.
func (p *pc) agentConfig() ([]byte, error) {
	cmds, err := p.agentCommands()
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	hub := p.hubURL
	p.mu.Unlock()
	return yaml.Marshal(struct {
		Hub            string              `yaml:"hub,omitempty"`
		State          string              `yaml:"state"`
		ReportInterval string              `yaml:"report_interval"`
		AckDelay       string              `yaml:"ack_delay"`
		Commands       map[string][]string `yaml:"commands"`
	}{hub, p.statePath(), "1s", "100ms", cmds})
}

func (p *pc) statePath() string { return filepath.Join(p.dir, "state.json") }

// agentEnv is the agent's environment: a PATH with nothing in it.
func (p *pc) agentEnv() []string {
	gorace := "atexit_sleep_ms=0"
	if v := os.Getenv("GORACE"); v != "" {
		gorace = v + " " + gorace
	}
	return []string{"PATH=" + filepath.Join(p.dir, "bin"), "HOME=" + p.dir, "GORACE=" + gorace}
}

// startAgent starts "moonwake-agent run" in the PC's namespace.
func (p *pc) startAgent() error {
	cfg, err := p.agentConfig()
	if err != nil {
		return err
	}
	// Checked with the agent's own parser: an override it did not take
	// would leave the system's command in place.
	parsed, err := agent.ParseConfig(cfg)
	if err != nil {
		return fmt.Errorf("agent configuration: %v\n%s", err, cfg)
	}
	for _, name := range agent.CommandNames {
		if plan, err := agent.PlanCommand(name, parsed.Commands); err != nil || !filepath.IsAbs(plan.Argv[0]) || !strings.HasPrefix(plan.Argv[0], "/") {
			return fmt.Errorf("agent configuration: %s is not overridden: %+v %v", name, plan, err)
		}
	}
	path := filepath.Join(p.dir, "agent.yaml")
	if err := os.WriteFile(path, cfg, 0o600); err != nil {
		return err
	}
	cmd := p.host.Exec(context.Background(), p.agentBin, "run", "--config", path)
	cmd.Env = p.agentEnv()
	cmd.Stdout, cmd.Stderr = p.agentLog, p.agentLog
	fmt.Fprintf(p.agentLog, "--- agent starting\n")
	proc, err := p.host.Start(cmd)
	if err != nil {
		return err
	}
	p.mu.Lock()
	if p.closed || p.state == pcOff || p.state == pcStopping {
		p.mu.Unlock()
		_ = proc.Cmd.Process.Kill()
		<-proc.Done()
		return nil
	}
	p.agent = proc
	p.mu.Unlock()
	return nil
}

// restartAgent stops the agent, if it runs, and starts it again with the
// current configuration.
func (p *pc) restartAgent(t testing.TB) {
	t.Helper()
	p.mu.Lock()
	old := p.agent
	p.agent = nil
	on := p.state == pcOn
	p.mu.Unlock()
	if old != nil {
		_ = old.Cmd.Process.Kill()
		<-old.Done()
		fmt.Fprintf(p.agentLog, "--- agent killed: restart\n")
	}
	if on {
		if err := p.startAgent(); err != nil {
			t.Fatal(err)
		}
	}
}

// SetHub makes the agent dial url instead of the hub it paired with (a
// hub it does not trust, unless it holds the paired hub's key), and
// restarts it.
func (p *pc) SetHub(t testing.TB, url string) {
	t.Helper()
	p.mu.Lock()
	p.hubURL = url
	p.mu.Unlock()
	p.restartAgent(t)
}

// watchMarkers powers the PC off (and, for a reboot, on again) when the
// agent runs a power command.
func (p *pc) watchMarkers() {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-tick.C:
		}
		for _, m := range markers {
			path := filepath.Join(p.dir, m.name)
			if _, err := os.Stat(path); err != nil {
				continue
			}
			if err := os.Remove(path); err != nil {
				p.errorf("%v", err)
			}
			p.mu.Lock()
			p.commands[m.name]++
			p.signal()
			p.mu.Unlock()
			if m.name == "sleep" {
				p.sleep()
				continue
			}
			p.powerOff("the agent ran its " + m.name + " command")
			if m.reboot {
				p.mu.Lock()
				if p.state == pcOff && !p.closed {
					p.state = pcBooting
					p.signal()
					p.wg.Add(1)
					p.bootTimer = time.AfterFunc(p.opts.BootDelay, func() {
						defer p.wg.Done()
						p.boot()
					})
				}
				p.mu.Unlock()
			}
		}
	}
}

// pair pairs the PC's agent with the hub as machine, and starts the agent
// if the PC is on. The PC must be on: the agent reaches the hub over the
// LAN.
func (p *pc) pair(t testing.TB, hp *hub, machine string) {
	t.Helper()
	var pr struct {
		Machine   string    `json:"machine"`
		Code      string    `json:"code"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	hp.must(t, http.StatusCreated, "POST", "/api/v1/machines/"+machine+"/pair", hp.admin, nil).decode(t, &pr)
	if pr.Machine != machine || pr.Code == "" || !pr.ExpiresAt.After(time.Now()) {
		t.Fatalf("pairing code %+v", pr)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	cmd := p.host.Exec(ctx, p.agentBin, "pair", "--hub", hp.url, "--code", pr.Code, "--state", p.statePath())
	cmd.Env = p.agentEnv()
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Paired with") {
		t.Fatalf("moonwake-agent pair: %v\n%s", err, out)
	}
	if strings.Contains(string(out), pr.Code) {
		t.Errorf("moonwake-agent pair printed the code:\n%s", out)
	}
	p.mu.Lock()
	p.paired = true
	on := p.state == pcOn
	p.mu.Unlock()
	if on {
		p.restartAgent(t)
	}
}

// cancelCountdown runs "moonwake-agent cancel" in the PC's namespace, as
// the person at the PC does: the agent's local socket, named by its
// configuration, carries it to the running agent.
func (p *pc) cancelCountdown(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	cmd := p.host.Exec(ctx, p.agentBin, "cancel", "--config", filepath.Join(p.dir, "agent.yaml"))
	cmd.Env = p.agentEnv()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("moonwake-agent cancel: %v\n%s", err, out)
	}
}

// The hub side of a PC test.

// pcLAN is a LAN with a hub in host "hub", an emulated PC "pc" registered
// on it as machine "pc", and a webhook receiver for the hub's
// notifications.
type pcLAN struct {
	lan  *testlan.LAN
	hub  *testlan.Host
	hp   *hub
	data string
	env  []string
	pc   *pc
	hook *webhook
}

// Deadlines of the PC tests' hubs.
const (
	wakeDeadline     = 5 * time.Second
	shutdownDeadline = 2 * time.Second
)

// newPCLAN builds a pcLAN: a hub with short deadlines, fast probes and a
// webhook (or what env, "KEY=value" given last, says instead), the PC off
// and registered, and waits until the hub sees it off.
func newPCLAN(t testing.TB, o pcOptions, env ...string) *pcLAN {
	t.Helper()
	l := &pcLAN{lan: testlan.New(t)}
	l.hub = l.lan.AddHost("hub")
	l.pc = newPC(t, l.lan, "pc", o)
	l.hook = newWebhook(t, l.hub)
	cfg := filepath.Join(t.TempDir(), "moonwake.yaml")
	err := os.WriteFile(cfg, []byte("probe:\n  fast_interval: 100ms\n  timeout: 300ms\nnotify:\n  webhook: "+l.hook.url+"\n"), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	l.env = []string{
		"MOONWAKE_CONFIG=" + cfg,
		"MOONWAKE_WAKE_DEADLINE=" + wakeDeadline.String(),
		"MOONWAKE_SHUTDOWN_DEADLINE=" + shutdownDeadline.String(),
		"MOONWAKE_PROBE_INTERVAL=500ms",
		"MOONWAKE_RATE_LIMIT_BURST=100",
	}
	l.env = append(l.env, env...) // of a key given twice, the process sees the last
	l.data = t.TempDir()
	l.hp = startHub(t, l.hub, l.data, l.env...)
	l.hp.addMachine(t, map[string]any{
		"name": "pc", "mac": l.pc.MAC().String(), "host": l.pc.Addr().String(), "interface": testlan.Iface,
	})
	l.hp.waitPower(t, "pc", 10*time.Second, "off", func(p wirePower) bool { return p.State == "off" })
	return l
}

// restartHub starts the hub again on its data directory.
func (l *pcLAN) restartHub(t testing.TB) {
	t.Helper()
	admin := l.hp.admin
	l.hp = startHub(t, l.hub, l.data, l.env...)
	l.hp.admin = admin
}

// bootAndPair powers the PC on, pairs its agent and waits until the hub
// sees the agent's link and the PC on.
func (l *pcLAN) bootAndPair(t testing.TB) {
	t.Helper()
	l.pc.PowerOn(t)
	l.pc.pair(t, l.hp, "pc")
	l.hp.waitPower(t, "pc", 10*time.Second, "on with its agent linked", func(p wirePower) bool {
		return p.Agent != nil && p.Agent.Connected && up(p.State)
	})
}

// up reports whether a state says the machine runs.
func up(state string) bool {
	return state == "on" || state == "idle" || state == "streaming"
}

// wirePower is a machine's "power" as the API shows it.
type wirePower struct {
	State   string    `json:"state"`
	Since   time.Time `json:"since"`
	Reason  string    `json:"reason"`
	Pending *struct {
		Kind string `json:"kind"`
	} `json:"pending"`
	Evidence json.RawMessage `json:"evidence"`
	Agent    *struct {
		ID        string `json:"id"`
		Connected bool   `json:"connected"`
	} `json:"agent"`
	Asleep bool `json:"asleep"`
}

func (p wirePower) String() string {
	s := fmt.Sprintf("%s (%s)", p.State, p.Reason)
	if p.Pending != nil {
		s += ", pending " + p.Pending.Kind
	}
	if p.Agent != nil {
		s += fmt.Sprintf(", agent %s connected=%v", p.Agent.ID, p.Agent.Connected)
	}
	return s
}

// power returns what the hub says of a machine's power.
func (hp *hub) power(t testing.TB, name string) wirePower {
	t.Helper()
	var m struct {
		Power *wirePower `json:"power"`
	}
	hp.must(t, http.StatusOK, "GET", "/api/v1/machines/"+name, hp.admin, nil).decode(t, &m)
	if m.Power == nil {
		t.Fatalf("machine %s has no power state", name)
	}
	return *m.Power
}

// waitPower polls the machine's power until ok holds.
func (hp *hub) waitPower(t testing.TB, name string, timeout time.Duration, what string, ok func(wirePower) bool) wirePower {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		p := hp.power(t, name)
		if ok(p) {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("machine %s not %s after %s: %s", name, what, timeout, p)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// wireStateChange is a state change in a machine's history.
type wireStateChange struct {
	From   string    `json:"from"`
	To     string    `json:"to"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// history returns the machine's state changes, oldest first.
func (hp *hub) history(t testing.TB, name string) []wireStateChange {
	t.Helper()
	var h struct {
		Machine string `json:"machine"`
		History []struct {
			Seq  int64           `json:"seq"`
			Type string          `json:"type"`
			Data json.RawMessage `json:"data"`
		} `json:"history"`
	}
	hp.must(t, http.StatusOK, "GET", "/api/v1/machines/"+name+"/history", hp.admin, nil).decode(t, &h)
	var out []wireStateChange
	for i, e := range h.History {
		if i > 0 && e.Seq <= h.History[i-1].Seq {
			t.Errorf("history of %s out of order: %d after %d", name, e.Seq, h.History[i-1].Seq)
		}
		var sc wireStateChange
		if e.Type != "state" || json.Unmarshal(e.Data, &sc) != nil {
			t.Fatalf("history event %d: type %q, data %s", e.Seq, e.Type, e.Data)
		}
		out = append(out, sc)
	}
	return out
}

// states lists the states a history went through, "from" of the first
// change first.
func states(h []wireStateChange) []string {
	var out []string
	for i, sc := range h {
		if i == 0 && sc.From != "" {
			out = append(out, sc.From)
		}
		out = append(out, sc.To)
	}
	return out
}

// act asks the hub for a power action (wake, shutdown …) on a machine and
// waits for its outcome (?wait=true): 200 and the ended action. It returns
// the action and how long the request took.
func (hp *hub) act(t testing.TB, name, kind string) (wireAction, time.Duration) {
	t.Helper()
	c := *hp.http
	c.Timeout = 90 * time.Second
	req, err := http.NewRequestWithContext(t.Context(), "POST", hp.url+"/api/v1/machines/"+name+"/"+kind+"?wait=true&timeout=60s", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+hp.admin)
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", kind, name, err)
	}
	defer resp.Body.Close()
	took := time.Since(start)
	var a wireAction
	if resp.StatusCode != http.StatusOK {
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		t.Fatalf("%s %s?wait=true: %s %s", kind, name, resp.Status, b.Bytes())
	}
	if err := jsonDecode(resp, &a); err != nil {
		t.Fatal(err)
	}
	if a.Kind != kind || a.Machine != name || a.Status == "running" || a.FinishedAt == nil {
		t.Fatalf("%s %s?wait=true: action %+v", kind, name, a)
	}
	return a, took
}

// webhook receives the hub's notifications: an HTTP server in a host's
// namespace.
type webhook struct {
	url string
	c   chan hookMessage
}

// hookMessage is one notification as received.
type hookMessage struct {
	Event    string      `json:"event"`
	Machine  string      `json:"machine"`
	Title    string      `json:"title"`
	Text     string      `json:"text"`
	At       time.Time   `json:"at"`
	Action   *wireAction `json:"action"`
	received time.Time
}

// webhookPort is where newWebhook listens.
const webhookPort = 9099

// newWebhook listens on h's address and queues every JSON POST it gets;
// anything else fails the test.
func newWebhook(t testing.TB, h *testlan.Host) *webhook {
	t.Helper()
	addr := netip.AddrPortFrom(h.Addr(), webhookPort)
	w := &webhook{url: "http://" + addr.String() + "/hook", c: make(chan hookMessage, 64)}
	var ln net.Listener
	err := h.Do(func() error {
		var err error
		ln, err = net.Listen("tcp", addr.String())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		var m hookMessage
		if r.Method != "POST" || r.URL.Path != "/hook" || ct != "application/json" {
			t.Errorf("webhook: %s %s, Content-Type %q; want a JSON POST to /hook", r.Method, r.URL.Path, ct)
			http.Error(rw, "no", http.StatusBadRequest)
			return
		}
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			t.Errorf("webhook: body: %v", err)
			http.Error(rw, "no", http.StatusBadRequest)
			return
		}
		m.received = time.Now()
		select {
		case w.c <- m:
		default:
			t.Errorf("webhook: more than %d messages", cap(w.c))
		}
		rw.WriteHeader(http.StatusNoContent)
	})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return w
}

// wait returns the next message for event and machine, skipping others,
// failing t after timeout.
func (w *webhook) wait(t testing.TB, event, machine string, timeout time.Duration) hookMessage {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	var others []string
	for {
		select {
		case m := <-w.c:
			if m.Event == event && m.Machine == machine {
				return m
			}
			others = append(others, m.Event+" "+m.Machine)
		case <-deadline.C:
			t.Fatalf("webhook: no %s for %s in %s (got %q)", event, machine, timeout, others)
		}
	}
}
