// Package discover finds the devices that could be added as machines: it
// reads the hub's own neighbour table and asks every online relay for its
// own, names them (reverse DNS and mDNS, each from the side that owns the
// LAN), adds the maker of each MAC (package oui), and marks the devices
// that are machines already. It also starts a relay's sweep of one of its
// subnets. It implements moonwake.DiscoveryService.
package discover

import (
	"cmp"
	"context"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/lan"
	"github.com/moonwake/moonwake/oui"
)

// MaxSuggestions bounds a discovery's list: the hub's devices and every
// relay's, together.
const MaxSuggestions = 200

// RelayTable is what one relay said of its neighbour table.
type RelayTable struct {
	Relay    string
	Devices  []lan.Device
	Sweep    bool     // it may sweep
	Networks []string // the IPv4 networks it serves
	Err      error    // why it did not answer
}

// Options configure a Service. Machines is needed; the rest may be nil.
type Options struct {
	Machines moonwake.MachineService
	// Local reads the hub's own neighbour table, with names; nil: the hub
	// sees no LAN of its own (a pod on a cluster's network).
	Local func(ctx context.Context) ([]lan.Device, error)
	// Relays asks every relay for its table; nil: no relays.
	Relays func(ctx context.Context) []RelayTable
	// Sweep starts a relay's sweep (remote.Relays.Sweep); nil: none.
	Sweep  func(ctx context.Context, relay, network string) (*moonwake.Sweep, error)
	Logger *slog.Logger
}

// Service implements moonwake.DiscoveryService.
type Service struct {
	o Options

	mu  sync.Mutex
	run *run // the discovery under way, which callers at once share; nil: none
}

// run is one discovery: its answer once done is closed.
type run struct {
	done chan struct{}
	d    *moonwake.Discovery
	err  error
}

// runTimeout bounds one discovery, whoever waits for it: the relays answer
// within 3 s, names within 1.5 s.
const runTimeout = 5 * time.Second

var _ moonwake.DiscoveryService = (*Service)(nil)

// New returns the service.
func New(o Options) *Service {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{o: o}
}

// Discover implements moonwake.DiscoveryService: the hub's table and the
// relays' are read at once; the answer waits for the slowest, which each
// source bounds (about 1.5 s of naming, 3 s for a relay). Callers at once
// share one discovery, so a page reloaded in a hurry sends one round of
// queries to the LANs, not one per reload; a caller whose ctx ends stops
// waiting, and the discovery ends by itself.
func (s *Service) Discover(ctx context.Context) (*moonwake.Discovery, error) {
	s.mu.Lock()
	r := s.run
	if r == nil {
		r = &run{done: make(chan struct{})}
		s.run = r
		// Not the first caller's ctx: the others share the answer.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), runTimeout)
		go func() {
			defer cancel()
			r.d, r.err = s.discover(rctx)
			s.mu.Lock()
			s.run = nil
			s.mu.Unlock()
			close(r.done)
		}()
	}
	s.mu.Unlock()
	select {
	case <-r.done:
	case <-ctx.Done():
		return nil, moonwake.Errorf(moonwake.EUnavailable, "discovery: %v", ctx.Err())
	}
	if r.err != nil {
		return nil, r.err
	}
	d := *r.d // each caller its own lists; the suggestions' names are shared, read-only
	d.Suggestions, d.Relays = slices.Clone(d.Suggestions), slices.Clone(d.Relays)
	return &d, nil
}

// discover reads every table once.
func (s *Service) discover(ctx context.Context) (*moonwake.Discovery, error) {
	var local []lan.Device
	var localErr error
	var tables []RelayTable
	var wg sync.WaitGroup
	if s.o.Local != nil {
		wg.Go(func() { local, localErr = s.o.Local(ctx) })
	}
	if s.o.Relays != nil {
		wg.Go(func() { tables = s.o.Relays(ctx) })
	}
	ms, err := s.o.Machines.ListMachines(ctx)
	wg.Wait()
	if err != nil {
		return nil, err
	}
	byMAC := map[string]string{}
	for _, m := range ms {
		byMAC[m.MAC] = m.Name
	}
	d := &moonwake.Discovery{Suggestions: []moonwake.Suggestion{}, Relays: []moonwake.DiscoveryRelay{}}
	switch {
	case s.o.Local == nil:
		d.HubError = "this hub does not read a neighbour table of its own"
	case localErr != nil:
		s.o.Logger.Warn("discover: the hub's neighbour table", "error", localErr)
		d.HubError = "the hub's neighbour table could not be read"
	}
	m := merger{byMAC: byMAC, index: map[string]int{}}
	for _, dev := range local {
		m.add(dev, "")
	}
	for _, t := range tables {
		r := moonwake.DiscoveryRelay{Name: t.Relay, Sweep: t.Sweep, Networks: t.Networks}
		if t.Err != nil {
			r.Error = moonwake.ErrorMessage(t.Err)
		}
		d.Relays = append(d.Relays, r)
		for _, dev := range t.Devices {
			m.add(dev, t.Relay)
		}
	}
	d.Suggestions = m.list()
	return d, nil
}

// Sweep implements moonwake.DiscoveryService.
func (s *Service) Sweep(ctx context.Context, relay, network string) (*moonwake.Sweep, error) {
	if s.o.Sweep == nil {
		return nil, moonwake.Errorf(moonwake.ENotFound, "no relay called %q", relay)
	}
	return s.o.Sweep(ctx, relay, network)
}

// merger gathers devices by MAC: a device seen by the hub and a relay,
// or by two relays, is one suggestion.
type merger struct {
	byMAC map[string]string // registered machines by MAC
	index map[string]int    // suggestions by MAC
	out   []moonwake.Suggestion
	addrs []netip.Addr // each suggestion's, for sorting
}

func (m *merger) add(d lan.Device, relay string) {
	mac := d.MAC.String()
	i, ok := m.index[mac]
	if !ok {
		if len(m.out) == MaxSuggestions {
			return
		}
		i = len(m.out)
		m.index[mac] = i
		m.out = append(m.out, moonwake.Suggestion{IP: d.IP.String(), MAC: mac, Vendor: oui.Vendor(d.MAC), Machine: m.byMAC[mac]})
		m.addrs = append(m.addrs, d.IP)
	}
	sg := &m.out[i]
	if relay == "" {
		sg.Hub = true
	} else if !slices.Contains(sg.Relays, relay) {
		sg.Relays = append(sg.Relays, relay)
	}
	for _, n := range d.Names {
		if len(sg.Names) < 4 && !slices.Contains(sg.Names, n) {
			sg.Names = append(sg.Names, n)
		}
	}
	if sg.Name == "" && len(sg.Names) > 0 {
		sg.Name = lan.MachineName(sg.Names[0])
	}
}

// list returns the suggestions: new devices first, then those already
// machines; each part by address, IPv4 first.
func (m *merger) list() []moonwake.Suggestion {
	idx := make([]int, len(m.out))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int {
		sa, sb := m.out[a], m.out[b]
		if (sa.Machine == "") != (sb.Machine == "") {
			if sa.Machine == "" {
				return -1
			}
			return 1
		}
		aa, ab := m.addrs[a], m.addrs[b]
		if aa.Is4() != ab.Is4() {
			if aa.Is4() {
				return -1
			}
			return 1
		}
		return cmp.Or(aa.Compare(ab), cmp.Compare(sa.MAC, sb.MAC))
	})
	out := make([]moonwake.Suggestion, 0, len(idx))
	for _, i := range idx {
		out = append(out, m.out[i])
	}
	return out
}
