package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Default retention periods.
const (
	DefaultActionRetention = 90 * 24 * time.Hour
	DefaultEventRetention  = 30 * 24 * time.Hour
)

// Retention bounds the growth of the database: the hub deletes ended
// actions (the audit log) and events (the machines' history) older than
// these, at start and then every hour. 0 keeps them forever; otherwise at
// least 1h. Each is a Go duration (2160h) or a whole number of days (90d).
type Retention struct {
	Actions time.Duration `yaml:"actions"` // ended actions, by when they ended (default 90d)
	Events  time.Duration `yaml:"events"`  // events, by when they happened (default 30d)
}

// UnmarshalYAML reads the two periods, accepting days (90d) beside Go
// durations. Unknown keys are errors, as elsewhere in the file.
func (r *Retention) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: retention: want a mapping of actions and events", n.Line)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		var dst *time.Duration
		switch k.Value {
		case "actions":
			dst = &r.Actions
		case "events":
			dst = &r.Events
		default:
			return fmt.Errorf("line %d: field %s not found in type config.Retention", k.Line, k.Value)
		}
		if v.Kind != yaml.ScalarNode {
			return fmt.Errorf("line %d: retention.%s: want a duration such as 2160h or 90d", v.Line, k.Value)
		}
		d, err := parseRetention(v.Value)
		if err != nil {
			return fmt.Errorf("line %d: retention.%s: %w", v.Line, k.Value, err)
		}
		*dst = d
	}
	return nil
}

// parseRetention reads a retention period: a Go duration (2160h, 36h30m),
// a whole number of days (90d, meaning 90×24h), or 0 for forever.
func parseRetention(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > 100*365 {
			return 0, fmt.Errorf("%q: want a whole number of days such as 90d, or a duration such as 2160h", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q: want a duration such as 2160h or 90d (0 keeps forever)", s)
	}
	return d, nil
}

func (r *Retention) applyEnv(getenv func(string) string) error {
	for _, e := range []struct {
		name string
		dst  *time.Duration
	}{
		{"MOONWAKE_RETENTION_ACTIONS", &r.Actions},
		{"MOONWAKE_RETENTION_EVENTS", &r.Events},
	} {
		if v := getenv(e.name); v != "" {
			d, err := parseRetention(v)
			if err != nil {
				return fmt.Errorf("%s: %w", e.name, err)
			}
			*e.dst = d
		}
	}
	return nil
}

// validate refuses periods so short that the history would be gone before
// anyone looked at it: 0 (forever) or at least an hour.
func (r *Retention) validate() error {
	for _, p := range []struct {
		key string
		d   time.Duration
	}{{"actions", r.Actions}, {"events", r.Events}} {
		if p.d != 0 && p.d < time.Hour {
			return fmt.Errorf("retention.%s %s: want 0 (keep forever) or at least 1h, such as 2160h or 90d", p.key, p.d)
		}
	}
	return nil
}
