// Package passthrough listens on UDP for magic packets that arrive from outside
// the LAN, through a router port-forward, and turns each one for a
// registered machine into an audited wake. It is what makes Moonlight's own
// "Wake PC" button work from 4G: Moonlight sends 102-byte magic packets to
// the host's remote address on UDP 47009 (and 9), among others.
//
// The listener never re-broadcasts what it receives. A datagram is decoded
// strictly (anything but a well-formed magic packet is dropped), its MAC is
// looked up among the registered machines (an unknown MAC is dropped), a
// machine with a SecureOn password must be sent that password, and only then
// is the machine woken by the power service from the registry's own
// settings: its interface, broadcast address, port and password. Sources and
// machines are rate-limited, so the burst of packets one press of the
// button sends yields one wake, and a flood yields none more.
package passthrough

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/wol"
)

// DefaultAddr is where Moonlight sends magic packets on the host's remote
// address; forward it on the router. Port 9 is the other common choice.
const DefaultAddr = ":47009"

// Actor is who a relayed wake is recorded as, with the source address added.
var Actor = moonwake.Actor{Kind: "relay", Name: "moonlight"}

// Defaults of Options.
const (
	// DefaultGlobalRate bounds the datagrams the Listener looks at, from
	// all sources together (a flood from spoofed sources passes any
	// per-source limit): far above what people pressing buttons send.
	DefaultGlobalRate   = 200.0
	DefaultGlobalBurst  = 400
	DefaultSourceRate   = 20.0            // datagrams per second per source address, sustained
	DefaultSourceBurst  = 40              // datagrams at once per source address
	DefaultMachineEvery = 2 * time.Second // at most one wake per machine this often
	// A machine's wakes from outside that start a new action (not those
	// that join a running wake, nor those of a machine that is on) draw on
	// a budget of DefaultMachineBurst, one back every DefaultMachineRefill:
	// a person pressing Moonlight's button never meets it, and a flood
	// records at most about 2,000 actions a week per machine.
	DefaultMachineBurst  = 6
	DefaultMachineRefill = 5 * time.Minute
)

// Relays hands over the magic packets relays received from outside;
// remote.Relays implements it.
type Relays interface {
	OnMagic(fn func(relay string, from netip.Addr, b []byte))
	// RouteMachine names the relay that serves m; "" for the hub.
	RouteMachine(m *moonwake.Machine) (string, error)
}

// Options configure a Listener.
type Options struct {
	Addrs    []string // UDP addresses to listen on; empty: DefaultAddr
	Machines moonwake.MachineService
	Power    moonwake.PowerService
	// Monitor, when set, tells whether a machine is on already: a packet
	// for it is counted, not turned into an action (a spoofable sender
	// must not grow the audit log, nor send notifications).
	Monitor moonwake.Monitor
	// Relays, when set, hands the Listener the magic packets that relays'
	// own passthroughs received from outside, to judge like its own.
	Relays Relays
	Logger *slog.Logger

	SourceRate    float64       // datagrams/s allowed per source address; 0: DefaultSourceRate
	SourceBurst   int           // 0: DefaultSourceBurst
	MachineEvery  time.Duration // 0: DefaultMachineEvery
	MachineBurst  int           // 0: DefaultMachineBurst
	MachineRefill time.Duration // 0: DefaultMachineRefill

	// Local reports whether an address is one of this host's own, whose
	// datagrams are dropped: a relay listening on the port its own wakes
	// are sent to would otherwise hear its own broadcasts and wake again,
	// forever. nil: the host's interface addresses (loopback excepted).
	Local func(netip.Addr) bool
	Now   func() time.Time
}

// Outcome is what became of one datagram.
type Outcome int

// Outcomes of Handle.
const (
	Woken        Outcome = iota // a wake was asked for (or joined)
	RateLimited                 // the source sent too many datagrams
	Self                        // the datagram came from this host
	Malformed                   // not a well-formed magic packet
	Unregistered                // no registered machine has the MAC
	BadPassword                 // the SecureOn password is missing or wrong
	Debounced                   // the machine was woken moments ago
	Failed                      // the lookup or the wake failed
	AlreadyOn                   // the machine is on: counted, nothing recorded
	OverBudget                  // the machine's budget of wakes from outside is spent
	numOutcomes
)

var outcomeNames = [numOutcomes]string{"woken", "rate-limited", "self", "malformed", "unregistered", "bad-password", "debounced", "failed", "already-on", "over-budget"}

func (o Outcome) String() string {
	if o >= 0 && o < numOutcomes {
		return outcomeNames[o]
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// Stats counts datagrams by outcome.
type Stats map[string]uint64

// Listener receives magic packets on UDP and wakes registered machines.
// Create it with New, Listen, Serve, and Close.
type Listener struct {
	o   Options
	log *slog.Logger
	now func() time.Time

	sources  *buckets
	global   *bucket // over all sources; guarded by mu
	logs     *bucket // bounds the log lines a flood can cause
	counts   [numOutcomes]atomic.Uint64
	mu       sync.Mutex
	lastWake map[string]time.Time // by machine name
	budgets  map[string]*bucket   // by machine name

	connMu sync.Mutex
	conns  []net.PacketConn
	closed bool
	wg     sync.WaitGroup
}

// New returns a Listener; it does not listen yet.
func New(o Options) *Listener {
	if len(o.Addrs) == 0 {
		o.Addrs = []string{DefaultAddr}
	}
	if o.SourceRate <= 0 {
		o.SourceRate = DefaultSourceRate
	}
	if o.SourceBurst < 1 {
		o.SourceBurst = DefaultSourceBurst
	}
	if o.MachineEvery <= 0 {
		o.MachineEvery = DefaultMachineEvery
	}
	if o.MachineBurst < 1 {
		o.MachineBurst = DefaultMachineBurst
	}
	if o.MachineRefill <= 0 {
		o.MachineRefill = DefaultMachineRefill
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Local == nil {
		o.Local = (&localAddrs{ttl: 10 * time.Second}).has
	}
	l := &Listener{
		o: o, log: o.Logger, now: o.Now,
		sources:  newBuckets(o.SourceRate, float64(o.SourceBurst)),
		logs:     &bucket{tokens: 20},
		lastWake: map[string]time.Time{},
		budgets:  map[string]*bucket{},
		global:   &bucket{tokens: DefaultGlobalBurst},
	}
	if o.Relays != nil {
		o.Relays.OnMagic(l.HandleRelayed)
	}
	return l
}

// Listen opens a UDP socket on each address. On error none is left open.
func (l *Listener) Listen() error {
	l.connMu.Lock()
	defer l.connMu.Unlock()
	if l.closed {
		return net.ErrClosed
	}
	for _, a := range l.o.Addrs {
		c, err := net.ListenPacket("udp", a)
		if err != nil {
			for _, c := range l.conns {
				c.Close()
			}
			l.conns = nil
			return fmt.Errorf("passthrough: listen on udp %s: %w", a, err)
		}
		l.conns = append(l.conns, c)
	}
	return nil
}

// Addrs returns the addresses listened on, once Listen succeeded.
func (l *Listener) Addrs() []net.Addr {
	l.connMu.Lock()
	defer l.connMu.Unlock()
	out := make([]net.Addr, len(l.conns))
	for i, c := range l.conns {
		out[i] = c.LocalAddr()
	}
	return out
}

// Serve reads datagrams on every socket until ctx ends or Close is called;
// it returns once every reader has stopped.
func (l *Listener) Serve(ctx context.Context) error {
	l.connMu.Lock()
	if l.closed || len(l.conns) == 0 {
		l.connMu.Unlock()
		return errors.New("passthrough: Serve before Listen, or after Close")
	}
	conns := append([]net.PacketConn(nil), l.conns...)
	for _, c := range conns {
		l.wg.Add(1)
		go l.read(ctx, c)
	}
	l.connMu.Unlock()
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()
	l.wg.Wait()
	return nil
}

// maxDatagram is more than any magic packet: a longer datagram is read
// truncated and dropped as malformed.
const maxDatagram = 512

func (l *Listener) read(ctx context.Context, c net.PacketConn) {
	defer l.wg.Done()
	buf := make([]byte, maxDatagram)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || ctx.Err() != nil {
				return
			}
			l.log.Warn("passthrough: read", "addr", c.LocalAddr().String(), "error", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		ua, ok := from.(*net.UDPAddr)
		if !ok {
			continue
		}
		src := ua.AddrPort().Addr().Unmap()
		l.Handle(ctx, src, buf[:n])
	}
}

// Close stops listening. It is safe to call more than once.
func (l *Listener) Close() error {
	l.connMu.Lock()
	defer l.connMu.Unlock()
	l.closed = true
	var errs []error
	for _, c := range l.conns {
		if err := c.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	l.conns = nil
	return errors.Join(errs...)
}

// Stats returns how many datagrams had each outcome so far.
func (l *Listener) Stats() Stats {
	s := Stats{}
	for i := range l.counts {
		s[Outcome(i).String()] = l.counts[i].Load()
	}
	return s
}

// Handle decides what to do with the datagram b that came from src, and
// does it: it is the whole path of a datagram after the socket.
func (l *Listener) Handle(ctx context.Context, src netip.Addr, b []byte) Outcome {
	o := l.handle(ctx, "", src, b)
	l.counts[o].Add(1)
	return o
}

// HandleRelayed decides what to do with the datagram b that the relay
// called relay received from src on its own passthrough, as Handle does
// with the Listener's own: a wake it asks for is recorded as the relay's,
// with the source address, and goes out through the relay that serves the
// machine.
func (l *Listener) HandleRelayed(relay string, src netip.Addr, b []byte) {
	o := l.handle(context.Background(), relay, src, b)
	l.counts[o].Add(1)
}

// handle is the path of a datagram from src, received by the named relay
// or ("") by the Listener itself.
func (l *Listener) handle(ctx context.Context, relay string, src netip.Addr, b []byte) Outcome {
	src = src.Unmap()
	now := l.now()
	if !l.sources.allow(src, now) {
		return RateLimited
	}
	l.mu.Lock()
	ok := l.global.take(now, DefaultGlobalRate, DefaultGlobalBurst)
	l.mu.Unlock()
	if !ok {
		return RateLimited
	}
	if relay == "" && l.o.Local(src) {
		l.logf(now, slog.LevelDebug, "passthrough: dropped a datagram from this host", "from", src.String())
		return Self
	}
	var p wol.Packet
	if err := p.UnmarshalBinary(b); err != nil {
		l.logf(now, slog.LevelDebug, "passthrough: dropped a datagram that is not a magic packet", "from", src.String(), "size", len(b), "error", err.Error())
		return Malformed
	}
	mac := p.Target.String()
	m, err := l.o.Machines.FindMachineByMAC(ctx, mac)
	if err != nil {
		if moonwake.ErrorCode(err) == moonwake.ENotFound {
			l.logf(now, slog.LevelDebug, "passthrough: dropped a magic packet for an unregistered MAC", "mac", mac, "from", src.String())
			return Unregistered
		}
		l.logf(now, slog.LevelWarn, "passthrough: machine lookup failed", "mac", mac, "from", src.String(), "error", moonwake.ErrorMessage(err))
		return Failed
	}
	if relay != "" {
		// A relay speaks for its own LAN only: it cannot wake the hub's
		// machines, nor another relay's.
		if serves, err := l.o.Relays.RouteMachine(m); err != nil || serves != relay {
			l.logf(now, slog.LevelWarn, "passthrough: a relay handed over a magic packet for a machine it does not serve", "relay", relay, "machine", m.Name, "from", src.String())
			return Unregistered
		}
	}
	if !passwordOK(m, p.Password) {
		l.logf(now, slog.LevelWarn, "passthrough: dropped a magic packet with a missing or wrong SecureOn password", "machine", m.Name, "from", src.String())
		return BadPassword
	}
	waking := false
	if l.o.Monitor != nil {
		st := l.o.Monitor.Info(ctx, m.Name).State
		if st.Up() && st != moonwake.StateShuttingDown {
			return AlreadyOn // Moonlight's button on a PC that is on: nothing to do, nothing to record
		}
		waking = st == moonwake.StateWaking // the wake joins the running one: nothing new recorded
	}
	l.mu.Lock()
	if last, ok := l.lastWake[m.Name]; ok && now.Sub(last) < l.o.MachineEvery && !now.Before(last) {
		l.mu.Unlock()
		return Debounced
	}
	if !waking {
		b := l.budgets[m.Name]
		if b == nil {
			b = &bucket{tokens: float64(l.o.MachineBurst)}
			l.budgets[m.Name] = b
		}
		if !b.take(now, 1/l.o.MachineRefill.Seconds(), float64(l.o.MachineBurst)) {
			l.mu.Unlock()
			l.logf(now, slog.LevelWarn, "passthrough: dropped a magic packet: this machine's wakes from outside are over budget; wake it by the API, the web app or a link", "machine", m.Name, "from", src.String(), "budget", fmt.Sprintf("%d, one back every %s", l.o.MachineBurst, l.o.MachineRefill))
			return OverBudget
		}
	}
	l.lastWake[m.Name] = now
	if len(l.lastWake) > 4096 {
		for k, t := range l.lastWake {
			if now.Sub(t) >= l.o.MachineEvery {
				delete(l.lastWake, k)
			}
		}
	}
	if len(l.budgets) > 4096 {
		for k, b := range l.budgets {
			if b.fill(now, 1/l.o.MachineRefill.Seconds(), float64(l.o.MachineBurst)); b.tokens >= float64(l.o.MachineBurst) {
				delete(l.budgets, k)
			}
		}
	}
	l.mu.Unlock()

	actor := Actor
	actor.Addr = src.String()
	if relay != "" {
		actor.Name = relay // the relay that heard Moonlight
	}
	a, err := l.o.Power.Wake(moonwake.WithActor(ctx, actor), m)
	if err != nil {
		l.logf(now, slog.LevelWarn, "passthrough: wake failed", "machine", m.Name, "from", src.String(), "error", moonwake.ErrorMessage(err))
		return Failed
	}
	attrs := []any{"machine", m.Name, "mac", mac, "from", src.String()}
	if a != nil {
		attrs = append(attrs, "action", a.ID, "status", a.Status)
	}
	l.log.Info("passthrough: magic packet from outside woke a registered machine", attrs...)
	return Woken
}

// passwordOK reports whether got is the SecureOn password m needs: any (or
// none) when m has none, else exactly m's, compared in constant time.
func passwordOK(m *moonwake.Machine, got []byte) bool {
	if m.Password == "" {
		return true
	}
	want, err := wol.ParsePassword(m.Password)
	if err != nil || len(got) == 0 {
		return false
	}
	return subtle.ConstantTimeCompare(want, got) == 1
}

// logf logs unless a flood of datagrams has used up the log budget.
func (l *Listener) logf(now time.Time, level slog.Level, msg string, args ...any) {
	if !l.log.Enabled(context.Background(), level) {
		return
	}
	l.mu.Lock()
	ok := l.logs.take(now, 2, 20)
	l.mu.Unlock()
	if ok {
		l.log.Log(context.Background(), level, msg, args...)
	}
}

// localAddrs caches the host's interface addresses.
type localAddrs struct {
	ttl   time.Duration
	mu    sync.Mutex
	at    time.Time
	addrs map[netip.Addr]bool
}

func (c *localAddrs) has(a netip.Addr) bool {
	if a.IsLoopback() {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := time.Now(); c.addrs == nil || now.Sub(c.at) > c.ttl {
		c.at = now
		c.addrs = map[netip.Addr]bool{}
		if as, err := net.InterfaceAddrs(); err == nil {
			for _, x := range as {
				if p, err := netip.ParsePrefix(x.String()); err == nil {
					c.addrs[p.Addr().Unmap()] = true
				}
			}
		}
	}
	return c.addrs[a]
}
