//go:build linux

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moonwake/moonwake/internal/testlan"
	"github.com/moonwake/moonwake/wol"
)

// The relay benchmarks run the real binaries on namespace LANs, as the
// end-to-end tests do: nothing leaves the namespaces they create. They
// need root and skip without it; bench/relay.sh runs them:
//
//	sudo go test -run '^$' -bench 'WakeLatency' -benchtime 200x ./e2e/
//	sudo go test -run '^$' -bench 'RelayRSS' -benchtime 1x ./e2e/
//
// Build without -race: a race-enabled binary is several times slower.

// BenchmarkWakeLatency measures the time from POST
// /api/v1/machines/{name}/wake to the magic packet arriving at a host on
// the machine's LAN, b.N wakes one after the other:
//
//   - direct: the hub is on that LAN and sends the packet itself;
//   - relay: the hub is on another LAN (a pod network) and a relay with a
//     leg on both sends it, as in TestRelayWakesAndProbesAnotherLAN.
//
// Each wake is of a machine of its own (a wake of a machine already being
// woken joins that wake and sends nothing new), with a broadcast address
// and no host: the hub cannot verify it, so each wake resends twice, 1 s
// and 3 s later (the resends of earlier machines are told apart by MAC).
// Probing is slowed to once every 10 minutes so that only the wakes run.
// It reports the 50th and 99th percentile and the maximum of the
// packet's latency, and the median time to the API's answer (which comes
// once the action is stored).
func BenchmarkWakeLatency(b *testing.B) {
	testlan.Require(b)
	cfg := filepath.Join(b.TempDir(), "moonwake.yaml")
	if err := os.WriteFile(cfg, []byte("probe:\n  interval: 10m\n  fast_interval: 10m\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	env := []string{"MOONWAKE_CONFIG=" + cfg, "MOONWAKE_RATE_LIMIT_PER_MINUTE=1000000000", "MOONWAKE_RATE_LIMIT_BURST=1000000"}

	// direct: the hub and the listening host on one LAN.
	lan := testlan.New(b)
	hd := startBenchHub(b, lan.AddHost("hub"), env...)
	rxd, err := lan.AddHost("pc").ListenUDP(wol.DefaultPort)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("direct", func(b *testing.B) {
		measureWakes(b, hd, rxd, "direct", map[string]any{"broadcast": lan.Broadcast().String()})
	})

	// relay: the hub on the pod network, the relay on both.
	home, pod := testlan.New(b), testlan.New(b)
	rxr, err := home.AddHost("pc").ListenUDP(wol.DefaultPort)
	if err != nil {
		b.Fatal(err)
	}
	hr, _ := startBenchRelayLANs(b, home, pod, env...)
	b.Run("relay", func(b *testing.B) {
		measureWakes(b, hr, rxr, "relay", map[string]any{"relay": "lan-a", "broadcast": home.Broadcast().String()})
	})
}

// measureWakes wakes b.N new machines (with fields) one after the other
// through hp and waits for each one's packet at rx.
func measureWakes(b *testing.B, hp *benchHub, rx *testlan.Receiver, scenario string, fields map[string]any) {
	if b.N > 5000 {
		b.Fatalf("b.N = %d: run with -benchtime Nx, N at most 5000", b.N)
	}
	const warm = 5 // not counted: the first wakes open sockets and connections
	type machine struct {
		name string
		pkt  []byte
	}
	machines := make([]machine, warm+b.N)
	for i := range machines {
		hp.seq++
		name := fmt.Sprintf("%s-%05d", scenario, hp.seq)
		mac := net.HardwareAddr{0x02, 0x77, byte(len(scenario)), byte(hp.seq >> 16), byte(hp.seq >> 8), byte(hp.seq)}
		m := map[string]any{"name": name, "mac": mac.String()}
		for k, v := range fields {
			m[k] = v
		}
		hp.must(b, http.StatusCreated, "POST", "/api/v1/machines", m)
		pkt, err := (&wol.Packet{Target: mac}).MarshalBinary()
		if err != nil {
			b.Fatal(err)
		}
		machines[i] = machine{name, pkt}
	}
	// The monitor picks new machines up within 2 s and probes each once.
	time.Sleep(3 * time.Second)
	lat := make([]time.Duration, 0, b.N)
	api := make([]time.Duration, 0, b.N)
	for i, m := range machines {
		if i == warm {
			b.ResetTimer()
		}
		start := time.Now()
		status, body, err := hp.call("POST", "/api/v1/machines/"+m.name+"/wake", nil)
		answered := time.Since(start)
		if err != nil || status != http.StatusAccepted {
			b.Fatalf("wake %s: %d %s %v", m.name, status, body, err)
		}
		d, err := awaitPacket(rx, m.pkt, 5*time.Second)
		if err != nil {
			b.Fatalf("wake %s: no packet on the LAN: %v", m.name, err)
		}
		if i >= warm {
			lat = append(lat, d.At.Sub(start))
			api = append(api, answered)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	slices.Sort(api)
	b.ReportMetric(ms(percentile(lat, 50)), "p50-ms")
	b.ReportMetric(ms(percentile(lat, 99)), "p99-ms")
	b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
	b.ReportMetric(ms(percentile(api, 50)), "api-p50-ms")
	b.Logf("%s: %d wakes, request to packet on the LAN: p50 %.2f ms, p99 %.2f ms, max %.2f ms; API answer p50 %.2f ms",
		scenario, len(lat), ms(percentile(lat, 50)), ms(percentile(lat, 99)), ms(lat[len(lat)-1]), ms(percentile(api, 50)))
}

// BenchmarkRelayRSS measures the relay's memory and CPU while the hub
// watches 100 machines on the relay's LAN, at the default probe
// intervals (5 s at rest, 1 s timeouts). The machines do not exist:
// nothing answers ARP, so every TCP connect, echo and Sunshine request of
// every round waits out its timeout, the relay's busiest case. It reports
// the relay's RSS connected with no machine, then its RSS and peak
// (VmHWM, or a greater sample taken each second) after
// MOONWAKE_BENCH_SECONDS (default 30) of probing, and its CPU over that
// time. It runs once whatever b.N is, and checks that the hub saw every
// machine off through the relay.
func BenchmarkRelayRSS(b *testing.B) {
	if relayRSS != nil {
		for unit, v := range relayRSS {
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
	home, pod := testlan.New(b), testlan.New(b)
	hp, relay := startBenchRelayLANs(b, home, pod)
	pid := relay.Cmd.Process.Pid
	time.Sleep(2 * time.Second)
	idle := procStatus(b, pid, "VmRSS")

	const machines = 100
	base := home.Prefix().Addr().As4()
	for i := range machines {
		host := netip.AddrFrom4([4]byte{base[0], base[1], base[2], byte(100 + i)})
		hp.must(b, http.StatusCreated, "POST", "/api/v1/machines", map[string]any{
			"name": fmt.Sprintf("pc-%03d", i), "mac": fmt.Sprintf("02:77:01:00:00:%02x", i), "host": host.String(),
		})
	}
	b.ResetTimer()
	cpu0, start := procCPU(b, pid), time.Now()
	var peakSampled float64
	for time.Since(start) < window {
		time.Sleep(time.Second)
		peakSampled = max(peakSampled, procStatus(b, pid, "VmRSS"))
	}
	cpu := (procCPU(b, pid) - cpu0) / time.Since(start).Seconds() * 100
	b.StopTimer()
	rss := procStatus(b, pid, "VmRSS")
	// VmHWM lags the per-CPU RSS counters a little: the peak is the
	// greater of it and the samples.
	peak := max(peakSampled, procStatus(b, pid, "VmHWM"))

	// Every machine was probed through the relay: off, not unknown.
	var list struct {
		Machines []struct {
			Name  string `json:"name"`
			Power *struct {
				State  string `json:"state"`
				Reason string `json:"reason"`
			} `json:"power"`
		} `json:"machines"`
	}
	if err := json.Unmarshal(hp.must(b, http.StatusOK, "GET", "/api/v1/machines", nil), &list); err != nil {
		b.Fatal(err)
	}
	states := map[string]int{}
	for _, m := range list.Machines {
		st := "none"
		if m.Power != nil {
			st = m.Power.State
		}
		states[st]++
	}
	if states["off"] != machines {
		b.Errorf("states of the %d machines after %s: %v", machines, window, states)
	}
	relayRSS = map[string]float64{
		"idle-MiB": idle, "rss-MiB": rss, "peak-MiB": peak, "cpu-%": cpu, "machines-off": float64(states["off"]),
	}
	for unit, v := range relayRSS {
		b.ReportMetric(v, unit)
	}
	b.Logf("relay with %d machines probed for %s: RSS %.1f MiB (idle %.1f MiB, peak %.1f MiB), CPU %.1f %% of one core; states %v",
		machines, window, rss, idle, peak, cpu, states)
}

// relayRSS keeps BenchmarkRelayRSS's numbers for the runs after the first.
var relayRSS map[string]float64

// benchHub is a hub started for a benchmark, with a client that keeps its
// connections open, from inside the hub's namespace.
type benchHub struct {
	url, admin string
	c          *http.Client
	seq        int // machines created, for unique names
	pid        int
}

// startBenchHub starts "moonwake serve" on h, as startHub does for tests.
func startBenchHub(tb testing.TB, h *testlan.Host, env ...string) *benchHub {
	tb.Helper()
	listen := netip.AddrPortFrom(h.Addr(), hubPort).String()
	data := tb.TempDir()
	cmd := h.Exec(context.Background(), benchBinary(tb), "serve", "--listen", listen, "--data", data)
	cmd.Env = moonwakeEnv(env...)
	stdout, stderr := new(testlan.Buffer), new(testlan.Buffer)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	p, err := h.Start(cmd)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { p.Stop() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hp := &benchHub{url: "http://" + listen, c: keepAliveClient(h), pid: p.Cmd.Process.Pid}
	for {
		if status, _, err := hp.call("GET", "/healthz", nil); err == nil && status == http.StatusOK {
			hp.admin = adminTokenFile(tb, data)
			return hp
		}
		if ctx.Err() != nil {
			tb.Fatalf("hub not healthy after 10 s:\n%s", stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startBenchRelayLANs starts a hub on pod with a relay enrolment token and
// a relay "lan-a" on a host of home with a leg on pod, serving home; it
// returns once the relay is connected.
func startBenchRelayLANs(tb testing.TB, home, pod *testlan.LAN, env ...string) (*benchHub, *testlan.Proc) {
	tb.Helper()
	dir := tb.TempDir()
	tokenFile := filepath.Join(dir, "enrol-token")
	if err := os.WriteFile(tokenFile, []byte(testEnrolToken+"\n"), 0o600); err != nil {
		tb.Fatal(err)
	}
	hp := startBenchHub(tb, pod.AddHost("hub"), append(env, "MOONWAKE_RELAY_ENROL_TOKEN_FILE="+tokenFile)...)
	h := home.AddHost("relay")
	pod.Attach(h, "pod0", pod.CIDR(200))
	cmd := h.Exec(context.Background(), benchBinary(tb), "relay")
	cmd.Env = moonwakeEnv(
		"MOONWAKE_HUB="+hp.url, "MOONWAKE_RELAY_NAME=lan-a", "MOONWAKE_RELAY_TOKEN_FILE="+tokenFile,
		"MOONWAKE_RELAY_STATE="+filepath.Join(dir, "relay.json"), "MOONWAKE_RELAY_NETWORKS="+home.Prefix().String())
	out := new(testlan.Buffer)
	cmd.Stdout, cmd.Stderr = out, out
	p, err := h.Start(cmd)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { p.Stop() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		var rs []wireRelay
		if err := json.Unmarshal(hp.must(tb, http.StatusOK, "GET", "/api/v1/relays", nil), &rs); err != nil {
			tb.Fatal(err)
		}
		if len(rs) == 1 && rs[0].Connected && len(rs[0].Networks) == 1 {
			return hp, p
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the relay is not connected after 10 s: %+v\n%s", rs, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// benchBinary is the moonwake binary TestMain built.
func benchBinary(tb testing.TB) string {
	tb.Helper()
	select {
	case <-build.done:
	case <-time.After(5 * time.Minute):
		tb.Fatal("go build of ./cmd/moonwake is taking more than 5 minutes")
	}
	if build.err != nil {
		tb.Fatalf("moonwake binary: %v", build.err)
	}
	if raceEnabled() {
		tb.Log("the binary is built with -race: these numbers are not representative")
	}
	return build.path
}

// keepAliveClient is nsClient with keep-alives: a benchmark's requests
// reuse one connection, as a phone app's would.
func keepAliveClient(h *testlan.Host) *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			Proxy:               nil,
			MaxIdleConnsPerHost: 4,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				var c net.Conn
				err := h.Do(func() error {
					var err error
					c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
					return err
				})
				return c, err
			},
		},
	}
}

// call sends a request with the admin token; body, if not nil, as JSON.
func (hp *benchHub) call(method, path string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, hp.url+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+hp.admin)
	resp, err := hp.c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// must is call that fails tb unless the status is want.
func (hp *benchHub) must(tb testing.TB, want int, method, path string, body any) []byte {
	tb.Helper()
	status, b, err := hp.call(method, path, body)
	if err != nil || status != want {
		tb.Fatalf("%s %s: %d %s %v; want %d", method, path, status, b, err, want)
	}
	return b
}

// awaitPacket returns the first datagram at rx that is want, skipping
// others (the resends of earlier wakes).
func awaitPacket(rx *testlan.Receiver, want []byte, timeout time.Duration) (testlan.Datagram, error) {
	deadline := time.Now().Add(timeout)
	for {
		d, err := rx.Next(time.Until(deadline))
		if err != nil {
			return d, err
		}
		if bytes.Equal(d.Data, want) {
			return d, nil
		}
	}
}

// percentile is the p-th percentile of sorted by nearest rank.
func percentile(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p + 99) / 100
	return sorted[max(i-1, 0)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// procStatus reads a size field of /proc/pid/status ("VmRSS"), in MiB.
func procStatus(tb testing.TB, pid int, field string) float64 {
	tb.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err != nil {
				tb.Fatalf("%s: %q", field, line)
			}
			return kb / 1024
		}
	}
	tb.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// procCPU is the CPU time the process has used, user and system, in
// seconds (clock ticks of 1/100 s, as on every Linux the tests run on).
func procCPU(tb testing.TB, pid int) float64 {
	tb.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		tb.Fatal(err)
	}
	// Fields after the command name, which is in parentheses: state is
	// the first, utime the 12th, stime the 13th.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		tb.Fatalf("/proc/%d/stat: %q", pid, s)
	}
	u, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		tb.Fatalf("/proc/%d/stat: %q", pid, s)
	}
	return (u + st) / 100
}
