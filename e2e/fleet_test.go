//go:build linux

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moonwake/moonwake/internal/testlan"
)

// BenchmarkFleet measures the hub at fleet scale, the real binary on one
// core (GOMAXPROCS=1) in a namespace of its own, at the default probe
// intervals (5 s at rest, 1 s timeouts):
//
//   - 10,000 machines watched, declared in its configuration file, on
//     loopback addresses 127.1.x.y of the namespace (nothing listens
//     there, so each round's connects are refused at once and its echo
//     answered: the cost of the schedule and the rounds, not of waiting
//     out timeouts); it reports the rounds per
//     second the hub keeps up with (machines probed within a rest
//     interval plus 2 s at the end, over the interval), its CPU (percent
//     of the one core) and RSS over MOONWAKE_BENCH_SECONDS (default 30);
//   - then 1,000 event streams (event_streams.max raised to 1,000; per
//     token 8 and per address 16, so 125 tokens from 63 addresses), each
//     reading; it reports the RSS with them open and what each costs.
//     BenchmarkEventStreams measures them alone, delivering events.
//
// It needs root; bench/fleet.sh runs it. Build without -race.
func BenchmarkFleet(b *testing.B) {
	if fleet != nil {
		for unit, v := range fleet {
			b.ReportMetric(v, unit)
		}
		return
	}
	testlan.Require(b)
	window := 30 * time.Second
	if s := os.Getenv("MOONWAKE_BENCH_SECONDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 5 || n > 600 {
			b.Fatalf("MOONWAKE_BENCH_SECONDS=%q: want 5 to 600", s)
		}
		window = time.Duration(n) * time.Second
	}
	const (
		machines = 10000
		rest     = 5 * time.Second
		streams  = 1000
	)
	// The machines come from the configuration file: created through the
	// API one by one, each creation makes the monitor list them all again.
	var yaml strings.Builder
	yaml.WriteString("machines:\n")
	for i := range machines {
		host := netip.AddrFrom4([4]byte{127, 1, byte(i / 250), byte(i%250 + 1)})
		fmt.Fprintf(&yaml, "  - {name: pc-%05d, mac: \"02:77:02:00:%02x:%02x\", host: %s}\n", i, i>>8, i&0xff, host)
	}
	cfg := b.TempDir() + "/moonwake.yaml"
	if err := os.WriteFile(cfg, []byte(yaml.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	lan := testlan.New(b)
	h := lan.AddHost("hub")
	hp := startBenchHub(b, h, "MOONWAKE_CONFIG="+cfg, "GOMAXPROCS=1", fmt.Sprintf("MOONWAKE_EVENT_STREAMS_MAX=%d", streams),
		"MOONWAKE_RATE_LIMIT_PER_MINUTE=1000000000", "MOONWAKE_RATE_LIMIT_BURST=1000000")
	idle := procStatus(b, hp.pid, "VmRSS")

	// The monitor spreads their first rounds over the rest interval.
	time.Sleep(2 * rest)

	b.ResetTimer()
	cpu0, start := procCPU(b, hp.pid), time.Now()
	var peakSampled float64
	for time.Since(start) < window {
		time.Sleep(time.Second)
		peakSampled = max(peakSampled, procStatus(b, hp.pid, "VmRSS"))
	}
	cpu := (procCPU(b, hp.pid) - cpu0) / time.Since(start).Seconds() * 100
	b.StopTimer()
	rss := procStatus(b, hp.pid, "VmRSS")
	peak := max(peakSampled, procStatus(b, hp.pid, "VmHWM"))

	// Kept up: the machines probed within the rest interval (plus a
	// round and the slack of the requests), from a sample of 200 (the
	// list leaves the evidence out); then all their states.
	const sample = 200
	fresh := 0
	var ages []time.Duration
	for i := 0; i < machines; i += machines / sample {
		var m struct {
			Power *struct {
				Evidence *struct {
					At time.Time `json:"at"`
				} `json:"evidence"`
			} `json:"power"`
		}
		asked := time.Now()
		if err := json.Unmarshal(hp.must(b, http.StatusOK, "GET", fmt.Sprintf("/api/v1/machines/pc-%05d", i), nil), &m); err != nil {
			b.Fatal(err)
		}
		if m.Power == nil || m.Power.Evidence == nil {
			continue
		}
		age := asked.Sub(m.Power.Evidence.At)
		ages = append(ages, age)
		if age <= rest+2*time.Second {
			fresh++
		}
	}
	rounds := float64(fresh) / sample * machines / rest.Seconds()
	// Keeping up, a machine's evidence is at most a rest interval and a
	// round old: the oldest says by how much the schedule slips.
	slices.Sort(ages)
	var oldest, median time.Duration
	if len(ages) > 0 {
		oldest, median = ages[len(ages)-1], ages[len(ages)/2]
	}
	var list struct {
		Machines []struct {
			Power *struct {
				State string `json:"state"`
			} `json:"power"`
		} `json:"machines"`
	}
	if err := json.Unmarshal(hp.must(b, http.StatusOK, "GET", "/api/v1/machines", nil), &list); err != nil {
		b.Fatal(err)
	}
	if len(list.Machines) != machines {
		b.Fatalf("%d machines listed, want %d", len(list.Machines), machines)
	}
	states := map[string]int{}
	for _, m := range list.Machines {
		if m.Power == nil {
			states["none"]++
		} else {
			states[m.Power.State]++
		}
	}

	// The event streams, beside the rounds.
	secrets := make([]string, streams/8)
	for i := range secrets {
		secrets[i] = newBenchToken(b, hp, fmt.Sprintf("stream-%03d", i))
	}
	before := procStatus(b, hp.pid, "VmRSS")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opened := len(openReaders(ctx, b, h, hp, secrets, streams))
	time.Sleep(3 * time.Second)
	withStreams := procStatus(b, hp.pid, "VmRSS")
	perStream := (withStreams - before) * 1024 / streams

	fleet = map[string]float64{
		"rounds/s": rounds, "oldest-s": oldest.Seconds(), "cpu-%": cpu, "rss-MiB": rss, "peak-MiB": peak, "started-MiB": idle,
		"streams-rss-MiB": withStreams, "KiB/stream": perStream,
	}
	for unit, v := range fleet {
		b.ReportMetric(v, unit)
	}
	b.Logf("%d machines on one core for %s: %.0f rounds/s kept up (%d of %d sampled probed within %s; evidence age median %s, oldest %s), CPU %.1f %% of the core, RSS %.1f MiB (%.1f once started, peak %.1f); states %v",
		machines, window, rounds, fresh, sample, rest+2*time.Second, median.Round(10*time.Millisecond), oldest.Round(10*time.Millisecond), cpu, rss, idle, peak, states)
	b.Logf("%d event streams open beside them: RSS %.1f MiB (%.1f before), %.0f KiB per stream",
		opened, withStreams, before, perStream)
}

// fleet keeps BenchmarkFleet's numbers for the runs after the first.
var fleet map[string]float64

// newBenchToken creates a token and returns its secret.
func newBenchToken(tb testing.TB, hp *benchHub, name string) string {
	tb.Helper()
	var nt struct{ Secret string }
	if err := json.Unmarshal(hp.must(tb, http.StatusCreated, "POST", "/api/v1/tokens", map[string]any{"name": name}), &nt); err != nil {
		tb.Fatal(err)
	}
	return nt.Secret
}

// openStream opens GET /api/v1/events from the local address in h's
// namespace, and returns its body once the hub answered 200.
func openStream(ctx context.Context, h *testlan.Host, url, token string, local netip.Addr) (io.ReadCloser, error) {
	c := &http.Client{Transport: &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var c net.Conn
			err := h.Do(func() error {
				var err error
				d := net.Dialer{LocalAddr: &net.TCPAddr{IP: local.AsSlice()}}
				c, err = d.DialContext(ctx, network, addr)
				return err
			})
			return c, err
		},
	}}
	req, err := http.NewRequestWithContext(ctx, "GET", url+"/api/v1/events", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("GET /api/v1/events: %s", resp.Status)
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		resp.Body.Close()
		return nil, fmt.Errorf("GET /api/v1/events: content type %q", resp.Header.Get("Content-Type"))
	}
	return resp.Body, nil
}
