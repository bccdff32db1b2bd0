package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const day = 24 * time.Hour

func TestRetentionDefaults(t *testing.T) {
	c, err := Load("", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if c.Retention.Actions != 90*day || c.Retention.Events != 30*day {
		t.Errorf("defaults %+v, want 90 and 30 days", c.Retention)
	}
}

func TestRetentionYAMLAndEnv(t *testing.T) {
	cases := []struct {
		doc             string
		env             map[string]string
		actions, events time.Duration
	}{
		{doc: "retention: {actions: 2160h, events: 36h30m}\n", actions: 2160 * time.Hour, events: 36*time.Hour + 30*time.Minute},
		{doc: "retention:\n  actions: 365d\n  events: 7d\n", actions: 365 * day, events: 7 * day},
		{doc: "retention: {actions: 0, events: 0s}\n", actions: 0, events: 0},    // forever
		{doc: "retention: {events: 1h}\n", actions: 90 * day, events: time.Hour}, // the other keeps its default
		{doc: "retention: {actions: 0d}\n", actions: 0, events: 30 * day},        // days may be 0 too
		{doc: "", env: map[string]string{"MOONWAKE_RETENTION_ACTIONS": "180d", "MOONWAKE_RETENTION_EVENTS": "720h"}, actions: 180 * day, events: 720 * time.Hour},
		{doc: "retention: {actions: 1h, events: 1h}\n", env: map[string]string{"MOONWAKE_RETENTION_EVENTS": "0"}, actions: time.Hour, events: 0},
	}
	for _, tc := range cases {
		path := filepath.Join(t.TempDir(), "c.yaml")
		os.WriteFile(path, []byte(tc.doc), 0o600)
		c, err := Load(path, func(k string) string { return tc.env[k] })
		if err != nil {
			t.Errorf("%q %v: %v", tc.doc, tc.env, err)
			continue
		}
		if c.Retention.Actions != tc.actions || c.Retention.Events != tc.events {
			t.Errorf("%q %v: %+v, want actions %s events %s", tc.doc, tc.env, c.Retention, tc.actions, tc.events)
		}
	}
}

func TestRetentionErrors(t *testing.T) {
	docs := map[string]string{
		"retention: {actions: 30m}\n":     "retention.actions 30m0s: want 0 (keep forever) or at least 1h",
		"retention: {events: 59m59s}\n":   "retention.events 59m59s: want 0 (keep forever) or at least 1h",
		"retention: {events: -1h}\n":      "retention.events -1h0m0s: want 0 (keep forever) or at least 1h",
		"retention: {actions: 90days}\n":  "retention.actions: \"90days\"",
		"retention: {actions: -3d}\n":     "whole number of days",
		"retention: {actions: 1.5d}\n":    "whole number of days",
		"retention: {action: 90d}\n":      "field action not found",
		"retention: {actions: [1h]}\n":    "retention.actions: want a duration",
		"retention: 90d\n":                "retention: want a mapping",
		"retention: {actions: forever}\n": "retention.actions",
	}
	for doc, want := range docs {
		path := filepath.Join(t.TempDir(), "c.yaml")
		os.WriteFile(path, []byte(doc), 0o600)
		_, err := Load(path, nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one with %q", doc, err, want)
		}
	}
	envs := map[string][2]string{ // name: value, the error wanted
		"MOONWAKE_RETENTION_ACTIONS": {"10m", "retention.actions 10m0s: want 0 (keep forever) or at least 1h"},
		"MOONWAKE_RETENTION_EVENTS":  {"soon", `MOONWAKE_RETENTION_EVENTS: "soon": want a duration`},
	}
	for name, tc := range envs {
		v, want := tc[0], tc[1]
		_, err := Load("", func(k string) string {
			if k == name {
				return v
			}
			return ""
		})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s=%s: %v, want one with %q", name, v, err, want)
		}
	}
}

func TestRetentionEnvDocumented(t *testing.T) {
	found := map[string]string{}
	for _, e := range Env {
		found[e.Name] = e.Key
	}
	if found["MOONWAKE_RETENTION_ACTIONS"] != "retention.actions" || found["MOONWAKE_RETENTION_EVENTS"] != "retention.events" {
		t.Errorf("Env table lacks the retention variables")
	}
}
