//go:build linux

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/moonwake/moonwake/internal/testlan"
)

// brokerPort is where the e2e tests' mosquitto listens, on loopback in the
// hub's namespace.
const brokerPort = 1883

// startBroker runs mosquitto on 127.0.0.1:brokerPort in h's namespace and
// returns once it listens. Without mosquitto the test skips, unless
// MOONWAKE_TEST_REQUIRE names mqtt (CI), where it fails.
func startBroker(t *testing.T, h *testlan.Host) {
	t.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		if bin, err = exec.LookPath("/usr/sbin/mosquitto"); err != nil {
			if strings.Contains(os.Getenv("MOONWAKE_TEST_REQUIRE"), "mqtt") {
				t.Fatal("mosquitto is not installed")
			}
			t.Skip("mosquitto is not installed")
		}
	}
	conf := filepath.Join(t.TempDir(), "mosquitto.conf")
	// user root: started as root, mosquitto would switch to its own user;
	// it writes nothing here anyway.
	body := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\nuser root\nlog_dest stderr\n", brokerPort)
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	logs := new(testlan.Buffer)
	cmd := h.Exec(context.Background(), bin, "-c", conf)
	cmd.Stderr = logs
	p, err := h.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop() })
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := dialIn(h, fmt.Sprintf("127.0.0.1:%d", brokerPort)); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("mosquitto did not listen: %s", logs)
		}
	}
}

func dialIn(h *testlan.Host, addr string) (net.Conn, error) {
	var c net.Conn
	err := h.Do(func() error {
		var err error
		c, err = net.DialTimeout("tcp", addr, 5*time.Second)
		return err
	})
	return c, err
}

// haClient is Home Assistant's side of the broker, in h's namespace: it
// records the last retained or live message on every topic it sees.
type haClient struct {
	c    mqtt.Client
	mu   sync.Mutex
	last map[string][]byte
}

func newHAClient(t *testing.T, h *testlan.Host, filters ...string) *haClient {
	t.Helper()
	ha := &haClient{last: map[string][]byte{}}
	o := mqtt.NewClientOptions().AddBroker(fmt.Sprintf("tcp://127.0.0.1:%d", brokerPort)).SetClientID("home-assistant").
		SetCleanSession(true).SetAutoReconnect(false).
		SetCustomOpenConnectionFn(func(u *url.URL, _ mqtt.ClientOptions) (net.Conn, error) { return dialIn(h, u.Host) })
	ha.c = mqtt.NewClient(o)
	if tok := ha.c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("connect to the broker: %v", tok.Error())
	}
	t.Cleanup(func() { ha.c.Disconnect(100) })
	for _, f := range filters {
		tok := ha.c.Subscribe(f, 1, func(_ mqtt.Client, m mqtt.Message) {
			ha.mu.Lock()
			ha.last[m.Topic()] = slices.Clone(m.Payload())
			ha.mu.Unlock()
		})
		if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("subscribe %s: %v", f, tok.Error())
		}
	}
	return ha
}

// find returns the topics seen whose name satisfies ok, with their last
// payload.
func (ha *haClient) find(ok func(topic string) bool) map[string][]byte {
	ha.mu.Lock()
	defer ha.mu.Unlock()
	out := map[string][]byte{}
	for t, p := range ha.last {
		if ok(t) {
			out[t] = p
		}
	}
	return out
}

// waitFor waits until cond holds for what ha has seen.
func (ha *haClient) waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; seen %d topics", what, len(ha.find(func(string) bool { return true })))
		}
	}
}

// TestHomeAssistantGroup runs the hub with its MQTT bridge on a broker in
// its namespace and two emulated PCs tagged "den": the tag appears in Home
// Assistant's discovery as a group device; pressing its Wake button (a
// message on its command topic) starts a group action that wakes both
// PCs, verified, recorded in the audit log as the bridge's; the progress
// sensor ends at 2/2 and the switch is on. The tag taken off both PCs, the
// group's retained discovery payloads are cleared.
func TestHomeAssistantGroup(t *testing.T) {
	t.Parallel()
	lan := testlan.New(t)
	hubHost := lan.AddHost("hub")
	pcs := []*pc{newPC(t, lan, "pca", pcOptions{}), newPC(t, lan, "pcb", pcOptions{})}
	startBroker(t, hubHost)
	cfg := filepath.Join(t.TempDir(), "moonwake.yaml")
	if err := os.WriteFile(cfg, []byte("probe:\n  fast_interval: 100ms\n  timeout: 300ms\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	hp := startHub(t, hubHost, t.TempDir(), "MOONWAKE_CONFIG="+cfg, "MOONWAKE_WAKE_DEADLINE=15s",
		"MOONWAKE_PROBE_INTERVAL=500ms", fmt.Sprintf("MOONWAKE_MQTT_BROKER=tcp://127.0.0.1:%d", brokerPort))
	for i, p := range pcs {
		hp.addMachine(t, map[string]any{
			"name": []string{"pc-a", "pc-b"}[i], "mac": p.MAC().String(), "host": p.Addr().String(),
			"interface": testlan.Iface, "tags": []string{"den"},
		})
	}
	for _, name := range []string{"pc-a", "pc-b"} {
		hp.waitPower(t, name, 20*time.Second, "off", func(w wirePower) bool { return w.State == "off" })
	}

	ha := newHAClient(t, hubHost, "homeassistant/#", "moonwake/#")
	groupConfigs := func() map[string][]byte {
		return ha.find(func(topic string) bool {
			return strings.HasPrefix(topic, "homeassistant/") && strings.Contains(topic, "-group-den/")
		})
	}
	ha.waitFor(t, "the group's discovery", 10*time.Second, func() bool {
		n := 0
		for _, p := range groupConfigs() {
			if len(p) > 0 {
				n++
			}
		}
		return n == 4 // switch, wake, shutdown, progress: no sleep outside the default scope
	})
	var wake struct {
		CommandTopic string `json:"command_topic"`
	}
	for topic, p := range groupConfigs() {
		if strings.HasPrefix(topic, "homeassistant/button/") && strings.HasSuffix(topic, "/wake/config") {
			if err := json.Unmarshal(p, &wake); err != nil {
				t.Fatal(err)
			}
		}
	}
	if wake.CommandTopic != "moonwake/group/den/wake/set" {
		t.Fatalf("wake button's command topic %q", wake.CommandTopic)
	}

	pressed := time.Now()
	if tok := ha.c.Publish(wake.CommandTopic, 1, false, "PRESS"); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	type groupState struct {
		Power    string `json:"power"`
		Progress struct {
			Summary string `json:"summary"`
			Status  string `json:"status"`
			Detail  string `json:"detail"`
		} `json:"progress"`
	}
	var gs groupState
	ha.waitFor(t, "the group's wake to end", 40*time.Second, func() bool {
		p := ha.find(func(topic string) bool { return topic == "moonwake/group/den/state" })["moonwake/group/den/state"]
		return json.Unmarshal(p, &gs) == nil && gs.Progress.Status == "succeeded" && gs.Power == "ON"
	})
	t.Logf("group wake from Home Assistant: %s in %s (%s)", gs.Progress.Summary, time.Since(pressed).Round(time.Millisecond), gs.Progress.Detail)
	if gs.Progress.Summary != "2/2" {
		t.Errorf("progress %+v", gs.Progress)
	}
	for _, p := range pcs {
		if p.State() != pcOn {
			t.Errorf("pc %s is %s", p.host.Name(), p.State())
		}
	}
	// The audit log: each PC's wake, verified, by the bridge.
	var log struct {
		Actions []struct {
			Kind    string `json:"kind"`
			Machine string `json:"machine"`
			Status  string `json:"status"`
			Actor   struct {
				Kind string `json:"kind"`
				Name string `json:"name"`
			} `json:"actor"`
		} `json:"actions"`
	}
	hp.must(t, http.StatusOK, "GET", "/api/v1/actions", hp.admin, nil).decode(t, &log)
	woken := map[string]bool{}
	for _, a := range log.Actions {
		if a.Kind == "wake" && a.Status == "succeeded" && a.Actor.Kind == "mqtt" && a.Actor.Name == "moonwake" {
			woken[a.Machine] = true
		}
	}
	if !woken["pc-a"] || !woken["pc-b"] {
		t.Errorf("audit log %+v", log.Actions)
	}

	// The tag goes from both PCs: the group's device goes from Home
	// Assistant.
	for _, name := range []string{"pc-a", "pc-b"} {
		hp.must(t, http.StatusOK, "PATCH", "/api/v1/machines/"+name, hp.admin, map[string]any{"tags": []string{}})
	}
	ha.waitFor(t, "the group's discovery cleared", 10*time.Second, func() bool {
		for _, p := range groupConfigs() {
			if len(p) > 0 {
				return false
			}
		}
		return true
	})
}
