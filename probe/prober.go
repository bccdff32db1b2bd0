package probe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/sunshine"
)

// Target is a machine to probe.
type Target struct {
	Name  string
	Host  string           // IP address or DNS name
	MAC   net.HardwareAddr // expected; nil skips the neighbour check
	Ports []int            // TCP ports to connect to
	ICMP  bool             // send an echo request too
	// SunshinePort, when not 0, is Sunshine's HTTP port (47989 by
	// default) to ask /serverinfo on.
	SunshinePort int
	// SunshineID is the Sunshine uniqueid the machine is known by; "" when
	// not known yet. Another id at the address is another host.
	SunshineID string
	// Relay names the relay that probes the machine, for a ProbeFunc that
	// routes rounds to relays; "" lets its address decide. The Prober
	// itself ignores it.
	Relay string

	// Used by Watcher only.
	IdleAfter    time.Duration       // 0: Watcher's default
	Initial      moonwake.PowerState // the last state known (after a restart), "" for none
	InitialSince time.Time
}

// ProberOptions configure a Prober.
type ProberOptions struct {
	// Timeout bounds each TCP connect and ICMP echo; 0 means 1 second.
	Timeout time.Duration
	// SunshineTimeout bounds a /serverinfo request; 0 means 2 seconds.
	SunshineTimeout time.Duration
	// MaxInFlight bounds the probes (sockets) in progress at once, over
	// all targets; 0 means 512.
	MaxInFlight int
	// Enter runs f with the calling goroutine in the network namespace to
	// probe from; nil probes from the process's own. Tests pass a testlan
	// host's Do.
	Enter func(f func() error) error
	// ICMPModes as in Pinger.Modes.
	ICMPModes []moonwake.ICMPMode
	// SunshineClientID is the uniqueid sent to Sunshine.
	SunshineClientID string
	// Resolver resolves target names; nil means net.DefaultResolver.
	Resolver *net.Resolver
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Prober gathers evidence about targets. It is safe for concurrent use;
// Close it when done.
type Prober struct {
	o      ProberOptions
	sem    chan struct{}
	pinger *Pinger
	neigh  *NeighbourTable
	http   *http.Client
}

// NewProber returns a Prober.
func NewProber(o ProberOptions) *Prober {
	if o.Timeout <= 0 {
		o.Timeout = time.Second
	}
	if o.SunshineTimeout <= 0 {
		o.SunshineTimeout = 2 * time.Second
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = 512
	}
	if o.Resolver == nil {
		o.Resolver = net.DefaultResolver
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	p := &Prober{
		o:      o,
		sem:    make(chan struct{}, o.MaxInFlight),
		pinger: &Pinger{Enter: o.Enter, Modes: o.ICMPModes},
		neigh:  &NeighbourTable{Enter: o.Enter},
	}
	// The connect is bounded like the other probes: a silent address must
	// not hold a round for the whole Sunshine timeout.
	dialer := &net.Dialer{Timeout: o.Timeout}
	p.http = &http.Client{
		Transport: &http.Transport{
			// A LAN host is never reached through a proxy, and Sunshine
			// closes the connection after each answer anyway.
			Proxy:             nil,
			DisableKeepAlives: true,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				var c net.Conn
				err := inNamespace(o.Enter, func() error {
					var err error
					c, err = dialer.DialContext(ctx, network, addr)
					return err
				})
				return c, err
			},
			MaxResponseHeaderBytes: 16 << 10,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return p
}

// Close releases the ICMP and netlink sockets.
func (p *Prober) Close() error {
	return errors.Join(p.pinger.Close(), p.neigh.Close())
}

// Probe runs one round of probes against t: the TCP connects, the ICMP
// echo and the Sunshine request at the same time, then the neighbour
// lookup, which reads what those made the kernel resolve. It returns when
// all are done, within about Timeout (SunshineTimeout with Sunshine) plus
// the wait for a free slot under MaxInFlight. It never fails: what could
// not be probed is in the evidence.
func (p *Prober) Probe(ctx context.Context, t Target) moonwake.Evidence {
	ev := moonwake.Evidence{}
	addr, err := p.resolve(ctx, t.Host)
	if err != nil {
		ev.Error = err.Error()
		ev.At = p.o.Now()
		return ev
	}
	ev.Addr = addr.String()
	if t.MAC != nil {
		// A machine that was not answering ARP may be now: ask at once
		// rather than wait for the kernel's next try.
		_, _ = p.neigh.Solicit(addr)
	}

	// A round still running after askAfter may be of a machine that went
	// dark, or to sleep: ask its MAC with an ARP request of our own while
	// the probes time out, so the neighbour check after them can tell a
	// card that still answers (asleep) without waiting any longer.
	var ask *asker
	if t.MAC != nil && addr.Is4() {
		ask = p.askLater(addr, min(p.o.Timeout/4, maxConfirmWait))
	}

	var wg sync.WaitGroup
	if len(t.Ports) > 0 {
		ev.TCP = make([]moonwake.TCPResult, len(t.Ports))
	}
	for i, port := range t.Ports {
		wg.Go(func() {
			if !p.acquire(ctx) {
				ev.TCP[i] = moonwake.TCPResult{Port: port, Outcome: moonwake.OutcomeError, Error: ctx.Err().Error()}
				return
			}
			defer p.release()
			ev.TCP[i] = tcpProbe(ctx, p.o.Enter, net.JoinHostPort(addr.String(), strconv.Itoa(port)), p.o.Timeout)
		})
	}
	if t.ICMP {
		ev.ICMP = &moonwake.ICMPResult{}
		wg.Go(func() {
			if !p.acquire(ctx) {
				*ev.ICMP = moonwake.ICMPResult{Mode: moonwake.ICMPUnavailable, Outcome: moonwake.OutcomeError, Error: ctx.Err().Error()}
				return
			}
			defer p.release()
			*ev.ICMP = p.pinger.Ping(ctx, addr, p.o.Timeout)
		})
	}
	if t.SunshinePort != 0 {
		ev.Sunshine = &moonwake.SunshineEvidence{}
		wg.Go(func() {
			if !p.acquire(ctx) {
				*ev.Sunshine = moonwake.SunshineEvidence{Identity: moonwake.IdentityUnknown, Error: ctx.Err().Error()}
				return
			}
			defer p.release()
			*ev.Sunshine = p.sunshine(ctx, addr, t)
		})
	}
	wg.Wait()

	if t.MAC != nil {
		ev.Neighbour = p.neighbour(addr, t.MAC, !answered(ev), ask.stop())
	}
	ev.At = p.o.Now()
	return ev
}

// answered reports whether anything at the address answered the round's
// probes.
func answered(ev moonwake.Evidence) bool {
	for _, r := range ev.TCP {
		if r.Outcome.Answered() {
			return true
		}
	}
	return ev.ICMP != nil && ev.ICMP.Outcome.Answered() || ev.Sunshine != nil && ev.Sunshine.Reachable
}

// asker sends the Prober's own ARP request for an address once a round
// has run for a while.
type asker struct {
	t    *time.Timer
	done chan struct{} // closed when the timer's function has returned
	at   time.Time     // when the request went; zero: not sent
}

func (p *Prober) askLater(addr netip.Addr, after time.Duration) *asker {
	a := &asker{done: make(chan struct{})}
	a.t = time.AfterFunc(after, func() {
		defer close(a.done)
		a.at, _ = p.neigh.Ask(addr) // an error leaves it zero: Confirm asks later
	})
	return a
}

// stop cancels the request if it has not gone yet, and returns when it
// went.
func (a *asker) stop() time.Time {
	if a == nil || a.t.Stop() {
		return time.Time{}
	}
	<-a.done
	return a.at
}

// confirmPoll is how often the entry is read while waiting for an answer
// to the Prober's own ARP request: the kernel's tick.
const confirmPoll = 10 * time.Millisecond

// maxConfirmWait bounds the wait for an answer to the Prober's own ARP
// request: a network card answers in a few milliseconds, asleep or not.
const maxConfirmWait = 250 * time.Millisecond

func (p *Prober) acquire(ctx context.Context) bool {
	select {
	case p.sem <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

func (p *Prober) release() { <-p.sem }

func (p *Prober) resolve(ctx context.Context, host string) (netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return a.Unmap(), nil
	}
	if host == "" {
		return netip.Addr{}, errors.New("no host to probe")
	}
	ctx, cancel := context.WithTimeout(ctx, p.o.Timeout)
	defer cancel()
	addrs, err := p.o.Resolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("resolve %s: %w", host, err)
	}
	// IPv4 first: the neighbour check and Moonlight both prefer it.
	for _, a := range addrs {
		if a.Unmap().Is4() {
			return a.Unmap(), nil
		}
	}
	if len(addrs) == 0 {
		return netip.Addr{}, fmt.Errorf("resolve %s: no address", host)
	}
	return addrs[0], nil
}

func (p *Prober) sunshine(ctx context.Context, addr netip.Addr, t Target) moonwake.SunshineEvidence {
	ctx, cancel := context.WithTimeout(ctx, p.o.SunshineTimeout)
	defer cancel()
	c := &sunshine.Client{
		HTTP:     p.http,
		BaseURL:  "http://" + net.JoinHostPort(addr.String(), strconv.Itoa(t.SunshinePort)),
		UniqueID: p.o.SunshineClientID,
	}
	info, err := c.ServerInfo(ctx)
	if err != nil {
		return moonwake.SunshineEvidence{Identity: moonwake.IdentityUnknown, Error: err.Error()}
	}
	ev := moonwake.SunshineEvidence{
		Reachable: true, State: moonwake.SunshineFree, CurrentGame: info.CurrentGame,
		Hostname: info.Hostname, UniqueID: info.UniqueID, AppVersion: info.AppVersion,
		Identity: moonwake.IdentityUnknown,
	}
	if info.Busy {
		ev.State = moonwake.SunshineBusy
	}
	if t.SunshineID != "" {
		if info.UniqueID == t.SunshineID {
			ev.Identity = moonwake.IdentityMatch
		} else {
			ev.Identity = moonwake.IdentityMismatch
		}
	}
	return ev
}

// neighbour checks who holds addr on the link. When nothing else
// answered (silent) and the entry holds the machine's MAC, it asks again
// with an ARP request of its own: a kept entry says only that the card
// answered once, an answer now that it is alive (Asleep).
func (p *Prober) neighbour(addr netip.Addr, mac net.HardwareAddr, silent bool, asked time.Time) *moonwake.NeighbourResult {
	r := &moonwake.NeighbourResult{IP: addr.String(), Identity: moonwake.IdentityUnknown}
	n, err := p.neigh.Lookup(addr)
	if err == nil && silent && addr.Is4() && bytes.Equal(n.MAC, mac) && !n.State.Unresolved() {
		switch {
		case !asked.IsZero():
			// Asked during the round: the answer is in by now, unless the
			// request went late (a busy machine); then wait for it as
			// Confirm does, up to maxConfirmWait after asking.
			for {
				r.Answered = Answered(n, asked) && bytes.Equal(n.MAC, mac)
				if r.Answered || time.Since(asked)+confirmPoll > maxConfirmWait {
					break
				}
				time.Sleep(confirmPoll)
				if n, err = p.neigh.Lookup(addr); err != nil {
					break
				}
			}
		default: // a silent round that ended early: ask now
			if cn, ok, cerr := p.neigh.Confirm(addr, min(p.o.Timeout, maxConfirmWait)); cerr == nil {
				n, r.Answered = cn, ok && bytes.Equal(cn.MAC, mac)
			}
		}
	}
	switch {
	case errors.Is(err, ErrLocal):
		r.State = "local"
	case errors.Is(err, ErrNotOnLink):
		r.State = "not on-link"
	case errors.Is(err, ErrNoEntry):
		r.State = "none"
	case err != nil:
		r.Error = err.Error()
	case n.State.Unresolved():
		r.State, r.Identity = n.State.String(), moonwake.IdentityAbsent
	case n.MAC == nil:
		r.State = n.State.String()
	default:
		r.State, r.MAC = n.State.String(), n.MAC.String()
		if bytes.Equal(n.MAC, mac) {
			r.Identity = moonwake.IdentityMatch
		} else {
			r.Identity = moonwake.IdentityMismatch
		}
	}
	return r
}
