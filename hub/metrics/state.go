package metrics

import (
	"context"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/moonwake/moonwake"
)

// Sources are what the metrics read when Prometheus scrapes. A nil field
// is left out.
type Sources struct {
	Machines moonwake.MachineService
	Monitor  moonwake.Monitor
	// Agents says whether a machine's agent is paired ("" id: no agent)
	// and whether its uplink is up; hub/remote.Agents.Evidence.
	Agents func(machine string) (id string, ev *moonwake.AgentEvidence)
	Relays moonwake.RelayService
	// Streams counts the open event streams of each front door: "api"
	// (GET /api/v1/events) and "web" (the web app's /events).
	Streams map[string]func() int
	// Passthrough counts the datagrams the passthrough handled, by
	// outcome; hub/passthrough.Listener.Stats.
	Passthrough func() map[string]uint64
}

// states are the one-hot values of moonwake_machine_state.
var states = []moonwake.PowerState{
	moonwake.StateOff, moonwake.StateWaking, moonwake.StateOn, moonwake.StateStreaming,
	moonwake.StateIdle, moonwake.StateShuttingDown, moonwake.StateUnknown,
}

var (
	machineStateDesc = prometheus.NewDesc("moonwake_machine_state",
		"The power state of each machine as the hub derives it now: 1 for its state, 0 for the others.",
		[]string{"machine", "state"}, nil)
	agentUpDesc = prometheus.NewDesc("moonwake_agent_link_up",
		"Whether the uplink of each machine's paired agent is up (1) or down (0).",
		[]string{"machine"}, nil)
	relayUpDesc = prometheus.NewDesc("moonwake_relay_link_up",
		"Whether the uplink of each relay is up (1) or down (0).",
		[]string{"relay"}, nil)
	streamsDesc = prometheus.NewDesc("moonwake_event_stream_clients",
		"Event streams open now, by front door: api (GET /api/v1/events) and web (the web app).",
		[]string{"door"}, nil)
	passthroughDesc = prometheus.NewDesc("moonwake_passthrough_packets_total",
		"Datagrams the passthrough received (its own UDP socket or a relay's), by outcome: woken, already-on and debounced were accepted; rate-limited was limited; the others were dropped.",
		[]string{"outcome"}, nil)
)

// scrapeTimeout bounds the store reads of one scrape.
const scrapeTimeout = 5 * time.Second

// stateCollector reads the hub's state at scrape time.
type stateCollector struct {
	s Sources
}

func newStateCollector(s Sources) *stateCollector { return &stateCollector{s} }

// Describe implements prometheus.Collector.
func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{machineStateDesc, agentUpDesc, relayUpDesc, streamsDesc, passthroughDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	if c.s.Machines != nil {
		ms, err := c.s.Machines.ListMachines(ctx)
		if err != nil {
			ch <- prometheus.NewInvalidMetric(machineStateDesc, err)
		}
		for _, m := range ms {
			c.machine(ctx, ch, m.Name)
		}
	}
	if c.s.Relays != nil {
		rs, err := c.s.Relays.ListRelays(ctx)
		if err != nil {
			ch <- prometheus.NewInvalidMetric(relayUpDesc, err)
		}
		for _, r := range rs {
			ch <- prometheus.MustNewConstMetric(relayUpDesc, prometheus.GaugeValue, bool01(r.Connected), r.Name)
		}
	}
	for door, n := range c.s.Streams {
		ch <- prometheus.MustNewConstMetric(streamsDesc, prometheus.GaugeValue, float64(n()), door)
	}
	if c.s.Passthrough != nil {
		counts := c.s.Passthrough()
		outcomes := make([]string, 0, len(counts))
		for o := range counts {
			outcomes = append(outcomes, o)
		}
		sort.Strings(outcomes)
		for _, o := range outcomes {
			ch <- prometheus.MustNewConstMetric(passthroughDesc, prometheus.CounterValue, float64(counts[o]), o)
		}
	}
}

// machine sends the state of one machine and the link of its agent.
func (c *stateCollector) machine(ctx context.Context, ch chan<- prometheus.Metric, name string) {
	if c.s.Monitor != nil {
		st := c.s.Monitor.Info(ctx, name).State
		if st == "" {
			st = moonwake.StateUnknown
		}
		for _, s := range states {
			ch <- prometheus.MustNewConstMetric(machineStateDesc, prometheus.GaugeValue, bool01(s == st), name, string(s))
		}
	}
	if c.s.Agents != nil {
		if id, ev := c.s.Agents(name); id != "" && ev != nil {
			ch <- prometheus.MustNewConstMetric(agentUpDesc, prometheus.GaugeValue, bool01(ev.Connected), name)
		}
	}
}

func bool01(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
