package config

import (
	"fmt"
	"net"
	"strconv"
)

// Metrics configures Prometheus's /metrics. It is served on an address of
// its own, never on listen, so that an ingress that routes the hub's port
// cannot expose it: 127.0.0.1:9464 on a host, :9464 in a pod whose port
// only the cluster reaches.
type Metrics struct {
	Listen string `yaml:"listen"` // TCP address of /metrics; empty: off
	// TokenFile, when set, holds a bearer token that scrapes must send
	// (Prometheus's authorization.credentials_file).
	TokenFile string `yaml:"token_file"`
}

func (m *Metrics) applyEnv(getenv func(string) string) {
	if v := getenv("MOONWAKE_METRICS_LISTEN"); v != "" {
		m.Listen = v
	}
	if v := getenv("MOONWAKE_METRICS_TOKEN_FILE"); v != "" {
		m.TokenFile = v
	}
}

func (m *Metrics) validate() error {
	if m.Listen == "" {
		if m.TokenFile != "" {
			return fmt.Errorf("metrics.token_file is set but metrics.listen is empty: metrics are off")
		}
		return nil
	}
	_, port, err := net.SplitHostPort(m.Listen)
	if err != nil {
		return fmt.Errorf("metrics.listen %q: want [host]:port, such as 127.0.0.1:9464", m.Listen)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("metrics.listen %q: port %q is not a number from 0 to 65535", m.Listen, port)
	}
	return nil
}
