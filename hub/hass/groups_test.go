package hass

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/hub/groups"
	"github.com/moonwake/moonwake/mock"
)

func taggedMachine(name, mac string, tags ...string) *moonwake.Machine {
	m := testMachine(name, mac)
	m.Tags = tags
	if err := m.Normalize(); err != nil {
		panic(err)
	}
	return m
}

// waitAction is the power service's Wait over the test hub's actions:
// it returns once the action has ended, or when ctx ends.
func (f *hubState) waitAction(ctx context.Context, id string) (*moonwake.Action, error) {
	for {
		f.mu.Lock()
		var found *moonwake.Action
		for _, as := range f.actions {
			for _, a := range as {
				if a.ID == id {
					c := *a
					found = &c
				}
			}
		}
		f.mu.Unlock()
		if found == nil {
			return nil, moonwake.Errorf(moonwake.ENotFound, "no action %q", id)
		}
		if found.Done() {
			return found, nil
		}
		select {
		case <-ctx.Done():
			return found, nil
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// finishAll ends every running action of machine with status, as the
// power service would once it verified the outcome, and says so in an
// event.
func (f *hubState) finishAll(t *testing.T, machine, status string) {
	t.Helper()
	f.mu.Lock()
	var done []moonwake.Action
	for _, a := range f.actions[machine] {
		if !a.Done() {
			now := time.Now().UTC()
			a.Status, a.Detail, a.FinishedAt = status, "verified", &now
			done = append(done, *a)
		}
	}
	f.mu.Unlock()
	for _, a := range done {
		if _, err := f.events.Publish(moonwake.EventAction, machine, a); err != nil {
			t.Fatal(err)
		}
	}
}

// setInfo sets a machine's power info as the monitor would, with its
// event.
func (f *hubState) setInfo(t *testing.T, name string, i moonwake.PowerInfo) {
	t.Helper()
	f.mu.Lock()
	old := f.states[name].State
	f.states[name] = i
	f.mu.Unlock()
	if _, err := f.events.Publish(moonwake.EventState, name, moonwake.StateChange{Machine: name, From: old, To: i.State, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
}

// groupOptions are testOptions with a real group service over the test
// hub's power service.
func groupOptions(t *testing.T, f *hubState, broker string) Options {
	o := testOptions(f, broker)
	power := o.Power.(*mock.PowerService)
	power.WaitFn = f.waitAction
	gs := groups.New(power, nil, nil)
	t.Cleanup(func() { gs.Close() })
	o.Groups = gs
	o.GroupWakeStagger = 50 * time.Millisecond
	return o
}

func decodeGroupState(t *testing.T, p []byte) groupStateDoc {
	t.Helper()
	var d groupStateDoc
	if err := json.Unmarshal(p, &d); err != nil {
		t.Fatalf("group state %q: %v", p, err)
	}
	return d
}

// A tag is a group device: its discovery payloads are retained, its
// buttons and switch start group actions through the group service with
// the bridge's actor, its progress sensor follows the members' actions,
// and its switch is ON once every member is up.
func TestGroupDevice(t *testing.T) {
	broker := brokerURL(t)
	f := newHubState(t,
		taggedMachine("pc-a", "aa:bb:cc:dd:ee:01", "lan.party"),
		taggedMachine("pc-b", "aa:bb:cc:dd:ee:02", "lan.party", "office"),
		testMachine("nas", "aa:bb:cc:dd:ee:03"))
	o := groupOptions(t, f, broker)
	obs := newObserver(t, broker, o.DiscoveryPrefix+"/#", o.TopicPrefix+"/#")
	startBridge(t, o)
	tp := testTopics(o)

	for _, tag := range []string{"lan.party", "office"} {
		for _, e := range groupEntities {
			p := obs.waitPayload(tp.groupConfig(e, tag), wait, func([]byte) bool { return true })
			// Sleep is outside the default scope: its button is not there.
			if got, want := len(p) > 0, e.action != moonwake.ActionSleep; got != want {
				t.Errorf("%s %s/%s: payload %q", tag, e.component, e.object, p)
			}
		}
	}
	var cfg map[string]any
	p, _ := obs.get(tp.groupConfig(groupEntities[0], "lan.party"))
	if err := json.Unmarshal(p, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg["command_topic"] != tp.prefix+"/group/lan.party/power/set" || cfg["default_entity_id"] != "switch.group_lan_party_power" {
		t.Errorf("switch config %s", p)
	}
	if dev := cfg["device"].(map[string]any); dev["name"] != "Group lan.party" {
		t.Errorf("device %v", dev)
	}
	// No member's state is known yet: the switch says so.
	d := decodeGroupState(t, obs.waitPayload(tp.groupState("lan.party"), wait, func(p []byte) bool { return len(p) > 0 }))
	if d.Power != payloadNone || d.Attributes.Total != 2 || d.Progress.Summary != "none" {
		t.Errorf("first state %+v", d)
	}

	// Wake pressed: both members are woken, by the bridge, in one group
	// action whose progress the sensor shows.
	obs.publish(tp.groupCommand("lan.party", entityWake), false, PayloadPress)
	obs.wait("two wakes", wait, func() bool { return len(f.Calls()) >= 2 })
	calls := f.Calls()
	if len(calls) != 2 {
		t.Fatalf("calls %+v", calls)
	}
	for i, name := range []string{"pc-a", "pc-b"} {
		if c := calls[i]; c.Machine != name || c.Action != moonwake.ActionWake || c.Actor.Kind != "mqtt" || c.Actor.Name != o.ClientID {
			t.Errorf("call %d: %+v", i, c)
		}
	}
	obs.waitPayload(tp.groupState("lan.party"), wait, func(p []byte) bool {
		d := decodeGroupState(t, p)
		return d.Progress.Kind == moonwake.ActionWake && d.Progress.Summary == "0/2" && d.Progress.Status == moonwake.StatusRunning
	})
	f.finishAll(t, "pc-a", moonwake.StatusSucceeded)
	f.setInfo(t, "pc-a", moonwake.PowerInfo{State: moonwake.StateOn})
	d = decodeGroupState(t, obs.waitPayload(tp.groupState("lan.party"), wait, func(p []byte) bool {
		return decodeGroupState(t, p).Progress.Summary == "1/2"
	}))
	if d.Power != payloadNone || d.Attributes.Up != 1 {
		t.Errorf("one member up, one unknown: %+v", d)
	}
	f.setInfo(t, "pc-b", moonwake.PowerInfo{State: moonwake.StateWaking})
	obs.waitPayload(tp.groupState("lan.party"), wait, func(p []byte) bool { return decodeGroupState(t, p).Power == PayloadOff })
	f.finishAll(t, "pc-b", moonwake.StatusSucceeded)
	f.setInfo(t, "pc-b", moonwake.PowerInfo{State: moonwake.StateIdle})
	d = decodeGroupState(t, obs.waitPayload(tp.groupState("lan.party"), wait, func(p []byte) bool {
		d := decodeGroupState(t, p)
		return d.Progress.Status == moonwake.StatusSucceeded && d.Power == PayloadOn
	}))
	if d.Progress.Summary != "2/2" || d.Attributes.Up != 2 || d.Attributes.States["pc-b"] != moonwake.StateIdle {
		t.Errorf("all up: %+v", d)
	}

	// The switch turned off: a shutdown of the group, no stagger.
	obs.publish(tp.groupCommand("lan.party", entityPower), false, PayloadOff)
	obs.wait("two shutdowns", wait, func() bool { return len(f.Calls()) >= 4 })
	for _, c := range f.Calls()[2:] {
		if c.Action != moonwake.ActionShutdown || c.Actor.Kind != "mqtt" {
			t.Errorf("call %+v", c)
		}
	}
	// Refused: a payload that is not exact, sleep outside the scope, a
	// retained command; none starts anything.
	obs.publish(tp.groupCommand("lan.party", entityPower), false, "on")
	obs.publish(tp.groupCommand("lan.party", entitySleep), false, PayloadPress)
	obs.publish(tp.groupCommand("ghost", entityWake), false, PayloadPress)
	obs.waitPayload(tp.groupState("lan.party"), wait, func(p []byte) bool {
		ce := decodeGroupState(t, p).Attributes.LastCommandError
		return ce != nil && ce.Command == moonwake.ActionSleep && strings.Contains(ce.Error, "may not sleep")
	})
	time.Sleep(200 * time.Millisecond)
	if n := len(f.Calls()); n != 4 {
		t.Errorf("refused commands ran: %+v", f.Calls()[4:])
	}
}

// A tag given to a machine adds a group; a tag renamed replaces the
// group; the last machine losing a tag, or removed, removes its group's
// retained discovery payloads and state.
func TestGroupAddedRenamedRemoved(t *testing.T) {
	broker := brokerURL(t)
	f := newHubState(t, taggedMachine("pc-a", "aa:bb:cc:dd:ee:01", "den"), testMachine("pc-b", "aa:bb:cc:dd:ee:02"))
	o := groupOptions(t, f, broker)
	obs := newObserver(t, broker, o.DiscoveryPrefix+"/#", o.TopicPrefix+"/#")
	startBridge(t, o)
	tp := testTopics(o)
	present := func(tag string) {
		t.Helper()
		for _, e := range groupEntities {
			if e.action == moonwake.ActionSleep {
				continue
			}
			obs.waitPayload(tp.groupConfig(e, tag), wait, func(p []byte) bool { return len(p) > 0 })
		}
	}
	gone := func(tag string) {
		t.Helper()
		for _, e := range groupEntities {
			obs.waitPayload(tp.groupConfig(e, tag), wait, func(p []byte) bool { return len(p) == 0 })
		}
		obs.waitPayload(tp.groupState(tag), wait, func(p []byte) bool { return len(p) == 0 })
	}
	change := func(name string, tags ...string) {
		f.mu.Lock()
		f.machines[name].Tags = tags
		f.mu.Unlock()
		f.events.Publish(moonwake.EventMachine, name, moonwake.MachineChange{Machine: name, Op: moonwake.MachineChanged})
	}
	present("den")

	change("pc-b", "den", "attic")
	present("attic")
	d := decodeGroupState(t, obs.waitPayload(tp.groupState("den"), wait, func(p []byte) bool {
		return len(p) > 0 && decodeGroupState(t, p).Attributes.Total == 2
	}))
	if _, ok := d.Attributes.States["pc-b"]; !ok {
		t.Errorf("den %+v", d)
	}

	// attic renamed to loft.
	change("pc-b", "den", "loft")
	present("loft")
	gone("attic")

	// The last machine of den removed, and pc-b leaves it.
	f.mu.Lock()
	delete(f.machines, "pc-a")
	f.mu.Unlock()
	f.events.Publish(moonwake.EventMachine, "pc-a", moonwake.MachineChange{Machine: "pc-a", Op: moonwake.MachineRemoved})
	change("pc-b", "loft")
	gone("den")

	// Retained for real: a newcomer sees loft, and neither den nor attic.
	late := newObserver(t, broker, o.DiscoveryPrefix+"/#")
	late.waitPayload(tp.groupConfig(groupEntities[0], "loft"), wait, func(p []byte) bool { return len(p) > 0 })
	for _, tag := range []string{"den", "attic"} {
		if p, ok := late.get(tp.groupConfig(groupEntities[0], tag)); ok && len(p) > 0 {
			t.Errorf("group %s is still retained", tag)
		}
	}
}

// A group removed while the bridge was away is cleared when it connects
// again; another hub's groups are left alone.
func TestStaleGroupCleared(t *testing.T) {
	broker := brokerURL(t)
	f := newHubState(t, taggedMachine("pc-a", "aa:bb:cc:dd:ee:01", "den"))
	o := groupOptions(t, f, broker)
	tp := testTopics(o)
	obs := newObserver(t, broker, o.DiscoveryPrefix+"/#", o.TopicPrefix+"/#")
	d := discoveryInfo{topics: tp, version: "old"}
	for _, e := range groupEntities[:3] {
		b, _ := json.Marshal(d.groupConfig(e, "old.room"))
		obs.publish(tp.groupConfig(e, "old.room"), true, string(b))
	}
	obs.publish(tp.groupState("old.room"), true, `{"power":"OFF"}`)
	other := discoveryInfo{topics: topics{prefix: o.TopicPrefix, discovery: o.DiscoveryPrefix, hub: "otherhub"}}
	b, _ := json.Marshal(other.groupConfig(groupEntities[0], "elsewhere"))
	otherTopic := other.topics.groupConfig(groupEntities[0], "elsewhere")
	obs.publish(otherTopic, true, string(b))
	t.Cleanup(func() { obs.publish(otherTopic, true, "") })

	tb := startBridge(t, o)
	for _, e := range groupEntities[:3] {
		obs.waitPayload(tp.groupConfig(e, "old.room"), wait, func(p []byte) bool { return len(p) == 0 })
	}
	obs.waitPayload(tp.groupState("old.room"), wait, func(p []byte) bool { return len(p) == 0 })
	obs.waitPayload(tp.groupConfig(groupEntities[0], "den"), wait, func(p []byte) bool { return len(p) > 0 })
	time.Sleep(500 * time.Millisecond)
	if p, _ := obs.get(otherTopic); len(p) == 0 {
		t.Error("another hub's group was cleared")
	}
	if !strings.Contains(tb.logs.String(), "otherhub") {
		t.Error("the other hub on the same prefix was not reported")
	}
}

// With sleep in the scope, a group gets a sleep button once every member
// has an agent; pressing it puts every member to sleep.
func TestGroupSleepButton(t *testing.T) {
	broker := brokerURL(t)
	f := newHubState(t, taggedMachine("pc-a", "aa:bb:cc:dd:ee:01", "den"), taggedMachine("pc-b", "aa:bb:cc:dd:ee:02", "den"))
	o := groupOptions(t, f, broker)
	o.Scope = moonwake.Token{Actions: []string{moonwake.ActionWake, moonwake.ActionShutdown, moonwake.ActionSleep}}
	obs := newObserver(t, broker, o.DiscoveryPrefix+"/#", o.TopicPrefix+"/#")
	startBridge(t, o)
	tp := testTopics(o)
	sleepTopic := tp.groupConfig(groupEntities[3], "den")
	obs.waitPayload(tp.groupState("den"), wait, func(p []byte) bool { return len(p) > 0 })
	if p, _ := obs.get(sleepTopic); len(p) > 0 {
		t.Fatalf("a sleep button without agents: %s", p)
	}
	agent := &moonwake.AgentInfo{ID: "ag", Connected: true}
	f.setInfo(t, "pc-a", moonwake.PowerInfo{State: moonwake.StateOn, Agent: agent})
	f.setInfo(t, "pc-b", moonwake.PowerInfo{State: moonwake.StateOn, Agent: agent})
	obs.waitPayload(sleepTopic, wait, func(p []byte) bool { return len(p) > 0 })
	obs.publish(tp.groupCommand("den", entitySleep), false, PayloadPress)
	obs.wait("two sleeps", wait, func() bool { return len(f.Calls()) >= 2 })
	for _, c := range f.Calls() {
		if c.Action != moonwake.ActionSleep || c.Actor.Kind != "mqtt" {
			t.Errorf("call %+v", c)
		}
	}
	// An agent unpaired: the button goes.
	f.setInfo(t, "pc-b", moonwake.PowerInfo{State: moonwake.StateOn})
	obs.waitPayload(sleepTopic, wait, func(p []byte) bool { return len(p) == 0 })
}

// A retained group command is never run: it is reported and cleared, as
// a machine's is.
func TestRetainedGroupCommandIgnored(t *testing.T) {
	broker := brokerURL(t)
	f := newHubState(t, taggedMachine("pc-a", "aa:bb:cc:dd:ee:01", "den"))
	o := groupOptions(t, f, broker)
	tp := testTopics(o)
	obs := newObserver(t, broker, o.TopicPrefix+"/#")
	topic := tp.groupCommand("den", entityWake)
	obs.publish(topic, true, PayloadPress)
	t.Cleanup(func() { obs.publish(topic, true, "") })
	startBridge(t, o)
	p := obs.waitPayload(tp.errors(), wait, func(p []byte) bool { return strings.Contains(string(p), "retained command ignored") })
	var ce commandError
	if err := json.Unmarshal(p, &ce); err != nil || ce.Group != "den" || ce.Command != entityWake {
		t.Errorf("error %s", p)
	}
	obs.waitPayload(topic, wait, func(p []byte) bool { return len(p) == 0 })
	time.Sleep(300 * time.Millisecond)
	if c := f.Calls(); len(c) != 0 {
		t.Errorf("a retained group command ran: %+v", c)
	}
}

func TestGroupPower(t *testing.T) {
	st := func(ss ...moonwake.PowerState) []moonwake.PowerInfo {
		var out []moonwake.PowerInfo
		for _, s := range ss {
			out = append(out, moonwake.PowerInfo{State: s})
		}
		return out
	}
	for _, tc := range []struct {
		infos []moonwake.PowerInfo
		want  string
	}{
		{st(moonwake.StateOn, moonwake.StateStreaming, moonwake.StateIdle, moonwake.StateShuttingDown), PayloadOn},
		{st(moonwake.StateOn, moonwake.StateOff), PayloadOff},
		{st(moonwake.StateOn, moonwake.StateWaking), PayloadOff},
		{st(moonwake.StateUnknown, moonwake.StateOff), PayloadOff},
		{st(moonwake.StateOn, moonwake.StateUnknown), payloadNone},
		{st(""), payloadNone},
		{nil, payloadNone},
	} {
		if got := groupPower(tc.infos); got != tc.want {
			t.Errorf("%v: %s, want %s", tc.infos, got, tc.want)
		}
	}
}

func TestGroupNode(t *testing.T) {
	tp := topics{prefix: "moonwake", discovery: "homeassistant", hub: "abc123"}
	for _, tag := range []string{"office", "lan.party", "a_b-c.d", "0"} {
		node := tp.groupNode(tag)
		if !topicIDRE.MatchString(node) {
			t.Errorf("%s: node %q is no topic id", tag, node)
		}
		if got, ok := tp.groupOfNode(node); !ok || got != tag {
			t.Errorf("%s: read back %q %v", tag, got, ok)
		}
		if _, ok := tp.machineOfNode(node); ok {
			t.Errorf("%s: group node %q taken for a machine's", tag, node)
		}
	}
	if tag, ok := tp.groupOfNode(tp.node("office")); ok || tag != "" {
		t.Error("a machine's node taken for a group's")
	}
	other := topics{hub: "abc1234"}
	if _, ok := tp.groupOfNode(other.groupNode("office")); ok {
		t.Error("another hub's group taken for ours")
	}
}

// Every group payload passes the schema, with and without a public URL.
func TestGroupDiscoveryPayloadsMatchSchema(t *testing.T) {
	s := loadSchema(t)
	for _, public := range []string{"", "https://wake.example.net"} {
		d := discoveryInfo{topics: topics{prefix: "moonwake", discovery: "homeassistant", hub: "0123456789"}, publicURL: public, version: "v1.2.3"}
		for _, e := range groupEntities {
			b, err := json.Marshal(d.groupConfig(e, "lan.party"))
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range s.validate(e.component, b) {
				t.Errorf("%s/%s: %s", e.component, e.object, p)
			}
			topic := strings.Split(d.topics.groupConfig(e, "lan.party"), "/")
			if len(topic) != 5 || !topicIDRE.MatchString(topic[2]) || !topicIDRE.MatchString(topic[3]) {
				t.Errorf("discovery topic %v", topic)
			}
		}
	}
}

func TestParseGroupCommand(t *testing.T) {
	for _, tc := range []struct {
		topic, payload string
		want           GroupCommand
		err            string
	}{
		{"moonwake/group/lan.party/power/set", "ON", GroupCommand{"lan.party", "power", moonwake.ActionWake}, ""},
		{"moonwake/group/office/power/set", "OFF", GroupCommand{"office", "power", moonwake.ActionShutdown}, ""},
		{"moonwake/group/office/wake/set", "PRESS", GroupCommand{"office", "wake", moonwake.ActionWake}, ""},
		{"moonwake/group/office/shutdown/set", "PRESS", GroupCommand{"office", "shutdown", moonwake.ActionShutdown}, ""},
		{"moonwake/group/office/sleep/set", "PRESS", GroupCommand{"office", "sleep", moonwake.ActionSleep}, ""},
		{"moonwake/group/office/power/set", "on", GroupCommand{}, "payload must be ON or OFF"},
		{"moonwake/group/office/sleep/set", "ON", GroupCommand{}, "payload must be PRESS"},
		{"moonwake/group/office/wake/set", strings.Repeat("A", 5000), GroupCommand{}, "too long"},
		{"moonwake/group/office/reboot/set", "PRESS", GroupCommand{}, "unknown entity"},
		{"moonwake/group/Office/power/set", "ON", GroupCommand{}, "not a tag"},
		{"moonwake/group/.x/power/set", "ON", GroupCommand{}, "not a tag"},
		{"moonwake/group/office/power", "ON", GroupCommand{}, "want moonwake/group"},
		{"moonwake/machine/office/power/set", "ON", GroupCommand{}, "not a group command topic"},
	} {
		got, err := ParseGroupCommand("moonwake", tc.topic, []byte(tc.payload))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s %q: error %v, want %q", tc.topic, tc.payload, err, tc.err)
			}
			if err != nil && strings.Contains(err.Error(), "AAAA") {
				t.Errorf("the error echoes the payload")
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s %q: %+v, %v; want %+v", tc.topic, tc.payload, got, err, tc.want)
		}
	}
}

// FuzzParseGroupCommand: no panic; a command that parses names a valid
// tag and one of the three actions, from an exact payload; errors stay
// short and never carry the payload.
func FuzzParseGroupCommand(f *testing.F) {
	for _, s := range [][2]string{
		{"moonwake/group/office/power/set", "ON"},
		{"moonwake/group/lan.party/sleep/set", "PRESS"},
		{"moonwake/group/a/shutdown/set", "PRESS"},
		{"moonwake/group/../power/set", "OFF"},
	} {
		f.Add(s[0], []byte(s[1]))
	}
	f.Fuzz(func(t *testing.T, topic string, payload []byte) {
		c, err := ParseGroupCommand("moonwake", topic, payload)
		if err != nil {
			if len(err.Error()) > 300 {
				t.Fatalf("error of %d bytes", len(err.Error()))
			}
			// Messages are made of the topic's parts and fixed words.
			fixed := topic + " topic is not a group command topic under moonwake/group/ want <tag>/<entity>/set is not a tag " +
				"unknown entity (want power, wake, shutdown or sleep) payload must be ON or OFF PRESS of 0123456789 bytes is too long…"
			if p := string(payload); len(p) >= 6 && strings.Contains(err.Error(), p) && !strings.Contains(fixed, p) {
				t.Fatalf("error %q echoes the payload", err)
			}
			return
		}
		if !moonwake.ValidTag(c.Tag) || !utf8.ValidString(c.Tag) || !slices.Contains([]string{moonwake.ActionWake, moonwake.ActionShutdown, moonwake.ActionSleep}, c.Action) {
			t.Fatalf("parsed %+v", c)
		}
		if p := string(payload); p != PayloadOn && p != PayloadOff && p != PayloadPress {
			t.Fatalf("payload %q accepted", p)
		}
		if topic != "moonwake/group/"+c.Tag+"/"+c.Entity+"/set" {
			t.Fatalf("topic %q gave %+v", topic, c)
		}
	})
}
