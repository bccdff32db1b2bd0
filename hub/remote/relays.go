package remote

import (
	"cmp"
	"context"
	"encoding/json"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/hub/sqlite"
	"github.com/moonwake/moonwake/internal/observers"
	"github.com/moonwake/moonwake/internal/ratelimit"
	"github.com/moonwake/moonwake/probe"
	"github.com/moonwake/moonwake/relay"
	"github.com/moonwake/moonwake/uplink"
)

// Timeouts of the orders a relay carries out: a probe round waits out a
// probe timeout (1 s) and Sunshine's (2 s); a wake sends at once.
const (
	relayProbeTimeout = 5 * time.Second
	relayWakeTimeout  = 5 * time.Second
)

// Bounds on what a relay says, so that one (or its key, stolen) cannot
// claim the world, bloat the audit log or flood the hub.
const (
	maxRelayNetworks = 32          // networks one relay may claim
	minIPv4Bits      = 16          // the widest IPv4 network it may claim
	minIPv6Bits      = 48          // the widest IPv6 network
	maxRelaySteps    = 16          // steps of one wake, as the relay reports them
	maxStepText      = 200         // bytes of a step's target or error
	relaySaveEvery   = time.Minute // how often an unchanged report is written
	noticesPerMinute = 600         // magic packets a relay may hand over
	noticeBurst      = 60          // at once
)

// Relays keeps the relays: their pairing and enrolment, whether each is
// linked, the networks each serves, and which relay serves a machine. It
// sends wake and probe orders to them. It implements moonwake.RelayService.
type Relays struct {
	store       *sqlite.RelayStore
	peers       *sqlite.PeerService
	server      *uplink.Server
	ttl         time.Duration
	now         func() time.Time
	fingerprint string
	// tlsFingerprint is the hub's self-signed certificate's, or empty.
	tlsFingerprint string
	log            *slog.Logger

	mu     sync.Mutex
	relays map[string]*relayState // by name

	magic      observers.List[func(relay string, from netip.Addr, b []byte)]
	magicSlots chan struct{}    // magic packets being handled
	notices    *ratelimit.Keyed // by relay name
	handling   sync.WaitGroup   // magic packets being handled
}

// maxMagicInFlight bounds the relays' magic packets handled at once;
// beyond it they are dropped (a press of Moonlight's button yields one
// wake, and relays limit each source before the uplink).
const maxMagicInFlight = 16

// relayState is a relay as the hub knows it now.
type relayState struct {
	info     moonwake.Relay
	peerID   string
	prefixes []netip.Prefix
	saved    time.Time // when its report was last written
}

var _ moonwake.RelayService = (*Relays)(nil)

// load learns the relays in the store.
func (rs *Relays) load(ctx context.Context) error {
	stored, err := rs.store.ListRelays(ctx)
	if err != nil {
		return err
	}
	peers, err := rs.peers.ListPeers(ctx, uplink.PurposeRelay)
	if err != nil {
		return err
	}
	for _, r := range stored {
		st := &relayState{info: *r}
		st.prefixes = parsePrefixes(r.Networks)
		rs.relays[r.Name] = st
	}
	for _, p := range peers {
		if st := rs.relays[p.Machine]; st != nil {
			st.peerID = p.ID
		}
	}
	return nil
}

// parsePrefixes parses the networks a relay claims, dropping what is not a
// prefix.
func parsePrefixes(nets []string) []netip.Prefix {
	var out []netip.Prefix
	for _, n := range nets {
		if p, err := netip.ParsePrefix(n); err == nil {
			out = append(out, p.Masked())
		}
	}
	return out
}

// ordered returns the relays, first claimed first: of two relays on one
// network, the older serves it and the other stands by. rs.mu is held.
func (rs *Relays) ordered() []*relayState {
	out := make([]*relayState, 0, len(rs.relays))
	for _, st := range rs.relays {
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b *relayState) int {
		return cmp.Or(a.info.CreatedAt.Compare(b.info.CreatedAt), cmp.Compare(a.info.Name, b.info.Name))
	})
	return out
}

// ListRelays implements moonwake.RelayService.
func (rs *Relays) ListRelays(ctx context.Context) ([]*moonwake.Relay, error) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	all := rs.ordered()
	out := make([]*moonwake.Relay, 0, len(all))
	for i, st := range all {
		r := st.info
		r.Networks = slices.Clone(r.Networks)
		r.Standby = nil
		for _, p := range st.prefixes {
			for _, older := range all[:i] {
				if slices.ContainsFunc(older.prefixes, p.Overlaps) {
					r.Standby = append(r.Standby, p.String())
					break
				}
			}
		}
		out = append(out, &r)
	}
	slices.SortFunc(out, func(a, b *moonwake.Relay) int { return cmp.Compare(a.Name, b.Name) })
	return out, nil
}

// NewRelayPairing implements moonwake.RelayService.
func (rs *Relays) NewRelayPairing(ctx context.Context, name string) (moonwake.RelayPairing, error) {
	if !moonwake.ValidName(name) {
		return moonwake.RelayPairing{}, moonwake.Errorf(moonwake.EInvalid, "relay name %q: use 1-63 characters a-z, 0-9, '-' or '_'", name)
	}
	code, p := uplink.NewPairing(name, uplink.PurposeRelay, rs.now().UTC(), rs.ttl)
	if err := rs.peers.CreatePairing(ctx, p); err != nil {
		return moonwake.RelayPairing{}, err
	}
	return moonwake.RelayPairing{Relay: name, Code: code, ExpiresAt: p.ExpiresAt, HubFingerprint: rs.fingerprint, TLSFingerprint: rs.tlsFingerprint}, nil
}

// DeleteRelay implements moonwake.RelayService.
func (rs *Relays) DeleteRelay(ctx context.Context, name string) error {
	// Out of the map first, so that a report arriving meanwhile finds no
	// relay to save.
	rs.mu.Lock()
	st := rs.relays[name]
	delete(rs.relays, name)
	rs.mu.Unlock()
	if err := rs.store.DeleteRelay(ctx, name); err != nil {
		if st != nil && moonwake.ErrorCode(err) != moonwake.ENotFound {
			rs.mu.Lock()
			rs.relays[name] = st // still stored: still known
			rs.mu.Unlock()
		}
		return err
	}
	if st != nil && st.peerID != "" {
		rs.server.Drop(st.peerID)
	}
	rs.log.Info("relay forgotten", "relay", name)
	return nil
}

// replaced ends the uplink of the key a new pairing or enrolment replaced.
func (rs *Relays) replaced(p *uplink.Peer) {
	rs.mu.Lock()
	st := rs.relays[p.Machine]
	if st == nil {
		st = &relayState{info: moonwake.Relay{Name: p.Machine, Networks: []string{}, CreatedAt: p.PairedAt}}
		rs.relays[p.Machine] = st
	}
	old := st.peerID
	st.peerID = p.ID
	st.info.Connected = false
	rs.mu.Unlock()
	if old != "" && old != p.ID {
		rs.server.Drop(old)
	}
}

// state returns the relay of a peer, nil for a key that is not its
// current one. rs.mu is held.
func (rs *Relays) state(p uplink.Peer) *relayState {
	st := rs.relays[p.Machine]
	if st == nil || st.peerID != p.ID {
		return nil
	}
	return st
}

func (rs *Relays) onConnect(p uplink.Peer) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if st := rs.state(p); st != nil {
		now := rs.now().UTC()
		st.info.Connected, st.info.Since, st.info.LastSeen = true, now, &now
		rs.log.Info("relay up", "relay", p.Machine)
	}
}

func (rs *Relays) onDisconnect(p uplink.Peer, err error) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if st := rs.state(p); st != nil {
		st.info.Connected, st.info.Since = false, rs.now().UTC()
		rs.log.Warn("relay down", "relay", p.Machine, "error", err)
	}
}

// onReport keeps the networks, version and host name the relay reports.
// A network claim that is not a CIDR prefix, or wider than a /16 (IPv6:
// /48), is refused, with a log line when the claims change; past 32
// networks the rest are ignored. A network another relay serves makes this
// one its standby.
func (rs *Relays) onReport(p uplink.Peer, rep uplink.Report) {
	var nets []netip.Prefix
	var claims, refused []string
	for _, n := range rep.Networks {
		pfx, err := netip.ParsePrefix(n)
		switch {
		case err != nil || !pfx.IsValid():
			refused = append(refused, trim(n, 64)+" (not a CIDR prefix)")
		case pfx.Addr().Is4() && pfx.Bits() < minIPv4Bits, pfx.Addr().Is6() && pfx.Bits() < minIPv6Bits:
			refused = append(refused, n+" (wider than a LAN)")
		case len(nets) == maxRelayNetworks:
			refused = append(refused, n+" (more than 32 networks)")
		default:
			nets = append(nets, pfx.Masked())
			claims = append(claims, pfx.Masked().String())
		}
	}
	rs.mu.Lock()
	st := rs.state(p)
	if st == nil {
		rs.mu.Unlock()
		return
	}
	now := rs.now().UTC()
	software, hostname := trim(rep.Software, 100), trim(rep.Hostname, 100)
	changed := !slices.Equal(st.info.Networks, claims) || st.info.Software != software || st.info.Hostname != hostname
	st.prefixes = nets
	st.info.Networks = append([]string{}, claims...)
	st.info.Software, st.info.Hostname, st.info.LastSeen = software, hostname, &now
	save := changed || now.Sub(st.saved) >= relaySaveEvery
	if save {
		st.saved = now
	}
	info := st.info
	rs.mu.Unlock()
	if changed {
		rs.log.Info("relay networks", "relay", p.Machine, "networks", claims, "software", software)
		if len(refused) > 0 {
			rs.log.Warn("relay claimed networks it may not serve; ignored", "relay", p.Machine, "refused", refused)
		}
	}
	if save {
		if err := rs.store.SaveRelay(context.Background(), &info); err != nil {
			rs.log.Error("save relay", "relay", p.Machine, "error", err)
		}
	}
}

// trim cuts s to at most n bytes.
func trim(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// OnMagic registers fn to hear of the magic packets a relay's passthrough
// received from outside: from is their source, b the datagram. fn decides
// whether one wakes a registered machine; it must not block for long.
func (rs *Relays) OnMagic(fn func(relay string, from netip.Addr, b []byte)) { rs.magic.Add(fn) }

// onNotice hands a relay's magic packet to whoever registered.
func (rs *Relays) onNotice(p uplink.Peer, n uplink.Notice) {
	rs.mu.Lock()
	ok := rs.state(p) != nil
	rs.mu.Unlock()
	if !ok || n.Kind != uplink.NoticeMagic {
		return
	}
	if ok, _ := rs.notices.Allow(p.Machine, rs.now()); !ok {
		return // more than Moonlight's button would send: the relay's own limits failed
	}
	from, err := netip.ParseAddr(n.From)
	if err != nil {
		rs.log.Warn("relay sent a magic packet without a source address; dropped", "relay", p.Machine)
		return
	}
	// Not on the uplink's reading goroutine: a wake through this very
	// relay waits for the relay's answer, which that goroutine reads.
	select {
	case rs.magicSlots <- struct{}{}:
	default:
		return // too many at once: the hub's passthrough would drop them anyway
	}
	rs.handling.Go(func() {
		defer func() { <-rs.magicSlots }()
		for _, fn := range rs.magic.All() {
			fn(p.Machine, from.Unmap(), n.Data)
		}
	})
}

// Route says which relay serves a machine: the relay it names, else the
// oldest relay whose network holds its address and whose uplink is up;
// "" when no relay serves it (the hub itself does). EUnavailable, saying
// since when, when the relays that serve it are all offline.
func (rs *Relays) Route(named, host string) (string, error) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if named != "" {
		st := rs.relays[named]
		if st == nil {
			return "", moonwake.Errorf(moonwake.EUnavailable, "relay %s is not paired: pair it (moonwake relays pair %s)", named, named)
		}
		if !st.info.Connected {
			return "", offline(st)
		}
		return named, nil
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return "", nil // a DNS name: the hub resolves and reaches it itself
	}
	addr = addr.Unmap().WithZone("")
	var first *relayState
	for _, st := range rs.ordered() {
		if !slices.ContainsFunc(st.prefixes, func(p netip.Prefix) bool { return p.Contains(addr) }) {
			continue
		}
		if st.info.Connected {
			return st.info.Name, nil
		}
		if first == nil {
			first = st
		}
	}
	if first != nil {
		return "", offline(first)
	}
	return "", nil
}

// offline is the error of a relay whose uplink is down.
func offline(st *relayState) error {
	if st.info.Since.IsZero() {
		return moonwake.Errorf(moonwake.EUnavailable, "relay %s offline (not seen since the hub started)", st.info.Name)
	}
	return moonwake.Errorf(moonwake.EUnavailable, "relay %s offline since %s", st.info.Name, st.info.Since.Format(time.RFC3339))
}

// order sends one order to the relay and decodes its answer into out.
func (rs *Relays) order(ctx context.Context, name, cmd string, args, out any) error {
	rs.mu.Lock()
	st := rs.relays[name]
	var id string
	if st != nil {
		id = st.peerID
	}
	rs.mu.Unlock()
	if id == "" {
		return moonwake.Errorf(moonwake.EUnavailable, "relay %s is not paired", name)
	}
	b, err := json.Marshal(args)
	if err != nil {
		return err
	}
	res, err := rs.server.Send(ctx, id, uplink.Command{Name: cmd, Args: b})
	if err != nil {
		return moonwake.Errorf(moonwake.EUnavailable, "relay %s: %s", name, moonwake.ErrorMessage(err))
	}
	if !res.OK {
		return moonwake.Errorf(moonwake.EUnavailable, "relay %s refused: %s", name, res.Error)
	}
	if err := json.Unmarshal(res.Data, out); err != nil {
		return moonwake.Errorf(moonwake.EUnavailable, "relay %s answered %s with something else", name, cmd)
	}
	return nil
}

// Probe runs one round of probes of t through the relay that serves it,
// or through local when none does. A relay that is offline or does not
// answer gives evidence that says so and proves nothing: the state is
// unknown, never off.
func (rs *Relays) Probe(local probe.ProbeFunc) probe.ProbeFunc {
	return func(ctx context.Context, t probe.Target) moonwake.Evidence {
		if t.Host == "" {
			return local(ctx, t) // nothing to probe on any LAN; the agent may tell
		}
		name, err := rs.Route(t.Relay, t.Host)
		if err != nil {
			return moonwake.Evidence{At: rs.now().UTC(), Error: moonwake.ErrorMessage(err)}
		}
		if name == "" {
			return local(ctx, t)
		}
		ctx, cancel := context.WithTimeout(ctx, relayProbeTimeout)
		defer cancel()
		var ev moonwake.Evidence
		if err := rs.order(ctx, name, relay.CommandProbe, relay.NewProbeOrder(t), &ev); err != nil {
			return moonwake.Evidence{At: rs.now().UTC(), Error: moonwake.ErrorMessage(err)}
		}
		ev.Agent = nil         // the hub adds what the agent says
		ev.At = rs.now().UTC() // the hub's clock, not the relay's: states and idle-off time by it
		return ev
	}
}

// RouteMachine says which relay serves m; see Route.
func (rs *Relays) RouteMachine(m *moonwake.Machine) (string, error) {
	return rs.Route(m.Relay, m.Host)
}

// Wake sends m's magic packets from the relay called name, count to each
// target, and returns the steps as the relay took them, with how many
// packets went out.
func (rs *Relays) Wake(ctx context.Context, name string, m *moonwake.Machine, count int) ([]moonwake.Step, int, error) {
	ctx, cancel := context.WithTimeout(ctx, relayWakeTimeout)
	defer cancel()
	var rep relay.WakeReport
	if err := rs.order(ctx, name, relay.CommandWake, relay.NewWakeOrder(m, count), &rep); err != nil {
		return nil, 0, err
	}
	if len(rep.Steps) == 0 {
		return nil, 0, moonwake.Errorf(moonwake.EUnavailable, "relay %s sent nothing and said no more", name)
	}
	// What the audit log keeps of the relay's words: bounded, at the hub's
	// time, and marked as the relay's.
	steps := make([]moonwake.Step, 0, min(len(rep.Steps), maxRelaySteps))
	for _, st := range rep.Steps[:min(len(rep.Steps), maxRelaySteps)] {
		steps = append(steps, moonwake.Step{At: rs.now().UTC(), Kind: "send", Via: "relay " + name + " " + trim(st.Via, 16),
			Target: trim(st.Target, maxStepText), Error: trim(st.Error, maxStepText)})
	}
	return steps, rep.Sent, nil
}
