package config

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/hub/policy"
)

// Schedule wakes and/or shuts down machines, chosen by name or tag, by
// cron expressions (5 fields, or a macro such as @daily) in a time zone.
type Schedule struct {
	Machines    []string      `yaml:"machines"`
	Tags        []string      `yaml:"tags"`
	Wake        string        `yaml:"wake"`         // cron, like "0 18 * * 1-5"; empty: none
	Shutdown    string        `yaml:"shutdown"`     // cron; empty: none
	Timezone    string        `yaml:"timezone"`     // IANA name, like Europe/Paris; empty: the hub's local zone
	MissedGrace time.Duration `yaml:"missed_grace"` // a run missed while the hub was down is made if at most this late (10m)
	// ShutdownAction is what the shutdown cron does: shutdown (default),
	// sleep or hibernate.
	ShutdownAction string `yaml:"shutdown_action"`
	// ShutdownGrace is a countdown at the PC before the scheduled
	// shutdown, for the person there to cancel (0: none, at most 30m).
	ShutdownGrace time.Duration `yaml:"shutdown_grace"`
}

// IdleOff shuts machines, chosen by name or tag, down when nobody used them
// for After (and none streams), after a warning and Grace.
type IdleOff struct {
	Machines []string      `yaml:"machines"`
	Tags     []string      `yaml:"tags"`
	After    time.Duration `yaml:"after"` // 30m
	Grace    time.Duration `yaml:"grace"` // 5m
	// Action is what it does to an idle machine: shutdown (default),
	// sleep or hibernate.
	Action string `yaml:"action"`
}

// checkOffAction checks an idle_off action or a shutdown_action.
func checkOffAction(a string) error {
	if a != "" && !slices.Contains(policy.OffActions, a) {
		return fmt.Errorf("%q: want one of %s", a, strings.Join(policy.OffActions, ", "))
	}
	return nil
}

// Policies turns the schedules and idle rules into what package policy
// runs; Validate has checked them.
func (c *Config) Policies() ([]policy.Schedule, []policy.IdleRule, error) {
	var ss []policy.Schedule
	for i, s := range c.Schedules {
		if len(s.Machines) == 0 && len(s.Tags) == 0 {
			return nil, nil, fmt.Errorf("schedules[%d]: give machines or tags", i)
		}
		if s.Wake == "" && s.Shutdown == "" {
			return nil, nil, fmt.Errorf("schedules[%d]: give wake or shutdown (a cron expression)", i)
		}
		if s.MissedGrace < 0 || s.MissedGrace > 24*time.Hour {
			return nil, nil, fmt.Errorf("schedules[%d]: missed_grace %s: want 0 to 24h", i, s.MissedGrace)
		}
		loc := time.Local
		if s.Timezone != "" {
			l, err := time.LoadLocation(s.Timezone)
			if err != nil {
				return nil, nil, fmt.Errorf("schedules[%d]: timezone %q: %v", i, s.Timezone, err)
			}
			loc = l
		}
		if err := checkOffAction(s.ShutdownAction); err != nil {
			return nil, nil, fmt.Errorf("schedules[%d].shutdown_action %v", i, err)
		}
		if s.ShutdownGrace < 0 || s.ShutdownGrace > moonwake.MaxGrace {
			return nil, nil, fmt.Errorf("schedules[%d]: shutdown_grace %s: want 0 to %s", i, s.ShutdownGrace, moonwake.MaxGrace)
		}
		ps := policy.Schedule{Selector: policy.Selector{Machines: s.Machines, Tags: s.Tags}, MissedGrace: s.MissedGrace,
			OffAction: s.ShutdownAction, ShutdownGrace: s.ShutdownGrace}
		var err error
		if s.Wake != "" {
			if ps.Wake, err = policy.ParseCron(s.Wake, loc); err != nil {
				return nil, nil, fmt.Errorf("schedules[%d].wake: %v", i, err)
			}
		}
		if s.Shutdown != "" {
			if ps.Shutdown, err = policy.ParseCron(s.Shutdown, loc); err != nil {
				return nil, nil, fmt.Errorf("schedules[%d].shutdown: %v", i, err)
			}
		}
		ss = append(ss, ps)
	}
	var rs []policy.IdleRule
	for i, r := range c.IdleOff {
		if len(r.Machines) == 0 && len(r.Tags) == 0 {
			return nil, nil, fmt.Errorf("idle_off[%d]: give machines or tags", i)
		}
		after, grace := r.After, r.Grace
		if after == 0 {
			after = 30 * time.Minute
		}
		if grace == 0 {
			grace = 5 * time.Minute
		}
		if after < time.Minute || after > 7*24*time.Hour {
			return nil, nil, fmt.Errorf("idle_off[%d]: after %s: want 1m to 168h", i, after)
		}
		if grace < 0 || grace > 24*time.Hour {
			return nil, nil, fmt.Errorf("idle_off[%d]: grace %s: want 0 to 24h", i, grace)
		}
		if err := checkOffAction(r.Action); err != nil {
			return nil, nil, fmt.Errorf("idle_off[%d].action %v", i, err)
		}
		rs = append(rs, policy.IdleRule{Selector: policy.Selector{Machines: r.Machines, Tags: r.Tags}, After: after, Grace: grace, Action: r.Action})
	}
	return ss, rs, nil
}

func (c *Config) validatePolicies() error {
	_, _, err := c.Policies()
	return err
}
