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

// TestAgentSilentLink: an uplink that looks up but does not answer a link
// check vouches for nothing until the link is made anew; a later check
// that is answered would clear it too.
func TestAgentSilentLink(t *testing.T) {
	// The server has no session for the peer, as when its pong never
	// comes: the check fails.
	a := &Agents{server: &uplink.Server{}, agents: map[string]*agent{"pc": {id: "agent_1"}}}
	p := uplink.Peer{ID: "agent_1", Purpose: uplink.PurposeAgent, Machine: "pc"}
	a.onConnect(p)
	if _, ev := a.Evidence("pc"); ev == nil || !ev.Connected {
		t.Fatalf("linked: %+v", ev)
	}
	a.CheckLink(t.Context(), "pc")
	if _, ev := a.Evidence("pc"); ev == nil || ev.Connected {
		t.Fatalf("after an unanswered check: %+v, want not connected", ev)
	}
	a.onReport(p, uplink.Report{}) // a report is not an answer to the check
	if _, ev := a.Evidence("pc"); ev.Connected {
		t.Fatal("a report made a silent link vouch again")
	}
	a.onConnect(p) // a new session
	if _, ev := a.Evidence("pc"); !ev.Connected {
		t.Fatal("a new session still counted as silent")
	}
	a.CheckLink(t.Context(), "nas") // no agent: nothing to check
}
