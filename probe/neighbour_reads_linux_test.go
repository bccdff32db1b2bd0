//go:build linux

package probe

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/moonwake/moonwake/internal/testlan"
)

// Lookups that wait together are answered by one dump of the table, each
// with its own entry (or ErrNoEntry), as single gets would answer them.
func TestNeighbourReadsTogether(t *testing.T) {
	lan := testlan.New(t)
	hub, pc := lan.AddHost("hub"), lan.AddHost("pc")
	if err := hub.Reach(pc); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	want := map[netip.Addr]string{pc.Addr(): pc.MAC().String()}
	for i := range 20 {
		a := lan.Prefix().Addr().As4()
		a[3] = byte(100 + i)
		mac := net.HardwareAddr{0x02, 0x42, 0, 0, 0, byte(i)}
		want[netip.AddrFrom4(a)] = mac.String()
		if out, err := hub.Run(ctx, "ip", "neigh", "add", netip.AddrFrom4(a).String(), "lladdr", mac.String(), "dev", hub.Iface(), "nud", "permanent"); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	nobody := lan.Prefix().Addr().As4()
	nobody[3] = 200
	want[netip.AddrFrom4(nobody)] = "" // on-link, never asked for

	tab := &NeighbourTable{Enter: hub.Do}
	defer tab.Close()
	check := func(ip netip.Addr) error {
		n, err := tab.Lookup(ip)
		switch mac := want[ip]; {
		case mac == "" && !errors.Is(err, ErrNoEntry):
			return fmt.Errorf("%s: %+v, %v; want ErrNoEntry", ip, n, err)
		case mac != "" && (err != nil || n.IP != ip || n.MAC.String() != mac):
			return fmt.Errorf("%s: %+v, %v; want %s", ip, n, err, mac)
		}
		return nil
	}
	// One at a time (single gets), which also caches every route.
	for ip := range want {
		if err := check(ip); err != nil {
			t.Fatal(err)
		}
	}
	if tab.tableSize[0] != 0 {
		t.Fatalf("lookups one at a time dumped the table (%d entries)", tab.tableSize[0])
	}

	// Hold the connection, as a slow exchange would, while 60 lookups
	// gather behind it; then let them go.
	tab.mu.Lock()
	var wg sync.WaitGroup
	errs := make(chan error, 60)
	var ips []netip.Addr
	for ip := range want {
		ips = append(ips, ip)
	}
	for i := range 60 {
		wg.Go(func() {
			if err := check(ips[i%len(ips)]); err != nil {
				errs <- err
			}
		})
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		tab.readMu.Lock()
		r := tab.reading[0]
		n := 0
		if r != nil {
			n = len(r.want)
		}
		tab.readMu.Unlock()
		if n == 60 {
			break
		}
		if time.Now().After(deadline) {
			tab.mu.Unlock()
			t.Fatalf("%d lookups waiting after 10 s, want 60", n)
		}
		time.Sleep(time.Millisecond)
	}
	tab.mu.Unlock()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if tab.tableSize[0] < len(want)-1 {
		t.Errorf("60 lookups waiting together: the last dump had %d entries, want one dump of the table", tab.tableSize[0])
	}
}

// A cached route lasts until the namespace's routes change, not until a
// TTL: the answer after a change is the new one at once.
func TestNeighbourRouteChanges(t *testing.T) {
	lan := testlan.New(t)
	hub, pc := lan.AddHost("hub"), lan.AddHost("pc")
	ctx := t.Context()
	tab := &NeighbourTable{Enter: hub.Do}
	defer tab.Close()
	far := netip.MustParseAddr("10.200.0.1")
	ip := func(args ...string) {
		t.Helper()
		if out, err := hub.Run(ctx, append([]string{"ip"}, args...)...); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}

	ip("route", "add", "10.200.0.0/16", "via", pc.Addr().String())
	for range 2 { // the second from the cache
		if _, err := tab.Lookup(far); !errors.Is(err, ErrNotOnLink) {
			t.Fatalf("routed: %v, want ErrNotOnLink", err)
		}
	}
	if len(tab.routes) == 0 || !tab.changes.open {
		t.Fatalf("route not cached (%d), or changes not watched (%v)", len(tab.routes), tab.changes.open)
	}
	ip("route", "replace", "10.200.0.0/16", "dev", hub.Iface())
	if _, err := tab.Lookup(far); !errors.Is(err, ErrNoEntry) {
		t.Fatalf("on the link now: %v, want ErrNoEntry", err)
	}
	ip("addr", "add", "10.200.0.1/32", "dev", "lo")
	if _, err := tab.Lookup(far); !errors.Is(err, ErrLocal) {
		t.Fatalf("an address of the hub now: %v, want ErrLocal", err)
	}
	ip("addr", "del", "10.200.0.1/32", "dev", "lo")
	ip("route", "del", "10.200.0.0/16")
	if _, err := tab.Lookup(far); err == nil || errors.Is(err, ErrNoEntry) || errors.Is(err, ErrLocal) {
		t.Fatalf("no route now: %v, want the kernel's error", err)
	}
}
