package hass

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/moonwake/moonwake"
)

func TestParseCommand(t *testing.T) {
	for _, tc := range []struct {
		topic, payload string
		want           Command
		err            string
	}{
		{"moonwake/machine/gaming-pc/power/set", "ON", Command{"gaming-pc", "power", moonwake.ActionWake}, ""},
		{"moonwake/machine/gaming-pc/power/set", "OFF", Command{"gaming-pc", "power", moonwake.ActionShutdown}, ""},
		{"moonwake/machine/gaming-pc/wake/set", "PRESS", Command{"gaming-pc", "wake", moonwake.ActionWake}, ""},
		{"moonwake/machine/gaming-pc/shutdown/set", "PRESS", Command{"gaming-pc", "shutdown", moonwake.ActionShutdown}, ""},
		{"moonwake/machine/gaming-pc/power/set", "on", Command{}, "payload must be ON or OFF"},
		{"moonwake/machine/gaming-pc/power/set", "ON ", Command{}, "payload must be ON or OFF"},
		{"moonwake/machine/gaming-pc/power/set", "PRESS", Command{}, "payload must be ON or OFF"},
		{"moonwake/machine/gaming-pc/wake/set", "ON", Command{}, "payload must be PRESS"},
		{"moonwake/machine/gaming-pc/wake/set", strings.Repeat("A", 5000), Command{}, "too long"},
		{"moonwake/machine/gaming-pc/reboot/set", "PRESS", Command{}, "unknown entity"},
		{"moonwake/machine/Gaming-PC/power/set", "ON", Command{}, "not a machine name"},
		{"moonwake/machine/gaming-pc/power", "ON", Command{}, "want moonwake/machine"},
		{"moonwake/machine/gaming-pc/power/set/x", "ON", Command{}, "want moonwake/machine"},
		{"moonwake/machine//power/set", "ON", Command{}, "not a machine name"},
		{"other/machine/gaming-pc/power/set", "ON", Command{}, "not a command topic"},
		{"moonwakeX/machine/gaming-pc/power/set", "ON", Command{}, "not a command topic"},
	} {
		got, err := ParseCommand("moonwake", tc.topic, []byte(tc.payload))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s %q: error %v, want %q", tc.topic, tc.payload, err, tc.err)
			}
			if strings.Contains(tc.payload, "AAAA") && err != nil && strings.Contains(err.Error(), "AAAA") {
				t.Errorf("the error echoes the payload")
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s %q: %+v, %v; want %+v", tc.topic, tc.payload, got, err, tc.want)
		}
	}
}

// FuzzParseCommand: no panic; a command that parses names a valid machine
// and one of the two actions, from one of the exact payloads; errors stay
// short and never carry the payload.
func FuzzParseCommand(f *testing.F) {
	for _, s := range [][2]string{
		{"moonwake/machine/gaming-pc/power/set", "ON"},
		{"moonwake/machine/gaming-pc/wake/set", "PRESS"},
		{"moonwake/machine/a/shutdown/set", "PRESS"},
		{"moonwake/machine/a/power/set", "OFF\x00"},
		{"moonwake/machine/../power/set", "ON"},
	} {
		f.Add(s[0], []byte(s[1]))
	}
	f.Fuzz(func(t *testing.T, topic string, payload []byte) {
		c, err := ParseCommand("moonwake", topic, payload)
		if err != nil {
			if len(err.Error()) > 300 {
				t.Fatalf("error of %d bytes", len(err.Error()))
			}
			// Messages are made of the topic's parts and fixed words.
			fixed := topic + " topic is not a command topic under moonwake/machine/ want <name>/<entity>/set is not a machine name " +
				"unknown entity (want power, wake or shutdown) payload must be ON or OFF PRESS of 0123456789 bytes is too long…"
			if p := string(payload); len(p) >= 6 && strings.Contains(err.Error(), p) && !strings.Contains(fixed, p) {
				t.Fatalf("error %q echoes the payload", err)
			}
			return
		}
		if !moonwake.ValidName(c.Machine) || !utf8.ValidString(c.Machine) {
			t.Fatalf("machine %q", c.Machine)
		}
		if c.Action != moonwake.ActionWake && c.Action != moonwake.ActionShutdown {
			t.Fatalf("action %q", c.Action)
		}
		p := string(payload)
		if p != PayloadOn && p != PayloadOff && p != PayloadPress {
			t.Fatalf("payload %q accepted", p)
		}
		if topic != "moonwake/machine/"+c.Machine+"/"+c.Entity+"/set" {
			t.Fatalf("topic %q gave %+v", topic, c)
		}
	})
}
