// Package config reads moonwake's configuration: defaults, then the YAML
// file, then MOONWAKE_* environment variables; the command line applies its
// flags last. It is parsed once at start-up and passed down, never read from
// deep inside other packages.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/moonwake/moonwake"
)

// Config is the whole configuration of a hub (and of the CLI's wake).
type Config struct {
	Listen         string   `yaml:"listen"`          // address to serve HTTP on
	Data           string   `yaml:"data"`            // data directory (SQLite database)
	LogLevel       string   `yaml:"log_level"`       // debug, info, warn, error
	LogFormat      string   `yaml:"log_format"`      // text or json
	TrustedProxies []string `yaml:"trusted_proxies"` // CIDRs whose X-Forwarded-For is believed
	// PublicURL is where people reach the hub, such as
	// https://wake.example.net: tap links and Home Assistant's
	// configuration_url are made from it. Empty: from each request.
	PublicURL string `yaml:"public_url"`
	// AdminTokenFile holds the secret of the first admin token, made
	// elsewhere (a Kubernetes Secret): when the hub has no admin token, it
	// creates one with that secret instead of printing a new one.
	AdminTokenFile string `yaml:"admin_token_file"`
	// RelayEnrolTokenFile holds a relay enrolment token that the hub
	// accepts (the relays get the same Secret); when the file changes, the
	// token it held before is revoked.
	RelayEnrolTokenFile string `yaml:"relay_enrol_token_file"`

	TLS       TLS                   `yaml:"tls"` // HTTPS on the listen address (tls.go)
	RateLimit RateLimit             `yaml:"rate_limit"`
	Wake      Wake                  `yaml:"wake"`
	Shutdown  Shutdown              `yaml:"shutdown"`
	Probe     Probe                 `yaml:"probe"`
	Notify    moonwake.NotifyTarget `yaml:"notify"` // where failed actions (and, if asked, successes) are reported
	// Passthrough is Moonlight's magic packets from outside (passthrough.listen).
	Passthrough Passthrough `yaml:"passthrough"`
	// Relay is the old name of Passthrough (relay.listen), still read; the
	// name now belongs to the relay process.
	Relay Passthrough `yaml:"relay"`
	UI    UI          `yaml:"ui"`   // the web app (ui.go)
	MQTT  MQTT        `yaml:"mqtt"` // the Home Assistant bridge (mqtt.go)
	// Retention is how long ended actions and events are kept (retention.go).
	Retention Retention `yaml:"retention"`
	// Metrics is Prometheus's /metrics, on an address of its own (metrics.go).
	Metrics Metrics `yaml:"metrics"`
	// Events are CloudEvents sent to a sink (events.go).
	Events Events `yaml:"events"`
	// EventStreams bounds the API's event streams (streams.go).
	EventStreams EventStreams `yaml:"event_streams"`

	// Power policies: cron schedules and idle auto-off (see policy.go).
	Schedules []Schedule `yaml:"schedules"`
	IdleOff   []IdleOff  `yaml:"idle_off"`

	// Machines declared here are owned by the file (GitOps): they are
	// created, updated and deleted to match it at every start, and the API
	// cannot change them.
	Machines []Machine `yaml:"machines"`
}

// RateLimit bounds action requests, separately for each token and for each
// client address.
type RateLimit struct {
	PerMinute float64 `yaml:"per_minute"` // sustained rate
	Burst     int     `yaml:"burst"`      // requests allowed at once
}

// Passthrough configures the hub's UDP passthrough: magic packets that
// arrive on UDP from outside (Moonlight's "Wake PC" button, through a
// router port-forward) wake the registered machine they name.
type Passthrough struct {
	Listen []string `yaml:"listen"` // UDP addresses, such as ":47009" or ":9"; empty: off
}

// Wake says how wakes are carried out.
type Wake struct {
	Count    int           `yaml:"count"`    // packets per target in each burst
	Deadline time.Duration `yaml:"deadline"` // a wake fails if the machine is not seen on by then
}

// Shutdown says how shutdowns (and reboots, sleeps) are verified.
type Shutdown struct {
	Deadline time.Duration `yaml:"deadline"` // retried, then failed, if still up by then
}

// Probe says how often machines are probed.
type Probe struct {
	Interval     time.Duration `yaml:"interval"`      // at rest
	FastInterval time.Duration `yaml:"fast_interval"` // while an action is under way
	Timeout      time.Duration `yaml:"timeout"`       // for one probe
	IdleAfter    time.Duration `yaml:"idle_after"`    // no input for this long: idle
}

// Machine is a machine declared in the file.
type Machine struct {
	Name      string                 `yaml:"name"`
	MAC       string                 `yaml:"mac"`
	Host      string                 `yaml:"host"`
	Interface string                 `yaml:"interface"`
	Broadcast string                 `yaml:"broadcast"`
	Port      int                    `yaml:"port"`
	Ports     []int                  `yaml:"ports"`
	Password  string                 `yaml:"password"`
	Notify    *moonwake.NotifyTarget `yaml:"notify"`
	Tags      []string               `yaml:"tags"`
	Relay     string                 `yaml:"relay"` // the relay that serves it; empty: chosen by its address
}

// Default returns the configuration used when nothing is set.
func Default() Config {
	return Config{
		Listen:    ":8080",
		Data:      "moonwake-data",
		LogLevel:  "info",
		LogFormat: "text",
		RateLimit: RateLimit{PerMinute: 30, Burst: 10},
		Wake:      Wake{Count: 1, Deadline: 3 * time.Minute},
		Shutdown:  Shutdown{Deadline: 2 * time.Minute},
		Probe:     Probe{Interval: 5 * time.Second, FastInterval: 250 * time.Millisecond, Timeout: time.Second, IdleAfter: 30 * time.Minute},
		Retention: Retention{Actions: DefaultActionRetention, Events: DefaultEventRetention},

		EventStreams: EventStreams{Max: DefaultEventStreams},
	}
}

// Load returns the defaults overlaid with the file at path (if path is not
// empty) and then the environment read through getenv.
func Load(path string, getenv func(string) string) (Config, error) {
	c := Default()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return c, fmt.Errorf("config file %s does not exist", path)
			}
			return c, fmt.Errorf("read config: %w", err)
		}
		if err := Parse(b, &c); err != nil {
			return c, fmt.Errorf("config file %s: %w", path, err)
		}
	}
	if err := c.applyEnv(getenv); err != nil {
		return c, err
	}
	return c, c.Validate()
}

// Parse overlays the YAML document b on c. Unknown keys are errors, so a
// typo does not silently do nothing.
func Parse(b []byte, c *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty file is fine
		}
		return err
	}
	return nil
}

// Env lists the environment variables Load reads, for documentation.
var Env = []struct{ Name, Key string }{
	{"MOONWAKE_LISTEN", "listen"},
	{"MOONWAKE_DATA", "data"},
	{"MOONWAKE_LOG_LEVEL", "log_level"},
	{"MOONWAKE_LOG_FORMAT", "log_format"},
	{"MOONWAKE_TRUSTED_PROXIES", "trusted_proxies"},
	{"MOONWAKE_RATE_LIMIT_PER_MINUTE", "rate_limit.per_minute"},
	{"MOONWAKE_RATE_LIMIT_BURST", "rate_limit.burst"},
	{"MOONWAKE_WAKE_COUNT", "wake.count"},
	{"MOONWAKE_WAKE_DEADLINE", "wake.deadline"},
	{"MOONWAKE_SHUTDOWN_DEADLINE", "shutdown.deadline"},
	{"MOONWAKE_PROBE_INTERVAL", "probe.interval"},
	{"MOONWAKE_NOTIFY_WEBHOOK", "notify.webhook"},
	{"MOONWAKE_NOTIFY_NTFY", "notify.ntfy"},
	{"MOONWAKE_PASSTHROUGH_LISTEN", "passthrough.listen"},
	{"MOONWAKE_PUBLIC_URL", "public_url"},
	{"MOONWAKE_ADMIN_TOKEN_FILE", "admin_token_file"},
	{"MOONWAKE_RELAY_ENROL_TOKEN_FILE", "relay_enrol_token_file"},
	{"MOONWAKE_MQTT_BROKER", "mqtt.broker"},
	{"MOONWAKE_MQTT_USERNAME", "mqtt.username"},
	{"MOONWAKE_MQTT_PASSWORD", "mqtt.password"},
	{"MOONWAKE_UI", "ui.enabled"},
	{"MOONWAKE_UI_SESSION_TTL", "ui.session_ttl"},
	{"MOONWAKE_UI_REVERSE_DNS", "ui.reverse_dns"},
	{"MOONWAKE_RETENTION_ACTIONS", "retention.actions"},
	{"MOONWAKE_RETENTION_EVENTS", "retention.events"},
	{"MOONWAKE_TLS_CERT_FILE", "tls.cert_file"},
	{"MOONWAKE_TLS_KEY_FILE", "tls.key_file"},
	{"MOONWAKE_TLS_SELF_SIGNED", "tls.self_signed"},
	{"MOONWAKE_METRICS_LISTEN", "metrics.listen"},
	{"MOONWAKE_METRICS_TOKEN_FILE", "metrics.token_file"},
	{"MOONWAKE_EVENTS_SINK", "events.sink"},
	{"MOONWAKE_EVENTS_RETRIES", "events.retries"},
	{"MOONWAKE_EVENT_STREAMS_MAX", "event_streams.max"},
}

func (c *Config) applyEnv(getenv func(string) string) error {
	if getenv == nil {
		return nil
	}
	str := func(name string, dst *string) {
		if v := getenv(name); v != "" {
			*dst = v
		}
	}
	str("MOONWAKE_LISTEN", &c.Listen)
	// Knative and Cloud Run tell a container which port to serve on.
	if c.Listen == Default().Listen && getenv("MOONWAKE_LISTEN") == "" {
		if p := getenv("PORT"); p != "" {
			c.Listen = ":" + p
		}
	}
	str("MOONWAKE_DATA", &c.Data)
	str("MOONWAKE_LOG_LEVEL", &c.LogLevel)
	str("MOONWAKE_LOG_FORMAT", &c.LogFormat)
	if v := getenv("MOONWAKE_TRUSTED_PROXIES"); v != "" {
		c.TrustedProxies = strings.Split(v, ",")
	}
	if v := getenv("MOONWAKE_RATE_LIMIT_PER_MINUTE"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return fmt.Errorf("MOONWAKE_RATE_LIMIT_PER_MINUTE=%q: not a number", v)
		}
		c.RateLimit.PerMinute = f
	}
	if v := getenv("MOONWAKE_RATE_LIMIT_BURST"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("MOONWAKE_RATE_LIMIT_BURST=%q: not an integer", v)
		}
		c.RateLimit.Burst = n
	}
	if v := getenv("MOONWAKE_WAKE_COUNT"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("MOONWAKE_WAKE_COUNT=%q: not an integer", v)
		}
		c.Wake.Count = n
	}
	for _, d := range []struct {
		name string
		dst  *time.Duration
	}{
		{"MOONWAKE_WAKE_DEADLINE", &c.Wake.Deadline},
		{"MOONWAKE_SHUTDOWN_DEADLINE", &c.Shutdown.Deadline},
		{"MOONWAKE_PROBE_INTERVAL", &c.Probe.Interval},
	} {
		if v := getenv(d.name); v != "" {
			t, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("%s=%q: not a duration like 90s", d.name, v)
			}
			*d.dst = t
		}
	}
	str("MOONWAKE_PUBLIC_URL", &c.PublicURL)
	str("MOONWAKE_ADMIN_TOKEN_FILE", &c.AdminTokenFile)
	str("MOONWAKE_RELAY_ENROL_TOKEN_FILE", &c.RelayEnrolTokenFile)
	if err := c.UI.applyEnv(getenv); err != nil {
		return err
	}
	if err := c.MQTT.applyEnv(getenv); err != nil {
		return err
	}
	if err := c.Retention.applyEnv(getenv); err != nil {
		return err
	}
	if err := c.TLS.applyEnv(getenv); err != nil {
		return err
	}
	c.Metrics.applyEnv(getenv)
	if err := c.Events.applyEnv(getenv); err != nil {
		return err
	}
	if err := c.EventStreams.applyEnv(getenv); err != nil {
		return err
	}
	str("MOONWAKE_NOTIFY_WEBHOOK", &c.Notify.Webhook)
	str("MOONWAKE_NOTIFY_NTFY", &c.Notify.Ntfy)
	listEnv(getenv, "MOONWAKE_PASSTHROUGH_LISTEN", &c.Passthrough.Listen)
	listEnv(getenv, "MOONWAKE_RELAY_LISTEN", &c.Relay.Listen) // the old name
	return nil
}

// listEnv sets *dst from the comma-separated list in the variable name, if
// it is set.
func listEnv(getenv func(string) string, name string, dst *[]string) {
	v := getenv(name)
	if v == "" {
		return
	}
	*dst = nil
	for _, a := range strings.Split(v, ",") {
		if a = strings.TrimSpace(a); a != "" {
			*dst = append(*dst, a)
		}
	}
}

// PassthroughListen returns the UDP addresses of the passthrough:
// passthrough.listen, or else the old relay.listen.
func (c *Config) PassthroughListen() []string {
	if len(c.Passthrough.Listen) > 0 {
		return c.Passthrough.Listen
	}
	return c.Relay.Listen
}

// Deprecated lists the old names the configuration still uses, with what
// to say instead, for the hub to warn about at start.
func (c *Config) Deprecated() []string {
	if len(c.Relay.Listen) == 0 {
		return nil
	}
	return []string{"relay.listen (MOONWAKE_RELAY_LISTEN) is now passthrough.listen (MOONWAKE_PASSTHROUGH_LISTEN); the old name still works"}
}

// Validate checks the values that Load cannot check by type alone.
func (c *Config) Validate() error {
	if c.Listen == "" {
		return fmt.Errorf("listen: empty address")
	}
	if c.Data == "" {
		return fmt.Errorf("data: empty directory")
	}
	if _, err := c.Level(); err != nil {
		return err
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return fmt.Errorf("log_format %q: want text or json", c.LogFormat)
	}
	if _, err := c.Proxies(); err != nil {
		return err
	}
	if c.RateLimit.PerMinute <= 0 || c.RateLimit.Burst < 1 {
		return fmt.Errorf("rate_limit: per_minute must be > 0 and burst >= 1")
	}
	if c.Wake.Count < 1 || c.Wake.Count > 20 {
		return fmt.Errorf("wake.count %d: want 1 to 20", c.Wake.Count)
	}
	if c.Wake.Deadline < time.Second || c.Wake.Deadline > time.Hour {
		return fmt.Errorf("wake.deadline %s: want 1s to 1h", c.Wake.Deadline)
	}
	if c.Shutdown.Deadline < time.Second || c.Shutdown.Deadline > time.Hour {
		return fmt.Errorf("shutdown.deadline %s: want 1s to 1h", c.Shutdown.Deadline)
	}
	if c.Probe.Interval < 100*time.Millisecond || c.Probe.FastInterval < 50*time.Millisecond || c.Probe.Timeout < 10*time.Millisecond {
		return fmt.Errorf("probe: interval must be at least 100ms, fast_interval 50ms, timeout 10ms")
	}
	if err := c.Notify.Validate(); err != nil {
		return fmt.Errorf("notify: %s", moonwake.ErrorMessage(err))
	}
	for _, a := range c.Passthrough.Listen {
		if err := checkUDPAddr(a); err != nil {
			return fmt.Errorf("passthrough.listen: %w", err)
		}
	}
	for _, a := range c.Relay.Listen {
		if err := checkUDPAddr(a); err != nil {
			return fmt.Errorf("relay.listen: %w", err)
		}
	}
	if err := c.validatePolicies(); err != nil {
		return err
	}
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("public_url %q: want an http or https URL, such as https://wake.example.net", c.PublicURL)
		}
		c.PublicURL = strings.TrimSuffix(c.PublicURL, "/")
	}
	if err := c.UI.validate(); err != nil {
		return fmt.Errorf("ui: %w", err)
	}
	if err := c.MQTT.validate(); err != nil {
		return fmt.Errorf("mqtt: %w", err)
	}
	if err := c.Retention.validate(); err != nil {
		return err
	}
	if err := c.TLS.validate(); err != nil {
		return err
	}
	if err := c.Metrics.validate(); err != nil {
		return err
	}
	if err := c.Events.validate(); err != nil {
		return err
	}
	if err := c.EventStreams.validate(); err != nil {
		return err
	}
	names := map[string]bool{}
	for i := range c.Machines {
		m := c.Machines[i].Domain()
		if err := m.Normalize(); err != nil {
			return fmt.Errorf("machines[%d]: %s", i, moonwake.ErrorMessage(err))
		}
		if names[m.Name] {
			return fmt.Errorf("machines[%d]: name %q is declared twice", i, m.Name)
		}
		names[m.Name] = true
	}
	return nil
}

// checkUDPAddr checks a UDP listen address: an optional IP and a port.
func checkUDPAddr(a string) error {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return fmt.Errorf("%q: want [ip]:port, such as :47009", a)
	}
	if host != "" {
		if _, err := netip.ParseAddr(host); err != nil {
			return fmt.Errorf("%q: %q is not an IP address", a, host)
		}
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q: port must be 1 to 65535", a)
	}
	return nil
}

// Level returns the slog level named by LogLevel.
func (c *Config) Level() (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return 0, fmt.Errorf("log_level %q: want debug, info, warn or error", c.LogLevel)
	}
	return l, nil
}

// Proxies parses TrustedProxies.
func (c *Config) Proxies() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range c.TrustedProxies {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, err2 := netip.ParseAddr(s)
			if err2 != nil {
				return nil, fmt.Errorf("trusted_proxies: %q is not an address or CIDR", s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// Domain converts a declared machine to the domain type.
func (m Machine) Domain() *moonwake.Machine {
	return &moonwake.Machine{
		Name: m.Name, MAC: m.MAC, Host: m.Host, Interface: m.Interface,
		Broadcast: m.Broadcast, Port: m.Port, Ports: m.Ports, Password: m.Password, Notify: m.Notify,
		Tags: m.Tags, Relay: m.Relay, Source: moonwake.SourceConfig,
	}
}

// FindMachine returns the declared machine called name.
func (c *Config) FindMachine(name string) (*moonwake.Machine, bool) {
	for _, m := range c.Machines {
		if m.Name == name {
			d := m.Domain()
			if d.Normalize() == nil {
				return d, true
			}
		}
	}
	return nil, false
}
