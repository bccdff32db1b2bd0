package config

import (
	"fmt"
	"strings"
	"time"
)

// DefaultSessionTTL is how long a web app session lives unused by default.
const DefaultSessionTTL = 30 * 24 * time.Hour

// UI configures the web app served by the hub.
type UI struct {
	// Enabled serves the web app beside the API (default true;
	// MOONWAKE_UI=off turns it off). Off, every path outside the API is 404.
	Enabled *bool `yaml:"enabled"`
	// SessionTTL is how long a signed-in browser stays signed in without
	// being used (default 720h, 30 days); each use slides it. 5m to 8760h.
	SessionTTL time.Duration `yaml:"session_ttl"`
	// ReverseDNS names the neighbours suggested when a machine is added by
	// asking the resolver about their addresses (default true).
	ReverseDNS *bool `yaml:"reverse_dns"`
}

// On reports whether the web app is served.
func (u *UI) On() bool { return u.Enabled == nil || *u.Enabled }

// ReverseDNSOn reports whether neighbour suggestions are named by reverse DNS.
func (u *UI) ReverseDNSOn() bool { return u.ReverseDNS == nil || *u.ReverseDNS }

// TTL returns the session lifetime, with the default filled in.
func (u *UI) TTL() time.Duration {
	if u.SessionTTL == 0 {
		return DefaultSessionTTL
	}
	return u.SessionTTL
}

func (u *UI) applyEnv(getenv func(string) string) error {
	if v := getenv("MOONWAKE_UI"); v != "" {
		on, err := parseSwitch(v)
		if err != nil {
			return fmt.Errorf("MOONWAKE_UI: %w", err)
		}
		u.Enabled = &on
	}
	if v := getenv("MOONWAKE_UI_SESSION_TTL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("MOONWAKE_UI_SESSION_TTL %q: want a duration such as 720h", v)
		}
		u.SessionTTL = d
	}
	if v := getenv("MOONWAKE_UI_REVERSE_DNS"); v != "" {
		on, err := parseSwitch(v)
		if err != nil {
			return fmt.Errorf("MOONWAKE_UI_REVERSE_DNS: %w", err)
		}
		u.ReverseDNS = &on
	}
	return nil
}

// parseSwitch reads on/off, true/false, yes/no, 1/0.
func parseSwitch(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "on", "true", "yes", "1":
		return true, nil
	case "off", "false", "no", "0":
		return false, nil
	}
	return false, fmt.Errorf("%q: want on or off", v)
}

// validate checks the settings and fills in the defaults.
func (u *UI) validate() error {
	if u.SessionTTL == 0 {
		u.SessionTTL = DefaultSessionTTL
	}
	if u.SessionTTL < 5*time.Minute || u.SessionTTL > 365*24*time.Hour {
		return fmt.Errorf("session_ttl %s: want 5m to 8760h", u.SessionTTL)
	}
	return nil
}
