//go:build linux

package probe_test

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/moonwake/moonwake/internal/testlan"
	"github.com/moonwake/moonwake/probe"
)

// BenchmarkNeighbourLookup measures the neighbour check of every probe
// round, inside a LAN of namespaces (testlan: root, skipped without it) so
// nothing reaches the machine's network. It uses only the exported API, so
// the same benchmark compares one implementation of the table with another.
//
//	go test -run '^$' -bench NeighbourLookup -benchmem -count 6 ./probe/
func BenchmarkNeighbourLookup(b *testing.B) {
	lan := testlan.New(b)
	hub, pc := lan.AddHost("hub"), lan.AddHost("pc")
	// Resolve pc from hub, so hub's table has an entry for it.
	if err := hub.Reach(pc); err != nil {
		b.Fatal(err)
	}
	nobody := netip.MustParseAddr(addrOf(lan.CIDR(200))) // on-link, never asked for: no entry

	// The probe hot path: one table kept open, the route cached, one get.
	b.Run("entry", func(b *testing.B) {
		tab := &probe.NeighbourTable{Enter: hub.Do}
		defer tab.Close()
		for b.Loop() {
			n, err := tab.Lookup(pc.Addr())
			if err != nil || n.MAC == nil {
				b.Fatalf("%+v, %v", n, err)
			}
		}
	})
	b.Run("noentry", func(b *testing.B) {
		tab := &probe.NeighbourTable{Enter: hub.Do}
		defer tab.Close()
		for b.Loop() {
			if _, err := tab.Lookup(nobody); !errors.Is(err, probe.ErrNoEntry) {
				b.Fatal(err)
			}
		}
	})
	// A table of its own per lookup, as LookupNeighbour: the socket is
	// opened in the namespace and the route asked for every time.
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			tab := &probe.NeighbourTable{Enter: hub.Do}
			_, err := tab.Lookup(pc.Addr())
			if cerr := tab.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	// The whole table, as the web app's suggestions read it.
	b.Run("list", func(b *testing.B) {
		tab := &probe.NeighbourTable{Enter: hub.Do}
		defer tab.Close()
		for b.Loop() {
			if ns, err := tab.List(b.Context()); err != nil || len(ns) == 0 {
				b.Fatalf("%d entries, %v", len(ns), err)
			}
		}
	})
}

// fleetNeighbours gives hub n neighbours as a fleet's hub has them: a
// route to 10.99.0.0/16 on its LAN interface and a permanent entry with a
// MAC of its own for each of 10.99.0.1 on (no packet is sent: permanent
// entries need no resolution). It returns the addresses and their MACs.
func fleetNeighbours(tb testing.TB, hub *testlan.Host, n int) ([]netip.Addr, []net.HardwareAddr) {
	tb.Helper()
	var batch strings.Builder
	fmt.Fprintf(&batch, "route add 10.99.0.0/16 dev %s\n", hub.Iface())
	addrs, macs := make([]netip.Addr, n), make([]net.HardwareAddr, n)
	for i := range n {
		addrs[i] = netip.AddrFrom4([4]byte{10, 99, byte((i + 1) >> 8), byte(i + 1)})
		macs[i] = net.HardwareAddr{0x02, 0x99, 0, 0, byte((i + 1) >> 8), byte(i + 1)}
		fmt.Fprintf(&batch, "neigh add %s lladdr %s dev %s nud permanent\n", addrs[i], macs[i], hub.Iface())
	}
	file := filepath.Join(tb.TempDir(), "neigh.batch")
	if err := os.WriteFile(file, []byte(batch.String()), 0o600); err != nil {
		tb.Fatal(err)
	}
	if out, err := hub.Run(tb.Context(), "ip", "-batch", file); err != nil {
		tb.Fatalf("ip -batch: %v: %s", err, out)
	}
	return addrs, macs
}

// BenchmarkNeighbourFleet is the neighbour check of a fleet's probe
// rounds: 10,000 machines on the hub's link, looked up from many
// goroutines at once (as the rounds of a Watcher do), one table. An op is
// one lookup.
//
//	go test -run '^$' -bench NeighbourFleet -benchmem -cpu 1 ./probe/
func BenchmarkNeighbourFleet(b *testing.B) {
	lan := testlan.New(b)
	hub := lan.AddHost("hub")
	addrs, macs := fleetNeighbours(b, hub, 10000)
	// One table, its routes cached as in a running hub.
	tab := &probe.NeighbourTable{Enter: hub.Do}
	defer tab.Close()
	for _, a := range addrs {
		if _, err := tab.Lookup(a); err != nil {
			b.Fatal(err)
		}
	}
	// The whole table: what one read for many lookups costs.
	b.Run("list", func(b *testing.B) {
		for b.Loop() {
			if ns, err := tab.List(b.Context()); err != nil || len(ns) < len(addrs) {
				b.Fatalf("%d entries, %v", len(ns), err)
			}
		}
	})
	for _, par := range []int{1, 64, 512} {
		b.Run(fmt.Sprintf("concurrent=%d", par), func(b *testing.B) {
			var next atomic.Int64
			b.SetParallelism(max(1, par/runtime.GOMAXPROCS(0)))
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := int(next.Add(1)) % len(addrs)
					n, err := tab.Lookup(addrs[i])
					if err != nil || n.MAC.String() != macs[i].String() {
						b.Errorf("%s: %+v, %v", addrs[i], n, err)
						return
					}
				}
			})
		})
	}
}
