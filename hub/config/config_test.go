package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadLayers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "moonwake.yaml")
	os.WriteFile(path, []byte(`
listen: 127.0.0.1:9000
data: /var/lib/moonwake
log_format: json
rate_limit: {per_minute: 10, burst: 3}
wake: {count: 5, deadline: 90s}
notify: {webhook: 'https://example.org/hook', secret: s3}
trusted_proxies: [10.42.0.0/16, 192.0.2.7]
machines:
  - name: gaming-pc
    mac: AA-BB-CC-DD-EE-FF
    interface: eth0
    tags: [games]
    relay: office
`), 0o600)
	env := map[string]string{"MOONWAKE_DATA": "/data", "MOONWAKE_WAKE_COUNT": "2", "PORT": "1234"}
	c, err := Load(path, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:9000" { // PORT only replaces the default
		t.Errorf("listen %q", c.Listen)
	}
	if c.Data != "/data" || c.Wake.Count != 2 || c.Wake.Deadline != 90*time.Second || c.Notify.Webhook != "https://example.org/hook" || c.Notify.Secret != "s3" || c.LogFormat != "json" {
		t.Errorf("config %+v", c)
	}
	if c.RateLimit.PerMinute != 10 || c.RateLimit.Burst != 3 {
		t.Errorf("rate %+v", c.RateLimit)
	}
	p, _ := c.Proxies()
	if len(p) != 2 || p[1].String() != "192.0.2.7/32" {
		t.Errorf("proxies %v", p)
	}
	m, ok := c.FindMachine("gaming-pc")
	if !ok || m.MAC != "aa:bb:cc:dd:ee:ff" || m.Source != "config" || m.Relay != "office" {
		t.Errorf("machine %+v", m)
	}
}

func TestKnativePort(t *testing.T) {
	c, err := Load("", func(k string) string {
		if k == "PORT" {
			return "8081"
		}
		return ""
	})
	if err != nil || c.Listen != ":8081" {
		t.Fatalf("listen %q, %v", c.Listen, err)
	}
}

func TestLoadErrors(t *testing.T) {
	cases := map[string]string{
		"listne: x\n":                                   "listne",
		"wake: {count: 0}\n":                            "wake.count",
		"log_level: loud\n":                             "log_level",
		"trusted_proxies: [nope]\n":                     "trusted_proxies",
		"machines: [{name: a, mac: ff:ff:ff:ff:ff:ff}]": "broadcast",
		"machines: [{name: a, mac: aa:bb:cc:dd:ee:01}, {name: a, mac: aa:bb:cc:dd:ee:02}]": "twice",
		"machines: [{name: a, mac: aa:bb:cc:dd:ee:01, relay: 'Not a name'}]":               "relay",
		"[1, 2": "yaml",
		"rate_limit: {per_minute: -1, burst: 1}\n": "rate_limit",
		"notify: {webhook: 'ftp://x'}\n":           "notify",
	}
	for doc, want := range cases {
		path := filepath.Join(t.TempDir(), "c.yaml")
		os.WriteFile(path, []byte(doc), 0o600)
		_, err := Load(path, nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one mentioning %q", doc, err, want)
		}
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml"), nil); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing file: %v", err)
	}
	if _, err := Load("", func(k string) string {
		if k == "MOONWAKE_WAKE_DEADLINE" {
			return "soon"
		}
		return ""
	}); err == nil || !strings.Contains(err.Error(), "MOONWAKE_WAKE_DEADLINE") {
		t.Errorf("bad env: %v", err)
	}
}

func TestEmptyFile(t *testing.T) {
	c := Default()
	if err := Parse(nil, &c); err != nil {
		t.Fatal(err)
	}
}

// FuzzParse checks that no config file makes the parser or the validation
// panic.
func FuzzParse(f *testing.F) {
	f.Add([]byte("listen: :8080\nmachines: [{name: pc, mac: aa:bb:cc:dd:ee:ff}]\n"))
	f.Add([]byte("wake: {count: 3, deadline: 3m}\nrate_limit: {per_minute: 30, burst: 10}\n"))
	f.Add([]byte("trusted_proxies: [10.0.0.0/8, '::1']\n"))
	f.Add([]byte("&a [*a, *a]"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c := Default()
		if Parse(b, &c) == nil {
			_ = c.Validate()
		}
	})
}

func TestRelayListen(t *testing.T) {
	c, err := Load("", func(string) string { return "" })
	if err != nil || len(c.Relay.Listen) != 0 {
		t.Fatalf("default relay.listen %q, %v; want off", c.Relay.Listen, err)
	}
	env := map[string]string{"MOONWAKE_RELAY_LISTEN": " :47009, ,0.0.0.0:9 "}
	c, err = Load("", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Relay.Listen) != 2 || c.Relay.Listen[0] != ":47009" || c.Relay.Listen[1] != "0.0.0.0:9" {
		t.Errorf("relay.listen %q", c.Relay.Listen)
	}
	c = Default()
	if err := Parse([]byte("relay:\n  listen: [\":47009\", \"[::]:9\"]\n"), &c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil || len(c.Relay.Listen) != 2 {
		t.Errorf("relay.listen from YAML %q: %v", c.Relay.Listen, err)
	}
	for _, bad := range []string{"47009", ":0", ":70000", "host.example:9", ":x"} {
		c := Default()
		c.Relay.Listen = []string{bad}
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "relay.listen") {
			t.Errorf("relay.listen %q: %v, want an error", bad, err)
		}
	}
}

// TestPassthroughListen checks the passthrough's own name, and that the old
// relay.listen still works but is reported as deprecated.
func TestPassthroughListen(t *testing.T) {
	env := map[string]string{"MOONWAKE_PASSTHROUGH_LISTEN": ":47009,:9"}
	c, err := Load("", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if got := c.PassthroughListen(); len(got) != 2 || got[0] != ":47009" || got[1] != ":9" {
		t.Errorf("passthrough.listen from the environment: %q", got)
	}
	if d := c.Deprecated(); len(d) != 0 {
		t.Errorf("deprecations with the new name: %q", d)
	}
	c = Default()
	if err := Parse([]byte("passthrough:\n  listen: [\":47009\"]\n"), &c); err != nil {
		t.Fatal(err)
	}
	if got := c.PassthroughListen(); len(got) != 1 || got[0] != ":47009" {
		t.Errorf("passthrough.listen from YAML: %q", got)
	}
	c.Passthrough.Listen = []string{":70000"}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "passthrough.listen") {
		t.Errorf("a bad passthrough.listen: %v", err)
	}
	c = Default()
	if err := Parse([]byte("relay:\n  listen: [\":9\"]\n"), &c); err != nil {
		t.Fatal(err)
	}
	if got := c.PassthroughListen(); len(got) != 1 || got[0] != ":9" {
		t.Errorf("the old relay.listen: %q", got)
	}
	if d := c.Deprecated(); len(d) != 1 || !strings.Contains(d[0], "passthrough.listen") {
		t.Errorf("the old name is not reported: %q", d)
	}
}
