package importer

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// wakeService is Home Assistant's service (now "action") that sends a
// magic packet.
const wakeService = "wake_on_lan.send_magic_packet"

// parseHomeAssistant reads Home Assistant's YAML (configuration.yaml, or a
// package, script or automation file) or its .storage/core.config_entries
// (JSON, which YAML reads too), and finds:
//   - switches of platform wake_on_lan (mac, name, host, broadcast_address,
//     broadcast_port);
//   - calls of wake_on_lan.send_magic_packet, under service: or action:, in
//     scripts, automations and template buttons (data: mac, …), named by
//     the script's key or the nearest alias;
//   - config entries of domain wake_on_lan (the UI's Wake on LAN buttons).
//
// Tags such as !secret and !include are kept as written: a MAC behind
// !secret cannot be read here, and says so.
func parseHomeAssistant(data []byte) ([]raw, error) {
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	var out []raw
	for doc := 1; ; doc++ {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("the Home Assistant configuration: %v", err)
		}
		walkHA(&n, "", &out)
	}
	return out, nil
}

// walkHA looks for wake_on_lan entries under n. name is the best name
// known so far: the key of the script or entity n is under.
func walkHA(n *yaml.Node, name string, out *[]raw) {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			walkHA(c, name, out)
		}
	case yaml.MappingNode:
		if a := scalar(n, "alias"); a != "" {
			name = a
		} else if a := scalar(n, "name"); a != "" {
			name = a
		} else if a := scalar(n, "title"); a != "" {
			name = a
		}
		switch {
		case scalar(n, "platform") == "wake_on_lan":
			*out = append(*out, haRaw(n, name, fmt.Sprintf("wake_on_lan switch at line %d", n.Line)))
			return
		case scalar(n, "domain") == "wake_on_lan":
			for _, key := range []string{"options", "data"} {
				if v := value(n, key); v != nil && value(v, "mac") != nil {
					*out = append(*out, haRaw(v, name, fmt.Sprintf("wake_on_lan config entry at line %d", n.Line)))
					return
				}
			}
		case scalar(n, "service") == wakeService || scalar(n, "action") == wakeService:
			from := fmt.Sprintf("%s at line %d", wakeService, n.Line)
			if d := value(n, "data"); d != nil {
				*out = append(*out, haRaw(d, name, from))
			} else {
				*out = append(*out, raw{name: name, from: from + " (no data: mac)"})
			}
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			child := name
			if v.Kind == yaml.MappingNode && k.Value != "" && k.Value != "data" && k.Value != "sequence" {
				child = k.Value // script.wake_gaming_pc: the key names it
			}
			walkHA(v, child, out)
		}
	}
}

// haRaw reads the fields of a wake_on_lan switch, service call data or
// config entry's options.
func haRaw(n *yaml.Node, name, from string) raw {
	r := raw{name: name, mac: scalar(n, "mac"), host: scalar(n, "host"), broadcast: scalar(n, "broadcast_address"), from: from}
	if v := value(n, "mac"); v != nil && strings.HasPrefix(v.Tag, "!") && v.Tag != "!!str" {
		r.mac = v.Tag + " " + v.Value // !secret wol_mac: cannot be read here
	}
	if p := scalar(n, "broadcast_port"); p != "" {
		if v, err := strconv.Atoi(p); err == nil {
			r.port = v
		} else {
			r.port = -1 // reported by Normalize
		}
	}
	return r
}

// value returns the value of key in mapping n, or nil.
func value(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// scalar returns the scalar value of key in mapping n, or "".
func scalar(n *yaml.Node, key string) string {
	if v := value(n, key); v != nil && v.Kind == yaml.ScalarNode {
		return strings.TrimSpace(v.Value)
	}
	return ""
}
