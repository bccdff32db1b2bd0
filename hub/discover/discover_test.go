package discover_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/hub/discover"
	"github.com/moonwake/moonwake/hub/sqlite"
	"github.com/moonwake/moonwake/lan"
)

func device(ip, mac string, names ...string) lan.Device {
	m, _ := net.ParseMAC(mac)
	return lan.Device{IP: netip.MustParseAddr(ip), MAC: m, Names: names}
}

// TestDiscoverMerges: the hub's devices and the relays' become one list,
// one suggestion per MAC with everyone who saw it, the makers named, the
// machines marked and listed last, and a relay that did not answer named
// with its error.
func TestDiscoverMerges(t *testing.T) {
	ctx := context.Background()
	db := sqlite.NewDB(t.TempDir() + "/db")
	if err := db.Open(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	machines := sqlite.NewMachineService(db)
	if err := machines.CreateMachine(ctx, &moonwake.Machine{Name: "nas", MAC: "d8:bb:c1:00:00:02", Host: "192.0.2.2"}); err != nil {
		t.Fatal(err)
	}
	s := discover.New(discover.Options{
		Machines: machines,
		Local: func(ctx context.Context) ([]lan.Device, error) {
			return []lan.Device{device("192.0.2.2", "d8:bb:c1:00:00:02"), device("192.0.2.30", "d8:bb:c1:00:00:30", "Gaming-PC.home.lan")}, nil
		},
		Relays: func(ctx context.Context) []discover.RelayTable {
			return []discover.RelayTable{
				{Relay: "office", Sweep: true, Networks: []string{"10.9.0.0/24"}, Devices: []lan.Device{
					device("10.9.0.7", "02:11:22:33:44:55", "printer.local"),
					device("192.0.2.30", "d8:bb:c1:00:00:30", "gaming-pc.local")}},
				{Relay: "attic", Err: moonwake.Errorf(moonwake.EUnavailable, "relay attic offline since 2026-12-01T10:00:00Z")},
			}
		},
	})
	d, err := s.Discover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Suggestions) != 3 {
		t.Fatalf("suggestions %+v", d.Suggestions)
	}
	pr, pc, nas := d.Suggestions[0], d.Suggestions[1], d.Suggestions[2]
	if pr.IP != "10.9.0.7" || pr.Vendor != "random address" || pr.Hub || len(pr.Relays) != 1 || pr.Relays[0] != "office" || pr.Name != "printer" {
		t.Errorf("printer %+v", pr)
	}
	if pc.IP != "192.0.2.30" || pc.Vendor == "" || !pc.Hub || len(pc.Relays) != 1 || pc.Name != "gaming-pc" ||
		len(pc.Names) != 2 || pc.Names[0] != "Gaming-PC.home.lan" || pc.Names[1] != "gaming-pc.local" || pc.Machine != "" {
		t.Errorf("pc %+v", pc)
	}
	if nas.Machine != "nas" || !nas.Hub {
		t.Errorf("nas %+v: want it marked as machine nas, last", nas)
	}
	if len(d.Relays) != 2 || !d.Relays[0].Sweep || d.Relays[0].Error != "" || d.Relays[1].Error != "relay attic offline since 2026-12-01T10:00:00Z" || d.HubError != "" {
		t.Errorf("relays %+v, hub error %q", d.Relays, d.HubError)
	}
}

func TestDiscoverWithoutAHubTable(t *testing.T) {
	ctx := context.Background()
	db := sqlite.NewDB(t.TempDir() + "/db")
	if err := db.Open(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s := discover.New(discover.Options{Machines: sqlite.NewMachineService(db),
		Local: func(ctx context.Context) ([]lan.Device, error) { return nil, errors.New("netlink: permission denied") }})
	d, err := s.Discover(ctx)
	if err != nil || len(d.Suggestions) != 0 || d.HubError == "" || d.Relays == nil {
		t.Errorf("%+v, %v", d, err)
	}
	if _, err := s.Sweep(ctx, "office", ""); moonwake.ErrorCode(err) != moonwake.ENotFound {
		t.Errorf("sweep without relays: %v", err)
	}
}

// TestDiscoverShared: callers at once share one reading of the tables.
func TestDiscoverShared(t *testing.T) {
	ctx := context.Background()
	db := sqlite.NewDB(t.TempDir() + "/db")
	if err := db.Open(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	var reads atomic.Int32
	release := make(chan struct{})
	s := discover.New(discover.Options{Machines: sqlite.NewMachineService(db),
		Local: func(ctx context.Context) ([]lan.Device, error) {
			reads.Add(1)
			<-release
			return []lan.Device{device("192.0.2.30", "d8:bb:c1:00:00:30")}, nil
		}})
	var wg sync.WaitGroup
	results := make([]int, 5)
	for i := range results {
		wg.Go(func() {
			d, err := s.Discover(ctx)
			if err == nil {
				results[i] = len(d.Suggestions)
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	if n := reads.Load(); n != 1 {
		t.Errorf("%d reads of the table for 5 callers at once", n)
	}
	for i, n := range results {
		if n != 1 {
			t.Errorf("caller %d: %d suggestions", i, n)
		}
	}
	// A caller that gives up stops waiting.
	release = make(chan struct{})
	defer close(release)
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := s.Discover(cctx); moonwake.ErrorCode(err) != moonwake.EUnavailable {
		t.Errorf("a caller whose context ended: %v", err)
	}
}
