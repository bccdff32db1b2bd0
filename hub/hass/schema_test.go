package hass

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// haSchema is testdata/ha_mqtt_schema.json: what Home Assistant accepts in
// an MQTT discovery payload.
type haSchema struct {
	EntityCommon struct {
		Keys               []string          `json:"keys"`
		Deprecated         map[string]string `json:"deprecated"`
		Exclusive          [][]string        `json:"exclusive"`
		EntityCategories   []string          `json:"entity_categories"`
		PublishTopicKeys   []string          `json:"publish_topic_keys"`
		SubscribeTopicKeys []string          `json:"subscribe_topic_keys"`
		TemplateKeys       []string          `json:"template_keys"`
		BoolKeys           []string          `json:"bool_keys"`
	} `json:"entity_common"`
	Components map[string]struct {
		Keys          []string `json:"keys"`
		Required      []string `json:"required"`
		DeviceClasses []string `json:"device_classes"`
		StateClasses  []string `json:"state_classes"`
	} `json:"components"`
	Device struct {
		Keys                    []string `json:"keys"`
		OneOfRequired           []string `json:"one_of_required"`
		ConfigurationURLSchemes []string `json:"configuration_url_schemes"`
	} `json:"device"`
	Origin struct {
		Keys     []string `json:"keys"`
		Required []string `json:"required"`
	} `json:"origin"`
}

func loadSchema(t testing.TB) *haSchema {
	t.Helper()
	b, err := os.ReadFile("testdata/ha_mqtt_schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var s haSchema
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return &s
}

var (
	entityIDRE = regexp.MustCompile(`^[a-z0-9_]+\.[a-z0-9_]+$`)
	topicIDRE  = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)
)

// validate checks a discovery payload for component against the schema;
// it returns every problem found.
func (s *haSchema) validate(component string, raw []byte) []string {
	var errs []string
	fail := func(f string, a ...any) { errs = append(errs, fmt.Sprintf(f, a...)) }
	var c map[string]any
	if err := json.Unmarshal(raw, &c); err != nil {
		return []string{"not a JSON object: " + err.Error()}
	}
	comp, ok := s.Components[component]
	if !ok {
		return []string{"unknown component " + component}
	}
	for k := range c {
		if why, dep := s.EntityCommon.Deprecated[k]; dep {
			fail("deprecated key %q: %s", k, why)
		} else if !slices.Contains(s.EntityCommon.Keys, k) && !slices.Contains(comp.Keys, k) {
			fail("unknown key %q for %s", k, component)
		}
	}
	for _, k := range comp.Required {
		if _, ok := c[k]; !ok {
			fail("missing required key %q", k)
		}
	}
	for _, ex := range s.EntityCommon.Exclusive {
		n := 0
		for _, k := range ex {
			if _, ok := c[k]; ok {
				n++
			}
		}
		if n > 1 {
			fail("keys %v are exclusive", ex)
		}
	}
	str := func(k string) (string, bool) {
		v, ok := c[k]
		if !ok {
			return "", false
		}
		sv, isStr := v.(string)
		if !isStr {
			fail("%s: want a string, got %T", k, v)
		}
		return sv, isStr
	}
	for _, k := range s.EntityCommon.PublishTopicKeys {
		if v, ok := str(k); ok && (v == "" || strings.ContainsAny(v, "+#")) {
			fail("%s %q: not a valid publish topic", k, v)
		}
	}
	for _, k := range s.EntityCommon.SubscribeTopicKeys {
		if v, ok := str(k); ok && v == "" {
			fail("%s: empty topic", k)
		}
	}
	for _, k := range s.EntityCommon.TemplateKeys {
		str(k)
	}
	for _, k := range []string{"name", "unique_id", "payload_on", "payload_off", "state_on", "state_off", "payload_press", "payload_available", "payload_not_available", "icon"} {
		str(k)
	}
	for _, k := range s.EntityCommon.BoolKeys {
		if v, ok := c[k]; ok {
			if _, isBool := v.(bool); !isBool {
				fail("%s: want a boolean, got %T", k, v)
			}
		}
	}
	if v, ok := c["qos"]; ok {
		if f, isNum := v.(float64); !isNum || f != 0 && f != 1 && f != 2 {
			fail("qos %v: want 0, 1 or 2", v)
		}
	}
	if _, ok := c["unique_id"]; !ok {
		fail("no unique_id: Home Assistant ties entities to a device only with one")
	}
	if v, ok := str("default_entity_id"); ok && (!entityIDRE.MatchString(v) || !strings.HasPrefix(v, component+".")) {
		fail("default_entity_id %q: want %s.<object_id> of a-z, 0-9, _", v, component)
	}
	if v, ok := str("entity_category"); ok && !slices.Contains(s.EntityCommon.EntityCategories, v) {
		fail("entity_category %q", v)
	}
	dc, hasDC := str("device_class")
	if hasDC && !slices.Contains(comp.DeviceClasses, dc) {
		fail("device_class %q is not one of %s's", dc, component)
	}
	if v, ok := str("state_class"); ok && !slices.Contains(comp.StateClasses, v) {
		fail("state_class %q", v)
	}
	if component == "sensor" {
		opts, hasOpts := c["options"]
		if dc == "enum" && !hasOpts {
			fail("an enum sensor needs options")
		}
		if hasOpts {
			list, isList := opts.([]any)
			if !isList || len(list) == 0 {
				fail("options: want a non-empty list")
			}
			for _, o := range list {
				if _, isStr := o.(string); !isStr {
					fail("options: %v is not a string", o)
				}
			}
			if dc != "enum" {
				fail("options are allowed with device_class enum only")
			}
			if _, ok := c["unit_of_measurement"]; ok {
				fail("options are not allowed with unit_of_measurement")
			}
			if _, ok := c["state_class"]; ok {
				fail("options are not allowed with state_class")
			}
		}
	}
	if v, ok := c["device"]; ok {
		errs = append(errs, s.validateDevice(v)...)
	}
	if v, ok := c["origin"]; ok {
		o, isObj := v.(map[string]any)
		if !isObj {
			fail("origin: want an object")
		}
		for k := range o {
			if !slices.Contains(s.Origin.Keys, k) {
				fail("origin: unknown key %q", k)
			}
		}
		for _, k := range s.Origin.Required {
			if _, ok := o[k]; !ok {
				fail("origin: missing %q", k)
			}
		}
	}
	return errs
}

func (s *haSchema) validateDevice(v any) []string {
	var errs []string
	fail := func(f string, a ...any) { errs = append(errs, fmt.Sprintf("device: "+f, a...)) }
	d, ok := v.(map[string]any)
	if !ok {
		return []string{"device: want an object"}
	}
	for k := range d {
		if !slices.Contains(s.Device.Keys, k) {
			fail("unknown key %q", k)
		}
	}
	identified := false
	for _, k := range s.Device.OneOfRequired {
		if l, ok := d[k].([]any); ok && len(l) > 0 {
			identified = true
		}
	}
	if !identified {
		fail("needs identifiers or connections")
	}
	if v, ok := d["identifiers"]; ok {
		l, isList := v.([]any)
		if !isList {
			fail("identifiers: want a list")
		}
		for _, id := range l {
			if _, isStr := id.(string); !isStr {
				fail("identifiers: %v is not a string", id)
			}
		}
	}
	if v, ok := d["connections"]; ok {
		l, isList := v.([]any)
		if !isList {
			fail("connections: want a list of pairs")
		}
		for _, p := range l {
			pair, isList := p.([]any)
			if !isList || len(pair) != 2 {
				fail("connections: %v is not a [type, id] pair", p)
				continue
			}
			for _, x := range pair {
				if _, isStr := x.(string); !isStr {
					fail("connections: %v is not a string", x)
				}
			}
		}
	}
	for k, x := range d {
		if k == "identifiers" || k == "connections" {
			continue
		}
		if _, isStr := x.(string); !isStr {
			fail("%s: want a string", k)
		}
	}
	if v, ok := d["configuration_url"].(string); ok {
		u, err := url.Parse(v)
		if err != nil || !slices.Contains(s.Device.ConfigurationURLSchemes, u.Scheme) {
			fail("configuration_url %q: want http, https or homeassistant", v)
		}
	}
	return errs
}

// The schema table itself must catch what Home Assistant rejects.
func TestSchemaCatchesMistakes(t *testing.T) {
	s := loadSchema(t)
	dev := `"device":{"identifiers":["x"]},"unique_id":"u"`
	for _, tc := range []struct {
		component, payload string
	}{
		{"switch", `{` + dev + `}`}, // no command_topic
		{"switch", `{"command_topic":"a","colour":"red",` + dev + `}`},
		{"switch", `{"command_topic":"a","object_id":"x",` + dev + `}`},
		{"switch", `{"command_topic":"a/+",` + dev + `}`},
		{"switch", `{"command_topic":"a","device_class":"power",` + dev + `}`},
		{"button", `{"command_topic":"a","device_class":"power",` + dev + `}`},
		{"binary_sensor", `{"state_topic":"a","device_class":"streaming",` + dev + `}`},
		{"sensor", `{"state_topic":"a","device_class":"enum",` + dev + `}`},
		{"sensor", `{"state_topic":"a","options":["x"],` + dev + `}`},
		{"sensor", `{"state_topic":"a","device_class":"enum","options":[],` + dev + `}`},
		{"sensor", `{"state_topic":"a","device_class":"enum","options":["a"],"unit_of_measurement":"W",` + dev + `}`},
		{"sensor", `{"state_topic":"a","device":{"name":"x"},"unique_id":"u"}`},
		{"sensor", `{"state_topic":"a","device":{"connections":["mac","x"]},"unique_id":"u"}`},
		{"sensor", `{"state_topic":"a","device":{"identifiers":["x"],"colour":"x"},"unique_id":"u"}`},
		{"sensor", `{"state_topic":"a","origin":{"sw_version":"1"},` + dev + `}`},
		{"sensor", `{"state_topic":"a","availability":[],"availability_topic":"s",` + dev + `}`},
		{"sensor", `{"state_topic":"a","default_entity_id":"switch.x",` + dev + `}`},
		{"sensor", `{"state_topic":"a","qos":3,` + dev + `}`},
		{"sensor", `{"state_topic":"a","device":{"identifiers":["x"]}}`}, // no unique_id
	} {
		if errs := s.validate(tc.component, []byte(tc.payload)); len(errs) == 0 {
			t.Errorf("%s %s: accepted", tc.component, tc.payload)
		}
	}
	ok := `{"state_topic":"a","device_class":"enum","options":["a","b"],"default_entity_id":"sensor.a_b",` + dev + `}`
	if errs := s.validate("sensor", []byte(ok)); len(errs) > 0 {
		t.Errorf("valid payload rejected: %v", errs)
	}
}

// Every payload the bridge can build passes, for every entity, with and
// without a public URL, and every topic level is one Home Assistant takes.
func TestDiscoveryPayloadsMatchSchema(t *testing.T) {
	s := loadSchema(t)
	m := testMachine("gaming-pc", "AA:BB:CC:DD:EE:01")
	for _, public := range []string{"", "https://wake.example.net"} {
		d := discoveryInfo{topics: topics{prefix: "moonwake", discovery: "homeassistant", hub: "0123456789"}, publicURL: public, version: "v1.2.3"}
		for _, e := range entities {
			b, err := json.Marshal(d.config(e, m))
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range s.validate(e.component, b) {
				t.Errorf("%s/%s: %s", e.component, e.object, p)
			}
			parts := strings.Split(d.config(e, m)["unique_id"].(string), "/")
			if len(parts) != 1 {
				t.Errorf("unique_id has a slash")
			}
			topic := strings.Split(d.topics.config(e, m.Name), "/")
			if len(topic) != 5 || topic[0] != "homeassistant" || topic[1] != e.component || !topicIDRE.MatchString(topic[2]) || !topicIDRE.MatchString(topic[3]) || topic[4] != "config" {
				t.Errorf("discovery topic %v", topic)
			}
		}
	}
}
