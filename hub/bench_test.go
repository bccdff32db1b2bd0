package hub_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/moonwake/moonwake/hub"
	"github.com/moonwake/moonwake/hub/config"
)

// BenchmarkWakeHandler measures the CPU of one wake request in the hub's
// handler, in process (no sockets, no load generator): "join" is
// POST /api/v1/machines/{name}/wake of a machine being woken, which joins
// the running wake; "bare" is a handler that only sends the magic packet
// and answers 202, as bench/run.sh's baseline does.
//
//	go test -run '^$' -bench WakeHandler -benchmem ./hub/
func BenchmarkWakeHandler(b *testing.B) {
	sink, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer sink.Close()
	go func() { // drain
		buf := make([]byte, 2048)
		for {
			if _, _, err := sink.ReadFromUDP(buf); err != nil {
				return
			}
		}
	}()
	port := sink.LocalAddr().(*net.UDPAddr).Port

	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.Data = b.TempDir()
	cfg.Wake.Count = 1
	cfg.RateLimit = config.RateLimit{PerMinute: 1 << 30, Burst: 1 << 30}
	off := false
	cfg.UI.ReverseDNS = &off
	cfg.Machines = []config.Machine{
		// Never seen up: a wake of it runs for an hour, and others join it.
		{Name: "asleep", MAC: "02:77:00:00:00:01", Broadcast: "127.0.0.1", Port: port},
	}
	h := hub.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	h.Interfaces = loopbackOnly
	h.Resends = []time.Duration{time.Hour}
	if err := h.Open(context.Background()); err != nil {
		h.Close()
		b.Fatal(err)
	}
	defer h.Close()
	handler, admin := h.Handler(), h.AdminSecret

	request := func(path string) func() *http.Request {
		return func() *http.Request {
			r := httptest.NewRequest("POST", path, nil)
			r.Header.Set("Authorization", "Bearer "+admin)
			r.RemoteAddr = "127.0.0.1:40000"
			return r
		}
	}
	run := func(b *testing.B, h http.Handler, req func() *http.Request) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req())
				if w.Code != http.StatusAccepted {
					b.Fatalf("%d %s", w.Code, strings.TrimSpace(w.Body.String()))
				}
			}
		})
	}
	b.Run("join", func(b *testing.B) { run(b, handler, request("/api/v1/machines/asleep/wake")) })

	conn, err := net.DialUDP("udp4", nil, sink.LocalAddr().(*net.UDPAddr))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	pkt := make([]byte, 102)
	bare := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := conn.Write(pkt); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusAccepted)
		w.Write([]byte("sent\n"))
	})
	b.Run("bare", func(b *testing.B) {
		run(b, bare, func() *http.Request { return httptest.NewRequest("GET", "/wake", nil) })
	})
}
