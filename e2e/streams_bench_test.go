//go:build linux

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moonwake/moonwake/internal/testlan"
)

// BenchmarkEventStreams measures the hub with 1,000 event streams open:
// the real binary on one core (GOMAXPROCS=1) in a namespace of its own,
// event_streams.max raised to 1,000, its metrics on for the Go heap. It
// opens the streams (GET /api/v1/events, 125 tokens of 8 streams each,
// from 63 loopback addresses of 16), each read by a client that counts
// the events it gets; then it adds 20 machines through the API, each an
// event every stream must get, and waits until all have. It reports the
// hub's RSS and heap with the streams open and what a stream costs, and
// how long the 20,000 deliveries took. It stops by itself (a minute at
// most) and needs root; bench/fleet.sh runs it. Build without -race.
func BenchmarkEventStreams(b *testing.B) {
	if streamsBench != nil {
		for unit, v := range streamsBench {
			b.ReportMetric(v, unit)
		}
		return
	}
	testlan.Require(b)
	const (
		streams = 1000
		events  = 20
	)
	lan := testlan.New(b)
	h := lan.AddHost("hub")
	metrics := netip.AddrPortFrom(h.Addr(), 9464).String()
	hp := startBenchHub(b, h, "GOMAXPROCS=1", "MOONWAKE_METRICS_LISTEN="+metrics,
		fmt.Sprintf("MOONWAKE_EVENT_STREAMS_MAX=%d", streams),
		"MOONWAKE_RATE_LIMIT_PER_MINUTE=1000000000", "MOONWAKE_RATE_LIMIT_BURST=1000000")
	heap := func() float64 {
		return scrape(b, hp.c, "http://"+metrics+"/metrics", "go_memstats_heap_inuse_bytes") / (1 << 20)
	}
	// Tokens first, so that the memory they take is not counted as the
	// streams'.
	secrets := make([]string, streams/8)
	for i := range secrets {
		secrets[i] = newBenchToken(b, hp, fmt.Sprintf("stream-%03d", i))
	}
	time.Sleep(time.Second)
	rss0, heap0 := procStatus(b, hp.pid, "VmRSS"), heap()

	b.ResetTimer()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	openStart := time.Now()
	got := openReaders(ctx, b, h, hp, secrets, streams)
	opening := time.Since(openStart)
	time.Sleep(2 * time.Second)
	rss1, heap1 := procStatus(b, hp.pid, "VmRSS"), heap()

	start := time.Now()
	for i := range events {
		hp.must(b, http.StatusCreated, "POST", "/api/v1/machines", map[string]any{
			"name": fmt.Sprintf("pc-%02d", i), "mac": fmt.Sprintf("02:77:03:00:00:%02x", i), "host": "127.3.0.1",
		})
	}
	for !delivered(got, events) {
		if ctx.Err() != nil {
			b.Fatalf("after %s, not every stream got the %d events: %d of %d deliveries", time.Since(start).Round(time.Millisecond), events, total(got), streams*events)
		}
		time.Sleep(5 * time.Millisecond)
	}
	took := time.Since(start)
	b.StopTimer()
	rss2, heap2, peak := procStatus(b, hp.pid, "VmRSS"), heap(), procStatus(b, hp.pid, "VmHWM")

	streamsBench = map[string]float64{
		"streams": streams, "rss-MiB": rss2, "peak-MiB": peak, "heap-MiB": heap2,
		"KiB/stream": (rss1 - rss0) * 1024 / streams, "heap-KiB/stream": (heap1 - heap0) * 1024 / streams,
		"ms/event": float64(took.Milliseconds()) / events,
	}
	for unit, v := range streamsBench {
		b.ReportMetric(v, unit)
	}
	b.Logf("%d event streams open on one core (in %s): RSS %.1f MiB (%.1f before, peak %.1f), Go heap in use %.1f MiB (%.1f before): %.0f KiB RSS, %.0f KiB heap per stream",
		streams, opening.Round(time.Millisecond), rss1, rss0, peak, heap1, heap0, (rss1-rss0)*1024/streams, (heap1-heap0)*1024/streams)
	b.Logf("%d events to each of %d streams: all %d delivered in %s; then RSS %.1f MiB, heap %.1f MiB",
		events, streams, streams*events, took.Round(time.Millisecond), rss2, heap2)
}

// streamsBench keeps BenchmarkEventStreams' numbers for the runs after the
// first.
var streamsBench map[string]float64

// openReaders opens n event streams, 8 for each token in secrets (its
// cap) from loopback addresses 127.2.0.x of h, 16 for each (theirs), each
// read until ctx ends by a goroutine that counts the events it gets
// (data lines); it returns the counts, one per stream.
func openReaders(ctx context.Context, tb testing.TB, h *testlan.Host, hp *benchHub, secrets []string, n int) []*atomic.Int64 {
	tb.Helper()
	if len(secrets)*8 < n {
		tb.Fatalf("%d tokens hold at most %d streams, not %d", len(secrets), len(secrets)*8, n)
	}
	var wg sync.WaitGroup
	tb.Cleanup(wg.Wait)
	got := make([]*atomic.Int64, n)
	for i := range n {
		local := netip.AddrFrom4([4]byte{127, 2, byte(i / 16 / 250), byte(i/16%250 + 1)})
		body, err := openStream(ctx, h, hp.url, secrets[i/8], local)
		if err != nil {
			tb.Fatalf("event stream %d: %v", i, err)
		}
		got[i] = new(atomic.Int64)
		wg.Go(func() {
			defer body.Close()
			stop := context.AfterFunc(ctx, func() { body.Close() })
			defer stop()
			r := bufio.NewReader(body)
			for {
				line, err := r.ReadSlice('\n')
				if err != nil {
					return
				}
				if bytes.HasPrefix(line, []byte("data:")) {
					got[i].Add(1)
				}
			}
		})
	}
	return got
}

// delivered reports whether every stream got at least n events.
func delivered(got []*atomic.Int64, n int) bool {
	for _, g := range got {
		if g.Load() < int64(n) {
			return false
		}
	}
	return true
}

func total(got []*atomic.Int64) int64 {
	var t int64
	for _, g := range got {
		t += g.Load()
	}
	return t
}

// scrape reads one unlabelled sample from a Prometheus text page.
func scrape(tb testing.TB, c *http.Client, url, name string) float64 {
	tb.Helper()
	resp, err := c.Get(url)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		tb.Fatalf("GET %s: %s, %v", url, resp.Status, err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				tb.Fatalf("%s: %q", name, line)
			}
			return f
		}
	}
	tb.Fatalf("%s: not in %s", name, url)
	return 0
}
