package metrics

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"testing"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/mock"
	"github.com/moonwake/moonwake/wol"
)

// BenchmarkScrape is one scrape of a hub of n machines, each with an
// agent, and 4 relays, through the HTTP handler: what Prometheus costs the
// hub every scrape interval (the Go and process metrics included).
func BenchmarkScrape(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("machines=%d", n), func(b *testing.B) {
			ms := make([]*moonwake.Machine, n)
			for i := range ms {
				ms[i] = &moonwake.Machine{Name: fmt.Sprintf("pc-%04d", i)}
			}
			m := New()
			m.Watch(Sources{
				Machines: &mock.MachineService{ListMachinesFn: func(context.Context) ([]*moonwake.Machine, error) { return ms, nil }},
				Monitor: &mock.Monitor{InfoFn: func(context.Context, string) moonwake.PowerInfo {
					return moonwake.PowerInfo{State: moonwake.StateOn}
				}},
				Agents: func(string) (string, *moonwake.AgentEvidence) { return "a", &moonwake.AgentEvidence{Connected: true} },
				Relays: &mock.RelayService{ListRelaysFn: func(context.Context) ([]*moonwake.Relay, error) {
					return []*moonwake.Relay{{Name: "a"}, {Name: "b"}, {Name: "c"}, {Name: "d"}}, nil
				}},
				Streams:     map[string]func() int{"api": func() int { return 2 }, "web": func() int { return 1 }},
				Passthrough: func() map[string]uint64 { return map[string]uint64{"woken": 1, "malformed": 7} },
			})
			h := m.Handler("", nil)
			req := httptest.NewRequest("GET", "/metrics", nil)
			var size int
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				size = w.Body.Len()
				io.Discard.Write(w.Body.Bytes())
			}
			b.ReportMetric(float64(size), "bytes/scrape")
		})
	}
}

// BenchmarkPacketSent is the cost a counted magic packet adds to a wake.
func BenchmarkPacketSent(b *testing.B) {
	m := New()
	t := wol.Target{Via: wol.ViaUDP}
	b.ReportAllocs()
	for b.Loop() {
		m.PacketSent(t, nil)
	}
}
