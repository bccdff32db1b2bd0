package remote

import (
	"testing"

	"github.com/moonwake/moonwake/uplink"
)

// TestAgentLateWords: what the uplink of a replaced key or a forgotten
// machine says last (a disconnect that comes after the new pairing, or
// after the delete) changes nothing.
func TestAgentLateWords(t *testing.T) {
	a := &Agents{server: &uplink.Server{}, agents: map[string]*agent{"pc": {id: "agent_old"}}}
	old := uplink.Peer{ID: "agent_old", Purpose: uplink.PurposeAgent, Machine: "pc"}
	a.onConnect(old)
	a.replaced(&uplink.Peer{ID: "agent_new", Purpose: uplink.PurposeAgent, Machine: "pc"})
	a.onConnect(uplink.Peer{ID: "agent_new", Purpose: uplink.PurposeAgent, Machine: "pc"})
	a.onDisconnect(old, nil) // the old key's session ends after the new one came up
	if id, ev := a.Evidence("pc"); id != "agent_new" || ev == nil || !ev.Connected {
		t.Fatalf("after the old key's late disconnect: %s %+v, want agent_new connected", id, ev)
	}
	a.Forget("pc")
	a.onDisconnect(uplink.Peer{ID: "agent_new", Purpose: uplink.PurposeAgent, Machine: "pc"}, nil)
	if id, ev := a.Evidence("pc"); ev != nil {
		t.Fatalf("a forgotten machine's agent came back: %s %+v", id, ev)
	}
}
