package hass

import (
	"fmt"
	"strings"

	"github.com/moonwake/moonwake"
)

// Command payloads, exactly as Home Assistant sends them: the switch's
// payload_on and payload_off, and the buttons' payload_press.
const (
	PayloadOn    = "ON"
	PayloadOff   = "OFF"
	PayloadPress = "PRESS"
)

// Command is a parsed request from Home Assistant: do Action to Machine.
// Entity says which entity asked (power, wake, shutdown), for messages.
type Command struct {
	Machine string
	Entity  string
	Action  string // moonwake.ActionWake or moonwake.ActionShutdown
}

// Entities that take commands, as they appear in command topics.
const (
	entityPower    = "power"    // the switch: ON wakes, OFF shuts down
	entityWake     = "wake"     // the Wake button
	entityShutdown = "shutdown" // the Shut down button
)

// maxPayload bounds command payloads: the longest valid one is 5 bytes.
const maxPayload = 16

// ParseCommand reads a command from a message on topic with payload, for a
// bridge whose topic prefix is prefix. Command topics are
// <prefix>/machine/<name>/<entity>/set. It is strict: the machine name
// must be valid, the entity known, and the payload exactly the one that
// entity takes (no case folding, no whitespace). Errors never quote the
// payload, which is not ours to echo.
func ParseCommand(prefix, topic string, payload []byte) (Command, error) {
	rest, ok := strings.CutPrefix(topic, prefix+"/machine/")
	if !ok || prefix == "" {
		return Command{}, fmt.Errorf("topic is not a command topic under %s/machine/", prefix)
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 || parts[2] != "set" {
		return Command{}, fmt.Errorf("topic: want %s/machine/<name>/<entity>/set", prefix)
	}
	name, entity := parts[0], parts[1]
	if !moonwake.ValidName(name) {
		return Command{}, fmt.Errorf("topic: %q is not a machine name", truncate(name, 40))
	}
	if entity != entityPower && entity != entityWake && entity != entityShutdown {
		return Command{}, fmt.Errorf("topic: unknown entity %q (want power, wake or shutdown)", truncate(entity, 16))
	}
	c := Command{Machine: name, Entity: entity}
	var err error
	c.Action, err = commandAction(entity, payload)
	return c, err
}

// commandAction is the action a command's payload asks of an entity, a
// machine's or a group's: the power switch's ON or OFF, a button's PRESS.
func commandAction(entity string, payload []byte) (string, error) {
	if len(payload) > maxPayload {
		return "", fmt.Errorf("%s: payload of %d bytes is too long", entity, len(payload))
	}
	switch p := string(payload); {
	case entity == entityPower && p == PayloadOn:
		return moonwake.ActionWake, nil
	case entity == entityPower && p == PayloadOff:
		return moonwake.ActionShutdown, nil
	case entity == entityPower:
		return "", fmt.Errorf("power: payload must be %s or %s", PayloadOn, PayloadOff)
	case p == PayloadPress:
		return entity, nil // the buttons are named for their actions
	default:
		return "", fmt.Errorf("%s: payload must be %s", entity, PayloadPress)
	}
}

// truncate cuts s to at most n bytes, on a rune boundary, for messages.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !isRuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
