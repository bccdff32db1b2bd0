// Command soak runs `moonwake serve` under a steady, mixed load for a long
// while (30 minutes by default) and watches its memory: RSS and open file
// descriptors, sampled every few seconds. A hub that leaks (goroutines,
// connections, caches that only grow) shows it as a slope here long before
// a Raspberry Pi runs out of memory.
//
// Everything stays on loopback: the machines' magic packets go to
// 127.0.0.1, to a UDP port this program reads and throws away. The load,
// paced (not flat out, so the numbers are about time, not throughput):
//   - wakes of 50 machines, round-robin (each a new or joined action)
//   - reads: the machine list, one machine, the last 50 actions, one action
//   - the event stream: connect, read an event or two, hang up
//   - keep-awake set and cleared, machine notes changed (PATCH)
//   - `moonwake backup` of the running hub every minute
//
// It prints a line per minute and, at the end, RSS at the start of the
// steady state, at the end, its growth, and the peak. It exits 1 if RSS
// grew by more than -max-growth between the first and the last third of
// the run (medians, so one GC cycle does not decide).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() { os.Exit(soak()) }

// soak runs the whole thing and returns the exit code, so that its defers
// (stopping the hub, removing its data) run whatever happens.
func soak() int {
	bin := flag.String("bin", "moonwake", "moonwake binary")
	duration := flag.Duration("duration", 30*time.Minute, "how long to run the load")
	rate := flag.Int("rate", 40, "requests per second, all kinds together")
	sample := flag.Duration("sample", 5*time.Second, "how often RSS is read")
	maxGrowth := flag.Float64("max-growth", 0.25, "fail if RSS grows more than this fraction from the first third to the last")
	addr := flag.String("listen", "127.0.0.1:18282", "address the hub listens on (loopback)")
	flag.Parse()
	if host, _, err := net.SplitHostPort(*addr); err != nil || !net.ParseIP(host).IsLoopback() {
		log.Printf("-listen %s: want a loopback address", *addr)
		return 1
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	tmp, err := os.MkdirTemp("", "moonwake-soak-")
	if err != nil {
		log.Print(err)
		return 1
	}
	defer os.RemoveAll(tmp)

	// The machines' packets land here and are dropped.
	sink, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		log.Print(err)
		return 1
	}
	defer sink.Close()
	var packets atomic.Int64
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, _, err := sink.ReadFromUDP(buf); err != nil {
				return
			}
			packets.Add(1)
		}
	}()

	data := filepath.Join(tmp, "data")
	cmd := exec.Command(*bin, "serve", "--listen", *addr, "--data", data)
	cmd.Env = append(os.Environ(), "MOONWAKE_RATE_LIMIT_PER_MINUTE=1000000", "MOONWAKE_RATE_LIMIT_BURST=100000",
		"MOONWAKE_UI_REVERSE_DNS=off", "MOONWAKE_LOG_LEVEL=warn")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		log.Print(err)
		return 1
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		log.Print(err)
		return 1
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	admin := readAdminToken(stdout)
	if admin == "" {
		log.Print("the hub printed no admin token")
		return 1
	}
	h := &hub{url: "http://" + *addr, token: admin, client: &http.Client{Timeout: 30 * time.Second}}
	if err := h.waitHealthy(ctx); err != nil {
		log.Print(err)
		return 1
	}

	const machines = 50
	port := sink.LocalAddr().(*net.UDPAddr).Port
	for i := range machines {
		m := map[string]any{"name": fmt.Sprintf("pc%02d", i), "mac": fmt.Sprintf("02:00:00:00:00:%02x", i), "broadcast": "127.0.0.1", "port": port}
		if code, body, err := h.do(ctx, "POST", "/api/v1/machines", m); err != nil || code != http.StatusCreated {
			log.Printf("create machine: %d %s %v", code, body, err)
			return 1
		}
	}

	var (
		counts   sync.Map // "kind status" → *atomic.Int64
		failures atomic.Int64
	)
	count := func(kind string, code int, err error) {
		key := fmt.Sprintf("%s %d", kind, code)
		switch {
		case err != nil:
			key = kind + " error"
		case code == 0:
			key = kind + " ok"
		}
		if code >= 500 || err != nil {
			failures.Add(1)
		}
		v, _ := counts.LoadOrStore(key, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
	}

	load, cancelLoad := context.WithTimeout(ctx, *duration)
	defer cancelLoad()
	var wg sync.WaitGroup
	wg.Go(func() { h.run(load, *rate, count) })
	wg.Go(func() {
		tick := time.NewTicker(time.Minute)
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-load.Done():
				return
			case <-tick.C:
			}
			out, err := exec.Command(*bin, "backup", "--data", data, filepath.Join(tmp, fmt.Sprintf("backup-%d.db", n))).CombinedOutput()
			if err != nil {
				log.Printf("backup: %v: %s", err, out)
				count("backup", 0, err)
				continue
			}
			count("backup", 0, nil)
			os.Remove(filepath.Join(tmp, fmt.Sprintf("backup-%d.db", n)))
		}
	})

	// Samples of RSS, and a line per minute.
	type sampleT struct {
		at       time.Duration
		rss, fds int64
	}
	var samples []sampleT
	start := time.Now()
	tick := time.NewTicker(*sample)
	lastLine := time.Duration(0)
	fmt.Printf("%8s %10s %6s %10s %8s\n", "elapsed", "RSS", "fds", "requests", "5xx/err")
	for load.Err() == nil {
		select {
		case <-load.Done():
		case <-tick.C:
		}
		rss, fds, err := procStats(cmd.Process.Pid)
		if err != nil {
			log.Printf("hub process: %v", err)
			return 1
		}
		el := time.Since(start)
		samples = append(samples, sampleT{el, rss, fds})
		if el-lastLine >= time.Minute || load.Err() != nil {
			lastLine = el
			fmt.Printf("%8s %10s %6d %10d %8d\n", el.Round(time.Second), mib(rss), fds, h.requests.Load(), failures.Load())
		}
	}
	tick.Stop()
	wg.Wait()

	fmt.Println()
	counts.Range(func(k, v any) bool {
		fmt.Printf("  %-28s %d\n", k, v.(*atomic.Int64).Load())
		return true
	})
	fmt.Printf("  magic packets received       %d\n", packets.Load())
	if len(samples) < 6 {
		log.Printf("only %d samples: run longer", len(samples))
		return 1
	}
	// The first tenth is warm-up (caches filling, connections opening);
	// the steady state is what follows.
	samples = samples[len(samples)/10:]
	third := len(samples) / 3
	median := func(s []sampleT) int64 {
		v := make([]int64, len(s))
		for i, x := range s {
			v[i] = x.rss
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	first, last := median(samples[:third]), median(samples[len(samples)-third:])
	peak := slices.MaxFunc(samples, func(a, b sampleT) int { return int(a.rss - b.rss) })
	growth := float64(last-first) / float64(first)
	fmt.Printf("\nRSS: first third %s, last third %s (median), growth %+.1f%%, peak %s at %s; fds %d → %d\n",
		mib(first), mib(last), 100*growth, mib(peak.rss), peak.at.Round(time.Second), samples[0].fds, samples[len(samples)-1].fds)
	if failures.Load() > 0 {
		fmt.Printf("FAIL: %d requests failed with 5xx or an error\n", failures.Load())
		return 1
	}
	if growth > *maxGrowth {
		fmt.Printf("FAIL: RSS grew %.1f%%, more than %.0f%%\n", 100*growth, 100**maxGrowth)
		return 1
	}
	fmt.Println("ok: memory flat")
	return 0
}

// hub is the API of the hub under test.
type hub struct {
	url, token string
	client     *http.Client
	requests   atomic.Int64
}

func (h *hub) do(ctx context.Context, method, path string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	}
	req, err := http.NewRequestWithContext(ctx, method, h.url+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+h.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	h.requests.Add(1)
	resp, err := h.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func (h *hub) waitHealthy(ctx context.Context) error {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get(h.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return fmt.Errorf("the hub did not answer /healthz within 10 s")
}

// run sends rate requests a second, of every kind in turn, until ctx ends.
func (h *hub) run(ctx context.Context, rate int, count func(kind string, code int, err error)) {
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	var lastAction atomic.Value
	lastAction.Store("")
	var wg sync.WaitGroup
	defer wg.Wait()
	sem := make(chan struct{}, 16) // at most 16 requests in flight
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		wg.Go(func() {
			defer func() { <-sem }()
			m := fmt.Sprintf("pc%02d", i%50)
			var kind string
			var code int
			var err error
			var body []byte
			switch i % 10 {
			case 0, 1, 2:
				kind = "wake"
				code, body, err = h.do(ctx, "POST", "/api/v1/machines/"+m+"/wake", nil)
				var a struct{ ID string }
				if err == nil && json.Unmarshal(body, &a) == nil && a.ID != "" {
					lastAction.Store(a.ID)
				}
			case 3:
				kind = "list machines"
				code, _, err = h.do(ctx, "GET", "/api/v1/machines", nil)
			case 4:
				kind = "get machine"
				code, _, err = h.do(ctx, "GET", "/api/v1/machines/"+m, nil)
			case 5:
				kind = "list actions"
				code, _, err = h.do(ctx, "GET", "/api/v1/actions?limit=50", nil)
			case 6:
				kind = "get action"
				if id := lastAction.Load().(string); id != "" {
					code, _, err = h.do(ctx, "GET", "/api/v1/actions/"+id, nil)
				}
			case 7:
				kind = "event stream"
				code, err = h.stream(ctx)
			case 8:
				kind = "keep-awake"
				if i%20 == 8 {
					code, _, err = h.do(ctx, "POST", "/api/v1/machines/"+m+"/keep-awake", map[string]any{"for": "1h"})
				} else {
					code, _, err = h.do(ctx, "DELETE", "/api/v1/machines/"+m+"/keep-awake", nil)
				}
			case 9:
				kind = "update machine"
				code, _, err = h.do(ctx, "PATCH", "/api/v1/machines/"+m, map[string]any{"tags": []string{"soak", strconv.Itoa(i % 7)}})
			}
			if ctx.Err() != nil {
				return // the run ended under this request
			}
			count(kind, code, err)
		})
	}
}

// stream opens the event stream, reads until the first event or a second
// after the answer began, and hangs up: the hub must let go of every stream
// it served. The wait for the answer itself is the client's, as for any
// request, so a loaded machine is not counted as a failed stream.
func (h *hub) stream(ctx context.Context) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", h.url+"/api/v1/events", nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+h.token)
	h.requests.Add(1)
	resp, err := h.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	hangUp := time.AfterFunc(time.Second, cancel)
	defer hangUp.Stop()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "data:") {
			break
		}
	}
	return resp.StatusCode, nil // hanging up while waiting for an event is fine
}

// readAdminToken reads the first admin token the hub prints, then drains
// its stdout; "" if it printed none.
func readAdminToken(r io.Reader) string {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if s := strings.TrimSpace(sc.Text()); strings.HasPrefix(s, "mw_") && !strings.ContainsAny(s, " \t") {
			go io.Copy(io.Discard, r)
			return s
		}
	}
	return ""
}

// procStats reads the resident set size (bytes) and the number of open
// file descriptors of process pid, from /proc.
func procStats(pid int) (rss, fds int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0, 0, fmt.Errorf("VmRSS %q: %w", v, err)
			}
			rss = kb << 10
		}
	}
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0, 0, err
	}
	return rss, int64(len(ents)), nil
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
