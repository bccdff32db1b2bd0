package metrics

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/mock"
	"github.com/moonwake/moonwake/probe"
	"github.com/moonwake/moonwake/wol"
)

// TestNilMetrics: with metrics off the hub wires the same hooks, on a nil
// *Metrics; they do nothing and hand back what they wrap.
func TestNilMetrics(t *testing.T) {
	var m *Metrics
	m.ActionEnded(&moonwake.Action{Kind: moonwake.ActionWake, Status: moonwake.StatusFailed})
	m.PacketSent(wol.Target{Via: wol.ViaUDP}, nil)
	m.Notified("ntfy", errors.New("down"))
	m.Watch(Sources{})
	rounds := 0
	fn := m.Probe(func(context.Context, probe.Target) moonwake.Evidence { rounds++; return moonwake.Evidence{} })
	fn(context.Background(), probe.Target{Name: "pc"})
	if rounds != 1 {
		t.Fatalf("the probe ran %d times", rounds)
	}
	var rs fakeRelays
	if got := m.Relays(rs); got != (fakeRelays{}) {
		t.Fatalf("Relays wrapped %T", got)
	}
}

type fakeRelays struct{ err bool }

func (fakeRelays) RouteMachine(*moonwake.Machine) (string, error) { return "lan", nil }

func (f fakeRelays) Wake(context.Context, string, *moonwake.Machine, int) ([]moonwake.Step, int, error) {
	if f.err {
		return nil, 0, moonwake.Errorf(moonwake.EUnavailable, "relay lan is offline")
	}
	return nil, 3, nil
}

// TestCounters: each hook counts under its labels; a running action is
// not counted, an ended one is, with its duration.
func TestCounters(t *testing.T) {
	m := New()
	rs := m.Relays(fakeRelays{})
	rs.Wake(context.Background(), "lan", &moonwake.Machine{}, 1)
	m.Relays(fakeRelays{err: true}).Wake(context.Background(), "lan", &moonwake.Machine{}, 1)
	m.PacketSent(wol.Target{Via: wol.ViaRaw}, errors.New("no CAP_NET_RAW"))
	m.Notified("webhook", nil)
	start := time.Now()
	end := start.Add(42 * time.Second)
	m.ActionEnded(&moonwake.Action{Kind: moonwake.ActionShutdown, Status: moonwake.StatusRunning, CreatedAt: start})
	m.ActionEnded(&moonwake.Action{Kind: moonwake.ActionShutdown, Status: moonwake.StatusFailed, CreatedAt: start, FinishedAt: &end})
	for _, c := range []struct {
		got, want float64
		what      string
	}{
		{testutil.ToFloat64(m.packets.WithLabelValues("relay", "sent")), 3, "relay packets sent"},
		{testutil.ToFloat64(m.packets.WithLabelValues("relay", "error")), 1, "relay errors"},
		{testutil.ToFloat64(m.packets.WithLabelValues("raw", "error")), 1, "raw errors"},
		{testutil.ToFloat64(m.notifications.WithLabelValues("webhook", "sent")), 1, "webhooks sent"},
		{testutil.ToFloat64(m.actions.WithLabelValues("shutdown", "failed")), 1, "failed shutdowns"},
		{testutil.ToFloat64(m.actions.WithLabelValues("shutdown", "succeeded")), 0, "succeeded shutdowns"},
	} {
		if c.got != c.want {
			t.Errorf("%s: %v; want %v", c.what, c.got, c.want)
		}
	}
	if n := testutil.CollectAndCount(m.actionDuration); n != 1 {
		t.Errorf("%d duration series; want 1", n)
	}
}

// TestBearer: only the exact token passes.
func TestBearer(t *testing.T) {
	h := New().Handler("tok", nil)
	for _, c := range []struct {
		header string
		want   int
	}{{"", 401}, {"Bearer", 401}, {"Bearer ", 401}, {"Bearer to", 401}, {"Bearer tokk", 401}, {"Basic tok", 401}, {"Bearer tok ", 401}, {"bearer tok", 200}, {"Bearer tok", 200}} {
		req := httptest.NewRequest("GET", "/metrics", nil)
		if c.header != "" {
			req.Header.Set("Authorization", c.header)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != c.want {
			t.Errorf("Authorization %q: %d; want %d", c.header, w.Code, c.want)
		}
		if w.Code == http.StatusUnauthorized && w.Header().Get("WWW-Authenticate") == "" {
			t.Errorf("Authorization %q: 401 without WWW-Authenticate", c.header)
		}
	}
}

// TestSourceFails: a source that cannot be read leaves its metrics out,
// and the scrape serves the rest.
func TestSourceFails(t *testing.T) {
	m := New()
	m.Watch(Sources{
		Machines: &mock.MachineService{ListMachinesFn: func(context.Context) ([]*moonwake.Machine, error) {
			return nil, errors.New("database is locked")
		}},
		Monitor: &mock.Monitor{},
		Streams: map[string]func() int{"api": func() int { return 3 }},
	})
	w := httptest.NewRecorder()
	m.Handler("", nil).ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	body := w.Body.String()
	if w.Code != 200 || !strings.Contains(body, `moonwake_event_stream_clients{door="api"} 3`) || strings.Contains(body, "moonwake_machine_state{") {
		t.Fatalf("%d\n%s", w.Code, body)
	}
}
