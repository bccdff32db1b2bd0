//go:build linux

package probe_test

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	"github.com/moonwake/moonwake/internal/testlan"
	"github.com/moonwake/moonwake/probe"
)

// TestListNeighbours fills the neighbour table of host "hub" by connecting
// to host "pc" on a LAN of namespaces (which resolves pc's address with
// ARP), then dumps it from inside "hub".
func TestListNeighbours(t *testing.T) {
	lan := testlan.New(t)
	hub, pc := lan.AddHost("hub"), lan.AddHost("pc")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	l := listenIn(t, pc, net.JoinHostPort(pc.Addr().String(), "0"))
	if err := hub.Do(func() error {
		c, err := net.DialTimeout("tcp", l.Addr().String(), 10*time.Second)
		if err != nil {
			return err
		}
		return c.Close()
	}); err != nil {
		t.Fatalf("connect: %v", err)
	}
	tab := &probe.NeighbourTable{Enter: hub.Do}
	defer tab.Close()
	var found bool
	for !found {
		ns, err := tab.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range ns {
			if n.IP == pc.Addr() && bytes.Equal(n.MAC, pc.MAC()) && !n.State.Unresolved() {
				found = true
				if n.Ifindex <= 0 {
					t.Errorf("entry %+v: no interface index", n)
				}
			}
		}
		if !found {
			select {
			case <-ctx.Done():
				t.Fatalf("no entry for %s (%s) in %+v", pc.Addr(), pc.MAC(), ns)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	// A second list on the same socket works as well, and a cancelled
	// context stops it.
	if _, err := tab.List(ctx); err != nil {
		t.Fatal(err)
	}
	done, stop := context.WithCancel(ctx)
	stop()
	if _, err := tab.List(done); err == nil {
		t.Error("List with a cancelled context: no error")
	}
}

// TestListNeighboursOwnTable reads the process's own table: whatever is in
// it, the dump must parse.
func TestListNeighboursOwnTable(t *testing.T) {
	if _, err := probe.ListNeighbours(t.Context()); err != nil {
		t.Fatal(err)
	}
}
