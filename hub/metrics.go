package hub

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/hub/metrics"
)

// openMetrics has the metrics read the parts at scrape time, and listens
// on metrics.listen, if set.
func (h *Hub) openMetrics(machines moonwake.MachineService) error {
	if h.metrics == nil {
		return nil
	}
	src := metrics.Sources{
		Machines: machines, Monitor: h.monitor, Agents: h.remote.Agents.Evidence, Relays: h.remote.Relays,
		Streams:     map[string]func() int{"api": h.api.Streams},
		Passthrough: func() map[string]uint64 { return h.passthrough.Stats() },
	}
	if h.web != nil {
		src.Streams["web"] = h.web.Streams
	}
	h.metrics.Watch(src)
	token := ""
	if f := h.cfg.Metrics.TokenFile; f != "" {
		var err error
		if token, err = readSecret(f); err != nil {
			return fmt.Errorf("metrics.token_file: %w", err)
		}
		if token == "" {
			return fmt.Errorf("metrics.token_file %s is empty", f)
		}
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h.metrics.Handler(token, h.log.With("component", "metrics")))
	h.metricsSrv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		WriteTimeout:      30 * time.Second,
		MaxHeaderBytes:    8 << 10,
		ErrorLog:          slog.NewLogLogger(h.log.Handler(), slog.LevelDebug),
	}
	ln, err := net.Listen("tcp", h.cfg.Metrics.Listen)
	if err != nil {
		return fmt.Errorf("metrics.listen on %s: %w", h.cfg.Metrics.Listen, err)
	}
	h.metricsLn = ln
	return nil
}

// MetricsAddr is the address /metrics is served on; nil when metrics are
// off.
func (h *Hub) MetricsAddr() net.Addr {
	if h.metricsLn == nil {
		return nil
	}
	return h.metricsLn.Addr()
}
