package hass

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/internal/testlan"
)

const wait = 10 * time.Second

func decodeState(t *testing.T, p []byte) stateDoc {
	t.Helper()
	var d stateDoc
	if err := json.Unmarshal(p, &d); err != nil {
		t.Fatalf("state %q: %v", p, err)
	}
	return d
}

// Every retained discovery payload is one Home Assistant accepts, and the
// device, availability and state topics say what they should.
func TestDiscoveryAndAvailability(t *testing.T) {
	broker := brokerURL(t)
	s := loadSchema(t)
	f := newHubState(t, testMachine("gaming-pc", "AA-BB-CC-DD-EE-01"), testMachine("nas", "aabbccddee02"))
	o := testOptions(f, broker)
	o.PublicURL = "https://wake.example.net/"
	o.Scope = moonwake.Token{Machines: []string{"gaming-pc"}} // nas: read-only
	obs := newObserver(t, broker, o.DiscoveryPrefix+"/#", o.TopicPrefix+"/#")
	startBridge(t, o)
	tp := testTopics(o)

	obs.waitPayload(tp.status(), wait, func(p []byte) bool { return string(p) == Online })
	for _, e := range entities {
		topic := tp.config(e, "gaming-pc")
		p := obs.waitPayload(topic, wait, func(p []byte) bool { return len(p) > 0 })
		for _, problem := range s.validate(e.component, p) {
			t.Errorf("%s: %s", topic, problem)
		}
		var c map[string]any
		_ = json.Unmarshal(p, &c)
		if c["availability_topic"] != tp.status() {
			t.Errorf("%s: availability_topic %v", topic, c["availability_topic"])
		}
		dev := c["device"].(map[string]any)
		if got := dev["identifiers"].([]any); len(got) != 1 || got[0] != "moonwake_"+o.HubID+"_gaming-pc" {
			t.Errorf("identifiers %v", got)
		}
		if got := dev["connections"].([]any)[0].([]any); got[0] != "mac" || got[1] != "aa:bb:cc:dd:ee:01" {
			t.Errorf("connections %v", got)
		}
		if dev["configuration_url"] != "https://wake.example.net/machines/gaming-pc" || dev["manufacturer"] != "moonwake" || dev["sw_version"] != moonwake.Version {
			t.Errorf("device %v", dev)
		}
		if org := c["origin"].(map[string]any); org["name"] != "moonwake" {
			t.Errorf("origin %v", org)
		}
	}
	// The switch follows the true state and is never optimistic.
	sw, _ := obs.get(tp.config(entities[0], "gaming-pc"))
	var c map[string]any
	_ = json.Unmarshal(sw, &c)
	if c["optimistic"] != false || c["state_topic"] != tp.state("gaming-pc") || c["command_topic"] != tp.command("gaming-pc", "power") {
		t.Errorf("switch %v", c)
	}
	// Read-only machine: sensors, no buttons, no switch.
	for _, e := range entities {
		topic := tp.config(e, "nas")
		if e.component == componentSwitch || e.component == componentButton {
			time.Sleep(0) // published empty, or not at all
			if p, ok := obs.get(topic); ok && len(p) > 0 {
				t.Errorf("%s published outside the command scope", topic)
			}
			continue
		}
		obs.waitPayload(topic, wait, func(p []byte) bool { return len(p) > 0 })
	}
	st := decodeState(t, obs.waitPayload(tp.state("gaming-pc"), wait, func(p []byte) bool { return len(p) > 0 }))
	if st.State != moonwake.StateUnknown || st.Power != payloadNone || st.LastAction.Outcome != "none" {
		t.Errorf("initial state %+v", st)
	}
}

// The bridge says offline when it closes cleanly.
func TestOfflineOnClose(t *testing.T) {
	broker := brokerURL(t)
	f := newHubState(t, testMachine("pc", "aa:bb:cc:dd:ee:03"))
	o := testOptions(f, broker)
	obs := newObserver(t, broker, o.TopicPrefix+"/status")
	tb := startBridge(t, o)
	obs.waitPayload(o.TopicPrefix+"/status", wait, func(p []byte) bool { return string(p) == Online })
	tb.stop()
	obs.waitPayload(o.TopicPrefix+"/status", wait, func(p []byte) bool { return string(p) == Offline })
}

// Commands run the right action as the mqtt actor, within the scope only;
// the rest are refused, published on the error topic, and run nothing.
func TestCommands(t *testing.T) {
	broker := brokerURL(t)
	f := newHubState(t, testMachine("gaming-pc", "aa:bb:cc:dd:ee:01"), testMachine("nas", "aa:bb:cc:dd:ee:02"), testMachine("htpc", "aa:bb:cc:dd:ee:04"))
	o := testOptions(f, broker)
	o.Scope = moonwake.Token{Machines: []string{"gaming-pc", "htpc"}, Actions: []string{moonwake.ActionWake, moonwake.ActionShutdown}}
	obs := newObserver(t, broker, o.TopicPrefix+"/#")
	startBridge(t, o)
	tp := testTopics(o)
	obs.waitPayload(tp.state("gaming-pc"), wait, func(p []byte) bool { return len(p) > 0 })

	waitCalls := func(n int) []call {
		t.Helper()
		deadline := time.Now().Add(wait)
		for len(f.Calls()) < n && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		got := f.Calls()
		if len(got) != n {
			t.Fatalf("calls %+v, want %d", got, n)
		}
		return got
	}
	steps := []struct {
		entity, payload, action string
	}{
		{"power", "ON", moonwake.ActionWake},
		{"power", "OFF", moonwake.ActionShutdown},
		{"wake", "PRESS", moonwake.ActionWake},
		{"shutdown", "PRESS", moonwake.ActionShutdown},
	}
	for i, s := range steps {
		obs.publish(tp.command("gaming-pc", s.entity), false, s.payload)
		c := waitCalls(i + 1)[i]
		if c.Machine != "gaming-pc" || c.Action != s.action || c.Actor.Kind != "mqtt" || c.Actor.Name != o.ClientID {
			t.Errorf("%s %s: call %+v", s.entity, s.payload, c)
		}
	}
	// The action shows as the last action.
	obs.waitPayload(tp.state("gaming-pc"), wait, func(p []byte) bool {
		d := decodeState(t, p)
		return d.LastAction.Outcome == moonwake.StatusRunning && d.LastAction.Kind == moonwake.ActionShutdown && d.LastAction.Actor == "mqtt:"+o.ClientID
	})

	// Refused: a machine outside the scope, a payload that is not exact.
	obs.publish(tp.command("nas", "power"), false, "ON")
	p := obs.waitPayload(tp.errors(), wait, func(p []byte) bool { return strings.Contains(string(p), `"nas"`) })
	if !strings.Contains(string(p), "may not wake nas") {
		t.Errorf("error %s", p)
	}
	obs.waitPayload(tp.state("nas"), wait, func(p []byte) bool {
		d := decodeState(t, p)
		return d.Attributes.LastCommandError != nil && d.Attributes.LastCommandError.Command == moonwake.ActionWake
	})
	for _, payload := range []string{"on", " ON", "ON\n", "TOGGLE", ""} {
		obs.publish(tp.command("htpc", "power"), false, payload)
	}
	obs.publish(tp.command("htpc", "wake"), false, "press")
	obs.publish(tp.command("htpc", "reboot"), false, "PRESS")
	obs.publish(tp.command("ghost", "power"), false, "ON") // unknown: ignored
	obs.publish(tp.prefix+"/machine/Bad Name/power/set", false, "ON")
	obs.wait("refusals", wait, func() bool { return obs.seen(tp.errors()) >= 1+5+1+1+1 })
	time.Sleep(200 * time.Millisecond)
	if got := f.Calls(); len(got) != len(steps) {
		t.Errorf("refused commands ran: %+v", got[len(steps):])
	}
	if p, _ := obs.get(tp.errors()); strings.Contains(string(p), "Bad Name") && !strings.Contains(string(p), "not a machine name") {
		t.Errorf("error %s", p)
	}
}

// State and action events update the retained state document.
func TestStateUpdates(t *testing.T) {
	broker := brokerURL(t)
	f := newHubState(t, testMachine("gaming-pc", "aa:bb:cc:dd:ee:01"))
	f.actions["gaming-pc"] = []*moonwake.Action{{ID: "old", Kind: moonwake.ActionWake, Machine: "gaming-pc", Status: moonwake.StatusSucceeded, Actor: moonwake.Actor{Kind: "token", Name: "phone"}}}
	o := testOptions(f, broker)
	obs := newObserver(t, broker, o.TopicPrefix+"/#")
	startBridge(t, o)
	tp := testTopics(o)
	st := decodeState(t, obs.waitPayload(tp.state("gaming-pc"), wait, func(p []byte) bool { return len(p) > 0 }))
	if st.LastAction.Outcome != moonwake.StatusSucceeded || st.LastAction.ID != "old" || st.LastAction.Actor != "token:phone" {
		t.Errorf("last action from the audit log: %+v", st.LastAction)
	}

	for _, tc := range []struct {
		state            moonwake.PowerState
		power, streaming string
	}{
		{moonwake.StateWaking, "OFF", "OFF"},
		{moonwake.StateOn, "ON", "OFF"},
		{moonwake.StateStreaming, "ON", "ON"},
		{moonwake.StateIdle, "ON", "OFF"},
		{moonwake.StateShuttingDown, "ON", "OFF"},
		{moonwake.StateOff, "OFF", "OFF"},
		{moonwake.StateUnknown, "None", "None"},
	} {
		f.setState(t, "gaming-pc", tc.state, "because "+string(tc.state))
		d := decodeState(t, obs.waitPayload(tp.state("gaming-pc"), wait, func(p []byte) bool { return decodeState(t, p).State == tc.state }))
		if d.Power != tc.power || d.Streaming != tc.streaming || d.Attributes.Reason != "because "+string(tc.state) || d.Attributes.Since.IsZero() {
			t.Errorf("%s: %+v", tc.state, d)
		}
	}

	now := time.Now().UTC()
	failed := &moonwake.Action{ID: "a9", Kind: moonwake.ActionShutdown, Machine: "gaming-pc", Status: moonwake.StatusFailed,
		Detail: "still answering on 47989", CreatedAt: now, FinishedAt: &now, Actor: moonwake.Actor{Kind: "policy", Name: "idle-off"}}
	if _, err := f.events.Publish(moonwake.EventAction, "gaming-pc", failed); err != nil {
		t.Fatal(err)
	}
	d := decodeState(t, obs.waitPayload(tp.state("gaming-pc"), wait, func(p []byte) bool { return decodeState(t, p).LastAction.ID == "a9" }))
	if d.LastAction.Outcome != moonwake.StatusFailed || d.LastAction.Summary != "shutdown failed: still answering on 47989" || d.LastAction.FinishedAt == nil {
		t.Errorf("last action %+v", d.LastAction)
	}
	if !slices.Contains(actionOutcomes, d.LastAction.Outcome) || !slices.Contains(powerStates, string(d.State)) {
		t.Errorf("state outside the enum options: %+v", d)
	}
}

// A removed machine's entities are deleted (empty retained payloads) and its
// state cleared; an added one appears.
func TestMachineAddedAndRemoved(t *testing.T) {
	broker := brokerURL(t)
	f := newHubState(t, testMachine("gaming-pc", "aa:bb:cc:dd:ee:01"))
	o := testOptions(f, broker)
	obs := newObserver(t, broker, o.DiscoveryPrefix+"/#", o.TopicPrefix+"/#")
	startBridge(t, o)
	tp := testTopics(o)
	for _, e := range entities {
		obs.waitPayload(tp.config(e, "gaming-pc"), wait, func(p []byte) bool { return len(p) > 0 })
	}

	f.mu.Lock()
	f.machines["laptop"] = testMachine("laptop", "aa:bb:cc:dd:ee:05")
	f.mu.Unlock()
	f.events.Publish(moonwake.EventMachine, "laptop", moonwake.MachineChange{Machine: "laptop", Op: moonwake.MachineAdded})
	for _, e := range entities {
		obs.waitPayload(tp.config(e, "laptop"), wait, func(p []byte) bool { return len(p) > 0 })
	}

	f.mu.Lock()
	delete(f.machines, "gaming-pc")
	f.mu.Unlock()
	f.events.Publish(moonwake.EventMachine, "gaming-pc", moonwake.MachineChange{Machine: "gaming-pc", Op: moonwake.MachineRemoved})
	for _, e := range entities {
		obs.waitPayload(tp.config(e, "gaming-pc"), wait, func(p []byte) bool { return len(p) == 0 })
	}
	obs.waitPayload(tp.state("gaming-pc"), wait, func(p []byte) bool { return len(p) == 0 })

	// Retained for real: a newcomer sees the laptop and not the gaming PC.
	late := newObserver(t, broker, o.DiscoveryPrefix+"/#")
	late.waitPayload(tp.config(entities[0], "laptop"), wait, func(p []byte) bool { return len(p) > 0 })
	if _, ok := late.get(tp.config(entities[0], "gaming-pc")); ok {
		t.Error("the removed machine's discovery is still retained")
	}
}

// Home Assistant's birth message brings every discovery payload again.
func TestRepublishOnHomeAssistantOnline(t *testing.T) {
	broker := brokerURL(t)
	f := newHubState(t, testMachine("gaming-pc", "aa:bb:cc:dd:ee:01"))
	o := testOptions(f, broker)
	obs := newObserver(t, broker, o.DiscoveryPrefix+"/+/+/+/config", o.TopicPrefix+"/machine/+/state")
	startBridge(t, o)
	tp := testTopics(o)
	topic := tp.config(entities[0], "gaming-pc")
	obs.waitPayload(topic, wait, func(p []byte) bool { return len(p) > 0 })
	time.Sleep(200 * time.Millisecond)
	before, beforeState := obs.seen(topic), obs.seen(tp.state("gaming-pc"))
	obs.publish(tp.haStatus(), false, "offline")
	obs.publish(tp.haStatus(), false, "online")
	obs.wait("discovery again", wait, func() bool {
		return obs.seen(topic) > before && obs.seen(tp.state("gaming-pc")) > beforeState
	})
}

// Discovery payloads this bridge left retained for a machine deleted while
// it was away are cleared at connect; another hub's are left alone.
func TestStaleDiscoveryCleared(t *testing.T) {
	broker := brokerURL(t)
	f := newHubState(t, testMachine("gaming-pc", "aa:bb:cc:dd:ee:01"))
	o := testOptions(f, broker)
	tp := testTopics(o)
	obs := newObserver(t, broker, o.DiscoveryPrefix+"/#", o.TopicPrefix+"/#")
	ghost := testMachine("ghost", "aa:bb:cc:dd:ee:09")
	d := discoveryInfo{topics: tp, version: "old"}
	for _, e := range entities[:3] {
		b, _ := json.Marshal(d.config(e, ghost))
		obs.publish(tp.config(e, "ghost"), true, string(b))
	}
	obs.publish(tp.state("ghost"), true, `{"state":"off"}`)
	other := discoveryInfo{topics: topics{prefix: "another-hub", discovery: o.DiscoveryPrefix, hub: o.HubID}}
	b, _ := json.Marshal(other.config(entities[3], testMachine("elsewhere", "aa:bb:cc:dd:ee:0a")))
	otherTopic := tp.config(entities[3], "elsewhere")
	obs.publish(otherTopic, true, string(b))
	t.Cleanup(func() { obs.publish(otherTopic, true, "") })

	startBridge(t, o)
	for _, e := range entities[:3] {
		obs.waitPayload(tp.config(e, "ghost"), wait, func(p []byte) bool { return len(p) == 0 })
	}
	obs.waitPayload(tp.state("ghost"), wait, func(p []byte) bool { return len(p) == 0 })
	obs.waitPayload(tp.config(entities[0], "gaming-pc"), wait, func(p []byte) bool { return len(p) > 0 })
	time.Sleep(500 * time.Millisecond)
	if p, _ := obs.get(otherTopic); len(p) == 0 {
		t.Error("another hub's discovery payload was cleared")
	}
}

// The broker restarts (retained messages gone, persistence off): the
// bridge reconnects, publishes availability, discovery and states again,
// and commands work again.
func TestBrokerRestart(t *testing.T) {
	mq := startMosquitto(t, freePort(t))
	broker := "tcp://" + mq.addr
	f := newHubState(t, testMachine("gaming-pc", "aa:bb:cc:dd:ee:01"))
	o := testOptions(f, broker)
	tp := testTopics(o)
	tb := startBridge(t, o)
	obs := newObserver(t, broker, o.DiscoveryPrefix+"/#", o.TopicPrefix+"/#")
	obs.waitPayload(tp.status(), wait, func(p []byte) bool { return string(p) == Online })
	obs.waitPayload(tp.config(entities[0], "gaming-pc"), wait, func(p []byte) bool { return len(p) > 0 })

	mq.stop()
	time.Sleep(300 * time.Millisecond)
	mq.start()

	obs2 := newObserver(t, broker, o.DiscoveryPrefix+"/#", o.TopicPrefix+"/#")
	obs2.waitPayload(tp.status(), 3*wait, func(p []byte) bool { return string(p) == Online })
	for _, e := range entities {
		obs2.waitPayload(tp.config(e, "gaming-pc"), wait, func(p []byte) bool { return len(p) > 0 })
	}
	obs2.waitPayload(tp.state("gaming-pc"), wait, func(p []byte) bool { return len(p) > 0 })
	obs2.publish(tp.command("gaming-pc", "wake"), false, "PRESS")
	deadline := time.Now().Add(wait)
	for len(f.Calls()) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if len(f.Calls()) != 1 {
		t.Fatalf("no command after the restart: %+v", f.Calls())
	}
	if !strings.Contains(tb.logs.String(), "mqtt connection lost") {
		t.Error("the lost connection was not logged")
	}
}

// A connection that dies without a goodbye makes the broker publish the
// last will, offline, retained; the bridge then comes back online.
func TestLastWill(t *testing.T) {
	broker := brokerURL(t)
	px := newProxy(t, strings.TrimPrefix(broker, "tcp://"))
	f := newHubState(t, testMachine("gaming-pc", "aa:bb:cc:dd:ee:01"))
	o := testOptions(f, "tcp://"+px.ln.Addr().String())
	obs := newObserver(t, broker, o.TopicPrefix+"/status")
	startBridge(t, o)
	status := o.TopicPrefix + "/status"
	obs.waitSeen(status, Online, 1, wait)
	px.cut()
	obs.waitSeen(status, Offline, 1, wait) // only the will can say it: the bridge did not close
	obs.waitSeen(status, Online, 2, 3*wait)
}

// A broker that is down stops nothing: Run keeps trying, and ends and
// closes promptly.
func TestBrokerDown(t *testing.T) {
	f := newHubState(t, testMachine("pc", "aa:bb:cc:dd:ee:03"))
	o := testOptions(f, fmt.Sprintf("tcp://127.0.0.1:%d", freePort(t)))
	tb := startBridge(t, o)
	f.setState(t, "pc", moonwake.StateOn, "up") // nothing to publish to: dropped
	time.Sleep(700 * time.Millisecond)
	start := time.Now()
	tb.stop()
	if d := time.Since(start); d > 5*time.Second { // 250ms, but CI machines are slow under -race
		t.Errorf("stopping took %s", d)
	}
	if !strings.Contains(tb.logs.String(), "component=mqtt") {
		t.Errorf("log %s", tb.logs.String())
	}
}

// A burst of events (more than a subscription buffers) never blocks the
// hub's event broker; the bridge coalesces, or catches up after falling
// behind, and ends on the last state.
func TestEventBurst(t *testing.T) {
	broker := brokerURL(t)
	f := newHubState(t, testMachine("gaming-pc", "aa:bb:cc:dd:ee:01"), testMachine("nas", "aa:bb:cc:dd:ee:02"))
	o := testOptions(f, broker)
	obs := newObserver(t, broker, o.TopicPrefix+"/#")
	startBridge(t, o)
	tp := testTopics(o)
	obs.waitPayload(tp.state("nas"), wait, func(p []byte) bool { return len(p) > 0 })

	start := time.Now()
	states := []moonwake.PowerState{moonwake.StateOn, moonwake.StateStreaming, moonwake.StateIdle}
	for i := range 5000 {
		f.setState(t, []string{"gaming-pc", "nas"}[i%2], states[i%3], fmt.Sprint(i))
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("publishing 5000 events took %s", d)
	}
	f.setState(t, "gaming-pc", moonwake.StateOff, "final")
	f.setState(t, "nas", moonwake.StateOff, "final")
	for _, name := range []string{"gaming-pc", "nas"} {
		obs.waitPayload(tp.state(name), wait, func(p []byte) bool {
			d := decodeState(t, p)
			return d.State == moonwake.StateOff && d.Attributes.Reason == "final"
		})
	}
	if n := obs.seen(tp.state("gaming-pc")); n > 2600 {
		t.Errorf("%d state messages for 2500 changes: nothing coalesced", n)
	}
}

// A retained command, left on the broker before the bridge starts, is not
// run: it is reported on the error topic and cleared from the broker. A
// command sent as it should be (not retained) still runs.
func TestRetainedCommandIgnored(t *testing.T) {
	broker := brokerURL(t)
	f := newHubState(t, testMachine("pc", "aa:bb:cc:dd:ee:01"))
	o := testOptions(f, broker)
	tp := testTopics(o)
	obs := newObserver(t, broker, o.TopicPrefix+"/#")
	shutdown, power := tp.command("pc", "shutdown"), tp.command("pc", "power")
	obs.publish(shutdown, true, "PRESS")
	obs.publish(power, true, "ON")
	t.Cleanup(func() { obs.publish(shutdown, true, ""); obs.publish(power, true, "") })
	obs.waitPayload(shutdown, wait, func(p []byte) bool { return string(p) == "PRESS" })

	tb := startBridge(t, o)
	obs.waitPayload(shutdown, wait, func(p []byte) bool { return len(p) == 0 })
	obs.waitPayload(power, wait, func(p []byte) bool { return len(p) == 0 })
	obs.wait("two errors", wait, func() bool { return obs.seen(tp.errors()) >= 2 })
	if p, _ := obs.get(tp.errors()); !strings.Contains(string(p), "retained command ignored") || !strings.Contains(string(p), `"machine":"pc"`) {
		t.Errorf("error %s", p)
	}
	// Cleared for real: a newcomer gets no retained command.
	late := newObserver(t, broker, tp.prefix+"/machine/+/+/set")
	obs.waitPayload(tp.state("pc"), wait, func(p []byte) bool { return len(p) > 0 })
	time.Sleep(300 * time.Millisecond)
	for _, topic := range []string{shutdown, power} {
		if p, ok := late.get(topic); ok {
			t.Errorf("%s is still retained: %q", topic, p)
		}
	}

	obs.publish(tp.command("pc", "wake"), false, "PRESS")
	deadline := time.Now().Add(wait)
	for len(f.Calls()) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	if got := f.Calls(); len(got) != 1 || got[0].Action != moonwake.ActionWake {
		t.Fatalf("calls %+v: want the one wake", got)
	}
	logs := tb.logs.String()
	if n := strings.Count(logs, "retained command ignored"); n != 2 {
		t.Errorf("%d warnings about retained commands, want one per topic:\n%s", n, logs)
	}
	if strings.Contains(logs, "invalid command") {
		t.Errorf("clearing a retained command was taken for a command:\n%s", logs)
	}
	if n := obs.seen(tp.errors()); n != 2 {
		t.Errorf("%d errors, want 2", n)
	}
}

// The warning about a retained command comes once per topic, however
// often one comes.
func TestRetainedCommandWarnsOncePerTopic(t *testing.T) {
	f := newHubState(t, testMachine("pc", "aa:bb:cc:dd:ee:01"))
	o := testOptions(f, "tcp://127.0.0.1:1")
	logs := new(testlan.Buffer)
	o.Logger = slog.New(slog.NewTextHandler(logs, nil))
	b, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		b.command(t.Context(), message{topic: b.t.command("pc", "shutdown"), payload: []byte("PRESS"), retained: true})
	}
	b.command(t.Context(), message{topic: b.t.command("pc", "wake"), payload: []byte("PRESS"), retained: true})
	if n := strings.Count(logs.String(), "retained command ignored"); n != 2 {
		t.Errorf("%d warnings, want 2:\n%s", n, logs)
	}
	if len(f.Calls()) != 0 {
		t.Errorf("calls %+v", f.Calls())
	}
}

// Two hubs on one broker with the same prefixes but different hub ids:
// their nodes differ, neither clears the other's entities at connect, and
// each warns about the other.
func TestTwoHubsSamePrefix(t *testing.T) {
	broker := brokerURL(t)
	fa := newHubState(t, testMachine("gaming-pc", "aa:bb:cc:dd:ee:01"))
	fb := newHubState(t, testMachine("nas", "aa:bb:cc:dd:ee:02"), testMachine("gaming-pc", "aa:bb:cc:dd:ee:03"))
	oa := testOptions(fa, broker)
	ob := testOptions(fb, broker)
	ob.TopicPrefix, ob.DiscoveryPrefix = oa.TopicPrefix, oa.DiscoveryPrefix
	ta, tb := testTopics(oa), testTopics(ob)
	obs := newObserver(t, broker, oa.DiscoveryPrefix+"/#")
	t.Cleanup(func() { // leave nothing retained
		for _, tp := range []topics{ta, tb} {
			for _, name := range []string{"gaming-pc", "nas"} {
				for _, e := range entities {
					obs.publish(tp.config(e, name), true, "")
				}
			}
		}
	})
	ba := startBridge(t, oa)
	for _, e := range entities {
		obs.waitPayload(ta.config(e, "gaming-pc"), wait, func(p []byte) bool { return len(p) > 0 })
	}
	bb := startBridge(t, ob)
	for _, name := range []string{"nas", "gaming-pc"} {
		for _, e := range entities {
			obs.waitPayload(tb.config(e, name), wait, func(p []byte) bool { return len(p) > 0 })
		}
	}
	// B's scan saw A's gaming-pc, a machine B does not... have under A's id.
	// A restarts and scans B's nas, which A does not have.
	warned := func(l *testlan.Buffer) bool {
		return strings.Contains(l.String(), "another moonwake hub publishes under the same topic prefix")
	}
	obs.wait("B warns about A", wait, func() bool { return warned(bb.logs) })
	ba.stop()
	ba = startBridge(t, oa)
	obs.wait("A warns about B", wait, func() bool { return warned(ba.logs) })
	time.Sleep(oa.ScanWindow + 500*time.Millisecond) // past both scans and their clearing
	for _, c := range []struct {
		tp   topics
		name string
	}{{ta, "gaming-pc"}, {tb, "gaming-pc"}, {tb, "nas"}} {
		for _, e := range entities {
			if p, _ := obs.get(c.tp.config(e, c.name)); len(p) == 0 {
				t.Errorf("hub %s: %s was cleared", c.tp.hub, c.tp.config(e, c.name))
			}
		}
	}
	if ta.config(entities[0], "gaming-pc") == tb.config(entities[0], "gaming-pc") {
		t.Error("both hubs publish gaming-pc on one topic")
	}
	if !strings.Contains(ba.logs.String(), "other_hub_id="+ob.HubID) {
		t.Errorf("A's warning does not name B:\n%s", ba.logs)
	}
}

// A storm of Home Assistant birth messages (anyone on the broker can send
// them) makes a bounded number of full republishes: at most one per
// RepublishInterval, the requests in between coalesced.
func TestRepublishStormCoalesced(t *testing.T) {
	broker := brokerURL(t)
	f := newHubState(t, testMachine("gaming-pc", "aa:bb:cc:dd:ee:01"))
	o := testOptions(f, broker)
	o.RepublishInterval = time.Second
	tp := testTopics(o)
	obs := newObserver(t, broker, o.DiscoveryPrefix+"/+/+/+/config")
	tb := startBridge(t, o)
	topic := tp.config(entities[0], "gaming-pc")
	obs.waitPayload(topic, wait, func(p []byte) bool { return len(p) > 0 })
	before := obs.seen(topic)

	start := time.Now()
	for range 100 {
		obs.publish(tp.haStatus(), false, Online)
	}
	elapsed := time.Since(start)
	obs.wait("a republish", wait, func() bool { return obs.seen(topic) > before })
	time.Sleep(o.RepublishInterval + time.Second) // a pending one comes at most one interval after the last request
	n := obs.seen(topic) - before
	if most := 2 + int(elapsed/o.RepublishInterval); n > most {
		t.Errorf("%d republishes for 100 birth messages in %s, want at most %d", n, elapsed, most)
	}
	if k := strings.Count(tb.logs.String(), "Home Assistant came online"); k > logBurst+1+int(elapsed/logEvery) {
		t.Errorf("%d log lines for 100 birth messages", k)
	}
}

// A flood of invalid commands logs a few lines, not one each.
func TestInvalidCommandLogsLimited(t *testing.T) {
	broker := brokerURL(t)
	f := newHubState(t, testMachine("pc", "aa:bb:cc:dd:ee:01"))
	o := testOptions(f, broker)
	tp := testTopics(o)
	obs := newObserver(t, broker, o.TopicPrefix+"/#")
	tb := startBridge(t, o)
	obs.waitPayload(tp.state("pc"), wait, func(p []byte) bool { return len(p) > 0 })
	start := time.Now()
	for range 100 {
		obs.publish(tp.command("pc", "power"), false, "TOGGLE")
	}
	// Answered on the error topic, unless dropped as too many queued.
	obs.wait("errors", wait, func() bool { return obs.seen(tp.errors()) > 0 })
	for n := -1; n != obs.seen(tp.errors()); time.Sleep(500 * time.Millisecond) {
		n = obs.seen(tp.errors())
	}
	logs := tb.logs.String()
	if n, most := strings.Count(logs, "invalid command")+strings.Count(logs, "command dropped"), logBurst+1+int(time.Since(start)/logEvery); n > most {
		t.Errorf("%d log lines for 100 invalid commands, want at most %d", n, most)
	}
	if len(f.Calls()) != 0 {
		t.Errorf("calls %+v", f.Calls())
	}
}

// The next line through the limiter counts those held back.
func TestLogLimiterCountsSuppressed(t *testing.T) {
	logs := new(testlan.Buffer)
	lg := slog.New(slog.NewTextHandler(logs, nil))
	l := &logLimiter{lim: rate.NewLimiter(rate.Every(time.Hour), 1)}
	for range 4 {
		l.log(lg, slog.LevelWarn, "noise")
	}
	l.lim.SetLimit(rate.Inf)
	l.log(lg, slog.LevelWarn, "noise")
	if got := logs.String(); strings.Count(got, "noise") != 2 || !strings.Contains(got, "suppressed=3") {
		t.Errorf("log:\n%s", got)
	}
}
