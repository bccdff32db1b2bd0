package lan

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// DefaultNameTimeout bounds the naming of a list of devices: the page that
// shows them should not wait longer.
const DefaultNameTimeout = 1500 * time.Millisecond

// lookupsAtOnce bounds the reverse DNS lookups in flight.
const lookupsAtOnce = 8

// Namer finds the names of devices: reverse DNS, one lookup per device, a
// few at a time, and one mDNS query per interface, all at once and all
// within Timeout. A name that does not come in time is left out.
type Namer struct {
	// LookupAddr is reverse DNS (net.Resolver.LookupAddr); nil: none.
	LookupAddr func(ctx context.Context, addr string) ([]string, error)
	// MDNS asks the LAN with a multicast query for the devices' reverse
	// names; LookupMDNS when nil and MDNSOff is false.
	MDNS    func(ctx context.Context, ifindex int, addrs []netip.Addr) (map[netip.Addr]string, error)
	MDNSOff bool
	Timeout time.Duration // 0: DefaultNameTimeout
}

// Name fills in ds[i].Names: the reverse DNS name first, then the mDNS
// one, each once, without their final dots.
func (n *Namer) Name(ctx context.Context, ds []Device) {
	if len(ds) == 0 {
		return
	}
	timeout := n.Timeout
	if timeout <= 0 {
		timeout = DefaultNameTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	dns := make([]string, len(ds))
	var mdns map[netip.Addr]string
	var wg sync.WaitGroup
	if n.LookupAddr != nil {
		wg.Go(func() { n.reverse(ctx, ds, dns) })
	}
	if !n.MDNSOff {
		wg.Go(func() { mdns = n.multicast(ctx, ds) })
	}
	wg.Wait()
	for i := range ds {
		for _, name := range []string{dns[i], mdns[ds[i].IP]} {
			name = strings.TrimSuffix(name, ".")
			if plausibleHost(name) && !containsFold(ds[i].Names, name) {
				ds[i].Names = append(ds[i].Names, name)
			}
		}
	}
}

// reverse looks up each device's address, lookupsAtOnce at a time.
func (n *Namer) reverse(ctx context.Context, ds []Device, out []string) {
	sem := make(chan struct{}, lookupsAtOnce)
	var wg sync.WaitGroup
	defer wg.Wait()
	for i := range ds {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		wg.Go(func() {
			defer func() { <-sem }()
			names, err := n.LookupAddr(ctx, ds[i].IP.String())
			if err == nil && len(names) > 0 {
				out[i] = names[0]
			}
		})
	}
}

// multicast asks each interface's LAN once for the names of its devices.
func (n *Namer) multicast(ctx context.Context, ds []Device) map[netip.Addr]string {
	lookup := n.MDNS
	if lookup == nil {
		lookup = LookupMDNS
	}
	byIf := map[int][]netip.Addr{}
	for _, d := range ds {
		if d.IP.Is4() {
			byIf[d.Ifindex] = append(byIf[d.Ifindex], d.IP)
		}
	}
	var mu sync.Mutex
	out := map[netip.Addr]string{}
	var wg sync.WaitGroup
	for ifindex, addrs := range byIf {
		wg.Go(func() {
			names, err := lookup(ctx, ifindex, addrs)
			if err != nil {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for a, name := range names {
				out[a] = name
			}
		})
	}
	wg.Wait()
	return out
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}
