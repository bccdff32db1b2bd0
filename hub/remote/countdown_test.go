package remote

import (
	"testing"

	"github.com/moonwake/moonwake/uplink"
)

// TestAgentCancelNotices: a cancel from the machine's paired agent reaches
// the observers; one from a replaced key, or a notice of another kind,
// does not.
func TestAgentCancelNotices(t *testing.T) {
	r := &Remote{Agents: &Agents{server: &uplink.Server{}, agents: map[string]*agent{"pc": {id: "agent_1"}}}}
	var got []string
	r.Agents.Countdowns().OnCancel(func(machine, id, how string) { got = append(got, machine+" "+id+" "+how) })

	cancel := uplink.Notice{Kind: uplink.NoticeCancel, Action: "act_1", How: uplink.CancelInput}
	r.onNotice(uplink.Peer{ID: "agent_1", Purpose: uplink.PurposeAgent, Machine: "pc"}, cancel)
	r.onNotice(uplink.Peer{ID: "agent_old", Purpose: uplink.PurposeAgent, Machine: "pc"}, cancel)
	r.onNotice(uplink.Peer{ID: "agent_1", Purpose: uplink.PurposeAgent, Machine: "pc"}, uplink.Notice{Kind: uplink.NoticeMagic})
	if len(got) != 1 || got[0] != "pc act_1 input" {
		t.Fatalf("heard %q", got)
	}
}

func TestTruncate(t *testing.T) {
	for in, want := range map[string]string{"token phone": "token pho", "ééééé": "éééé", "short": "short"} {
		if got := truncate(in, 9); got != want {
			t.Errorf("truncate(%q) = %q, want %q", in, got, want)
		}
	}
}
