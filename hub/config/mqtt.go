package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/hub/hass"
)

// MQTT configures the bridge to Home Assistant over an MQTT broker. An
// empty Broker turns the bridge off.
type MQTT struct {
	// Broker is the broker's URL: tcp://host:1883, ssl://host:8883,
	// ws://host:80/mqtt or wss://host:443/mqtt.
	Broker   string `yaml:"broker"`
	Username string `yaml:"username"`
	// Password is never logged; MOONWAKE_MQTT_PASSWORD keeps it out of the
	// file.
	Password string `yaml:"password"`
	ClientID string `yaml:"client_id"` // default moonwake; unique per broker
	// TopicPrefix roots the bridge's topics (default moonwake);
	// DiscoveryPrefix is Home Assistant's (default homeassistant).
	TopicPrefix     string `yaml:"topic_prefix"`
	DiscoveryPrefix string `yaml:"discovery_prefix"`
	// Machines and Actions scope what commands over MQTT may do, as for an
	// API token: no machines means every machine; actions left out means
	// wake and shutdown, and an empty list (actions: []) allows nothing.
	Machines []string `yaml:"machines"`
	Actions  []string `yaml:"actions"`
	// CAFile, for ssl:// and wss://, holds the PEM certificates that may
	// sign the broker's certificate, instead of the system's.
	CAFile string `yaml:"ca_file"`
}

// Enabled reports whether a broker is configured.
func (m *MQTT) Enabled() bool { return m.Broker != "" }

func (m *MQTT) applyEnv(getenv func(string) string) error {
	if v := getenv("MOONWAKE_MQTT_BROKER"); v != "" {
		m.Broker = v
	}
	if v := getenv("MOONWAKE_MQTT_USERNAME"); v != "" {
		m.Username = v
	}
	if v := getenv("MOONWAKE_MQTT_PASSWORD"); v != "" {
		m.Password = v
	}
	return nil
}

// validate checks the settings and fills in the defaults. Messages never
// include the password, nor credentials written into the broker URL.
func (m *MQTT) validate() error {
	if m.Broker == "" {
		if m.Username != "" || m.Password != "" || len(m.Machines) > 0 || len(m.Actions) > 0 || m.CAFile != "" {
			return errors.New("broker: empty, yet other mqtt settings are given; set broker (tcp://host:1883) to turn the bridge on")
		}
		return nil
	}
	u, err := url.Parse(m.Broker)
	if err != nil {
		return fmt.Errorf("broker: not a URL; want tcp://host:1883, ssl://host:8883, ws://host/mqtt or wss://host/mqtt")
	}
	shown := moonwake.RedactURL(m.Broker)
	switch u.Scheme {
	case "tcp", "ssl", "ws", "wss":
	default:
		return fmt.Errorf("broker %q: scheme must be tcp, ssl, ws or wss", shown)
	}
	if u.Hostname() == "" {
		return fmt.Errorf("broker %q: no host", shown)
	}
	if p := u.Port(); p == "" && (u.Scheme == "tcp" || u.Scheme == "ssl") {
		return fmt.Errorf("broker %q: give the port, such as %s://%s:%s", shown, u.Scheme, u.Hostname(), map[string]string{"tcp": "1883", "ssl": "8883"}[u.Scheme])
	}
	if u.User != nil {
		return fmt.Errorf("broker %q: put credentials in mqtt.username and mqtt.password (or MOONWAKE_MQTT_PASSWORD), not in the URL", shown)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("broker %q: no query or fragment", shown)
	}
	if m.Password != "" && m.Username == "" {
		return errors.New("password is set but username is empty")
	}
	if m.ClientID == "" {
		m.ClientID = "moonwake"
	}
	if len(m.ClientID) > 64 || strings.ContainsFunc(m.ClientID, func(r rune) bool { return r <= ' ' || r > '~' }) {
		return fmt.Errorf("client_id %q: want 1 to 64 printable ASCII characters without spaces", m.ClientID)
	}
	if m.TopicPrefix == "" {
		m.TopicPrefix = "moonwake"
	}
	if m.DiscoveryPrefix == "" {
		m.DiscoveryPrefix = "homeassistant"
	}
	for _, p := range []struct{ key, v string }{{"topic_prefix", m.TopicPrefix}, {"discovery_prefix", m.DiscoveryPrefix}} {
		if err := hass.CheckTopicPrefix(p.v); err != nil {
			return fmt.Errorf("%s: %w", p.key, err)
		}
	}
	if m.TopicPrefix == m.DiscoveryPrefix {
		return fmt.Errorf("topic_prefix and discovery_prefix are both %q; give them different values", m.TopicPrefix)
	}
	for _, name := range m.Machines {
		if !moonwake.ValidName(name) {
			return fmt.Errorf("machines: %q is not a machine name", name)
		}
	}
	for _, a := range m.Actions {
		if !slices.Contains(moonwake.KnownActions, a) {
			return fmt.Errorf("actions: unknown action %q (known: %s)", a, strings.Join(moonwake.KnownActions, ", "))
		}
		if a != moonwake.ActionWake && a != moonwake.ActionShutdown {
			return fmt.Errorf("actions: %q cannot be asked for over MQTT (only wake and shutdown have entities)", a)
		}
	}
	if m.CAFile != "" {
		if u.Scheme != "ssl" && u.Scheme != "wss" {
			return fmt.Errorf("ca_file is for ssl:// and wss:// brokers, not %s://", u.Scheme)
		}
		if _, err := m.TLS(); err != nil {
			return err
		}
	}
	return nil
}

// Scope returns the command scope as a token: the same check as the API's.
func (m *MQTT) Scope() moonwake.Token {
	t := moonwake.Token{Name: "mqtt", Machines: slices.Clone(m.Machines), Actions: slices.Clone(m.Actions)}
	if t.Actions == nil { // actions: [] in the file makes the entities read-only
		t.Actions = []string{moonwake.ActionWake, moonwake.ActionShutdown}
	}
	return t
}

// TLS returns the TLS settings for the broker: nil for the defaults (the
// system's roots), or a pool from CAFile.
func (m *MQTT) TLS() (*tls.Config, error) {
	if m.CAFile == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(m.CAFile)
	if err != nil {
		return nil, fmt.Errorf("ca_file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("ca_file %s: no PEM certificate in it", m.CAFile)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}
