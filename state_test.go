package moonwake

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestDeriveState(t *testing.T) {
	at := time.Date(2026, 3, 1, 20, 0, 0, 0, time.UTC)
	const ourMAC, otherMAC = "02:00:00:00:00:01", "02:00:00:00:00:99"
	i64 := func(v int64) *int64 { return &v }
	boolp := func(v bool) *bool { return &v }

	tcp := func(o Outcome) []TCPResult { return []TCPResult{{Port: 47989, Outcome: o}} }
	icmp := func(o Outcome) *ICMPResult { return &ICMPResult{Mode: ICMPPrivileged, Outcome: o} }
	neigh := func(id Identity, mac, state string) *NeighbourResult {
		return &NeighbourResult{IP: "10.0.0.5", MAC: mac, State: state, Identity: id}
	}
	match := neigh(IdentityMatch, ourMAC, "reachable")
	mismatch := neigh(IdentityMismatch, otherMAC, "reachable")
	absent := neigh(IdentityAbsent, "", "failed")
	answeredARP := &NeighbourResult{IP: "10.0.0.5", MAC: ourMAC, State: "reachable", Identity: IdentityMatch, Answered: true}
	sunshine := func(state string, game int64) *SunshineEvidence {
		return &SunshineEvidence{Reachable: true, State: state, CurrentGame: game, Hostname: "pc", UniqueID: "A1", Identity: IdentityMatch}
	}
	agent := func(idle *int64, session *bool) *AgentEvidence {
		return &AgentEvidence{Connected: true, IdleSeconds: idle, UserSession: session}
	}
	wake := Pending{Kind: PendingWake, Since: at.Add(-12 * time.Second)}
	shutdown := Pending{Kind: PendingShutdown, Since: at.Add(-5 * time.Second)}
	reboot := Pending{Kind: PendingReboot, Since: at.Add(-5 * time.Second)}

	tests := []struct {
		name      string
		ev        Evidence
		pending   Pending
		idleAfter time.Duration
		want      PowerState
		reason    []string // substrings of the reason
	}{
		// Rule 2 and 6: up.
		{name: "open port", ev: Evidence{TCP: tcp(OutcomeOpen)}, want: StateOn, reason: []string{"tcp/47989 open"}},
		// A reset or an echo reply shows a live address, not a running
		// machine: its services have stopped, or an interface stayed up.
		{name: "closed port answers with a reset", ev: Evidence{TCP: tcp(OutcomeRefused)}, want: StateOff, reason: []string{"no service answers", "refused"}},
		{name: "echo reply", ev: Evidence{TCP: tcp(OutcomeTimeout), ICMP: icmp(OutcomeReply)}, want: StateOff, reason: []string{"icmp reply"}},
		{name: "echo reply while shutting down", ev: Evidence{TCP: tcp(OutcomeRefused), ICMP: icmp(OutcomeReply), Neighbour: match}, pending: shutdown, want: StateOff, reason: []string{"shutdown verified"}},
		{name: "echo reply while waking", ev: Evidence{TCP: tcp(OutcomeRefused), ICMP: icmp(OutcomeReply), Neighbour: match}, pending: wake, want: StateWaking},
		{name: "open port and echo reply", ev: Evidence{TCP: tcp(OutcomeOpen), ICMP: icmp(OutcomeReply)}, want: StateOn, reason: []string{"icmp reply"}},
		{name: "MAC confirmed", ev: Evidence{TCP: tcp(OutcomeOpen), Neighbour: match}, want: StateOn, reason: []string{"MAC " + ourMAC + " matches"}},
		{name: "behind a router, identity unknown", ev: Evidence{TCP: tcp(OutcomeOpen), Neighbour: &NeighbourResult{IP: "10.1.0.5", Identity: IdentityUnknown}}, want: StateOn},
		{name: "agent alone, firewall drops probes", ev: Evidence{TCP: tcp(OutcomeTimeout), ICMP: icmp(OutcomeTimeout), Agent: agent(nil, nil)}, want: StateOn, reason: []string{"agent link up", "filtered?"}},
		{name: "agent link down is no evidence", ev: Evidence{Agent: &AgentEvidence{Connected: false}}, want: StateUnknown},
		{name: "wake done", ev: Evidence{TCP: tcp(OutcomeOpen), Neighbour: match}, pending: wake, want: StateOn, reason: []string{"wake succeeded"}},

		// Rule 1: another device holds the address.
		{name: "reused IP", ev: Evidence{Addr: "10.0.0.5", TCP: tcp(OutcomeRefused), ICMP: icmp(OutcomeReply), Neighbour: mismatch}, want: StateOff,
			reason: []string{"IP 10.0.0.5 answered but belongs to MAC " + otherMAC}},
		{name: "reused IP while waking", ev: Evidence{TCP: tcp(OutcomeOpen), Neighbour: mismatch}, pending: wake, want: StateWaking, reason: []string{"belongs to MAC " + otherMAC}},
		{name: "reused IP runs Sunshine, streaming is not ours", ev: Evidence{TCP: tcp(OutcomeOpen), Neighbour: mismatch, Sunshine: sunshine(SunshineBusy, 7)}, want: StateOff},
		{name: "reused IP but the agent is up elsewhere", ev: Evidence{TCP: tcp(OutcomeOpen), Neighbour: mismatch, Agent: agent(nil, nil)}, want: StateOn,
			reason: []string{"agent link up", "another address"}},
		{name: "stale foreign entry, nothing answers", ev: Evidence{TCP: tcp(OutcomeTimeout), Neighbour: mismatch}, want: StateOff, reason: []string{"IP 10.0.0.5 belongs to MAC"}},
		{name: "another Sunshine host at the address", ev: Evidence{Addr: "10.1.0.5", TCP: tcp(OutcomeOpen), Sunshine: &SunshineEvidence{Reachable: true, State: SunshineFree, Hostname: "other", UniqueID: "B2", Identity: IdentityMismatch}},
			want: StateOff, reason: []string{`Sunshine host "other"`}},
		{name: "Sunshine reinstalled, MAC still ours", ev: Evidence{TCP: tcp(OutcomeOpen), Neighbour: match, Sunshine: &SunshineEvidence{Reachable: true, State: SunshineFree, UniqueID: "new", Identity: IdentityMismatch}},
			want: StateOn},

		// Rule 3: pending actions while up.
		{name: "shutdown pending, still up", ev: Evidence{At: at, TCP: tcp(OutcomeOpen)}, pending: shutdown, want: StateShuttingDown, reason: []string{"shutdown pending for 5s"}},
		{name: "shutdown through the Sunshine app makes it busy", ev: Evidence{TCP: tcp(OutcomeOpen), Sunshine: sunshine(SunshineBusy, 3)}, pending: shutdown, want: StateShuttingDown},
		{name: "shutdown pending, only the agent link lingers", ev: Evidence{TCP: tcp(OutcomeTimeout), Agent: agent(nil, nil)}, pending: shutdown, want: StateShuttingDown},
		{name: "reboot, not down yet", ev: Evidence{TCP: tcp(OutcomeOpen)}, pending: reboot, want: StateOn, reason: []string{"reboot pending"}},

		// Rule 4: streaming.
		{name: "Sunshine busy", ev: Evidence{TCP: tcp(OutcomeOpen), Sunshine: sunshine(SunshineBusy, 881448767)}, want: StateStreaming, reason: []string{"app 881448767"}},
		{name: "streaming beats idle", ev: Evidence{TCP: tcp(OutcomeOpen), Sunshine: sunshine(SunshineBusy, 1), Agent: agent(i64(3600), boolp(true))}, idleAfter: time.Minute, want: StateStreaming},
		{name: "Sunshine free", ev: Evidence{TCP: tcp(OutcomeOpen), Sunshine: sunshine(SunshineFree, 0)}, want: StateOn},

		// Rule 5: idle.
		{name: "idle long enough", ev: Evidence{TCP: tcp(OutcomeOpen), Sunshine: sunshine(SunshineFree, 0), Agent: agent(i64(600), boolp(true))}, idleAfter: 10 * time.Minute, want: StateIdle, reason: []string{"no input for 10m0s"}},
		{name: "idle not long enough", ev: Evidence{TCP: tcp(OutcomeOpen), Agent: agent(i64(599), boolp(true))}, idleAfter: 10 * time.Minute, want: StateOn},
		{name: "idle policy off", ev: Evidence{TCP: tcp(OutcomeOpen), Agent: agent(i64(99999), boolp(true))}, want: StateOn},
		{name: "no session, idle time unknown", ev: Evidence{TCP: tcp(OutcomeOpen), Agent: agent(nil, boolp(false))}, idleAfter: time.Minute, want: StateIdle, reason: []string{"no user logged in"}},
		{name: "session, idle time unknown", ev: Evidence{TCP: tcp(OutcomeOpen), Agent: agent(nil, boolp(true))}, idleAfter: time.Minute, want: StateOn},
		{name: "no agent: never idle by guess", ev: Evidence{TCP: tcp(OutcomeOpen), Sunshine: sunshine(SunshineFree, 0)}, idleAfter: time.Minute, want: StateOn},

		// Rule 7: contradiction.
		{name: "answered, yet ARP failed", ev: Evidence{TCP: tcp(OutcomeOpen), Neighbour: absent}, want: StateUnknown, reason: []string{"conflicting", "failed"}},
		{name: "answered, ARP failed, agent settles it", ev: Evidence{TCP: tcp(OutcomeOpen), Neighbour: absent, Agent: agent(nil, nil)}, want: StateOn},

		// Rule 8: nothing usable.
		{name: "nothing probed", ev: Evidence{}, want: StateUnknown, reason: []string{"nothing was probed"}},
		{name: "every probe failed here", ev: Evidence{TCP: tcp(OutcomeError), ICMP: &ICMPResult{Mode: ICMPUnavailable, Outcome: OutcomeError}}, want: StateUnknown,
			reason: []string{"1 probe(s) failed", "ICMP unavailable"}},
		{name: "name did not resolve", ev: Evidence{Error: "lookup pc.lan: no such host"}, pending: wake, want: StateUnknown, reason: []string{"no such host"}},
		{name: "Sunshine unreachable alone says nothing", ev: Evidence{Sunshine: &SunshineEvidence{Error: "timeout"}}, want: StateUnknown},

		// Rule 9: nobody there.
		{name: "off", ev: Evidence{TCP: tcp(OutcomeTimeout), ICMP: icmp(OutcomeTimeout)}, want: StateOff, reason: []string{"no answer: tcp/47989 timeout, icmp timeout"}},
		{name: "off: host unreachable", ev: Evidence{TCP: tcp(OutcomeUnreachable)}, want: StateOff},
		{name: "off: ARP failed", ev: Evidence{TCP: tcp(OutcomeError), Neighbour: absent}, want: StateOff, reason: []string{"neighbour failed"}},
		{name: "off, although ARP offload answers", ev: Evidence{TCP: tcp(OutcomeTimeout), Neighbour: match}, want: StateOff, reason: []string{"still lists " + ourMAC}},
		{name: "one silent probe is enough", ev: Evidence{TCP: []TCPResult{{Port: 1, Outcome: OutcomeError}, {Port: 2, Outcome: OutcomeTimeout}}}, want: StateOff},
		{name: "waking", ev: Evidence{At: at, TCP: tcp(OutcomeTimeout)}, pending: wake, want: StateWaking, reason: []string{"wake pending for 12s"}},
		{name: "reboot, down", ev: Evidence{TCP: tcp(OutcomeTimeout)}, pending: reboot, want: StateWaking, reason: []string{"reboot pending"}},
		{name: "shutdown verified", ev: Evidence{TCP: tcp(OutcomeTimeout), Agent: &AgentEvidence{}}, pending: shutdown, want: StateOff, reason: []string{"shutdown verified"}},
		// Asleep is off, said so.
		{name: "asleep: the card answered ARP", ev: Evidence{TCP: tcp(OutcomeTimeout), ICMP: icmp(OutcomeTimeout), Neighbour: answeredARP}, pending: shutdown, want: StateOff,
			reason: []string{"shutdown verified: " + AsleepLabel, "MAC " + ourMAC + " answered ARP"}},
		{name: "asleep while waking is waking", ev: Evidence{TCP: tcp(OutcomeTimeout), Neighbour: answeredARP}, pending: wake, want: StateWaking, reason: []string{AsleepLabel}},
		{name: "card answers and a port is open: on", ev: Evidence{TCP: tcp(OutcomeOpen), Neighbour: answeredARP}, want: StateOn},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, reason := DeriveState(tt.ev, tt.pending, tt.idleAfter)
			if got != tt.want {
				t.Fatalf("DeriveState = %s (%s), want %s", got, reason, tt.want)
			}
			if reason == "" {
				t.Error("empty reason")
			}
			for _, s := range tt.reason {
				if !strings.Contains(reason, s) {
					t.Errorf("reason %q lacks %q", reason, s)
				}
			}
		})
	}
}

// Asleep: the machine's own card answered ARP this round, and nothing else
// answered; a kept entry, another MAC, or any sign of life is not asleep.
func TestAsleep(t *testing.T) {
	const ourMAC = "02:00:00:00:00:01"
	card := func(id Identity, answered bool) *NeighbourResult {
		return &NeighbourResult{IP: "10.0.0.5", MAC: ourMAC, State: "reachable", Identity: id, Answered: answered}
	}
	silentTCP := []TCPResult{{Port: 47989, Outcome: OutcomeTimeout}}
	for _, tc := range []struct {
		name string
		ev   Evidence
		want bool
	}{
		{"card answers, all silent", Evidence{TCP: silentTCP, ICMP: &ICMPResult{Mode: ICMPPrivileged, Outcome: OutcomeTimeout}, Neighbour: card(IdentityMatch, true)}, true},
		{"card answers, host unreachable otherwise", Evidence{TCP: []TCPResult{{Port: 1, Outcome: OutcomeUnreachable}}, Neighbour: card(IdentityMatch, true)}, true},
		{"entry kept but not answered now", Evidence{TCP: silentTCP, Neighbour: card(IdentityMatch, false)}, false},
		{"another MAC answered", Evidence{TCP: silentTCP, Neighbour: card(IdentityMismatch, true)}, false},
		{"no neighbour check", Evidence{TCP: silentTCP}, false},
		{"a port open", Evidence{TCP: []TCPResult{{Port: 47989, Outcome: OutcomeOpen}}, Neighbour: card(IdentityMatch, true)}, false},
		{"a reset", Evidence{TCP: []TCPResult{{Port: 47989, Outcome: OutcomeRefused}}, Neighbour: card(IdentityMatch, true)}, false},
		{"an echo reply", Evidence{TCP: silentTCP, ICMP: &ICMPResult{Mode: ICMPPrivileged, Outcome: OutcomeReply}, Neighbour: card(IdentityMatch, true)}, false},
		{"Sunshine answers", Evidence{TCP: silentTCP, Sunshine: &SunshineEvidence{Reachable: true}, Neighbour: card(IdentityMatch, true)}, false},
		{"agent linked", Evidence{TCP: silentTCP, Agent: &AgentEvidence{Connected: true}, Neighbour: card(IdentityMatch, true)}, false},
		{"agent link down", Evidence{TCP: silentTCP, Agent: &AgentEvidence{}, Neighbour: card(IdentityMatch, true)}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Asleep(tc.ev); got != tc.want {
				t.Errorf("Asleep = %v, want %v", got, tc.want)
			}
			// Never mistaken for up.
			if st, _ := DeriveState(tc.ev, Pending{}, 0); tc.want && st != StateOff {
				t.Errorf("asleep evidence gives %s, want off", st)
			}
		})
	}
}

// Every state is reached by some evidence, and Up agrees with the rules.
func TestPowerStateUp(t *testing.T) {
	up := map[PowerState]bool{StateOn: true, StateStreaming: true, StateIdle: true, StateShuttingDown: true,
		StateOff: false, StateWaking: false, StateUnknown: false}
	for s, want := range up {
		if s.Up() != want {
			t.Errorf("%s.Up() = %v", s, !want)
		}
	}
}

func TestOutcome(t *testing.T) {
	for _, o := range []Outcome{OutcomeOpen, OutcomeRefused, OutcomeReply, OutcomeTimeout, OutcomeUnreachable, OutcomeError} {
		if o.Answered() && o.Silent() {
			t.Errorf("%s is both answered and silent", o)
		}
	}
	if OutcomeError.Answered() || OutcomeError.Silent() {
		t.Error("an error on this side says nothing about the machine")
	}
}

// The API renders evidence as JSON; unknown parts are left out.
func TestEvidenceJSON(t *testing.T) {
	ev := Evidence{At: time.Unix(0, 0).UTC(), Addr: "10.0.0.5", TCP: []TCPResult{{Port: 47989, Outcome: OutcomeOpen, RTT: time.Millisecond}}}
	b, err := json.Marshal(StateChange{Machine: "pc", To: StateOn, Reason: "x", At: ev.At, Evidence: ev})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"machine":"pc","to":"on","reason":"x","at":"1970-01-01T00:00:00Z","evidence":{"at":"1970-01-01T00:00:00Z","addr":"10.0.0.5","tcp":[{"port":47989,"outcome":"open","rtt_ns":1000000}]}}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
}
