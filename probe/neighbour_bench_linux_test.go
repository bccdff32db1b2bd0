//go:build linux

package probe_test

import (
	"errors"
	"net/netip"
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
