package hass

import (
	"strings"

	"github.com/moonwake/moonwake"
)

// Home Assistant components the bridge publishes.
const (
	componentSwitch       = "switch"
	componentButton       = "button"
	componentBinarySensor = "binary_sensor"
	componentSensor       = "sensor"
)

// Availability payloads on <prefix>/status, and Home Assistant's own on
// <discovery>/status.
const (
	Online  = "online"
	Offline = "offline"
)

// Last action outcomes, the options of the "Last action" enum sensor: none
// before the first action, then the action's status.
var actionOutcomes = []string{"none", moonwake.StatusRunning, moonwake.StatusSucceeded, moonwake.StatusFailed, moonwake.StatusCancelled}

// powerStates are the options of the "State" enum sensor: every PowerState.
var powerStates = []string{
	string(moonwake.StateOff), string(moonwake.StateWaking), string(moonwake.StateOn),
	string(moonwake.StateIdle), string(moonwake.StateStreaming), string(moonwake.StateShuttingDown),
	string(moonwake.StateUnknown),
}

// entityDef is one entity of a machine's device.
type entityDef struct {
	component string
	object    string // the discovery topic's object_id, unique within the component
	action    string // the action its commands ask for; "" for read-only entities
}

// entities are every entity a machine can have, in publishing order. A
// machine gets those its command scope allows; clearing covers them all.
var entities = []entityDef{
	{componentSwitch, "power", ""}, // needs wake or shutdown
	{componentButton, "wake", moonwake.ActionWake},
	{componentButton, "shutdown", moonwake.ActionShutdown},
	{componentBinarySensor, "power", ""},
	{componentBinarySensor, "streaming", ""},
	{componentSensor, "state", ""},
	{componentSensor, "last_action", ""},
}

// topics names every topic of one bridge.
type topics struct {
	prefix    string // moonwake
	discovery string // homeassistant
	hub       string // Options.HubID
}

func (t topics) status() string              { return t.prefix + "/status" }
func (t topics) errors() string              { return t.prefix + "/error" }
func (t topics) state(machine string) string { return t.prefix + "/machine/" + machine + "/state" }
func (t topics) commands() string            { return t.prefix + "/machine/+/+/set" }
func (t topics) haStatus() string            { return t.discovery + "/status" }
func (t topics) allConfigs() string          { return t.discovery + "/+/+/+/config" }
func (t topics) command(machine, e string) string {
	return t.prefix + "/machine/" + machine + "/" + e + "/set"
}
func (t topics) config(e entityDef, machine string) string {
	return t.discovery + "/" + e.component + "/" + t.node(machine) + "/" + e.object + "/config"
}

// nodePrefix starts every moonwake node id.
const nodePrefix = "moonwake_"

// node is a machine's node in discovery topics and its device identifier,
// moonwake_<hub id>_<machine>: unique per hub, so hubs sharing a broker
// and a discovery prefix neither overwrite nor clear each other's.
func (t topics) node(machine string) string { return nodePrefix + t.hub + "_" + machine }

// machineOfNode returns the machine a discovery node_id of this hub stands
// for; false for other hubs' nodes.
func (t topics) machineOfNode(node string) (string, bool) {
	name, ok := strings.CutPrefix(node, nodePrefix+t.hub+"_")
	return name, ok && moonwake.ValidName(name)
}

// slug turns a machine name into the object part of an entity id, which
// allows a-z, 0-9 and '_' only.
func slug(machine string) string { return strings.ReplaceAll(machine, "-", "_") }

// discoveryInfo is what every discovery payload of a bridge shares.
type discoveryInfo struct {
	topics
	publicURL string // without a trailing slash; "" when unknown
	version   string
}

// device is the device block of machine m.
func (d discoveryInfo) device(m *moonwake.Machine) map[string]any {
	dev := map[string]any{
		"identifiers":  []string{d.node(m.Name)},
		"connections":  [][]string{{"mac", strings.ToLower(m.MAC)}},
		"name":         m.Name,
		"manufacturer": "moonwake",
		"model":        "Wake-on-LAN machine",
		"sw_version":   d.version,
	}
	if d.publicURL != "" {
		dev["configuration_url"] = d.publicURL + "/machines/" + m.Name
	}
	return dev
}

// origin is the origin block: who published the discovery payload.
func (d discoveryInfo) origin() map[string]any {
	o := map[string]any{"name": "moonwake", "sw_version": d.version}
	if d.publicURL != "" {
		o["support_url"] = d.publicURL
	}
	return o
}

// config returns entity e's discovery payload for machine m.
func (d discoveryInfo) config(e entityDef, m *moonwake.Machine) map[string]any {
	c := map[string]any{
		"unique_id":             d.node(m.Name) + "_" + e.component + "_" + e.object,
		"default_entity_id":     e.component + "." + slug(m.Name) + "_" + e.object,
		"availability_topic":    d.status(),
		"payload_available":     Online,
		"payload_not_available": Offline,
		"device":                d.device(m),
		"origin":                d.origin(),
		"qos":                   1,
	}
	state := d.state(m.Name)
	switch e.component + "/" + e.object {
	case "switch/power":
		powerSwitch(c, d.command(m.Name, entityPower), state)
	case "button/wake", "button/shutdown":
		button(c, e.object, d.command(m.Name, e.object))
	case "binary_sensor/power":
		c["name"] = "Power"
		c["device_class"] = "power"
		c["state_topic"] = state
		c["value_template"] = "{{ value_json.power }}"
		c["payload_on"], c["payload_off"] = PayloadOn, PayloadOff
	case "binary_sensor/streaming":
		c["name"] = "Streaming"
		c["device_class"] = "running"
		c["icon"] = "mdi:controller"
		c["state_topic"] = state
		c["value_template"] = "{{ value_json.streaming }}"
		c["payload_on"], c["payload_off"] = PayloadOn, PayloadOff
	case "sensor/state":
		c["name"] = "State"
		c["device_class"] = "enum"
		c["options"] = powerStates
		c["state_topic"] = state
		c["value_template"] = "{{ value_json.state }}"
		c["json_attributes_topic"] = state
		c["json_attributes_template"] = "{{ value_json.attributes | tojson }}"
	case "sensor/last_action":
		c["name"] = "Last action"
		c["device_class"] = "enum"
		c["options"] = actionOutcomes
		c["icon"] = "mdi:history"
		c["state_topic"] = state
		c["value_template"] = "{{ value_json.last_action.outcome }}"
		c["json_attributes_topic"] = state
		c["json_attributes_template"] = "{{ value_json.last_action | tojson }}"
	}
	return c
}

// powerSwitch makes c the power switch of a machine or a group: ON wakes,
// OFF shuts down, its state and attributes from the state topic.
func powerSwitch(c map[string]any, command, state string) {
	c["name"] = "Power"
	c["icon"] = "mdi:desktop-tower-monitor"
	c["command_topic"] = command
	c["payload_on"], c["payload_off"] = PayloadOn, PayloadOff
	c["state_topic"] = state
	c["value_template"] = "{{ value_json.power }}"
	c["state_on"], c["state_off"] = PayloadOn, PayloadOff
	c["optimistic"] = false
	c["retain"] = false
	c["json_attributes_topic"] = state
	c["json_attributes_template"] = "{{ value_json.attributes | tojson }}"
}

// buttons are the names and icons of the buttons, by entity.
var buttons = map[string]struct{ name, icon string }{
	entityWake:     {"Wake", "mdi:power"},
	entityShutdown: {"Shut down", "mdi:power-off"},
	entitySleep:    {"Sleep", "mdi:power-sleep"},
}

// button makes c the button of entity (wake, shutdown, sleep) whose press
// goes to command.
func button(c map[string]any, entity, command string) {
	c["name"] = buttons[entity].name
	c["icon"] = buttons[entity].icon
	c["command_topic"] = command
	c["payload_press"] = PayloadPress
	c["retain"] = false
}

// allowed reports whether machine gets entity e under scope: a button
// when its action is allowed, the switch when either is (a half-allowed
// switch refuses the other half, and says so), read-only entities always.
func allowed(e entityDef, scope *moonwake.Token, machine string) bool {
	switch {
	case e.action != "":
		return scope.Allows(e.action, machine)
	case e.component == componentSwitch:
		return scope.Allows(moonwake.ActionWake, machine) || scope.Allows(moonwake.ActionShutdown, machine)
	}
	return true
}
