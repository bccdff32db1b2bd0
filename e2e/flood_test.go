//go:build linux

package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moonwake/moonwake/hub/passthrough"
	"github.com/moonwake/moonwake/internal/testlan"
	_ "modernc.org/sqlite" // the hub's own driver, to read its database
)

// TestPassthroughFlood floods the UDP passthrough (Moonlight's Wake PC
// port, open to the internet) from 32 addresses at once with magic packets
// for a PC that is on, a PC that is off and MACs the hub does not know,
// as fast as the sender can, and checks that the audit log and the
// database stay bounded:
//
//   - a PC that is on: every packet is counted, none is recorded;
//   - a PC that is off: one wake runs at a time, the rest join it;
//   - unknown MACs: nothing recorded.
//
// The assertions count, they do not time. MOONWAKE_FLOOD_SECONDS makes the
// flood longer (bench/flood.sh), and the test then reports the database's
// growth per second and extrapolated to a week.
func TestPassthroughFlood(t *testing.T) {
	t.Parallel()
	d := 3 * time.Second
	if v := os.Getenv("MOONWAKE_FLOOD_SECONDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 3600 {
			t.Fatalf("MOONWAKE_FLOOD_SECONDS=%q: want 1 to 3600", v)
		}
		d = time.Duration(n) * time.Second
	}

	lan := testlan.New(t)
	hubHost := lan.AddHost("hub")
	on := newPC(t, lan, "on", pcOptions{})
	internet := lan.AddHost("net")
	cfg := filepath.Join(t.TempDir(), "moonwake.yaml")
	if err := os.WriteFile(cfg, []byte("probe:\n  fast_interval: 100ms\n  timeout: 300ms\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	hp := startHub(t, hubHost, data, "MOONWAKE_CONFIG="+cfg, "MOONWAKE_PASSTHROUGH_LISTEN=:47009", "MOONWAKE_PROBE_INTERVAL=500ms")
	hp.addMachine(t, map[string]any{"name": "on", "mac": on.MAC().String(), "host": on.Addr().String(), "interface": testlan.Iface})
	hp.addMachine(t, map[string]any{"name": "off", "mac": "02:00:00:00:f1:00", "interface": testlan.Iface})
	on.PowerOn(t)
	hp.waitPower(t, "on", 15*time.Second, "on", func(p wirePower) bool { return up(p.State) })

	// 32 senders, each from an address of its own (a botnet, or one
	// attacker with many addresses).
	const senders = 32
	var srcs []netip.Addr
	for i := range senders {
		a := lan.Prefix().Addr().As4()
		a[3] = byte(100 + i)
		src := netip.AddrFrom4(a)
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		out, err := internet.Run(ctx, "ip", "addr", "add", netip.PrefixFrom(src, lan.Prefix().Bits()).String(), "dev", testlan.Iface)
		cancel()
		if err != nil {
			t.Fatalf("ip addr add: %v: %s", err, out)
		}
		srcs = append(srcs, src)
	}
	payloads := [][]byte{magic(t, on.MAC().String()), magic(t, "02:00:00:00:f1:00")}
	for i := range 62 {
		payloads = append(payloads, magic(t, fmt.Sprintf("02:00:00:00:%02x:%02x", 0xf2+i/256, i%256)))
	}

	before := readDB(t, data)
	to := net.UDPAddrFromAddrPort(netip.AddrPortFrom(hubHost.Addr(), 47009))
	var sent atomic.Int64
	stop := time.Now().Add(d)
	errs := make(chan error, senders)
	for i, src := range srcs {
		go func() {
			errs <- internet.Do(func() error {
				c, err := net.DialUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, 0)), to)
				if err != nil {
					return err
				}
				defer c.Close()
				for n := i; time.Now().Before(stop); n++ {
					// The hub answers nothing; a refused port (ICMP) is the
					// only error to expect, and the flood goes on.
					if _, err := c.Write(payloads[n%len(payloads)]); err == nil {
						sent.Add(1)
					}
				}
				return nil
			})
		}()
	}
	for range senders {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	elapsed := d.Seconds()

	// Let the hub finish what the flood started, then count.
	time.Sleep(time.Second)
	var list struct{ Actions []wireAction }
	hp.must(t, http.StatusOK, "GET", "/api/v1/actions?limit=500", hp.admin, nil).decode(t, &list)
	byMachine := map[string]int{}
	for _, a := range list.Actions {
		byMachine[a.Machine]++
	}
	after := readDB(t, data)
	grown := after.bytes - before.bytes
	t.Logf("%d packets in %s from %d addresses (%.0f/s); actions recorded: %v; rows +%d actions +%d events; database +%d bytes (%.1f MB a week at this rate)",
		sent.Load(), d, senders, float64(sent.Load())/elapsed, byMachine, after.actions-before.actions, after.events-before.events,
		grown, float64(grown)/elapsed*7*86400/1e6)
	if n := after.actions - before.actions; n > 0 {
		// A short flood is dominated by the budget's burst; a week of it is
		// bounded by the refill: burst + a week / refill actions.
		perWeek := float64(passthrough.DefaultMachineBurst) + 7*24*time.Hour.Seconds()/passthrough.DefaultMachineRefill.Seconds()
		t.Logf("%d bytes an action (with its events); a week-long flood of one machine records at most %.0f actions: %.1f MB",
			grown/n, perWeek, perWeek*float64(grown/n)/1e6)
	}

	if sent.Load() < 1000 {
		t.Fatalf("only %d packets sent: not a flood", sent.Load())
	}
	if n := byMachine["on"]; n != 0 {
		t.Errorf("%d actions recorded for a PC that is on: a no-op must be counted, not recorded", n)
	}
	// A blind wake of a PC with no address sends its bursts over about
	// 3 s and ends; the flood then starts the next one. One at a time.
	if n, most := byMachine["off"], int(elapsed/3)+2; n > most {
		t.Errorf("%d wakes of the PC that is off in %s, want at most %d (one at a time)", n, d, most)
	}
	if len(byMachine) > 2 {
		t.Errorf("actions for machines that were not flooded, or unknown MACs: %v", byMachine)
	}
}

// dbStats is what the hub's database holds.
type dbStats struct{ bytes, actions, events int64 }

// readDB reads the hub's database through a read-only connection of its
// own, as of the last commit (the WAL included): its size in pages, and
// its rows of actions and events.
func readDB(t *testing.T, dir string) dbStats {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "moonwake.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var s dbStats
	err = db.QueryRow(`SELECT (SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()),
		(SELECT count(*) FROM actions), (SELECT count(*) FROM events)`).Scan(&s.bytes, &s.actions, &s.events)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
