package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/internal/hubtls"
	"github.com/moonwake/moonwake/internal/ratelimit"
	"github.com/moonwake/moonwake/probe"
	"github.com/moonwake/moonwake/uplink"
	"github.com/moonwake/moonwake/wol"
)

// Options configure a relay.
type Options struct {
	StatePath string // the relay's identity; written when it enrols
	// Hub, Name and TokenFile enrol the relay when it has no state yet: a
	// pod that is re-created enrols again with the token in a Secret.
	Hub       string
	Name      string
	TokenFile string
	// HubFingerprint, if set, is the fingerprint the hub's key must have
	// when the relay enrols (moonwake relays pair shows it): an enrolment
	// over plain HTTP then cannot be answered by another hub.
	HubFingerprint string
	// TLSFingerprint, if set, is the fingerprint of the hub's self-signed
	// TLS certificate, pinned when the relay enrols.
	TLSFingerprint string
	// Networks are the subnets the relay serves; nil: those of its
	// interfaces that are up.
	Networks []netip.Prefix
	// HealthListen, if set, serves GET /healthz (the process lives) and
	// GET /readyz (the uplink is up) there.
	HealthListen string
	// PassthroughListen are UDP addresses (":47009", ":9") where magic
	// packets from outside arrive through a router's port-forward: the
	// relay hands them to the hub, which wakes the registered machine they
	// name. Empty: none.
	PassthroughListen []string
	// DiscoverySweep lets the hub ask for a sweep of one of the relay's
	// subnets (at most a /22, 50 addresses a second, one at a time), so
	// that devices it never talked to show in its neighbour table.
	DiscoverySweep bool
	Software       string
	Logger         *slog.Logger
	HTTPClient     *http.Client

	// Interfaces, Prober, Sender and Neighbours replace the host's for
	// tests.
	Interfaces func() ([]wol.Iface, error)
	Prober     *probe.Prober
	Sender     *wol.Sender
	Neighbours func(ctx context.Context) ([]probe.Neighbour, error)
}

// Relay carries out the hub's orders on its LAN: wakes, probes, and
// discovery's neighbour lists and sweeps.
type Relay struct {
	o      Options
	log    *slog.Logger
	prober *probe.Prober
	sender *wol.Sender
	ifs    func() ([]wol.Iface, error)
	up     atomic.Bool

	sweepMu sync.Mutex
	// sweepBusy is until when a sweep ordered, whose answer is on its
	// way, holds the relay; sweeping, that one runs. sweepGen counts
	// the sweeps ordered, so that one whose answer never went out in
	// time neither runs nor frees the relay once another was ordered.
	sweepBusy time.Time
	sweeping  bool
	sweepGen  uint64
	// sweepSend and sweepWait replace, for tests, the sweep's UDP
	// prober and the time its answer may take to go out (5 s).
	sweepSend func(netip.Addr) error
	sweepWait time.Duration
}

// Run runs the relay until ctx ends: it enrols if it must, then keeps its
// uplink to the hub up and answers the hub's orders.
func Run(ctx context.Context, o Options) error {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	st, err := ReadState(o.StatePath)
	if errors.Is(err, ErrNotPaired) && o.TokenFile != "" {
		if st, err = enrol(ctx, o); err != nil {
			return err
		}
		log.Info("enrolled with the hub", "hub", st.Hub, "relay", st.Name, "id", st.ID)
	}
	if err != nil {
		return err
	}
	r := &Relay{o: o, log: log, prober: o.Prober, sender: o.Sender, ifs: o.Interfaces}
	if r.prober == nil {
		r.prober = probe.NewProber(probe.ProberOptions{})
		defer r.prober.Close()
	}
	if r.sender == nil {
		r.sender = &wol.Sender{}
	}
	if r.ifs == nil {
		r.ifs = (&wol.InterfaceCache{TTL: 10 * time.Second}).Interfaces
	}
	if o.HealthListen != "" {
		stop, err := r.serveHealth(o.HealthListen)
		if err != nil {
			return err
		}
		defer stop()
	}
	hc := o.HTTPClient
	if hc == nil && st.TLSFingerprint != "" {
		if hc, err = hubtls.PinnedClient(st.TLSFingerprint); err != nil {
			return fmt.Errorf("state: %w", err)
		}
	}
	c := &uplink.Client{
		HubURL: st.Hub, ID: st.ID, Purpose: uplink.PurposeRelay, Key: st.key(), HubKey: st.HubPublicKey,
		Handle: r.Handle, Report: r.Report, Software: o.Software, Logger: log, HTTPClient: hc,
		OnState: func(up bool, err error) { r.up.Store(up) },
	}
	if len(o.PassthroughListen) > 0 {
		pt := &passthrough{r: r, hub: c, sources: ratelimit.New(passthroughPerMinute, passthroughBurst, passthroughSources)}
		conns, err := pt.listen(o.PassthroughListen)
		if err != nil {
			return fmt.Errorf("passthrough: %w", err)
		}
		var wg sync.WaitGroup
		defer wg.Wait()
		for _, conn := range conns {
			defer conn.Close()
			wg.Go(func() { pt.serve(ctx, conn) })
		}
		log.Info("passthrough listening for magic packets from outside", "udp", o.PassthroughListen)
	}
	log.Info("relay starting", "relay", st.Name, "hub", st.Hub)
	return c.Run(ctx)
}

// enrol pairs the relay with the enrolment token in o.TokenFile and keeps
// the state.
func enrol(ctx context.Context, o Options) (*State, error) {
	b, err := os.ReadFile(o.TokenFile)
	if err != nil {
		return nil, fmt.Errorf("enrolment token: %w", err)
	}
	name := o.Name
	if name == "" {
		name, _ = os.Hostname()
	}
	// A node or host name may be a whole domain name, in capitals: the
	// relay's name is its first label, in lower case.
	name = strings.ToLower(strings.SplitN(strings.TrimSpace(name), ".", 2)[0])
	if o.Hub == "" {
		return nil, errors.New("enrol: the hub's URL is needed (MOONWAKE_HUB or --hub)")
	}
	st, err := Pair(ctx, PairOptions{Hub: o.Hub, Token: string(b), Name: name, HubFingerprint: o.HubFingerprint,
		TLSFingerprint: o.TLSFingerprint, Software: o.Software, HTTPClient: o.HTTPClient})
	if err != nil {
		return nil, fmt.Errorf("enrol as %q with %s: %w", name, o.Hub, err)
	}
	if err := WriteState(o.StatePath, st); err != nil {
		return nil, err
	}
	return st, nil
}

// Handle answers one of the hub's orders.
func (r *Relay) Handle(ctx context.Context, cmd uplink.Command) (uplink.Result, uplink.Then) {
	var data any
	var err error
	var then uplink.Then
	switch cmd.Name {
	case CommandWake:
		var o WakeOrder
		if err = decodeArgs(cmd.Args, &o); err == nil {
			data, err = r.wake(o)
		}
	case CommandProbe:
		var o ProbeOrder
		if err = decodeArgs(cmd.Args, &o); err == nil {
			data, err = r.probe(ctx, o)
		}
	case CommandNeighbours:
		var o NeighboursOrder
		if err = decodeArgs(cmd.Args, &o); err == nil {
			data, err = r.neighbours(ctx, o)
		}
	case CommandSweep:
		var o SweepOrder
		if err = decodeArgs(cmd.Args, &o); err == nil {
			data, then = r.sweep(o)
		}
	default:
		err = moonwake.Errorf(moonwake.EInvalid, "a relay does not %q", cmd.Name)
	}
	if err != nil {
		return uplink.Result{Error: moonwake.ErrorMessage(err)}, nil
	}
	b, err := json.Marshal(data)
	if err != nil {
		return uplink.Result{Error: "internal error"}, nil
	}
	return uplink.Result{OK: true, Data: b}, then
}

func decodeArgs(b json.RawMessage, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return moonwake.Errorf(moonwake.EInvalid, "malformed order: %v", err)
	}
	return nil
}

// wake plans o's packets from this host's interfaces and sends them.
func (r *Relay) wake(o WakeOrder) (WakeReport, error) {
	if o.Count < 1 || o.Count > 20 {
		return WakeReport{}, moonwake.Errorf(moonwake.EInvalid, "count %d: want 1 to 20", o.Count)
	}
	m := o.machine()
	ifs, err := r.ifs()
	if err != nil {
		return WakeReport{}, moonwake.Errorf(moonwake.EUnavailable, "list this relay's interfaces: %v", err)
	}
	if m.Interface == "" && m.Broadcast == "" {
		// A machine that is off answers no ARP, so a unicast alone never
		// reaches it: broadcast on the interface whose subnet holds its
		// address, too.
		m.Interface = interfaceFor(m.Host, ifs)
	}
	targets, pkt, err := moonwake.PlanWake(m, ifs)
	if err != nil {
		return WakeReport{}, err
	}
	// The rest of the order is checked as the hub checks a machine: a
	// broadcast address the plan would skip, a name, a host.
	if err := m.Normalize(); err != nil {
		return WakeReport{}, moonwake.Errorf(moonwake.EInvalid, "cannot wake %s: %s", o.Machine, moonwake.ErrorMessage(err))
	}
	rep := WakeReport{Steps: []moonwake.Step{}}
	for _, t := range targets {
		st := moonwake.Step{At: time.Now().UTC(), Kind: "send", Via: t.Via, Target: t.String()}
		for range o.Count {
			if err := r.sender.Send(pkt, t); err != nil {
				st.Error = err.Error()
			} else {
				rep.Sent++
			}
		}
		rep.Steps = append(rep.Steps, st)
	}
	r.log.Info("sent magic packets", "machine", o.Machine, "mac", o.MAC, "packets", rep.Sent)
	return rep, nil
}

// interfaceFor names the interface that is up, whose subnet holds host,
// and that has an IPv4 subnet to broadcast on; "" when none does, or host
// is not an IP address (an IPv6-only LAN is reached by unicast).
func interfaceFor(host string, ifs []wol.Iface) string {
	a, err := netip.ParseAddr(host)
	if err != nil || a.Zone() != "" {
		return "" // a zoned address names its interface, and is sent to as it is
	}
	a = a.Unmap()
	for _, i := range ifs {
		if !i.Up || i.Loopback {
			continue
		}
		holds, v4 := false, false
		for _, p := range i.Prefixes {
			holds = holds || p.Contains(a)
			v4 = v4 || p.Addr().Is4()
		}
		if holds && v4 {
			return i.Name
		}
	}
	return ""
}

// probe runs one round of probes of o.
func (r *Relay) probe(ctx context.Context, o ProbeOrder) (moonwake.Evidence, error) {
	t, err := o.target()
	if err != nil {
		return moonwake.Evidence{}, err
	}
	return r.prober.Probe(ctx, t), nil
}

// Report says which networks the relay serves.
func (r *Relay) Report(ctx context.Context) uplink.Report {
	rep := uplink.Report{Software: r.o.Software}
	rep.Hostname, _ = os.Hostname()
	nets := r.o.Networks
	if nets == nil {
		var err error
		if nets, err = r.networks(); err != nil {
			rep.Errors = append(rep.Errors, "networks: "+err.Error())
		}
	}
	for _, p := range nets {
		rep.Networks = append(rep.Networks, p.String())
	}
	return rep
}

// virtualPrefixes name the interfaces a container host makes for its own
// traffic (k3s's flannel and CNI bridge, Docker's, Calico's, veth pairs,
// tunnels): no PC to wake lives on them, and a relay on a node's host
// network must not claim the cluster's pod network as a LAN.
var virtualPrefixes = []string{"cni", "flannel", "docker", "br-", "veth", "cali", "kube-", "vxlan", "tunl", "weave", "cilium", "lxc", "virbr"}

// virtual reports whether the interface called name is one of those.
func virtual(name string) bool {
	for _, p := range virtualPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// networks are the subnets of the interfaces that are up, but loopback,
// link-local ones and those of a container host's virtual interfaces.
func (r *Relay) networks() ([]netip.Prefix, error) {
	ifs, err := r.ifs()
	if err != nil {
		return nil, err
	}
	var out []netip.Prefix
	for _, i := range ifs {
		if !i.Up || i.Loopback || virtual(i.Name) {
			continue
		}
		for _, p := range i.Prefixes {
			if p.Addr().IsLinkLocalUnicast() || p.Addr().IsLoopback() {
				continue
			}
			out = append(out, p.Masked())
		}
	}
	return out, nil
}

// serveHealth serves /healthz and /readyz on addr until stop is called.
func (r *Relay) serveHealth(addr string) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("health listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !r.up.Load() {
			http.Error(w, "the uplink to the hub is down", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	return func() { srv.Close() }, nil
}
