package hass

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/moonwake/moonwake"
)

// BenchmarkStatePayload measures what the bridge encodes for one machine:
// its state document, published on every state change and action, and
// its discovery payloads (one per entity), published when it appears or
// changes.
func BenchmarkStatePayload(b *testing.B) {
	m := testMachine("gaming-pc", "02:77:00:00:00:01")
	since := time.Date(2026, 11, 25, 18, 0, 0, 0, time.UTC)
	finished := since.Add(42 * time.Second)
	info := moonwake.PowerInfo{State: moonwake.StateOn, Since: since, Reason: "tcp/47989 open; agent linked",
		Agent: &moonwake.AgentInfo{Connected: true}}
	last := &moonwake.Action{ID: "act_01JDXYZ", Kind: moonwake.ActionWake, Machine: m.Name, MAC: m.MAC,
		Actor: moonwake.Actor{Kind: "token", Name: "phone"}, Status: moonwake.StatusSucceeded,
		Detail: "on after 41 s", CreatedAt: since.Add(-41 * time.Second), FinishedAt: &finished}

	b.Run("state", func(b *testing.B) {
		b.ReportAllocs()
		var n int
		for b.Loop() {
			p, err := json.Marshal(newStateDoc(info, last, nil))
			if err != nil {
				b.Fatal(err)
			}
			n = len(p)
		}
		b.ReportMetric(float64(n), "bytes/payload")
	})
	b.Run("discovery", func(b *testing.B) {
		d := discoveryInfo{topics: topics{prefix: "moonwake", discovery: "homeassistant", hub: "0123456789"},
			publicURL: "https://wake.example.net", version: moonwake.Version}
		scope := moonwake.Token{Name: "home-assistant", Admin: true}
		b.ReportAllocs()
		var n int
		for b.Loop() {
			n = 0
			for _, e := range entities {
				if !allowed(e, &scope, m.Name) {
					continue
				}
				p, err := json.Marshal(d.config(e, m))
				if err != nil {
					b.Fatal(err)
				}
				n += len(p)
			}
		}
		b.ReportMetric(float64(n), "bytes/machine")
	})
}
