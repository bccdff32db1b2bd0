package hub_test

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/hub/config"
)

// A hub with a broker configured: a machine created through the API
// appears in Home Assistant's discovery, a command over MQTT sends the
// magic packet and is in the audit log as the mqtt actor, a deleted
// machine disappears, and a stopped hub says offline.
func TestHubMQTTBridge(t *testing.T) {
	broker := os.Getenv("MOONWAKE_TEST_MQTT")
	if broker == "" {
		if strings.Contains(os.Getenv("MOONWAKE_TEST_REQUIRE"), "mqtt") {
			t.Fatal("MOONWAKE_TEST_MQTT is not set")
		}
		t.Skip("no MQTT broker: set MOONWAKE_TEST_MQTT=tcp://127.0.0.1:1883")
	}
	b := make([]byte, 4)
	rand.Read(b)
	id := hex.EncodeToString(b)
	cfg := newConfig(t)
	cfg.PublicURL = "https://wake.example.net"
	cfg.MQTT = config.MQTT{Broker: broker, ClientID: "hub-test-" + id, TopicPrefix: "mwhub-" + id, DiscoveryPrefix: "hahub-" + id}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	seen := map[string][]byte{}
	obs := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker).SetClientID("obs-" + id))
	if tok := obs.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("observer: %v", tok.Error())
	}
	defer obs.Disconnect(100)
	for _, f := range []string{cfg.MQTT.TopicPrefix + "/#", cfg.MQTT.DiscoveryPrefix + "/#"} {
		obs.Subscribe(f, 1, func(_ mqtt.Client, m mqtt.Message) {
			mu.Lock()
			seen[m.Topic()] = m.Payload()
			mu.Unlock()
		}).WaitTimeout(5 * time.Second)
	}
	waitFor := func(topic string, ok func([]byte) bool) []byte {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			mu.Lock()
			p, has := seen[topic]
			mu.Unlock()
			if has && ok(p) {
				return p
			}
		}
		t.Fatalf("timed out waiting for %s", topic)
		return nil
	}
	nonEmpty := func(p []byte) bool { return len(p) > 0 }

	th := startHub(t, cfg)
	status := cfg.MQTT.TopicPrefix + "/status"
	waitFor(status, func(p []byte) bool { return string(p) == "online" })

	r := newReceiver(t)
	th.addMachine("gaming-pc", "AA:BB:CC:DD:EE:42", r, nil)
	// The node is moonwake_<hub id>_<machine>, the hub id from its key.
	sw := ""
	for deadline := time.Now().Add(10 * time.Second); sw == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		mu.Lock()
		for topic, p := range seen {
			if strings.HasPrefix(topic, cfg.MQTT.DiscoveryPrefix+"/switch/moonwake_") && strings.HasSuffix(topic, "_gaming-pc/power/config") && len(p) > 0 {
				sw = topic
			}
		}
		mu.Unlock()
	}
	if node := strings.Split(sw, "/"); len(node) != 5 || !regexp.MustCompile(`^moonwake_[0-9a-f]{10}_gaming-pc$`).MatchString(node[2]) {
		t.Fatalf("switch discovery topic %q", sw)
	}
	var c struct {
		CommandTopic string `json:"command_topic"`
		Device       struct {
			ConfigurationURL string     `json:"configuration_url"`
			Connections      [][]string `json:"connections"`
		} `json:"device"`
	}
	json.Unmarshal(waitFor(sw, nonEmpty), &c)
	if c.Device.ConfigurationURL != "https://wake.example.net/machines/gaming-pc" || c.Device.Connections[0][1] != "aa:bb:cc:dd:ee:42" {
		t.Errorf("device %+v", c.Device)
	}
	waitFor(cfg.MQTT.TopicPrefix+"/machine/gaming-pc/state", nonEmpty)

	obs.Publish(c.CommandTopic, 1, false, "ON").WaitTimeout(5 * time.Second)
	wantPacket(t, r.next(5*time.Second), "aa:bb:cc:dd:ee:42", "")
	// The packet may go out before the action is in the audit log.
	var list struct{ Actions []moonwake.Action }
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		th.must(200, "GET", "/api/v1/actions?machine=gaming-pc", th.Admin, nil).decode(t, &list)
		if len(list.Actions) > 0 || time.Now().After(deadline) {
			break
		}
	}
	if actions := list.Actions; len(actions) != 1 || actions[0].Kind != moonwake.ActionWake || actions[0].Actor.Kind != "mqtt" || actions[0].Actor.Name != cfg.MQTT.ClientID {
		t.Errorf("actions %+v", list.Actions)
	}
	waitFor(cfg.MQTT.TopicPrefix+"/machine/gaming-pc/state", func(p []byte) bool {
		return strings.Contains(string(p), `"kind":"wake"`)
	})

	th.must(204, "DELETE", "/api/v1/machines/gaming-pc", th.Admin, nil)
	waitFor(sw, func(p []byte) bool { return len(p) == 0 })

	th.Stop()
	waitFor(status, func(p []byte) bool { return string(p) == "offline" })
}
