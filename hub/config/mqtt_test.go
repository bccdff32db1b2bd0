package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moonwake/moonwake"
)

func loadMQTT(t *testing.T, yaml string, env map[string]string) (MQTT, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "moonwake.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path, func(k string) string { return env[k] })
	return c.MQTT, err
}

func TestMQTTDefaultsAndEnv(t *testing.T) {
	m, err := loadMQTT(t, "mqtt:\n  broker: tcp://broker.lan:1883\n  username: moonwake\n", map[string]string{"MOONWAKE_MQTT_PASSWORD": "hunter2"})
	if err != nil {
		t.Fatal(err)
	}
	if !m.Enabled() || m.Password != "hunter2" || m.ClientID != "moonwake" || m.TopicPrefix != "moonwake" || m.DiscoveryPrefix != "homeassistant" {
		t.Errorf("mqtt %+v", m)
	}
	s := m.Scope()
	if len(s.Machines) != 0 || !slices.Equal(s.Actions, []string{moonwake.ActionWake, moonwake.ActionShutdown}) {
		t.Errorf("default scope %+v", s)
	}
	if !s.Allows(moonwake.ActionWake, "any-machine") || s.Allows(moonwake.ActionReboot, "any-machine") {
		t.Error("default scope: wake and shutdown on every machine")
	}

	m, err = loadMQTT(t, "mqtt:\n  broker: ssl://broker.lan:8883\n  machines: [gaming-pc]\n  actions: []\n", map[string]string{"MOONWAKE_MQTT_BROKER": "wss://broker.lan/mqtt"})
	if err != nil {
		t.Fatal(err)
	}
	if m.Broker != "wss://broker.lan/mqtt" {
		t.Errorf("broker %q: the environment wins", m.Broker)
	}
	if s := m.Scope(); s.Allows(moonwake.ActionWake, "gaming-pc") || len(s.Actions) != 0 {
		t.Errorf("actions: [] must allow nothing: %+v", s)
	}

	m, err = loadMQTT(t, "listen: :8080\n", nil)
	if err != nil || m.Enabled() {
		t.Errorf("no broker: bridge off (%v, %+v)", err, m)
	}
}

func TestMQTTValidation(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, []byte("not a certificate"), 0o600)
	for _, tc := range []struct{ yaml, want string }{
		{"broker: http://broker:1883", "scheme must be tcp, ssl, ws or wss"},
		{"broker: tcp://broker", "give the port"},
		{"broker: 'tcp://:1883'", "no host"},
		{"broker: tcp://user:s3cret@broker:1883", "not in the URL"},
		{"broker: tcp://broker:1883?x=1", "no query"},
		{"broker: tcp://broker:1883\n  password: s3cret", "username is empty"},
		{"username: x", "set broker"},
		{"broker: tcp://broker:1883\n  topic_prefix: a/+/b", "no MQTT wildcards"},
		{"broker: tcp://broker:1883\n  topic_prefix: /moonwake", "empty level"},
		{"broker: tcp://broker:1883\n  discovery_prefix: 'ha/'", "empty level"},
		{"broker: tcp://broker:1883\n  topic_prefix: $SYS", "broker's"},
		{"broker: tcp://broker:1883\n  topic_prefix: homeassistant", "different values"},
		{"broker: tcp://broker:1883\n  client_id: 'two words'", "client_id"},
		{"broker: tcp://broker:1883\n  machines: [Gaming PC]", "not a machine name"},
		{"broker: tcp://broker:1883\n  actions: [wake, explode]", `unknown action "explode"`},
		{"broker: tcp://broker:1883\n  actions: [reboot]", "only wake and shutdown"},
		{"broker: tcp://broker:1883\n  ca_file: " + ca, "for ssl:// and wss://"},
		{"broker: ssl://broker:8883\n  ca_file: " + ca, "no PEM certificate"},
		{"broker: ssl://broker:8883\n  ca_file: /nonexistent/ca.pem", "ca_file"},
		{"broker: tcp://broker:1883\n  colour: red", "field colour not found"},
	} {
		_, err := loadMQTT(t, "mqtt:\n  "+tc.yaml+"\n", nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.yaml, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: the error shows the password: %v", tc.yaml, err)
		}
	}
}
