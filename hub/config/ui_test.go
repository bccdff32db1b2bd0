package config

import (
	"strings"
	"testing"
	"time"
)

func TestUIDefaults(t *testing.T) {
	c, err := Load("", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if !c.UI.On() || !c.UI.ReverseDNSOn() || c.UI.TTL() != 30*24*time.Hour || c.UI.SessionTTL != 30*24*time.Hour {
		t.Errorf("defaults: %+v", c.UI)
	}
	var zero UI
	if !zero.On() || !zero.ReverseDNSOn() || zero.TTL() != DefaultSessionTTL {
		t.Errorf("zero UI: on %v dns %v ttl %s", zero.On(), zero.ReverseDNSOn(), zero.TTL())
	}
}

func TestUIFile(t *testing.T) {
	c := Default()
	if err := Parse([]byte("ui:\n  enabled: false\n  session_ttl: 12h\n  reverse_dns: false\n"), &c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.UI.On() || c.UI.ReverseDNSOn() || c.UI.TTL() != 12*time.Hour {
		t.Errorf("parsed: %+v", c.UI)
	}
	if err := Parse([]byte("ui:\n  sesion_ttl: 1h\n"), &c); err == nil {
		t.Error("a misspelt key was accepted")
	}
}

func TestUIEnv(t *testing.T) {
	for _, tc := range []struct {
		env     map[string]string
		on, dns bool
		ttl     time.Duration
		err     string
	}{
		{env: map[string]string{"MOONWAKE_UI": "off"}, on: false, dns: true, ttl: DefaultSessionTTL},
		{env: map[string]string{"MOONWAKE_UI": "ON", "MOONWAKE_UI_SESSION_TTL": "2h"}, on: true, dns: true, ttl: 2 * time.Hour},
		{env: map[string]string{"MOONWAKE_UI_REVERSE_DNS": "no"}, on: true, dns: false, ttl: DefaultSessionTTL},
		{env: map[string]string{"MOONWAKE_UI": "maybe"}, err: "MOONWAKE_UI"},
		{env: map[string]string{"MOONWAKE_UI_SESSION_TTL": "forever"}, err: "MOONWAKE_UI_SESSION_TTL"},
		{env: map[string]string{"MOONWAKE_UI_SESSION_TTL": "1m"}, err: "session_ttl"},
		{env: map[string]string{"MOONWAKE_UI_SESSION_TTL": "9000h"}, err: "session_ttl"},
		{env: map[string]string{"MOONWAKE_UI_REVERSE_DNS": "perhaps"}, err: "MOONWAKE_UI_REVERSE_DNS"},
	} {
		c, err := Load("", func(k string) string { return tc.env[k] })
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%v: error %v, want one about %s", tc.env, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v: %v", tc.env, err)
			continue
		}
		if c.UI.On() != tc.on || c.UI.ReverseDNSOn() != tc.dns || c.UI.TTL() != tc.ttl {
			t.Errorf("%v: on %v dns %v ttl %s", tc.env, c.UI.On(), c.UI.ReverseDNSOn(), c.UI.TTL())
		}
	}
}
