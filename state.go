package moonwake

import (
	"fmt"
	"strings"
	"time"
)

// PowerState is what moonwake believes about a machine's power, derived from
// Evidence by DeriveState, never assumed from an action having been sent.
type PowerState string

// Power states.
const (
	StateOff          PowerState = "off"           // nothing of the machine answers
	StateWaking       PowerState = "waking"        // a wake is under way and nothing answers yet
	StateOn           PowerState = "on"            // the machine answers
	StateStreaming    PowerState = "streaming"     // on, and Sunshine runs an app
	StateIdle         PowerState = "idle"          // on, no app streams, and nobody used it for a while
	StateShuttingDown PowerState = "shutting-down" // a shutdown is under way and the machine still answers
	StateUnknown      PowerState = "unknown"       // the evidence is missing or contradicts itself
)

// Up reports whether s says the machine is running (on, streaming, idle,
// or still up while shutting down).
func (s PowerState) Up() bool {
	switch s {
	case StateOn, StateStreaming, StateIdle, StateShuttingDown:
		return true
	}
	return false
}

// Outcome is what one network probe got back.
type Outcome string

// Probe outcomes. Only Answered outcomes are evidence that something is at
// the address; only Silent ones are evidence that nothing is; an error says
// nothing about the machine, only that this side could not probe.
const (
	OutcomeOpen        Outcome = "open"        // TCP: connected
	OutcomeRefused     Outcome = "refused"     // TCP: reset, so a host is up and the port is closed
	OutcomeReply       Outcome = "reply"       // ICMP: echo reply
	OutcomeTimeout     Outcome = "timeout"     // no answer in time
	OutcomeUnreachable Outcome = "unreachable" // the network says nobody has the address (ARP failed, host unreachable)
	OutcomeError       Outcome = "error"       // the probe could not be made (permission, no route, bad address)
)

// Answered reports whether o is an answer from a host at the address.
func (o Outcome) Answered() bool {
	return o == OutcomeOpen || o == OutcomeRefused || o == OutcomeReply
}

// Silent reports whether o is evidence that nobody is at the address.
func (o Outcome) Silent() bool { return o == OutcomeTimeout || o == OutcomeUnreachable }

// ICMPMode is how ICMP echo was (or could not be) sent.
type ICMPMode string

// ICMP modes: a raw socket (root or CAP_NET_RAW), a Linux "ping" datagram
// socket (the process's group within net.ipv4.ping_group_range), or neither.
const (
	ICMPPrivileged   ICMPMode = "privileged"
	ICMPUnprivileged ICMPMode = "unprivileged"
	ICMPUnavailable  ICMPMode = "unavailable"
)

// Identity says whether the host that holds a machine's address is that
// machine.
type Identity string

// Identities.
const (
	IdentityUnknown  Identity = "unknown"  // not checked, or not checkable (the host is behind a router)
	IdentityMatch    Identity = "match"    // the address resolves to the machine's MAC (or Sunshine id)
	IdentityMismatch Identity = "mismatch" // the address belongs to another device
	IdentityAbsent   Identity = "absent"   // the address did not resolve on the link: nobody has it
)

// Sunshine server states, from /serverinfo.
const (
	SunshineBusy = "busy" // an app runs: a stream may be active
	SunshineFree = "free"
)

// TCPResult is a TCP connect to one port.
type TCPResult struct {
	Port    int           `json:"port"`
	Outcome Outcome       `json:"outcome"`
	RTT     time.Duration `json:"rtt_ns,omitempty"`
	Error   string        `json:"error,omitempty"`
}

// ICMPResult is one ICMP echo.
type ICMPResult struct {
	Mode    ICMPMode      `json:"mode"`
	Outcome Outcome       `json:"outcome"`
	RTT     time.Duration `json:"rtt_ns,omitempty"`
	Error   string        `json:"error,omitempty"`
}

// NeighbourResult is the kernel's neighbour (ARP/NDP) entry for the
// machine's address, read after the other probes, which make the kernel
// resolve it.
type NeighbourResult struct {
	IP       string   `json:"ip"`
	MAC      string   `json:"mac,omitempty"`   // the link-layer address seen, if any
	State    string   `json:"state,omitempty"` // the kernel's: reachable, stale, failed …
	Identity Identity `json:"identity"`
	// Answered says that the MAC answered an ARP request of this round's
	// own, sent because nothing else at the address answered: the network
	// card is alive for a host that is not (see Asleep). An entry merely
	// kept by the kernel (reachable for up to a minute after the last
	// answer, stale for longer) proves nothing about now.
	Answered bool   `json:"answered,omitempty"`
	Error    string `json:"error,omitempty"`
}

// AgentEvidence is what the machine's agent reports over its link. Pointers
// are nil when the agent did not (or cannot) say.
type AgentEvidence struct {
	Connected     bool   `json:"connected"`
	IdleSeconds   *int64 `json:"idle_seconds,omitempty"` // since the last keyboard or mouse input
	UserSession   *bool  `json:"user_session,omitempty"` // someone is logged in
	UptimeSeconds *int64 `json:"uptime_seconds,omitempty"`
}

// SunshineEvidence is the answer of Sunshine's unpaired /serverinfo.
type SunshineEvidence struct {
	Reachable   bool     `json:"reachable"`
	State       string   `json:"state,omitempty"` // SunshineBusy or SunshineFree
	CurrentGame int64    `json:"current_game,omitempty"`
	Hostname    string   `json:"hostname,omitempty"`
	UniqueID    string   `json:"unique_id,omitempty"`
	AppVersion  string   `json:"app_version,omitempty"`
	Identity    Identity `json:"identity"` // UniqueID against the one the machine is known by
	Error       string   `json:"error,omitempty"`
}

// Evidence is everything one round of probes learned about a machine. A nil
// part was not probed.
type Evidence struct {
	At        time.Time         `json:"at"`             // when the round ended
	Addr      string            `json:"addr,omitempty"` // the IP probed
	TCP       []TCPResult       `json:"tcp,omitempty"`
	ICMP      *ICMPResult       `json:"icmp,omitempty"`
	Neighbour *NeighbourResult  `json:"neighbour,omitempty"`
	Agent     *AgentEvidence    `json:"agent,omitempty"`
	Sunshine  *SunshineEvidence `json:"sunshine,omitempty"`
	Error     string            `json:"error,omitempty"` // the round could not start (the name did not resolve)
}

// PendingKind is the power action under way on a machine.
type PendingKind string

// Pending actions. Sleep and hibernate are PendingShutdown: their goal is
// a machine that no longer answers.
const (
	PendingNone     PendingKind = ""
	PendingWake     PendingKind = "wake"
	PendingShutdown PendingKind = "shutdown"
	PendingReboot   PendingKind = "reboot"
)

// Pending is the power action in progress on a machine, if any.
type Pending struct {
	Kind  PendingKind `json:"kind,omitempty"`
	Since time.Time   `json:"since,omitzero"`
}

// StateChange is an event: a machine's derived state changed.
type StateChange struct {
	Machine  string     `json:"machine"`
	From     PowerState `json:"from,omitempty"` // "" for the first state seen
	To       PowerState `json:"to"`
	Reason   string     `json:"reason"`
	At       time.Time  `json:"at"`
	Evidence Evidence   `json:"evidence"`
}

// DeriveState turns evidence into a power state, with the reason in words.
// It is pure: the same evidence always gives the same answer. The rules, in
// order:
//
//  1. Identity. An address that resolves to another MAC in the neighbour
//     table is not the machine: whatever answered there ("IP answered but
//     belongs to MAC x"), DHCP gave the address to another device, and it
//     counts as evidence that the machine is not at its address. A Sunshine
//     uniqueid that is not the machine's does the same, unless the
//     neighbour table confirms the MAC (Sunshine was reinstalled).
//  2. The machine is up when one of its services answered at its own
//     address (a TCP connect to one of its ports, a Sunshine answer), or
//     when its agent's authenticated uplink is up, which holds even when the
//     network probes are filtered or the address changed. An ICMP echo
//     reply or a TCP reset proves only that the address is alive: an OS
//     whose services have stopped answers them while it powers off, and so
//     does an interface left up; alone they count toward off (rule 9).
//  3. Up, with a shutdown (or sleep) pending: shutting-down. Up with a
//     reboot pending: on (it has not gone down yet, or it is back).
//  4. Up, and Sunshine says BUSY: streaming. Never idle during a stream.
//  5. Up, idleAfter > 0, and the agent says nobody touched the machine for
//     idleAfter or longer (or, when it cannot tell the idle time, that no
//     user is logged in): idle.
//  6. Up otherwise: on.
//  7. A probe answered while the neighbour table says nobody resolved the
//     address, and no agent uplink settles it: the evidence contradicts
//     itself, unknown (the next round tells).
//  8. Not up, and no probe could say anything (all failed on this side, or
//     none was made, or the name did not resolve): unknown.
//  9. Not up, and something said nobody is there (a timeout, an
//     unreachable, a failed neighbour resolution, the address held by
//     another MAC): waking while a wake or reboot is pending, else off
//     (which ends a pending shutdown). A neighbour entry with the right
//     MAC but silence otherwise is off too: a sleeping NIC with ARP offload
//     answers ARP for a host that is not running. When that NIC answered
//     this round (Asleep), the reason starts "asleep (network card
//     answers)"; the state is off all the same: a sleeping PC is woken,
//     and counted, as one that is off.
func DeriveState(ev Evidence, p Pending, idleAfter time.Duration) (PowerState, string) {
	// answered: anything at the address answered (identity is judged on
	// these); serving: one of the machine's own services answered, which
	// is what "up" means. An ICMP echo reply or a TCP reset only says that
	// an address is alive: a machine whose services have stopped, or an
	// interface left up while the machine is off, answers them too.
	var answered, serving, weak, silent []string
	failed := 0
	note := func(what string, o Outcome) {
		switch {
		case o == OutcomeOpen:
			answered = append(answered, what)
			serving = append(serving, what)
		case o.Answered():
			answered = append(answered, what)
			weak = append(weak, what)
		case o.Silent():
			silent = append(silent, what)
		default:
			failed++
		}
	}
	for _, r := range ev.TCP {
		what := fmt.Sprintf("tcp/%d %s", r.Port, r.Outcome)
		note(what, r.Outcome)
	}
	if r := ev.ICMP; r != nil && r.Mode != ICMPUnavailable {
		note("icmp "+string(r.Outcome), r.Outcome)
	}
	sun := ev.Sunshine
	if sun != nil && sun.Reachable {
		answered = append(answered, "sunshine "+sun.State)
		serving = append(serving, "sunshine "+sun.State)
	}
	n := ev.Neighbour

	// 1. Identity.
	foreign := ""
	macOK := n != nil && n.Identity == IdentityMatch
	switch {
	case n != nil && n.Identity == IdentityMismatch:
		if len(answered) > 0 {
			foreign = fmt.Sprintf("IP %s answered but belongs to MAC %s", n.IP, n.MAC)
		} else {
			foreign = fmt.Sprintf("IP %s belongs to MAC %s", n.IP, n.MAC)
		}
	case sun != nil && sun.Reachable && sun.Identity == IdentityMismatch && !macOK:
		foreign = fmt.Sprintf("IP %s answered as Sunshine host %q (%s), not this machine", ev.Addr, sun.Hostname, sun.UniqueID)
	}
	if foreign != "" {
		answered, serving, weak = nil, nil, nil
		sun = nil
	}

	agent := ev.Agent != nil && ev.Agent.Connected
	// 7 (checked first, as rule 2 would hide it). The kernel resolved no
	// MAC for the address, yet something answered there.
	if !agent && len(serving) > 0 && n != nil && n.Identity == IdentityAbsent {
		return StateUnknown, fmt.Sprintf("conflicting evidence: answered: %s, but neighbour entry for %s is %s",
			strings.Join(serving, ", "), n.IP, n.State)
	}

	// 2. Up?
	if len(serving) > 0 || agent {
		var why []string
		if len(answered) > 0 {
			s := "answered: " + strings.Join(answered, ", ")
			if macOK {
				s += " (MAC " + n.MAC + " matches)"
			}
			why = append(why, s)
		}
		if agent {
			why = append(why, "agent link up")
		}
		if foreign != "" {
			why = append(why, foreign+" (the machine has another address?)")
		} else if len(serving) == 0 && len(silent) > 0 {
			why = append(why, "no network answer ("+strings.Join(silent, ", ")+"): filtered?")
		}
		reason := strings.Join(why, "; ")

		// 3. Pending actions.
		switch p.Kind {
		case PendingShutdown:
			return StateShuttingDown, "shutdown pending" + since(p, ev.At) + ", still up: " + reason
		case PendingReboot:
			return StateOn, "reboot pending" + since(p, ev.At) + ", up: " + reason
		}
		// 4. Streaming.
		if sun != nil && sun.Reachable && sun.State == SunshineBusy {
			return StateStreaming, fmt.Sprintf("Sunshine runs app %d; %s", sun.CurrentGame, reason)
		}
		// 5. Idle.
		if a := ev.Agent; agent && idleAfter > 0 {
			switch {
			case a.IdleSeconds != nil && time.Duration(*a.IdleSeconds)*time.Second >= idleAfter:
				return StateIdle, fmt.Sprintf("no input for %s (idle after %s); %s",
					time.Duration(*a.IdleSeconds)*time.Second, idleAfter, reason)
			case a.IdleSeconds == nil && a.UserSession != nil && !*a.UserSession:
				return StateIdle, "no user logged in; " + reason
			}
		}
		// 6. On.
		if p.Kind == PendingWake {
			return StateOn, "wake succeeded: " + reason
		}
		return StateOn, reason
	}

	if n != nil && n.Identity == IdentityAbsent {
		silent = append(silent, "neighbour "+n.State)
	}
	if len(weak) > 0 {
		// The address is alive but none of the machine's services are.
		silent = append(silent, "no service answers, though the address does ("+strings.Join(weak, ", ")+")")
	}
	if foreign != "" {
		silent = append(silent, foreign)
	}

	// 8. Nothing usable.
	if len(silent) == 0 {
		var why []string
		if ev.Error != "" {
			why = append(why, ev.Error)
		}
		if failed > 0 {
			why = append(why, fmt.Sprintf("%d probe(s) failed on this side", failed))
		}
		if ev.ICMP != nil && ev.ICMP.Mode == ICMPUnavailable {
			why = append(why, "ICMP unavailable")
		}
		if len(why) == 0 {
			why = append(why, "nothing was probed")
		}
		return StateUnknown, "no usable evidence: " + strings.Join(why, "; ")
	}

	// 9. Nobody there.
	reason := "no answer: " + strings.Join(silent, ", ")
	if len(weak) > 0 {
		reason = "the machine does not answer: " + strings.Join(silent, ", ")
	}
	switch {
	case Asleep(ev):
		reason = fmt.Sprintf("%s: %s, but MAC %s answered ARP", AsleepLabel, reason, n.MAC)
	case n != nil && n.Identity == IdentityMatch:
		reason += fmt.Sprintf(" (the neighbour table still lists %s, %s: cached, or a sleeping NIC answering ARP)", n.MAC, n.State)
	}
	switch p.Kind {
	case PendingWake:
		return StateWaking, "wake pending" + since(p, ev.At) + ", " + reason
	case PendingReboot:
		return StateWaking, "reboot pending" + since(p, ev.At) + ", down: " + reason
	case PendingShutdown:
		return StateOff, "shutdown verified: " + reason
	}
	return StateOff, reason
}

// AsleepLabel is how people are told that a machine that is off is
// asleep: what shows is its network card.
const AsleepLabel = "asleep (network card answers)"

// Asleep reports whether ev shows a machine asleep rather than off: its
// network card answered ARP for it with its own MAC during the round
// (NeighbourResult.Answered, an identity match), while nothing else did:
// no TCP connect or reset, no echo reply, no Sunshine, no agent link. A
// PC asleep with Wake-on-LAN armed often keeps answering ARP (Windows ARP
// and NS offload) while its TCP/IP stack is silent; a PC that is off, or
// unplugged, does not. It is a detail of StateOff, never a sign of life:
// a wake wakes it as from off.
func Asleep(ev Evidence) bool {
	n := ev.Neighbour
	if n == nil || n.Identity != IdentityMatch || !n.Answered {
		return false
	}
	if ev.Agent != nil && ev.Agent.Connected || ev.Sunshine != nil && ev.Sunshine.Reachable {
		return false
	}
	if ev.ICMP != nil && ev.ICMP.Outcome.Answered() {
		return false
	}
	for _, r := range ev.TCP {
		if r.Outcome.Answered() {
			return false
		}
	}
	return true
}

func since(p Pending, now time.Time) string {
	if p.Since.IsZero() || now.IsZero() || now.Before(p.Since) {
		return ""
	}
	return " for " + now.Sub(p.Since).Round(100*time.Millisecond).String()
}
