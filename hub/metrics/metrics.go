// Package metrics exposes the hub to Prometheus. What the hub knows at any
// moment (the machines' states, the links, the event streams, the
// passthrough's counts) is read when Prometheus scrapes, through the root
// contracts and small stats methods; what happens (actions ending, packets
// sent, probe rounds, notifications) is counted by hooks that hub.Open
// hands to the parts it builds. No other package imports client_golang.
//
// Every method of a nil *Metrics does nothing, so the hub wires the same
// hooks whether metrics are on or off.
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/probe"
	"github.com/moonwake/moonwake/wol"
)

// Metrics holds the hub's metrics. Create it with New before the parts it
// counts, Watch what it reads at scrape time once they are built, and
// serve its Handler.
type Metrics struct {
	reg *prometheus.Registry

	actions        *prometheus.CounterVec
	actionDuration *prometheus.HistogramVec
	packets        *prometheus.CounterVec
	probeRounds    *prometheus.HistogramVec
	notifications  *prometheus.CounterVec
}

// Action kinds and statuses whose series exist from the start, at 0, so
// that rate() and increase() see the first one (an alert on the first
// failed shutdown needs the series before it).
var (
	actionKinds    = []string{moonwake.ActionWake, moonwake.ActionShutdown, moonwake.ActionReboot, moonwake.ActionSleep, moonwake.ActionHibernate}
	actionStatuses = []string{moonwake.StatusSucceeded, moonwake.StatusFailed}
)

// New returns the hub's metrics, with the Go runtime's and the process's.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "moonwake_actions_total",
			Help: "Actions that ended, by kind (wake, shutdown, reboot, sleep, hibernate) and status (succeeded, failed).",
		}, []string{"kind", "status"}),
		actionDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "moonwake_action_duration_seconds",
			Help: "Time from the request of an action to its end (the machine seen in its goal state, or the failure), by kind and status.",
			// A wake takes seconds to a minute or two; its deadline is 3 minutes.
			Buckets: []float64{0.1, 0.5, 1, 2.5, 5, 10, 20, 30, 45, 60, 90, 120, 180, 300},
		}, []string{"kind", "status"}),
		packets: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "moonwake_wake_packets_total",
			Help: "Magic packets the hub sent (via udp or raw) or a relay sent for it (via relay), by result (sent, error).",
		}, []string{"via", "result"}),
		probeRounds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "moonwake_probe_round_duration_seconds",
			Help: "Duration of the probe rounds of each machine (TCP, ICMP, neighbour table, Sunshine, or a relay's order); its _count counts the rounds.",
			// Probes answer in milliseconds on a LAN and give up at probe.timeout (1s).
			Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5},
		}, []string{"machine"}),
		notifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "moonwake_notifications_total",
			Help: "Notification deliveries tried, by channel (webhook, ntfy) and result (sent, failed); each retry counts.",
		}, []string{"channel", "result"}),
	}
	for _, k := range actionKinds {
		for _, s := range actionStatuses {
			m.actions.WithLabelValues(k, s)
		}
	}
	for _, via := range []string{wol.ViaUDP, wol.ViaRaw, "relay"} {
		for _, r := range []string{"sent", "error"} {
			m.packets.WithLabelValues(via, r)
		}
	}
	for _, ch := range []string{"webhook", "ntfy"} {
		for _, r := range []string{"sent", "failed"} {
			m.notifications.WithLabelValues(ch, r)
		}
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.actions, m.actionDuration, m.packets, m.probeRounds, m.notifications,
	)
	return m
}

// Registry is where the metrics are registered; tests gather from it.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// ActionEnded counts an action that ended, and how long it took. It is
// the power service's Notify.
func (m *Metrics) ActionEnded(a *moonwake.Action) {
	if m == nil || !a.Done() {
		return
	}
	m.actions.WithLabelValues(a.Kind, a.Status).Inc()
	if a.FinishedAt != nil {
		m.actionDuration.WithLabelValues(a.Kind, a.Status).Observe(a.FinishedAt.Sub(a.CreatedAt).Seconds())
	}
}

// PacketSent counts one magic packet the hub tried to send. It is the
// wol.Sender's Sent.
func (m *Metrics) PacketSent(t wol.Target, err error) {
	if m == nil {
		return
	}
	m.packets.WithLabelValues(t.Via, result(err, "sent", "error")).Inc()
}

// Notified counts one delivery tried on a notification channel. It is the
// notify.Dispatcher's Sent.
func (m *Metrics) Notified(channel string, err error) {
	if m == nil {
		return
	}
	m.notifications.WithLabelValues(channel, result(err, "sent", "failed")).Inc()
}

// Probe returns fn timed: each round's duration is observed under the
// machine's name.
func (m *Metrics) Probe(fn probe.ProbeFunc) probe.ProbeFunc {
	if m == nil {
		return fn
	}
	return func(ctx context.Context, t probe.Target) moonwake.Evidence {
		start := time.Now()
		ev := fn(ctx, t)
		m.probeRounds.WithLabelValues(t.Name).Observe(time.Since(start).Seconds())
		return ev
	}
}

// Relays is how the power service sends wakes through relays (power.Relays).
type Relays interface {
	RouteMachine(m *moonwake.Machine) (string, error)
	Wake(ctx context.Context, relay string, m *moonwake.Machine, count int) ([]moonwake.Step, int, error)
}

// Relays returns rs with the packets its relays send counted.
func (m *Metrics) Relays(rs Relays) Relays {
	if m == nil {
		return rs
	}
	return countedRelays{rs, m}
}

type countedRelays struct {
	Relays
	m *Metrics
}

func (c countedRelays) Wake(ctx context.Context, relay string, mc *moonwake.Machine, count int) ([]moonwake.Step, int, error) {
	steps, sent, err := c.Relays.Wake(ctx, relay, mc, count)
	c.m.packets.WithLabelValues("relay", "sent").Add(float64(sent))
	if err != nil {
		c.m.packets.WithLabelValues("relay", "error").Inc()
	}
	return steps, sent, err
}

// Watch registers what is read at scrape time. Call it once, when the
// parts it reads are built.
func (m *Metrics) Watch(s Sources) {
	if m == nil {
		return
	}
	m.reg.MustRegister(newStateCollector(s))
}

// Handler serves the metrics in Prometheus's formats. A token that is not
// empty must come as "Authorization: Bearer <token>". A source that cannot
// be read (the store is locked past the scrape's timeout) leaves its
// metrics out of that scrape, says so to log, and the rest is served.
func (m *Metrics) Handler(token string, log *slog.Logger) http.Handler {
	// One scrape at a time: each reads the store, and a second one at once
	// is a client's mistake (or a flood) that gets 503.
	opts := promhttp.HandlerOpts{Registry: m.reg, ErrorHandling: promhttp.ContinueOnError, MaxRequestsInFlight: 1}
	if log != nil {
		opts.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	}
	h := promhttp.HandlerFor(m.reg, opts)
	if token == "" {
		return h
	}
	return bearer(token, h)
}

func result(err error, ok, failed string) string {
	if err != nil {
		return failed
	}
	return ok
}
