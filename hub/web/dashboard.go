package web

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/moonwake/moonwake"
)

// card is one machine on the dashboard.
type card struct {
	Name     string
	Host     string
	MAC      string
	Tags     []string
	State    moonwake.PowerState
	Asleep   bool      // off, and its network card answers (moonwake.Asleep)
	Since    time.Time // when it entered State; zero when unknown
	Reason   string    // why moonwake believes State
	Evidence []string  // the last probe round, in words
	Agent    *moonwake.AgentInfo

	Action   *moonwake.Action // the newest action, if any
	Progress string           // its line: "waking…", "on after 41 s"
	Outcome  string           // running, succeeded, failed, or ""

	KeepAwake time.Time // zero: not kept awake
	CanKeep   bool      // the hub has power policies
}

// dashboardData is the data of dashboard.html.
type dashboardData struct {
	Machines []card
	Groups   []tagGroup // nil when the hub has no group actions
	Seq      int64      // the last event before the page: the stream resumes after it
}

// tagGroup is a tag and its machines, for the group buttons.
type tagGroup struct {
	Tag      string
	Machines []string
	List     string // "pc-a, pc-b"
}

// tagGroups lists each tag of ms and its machines, by tag.
func tagGroups(ms []*moonwake.Machine) []tagGroup {
	byTag := map[string][]string{}
	for _, m := range ms {
		for _, t := range m.Tags {
			byTag[t] = append(byTag[t], m.Name)
		}
	}
	var out []tagGroup
	for _, t := range slices.Sorted(maps.Keys(byTag)) {
		out = append(out, tagGroup{t, byTag[t], strings.Join(byTag[t], ", ")})
	}
	return out
}

// dashboard is GET /: one card per machine.
func (s *Server) dashboard(w http.ResponseWriter, r *http.Request) {
	var seq int64
	if s.Events != nil {
		// Read first: an event after this is replayed by the stream, so
		// nothing falls between the page and its live updates.
		seq = s.Events.Seq()
	}
	ms, err := s.Machines.ListMachines(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d := dashboardData{Machines: make([]card, 0, len(ms)), Seq: seq}
	latest := s.latestActions(r.Context(), ms)
	for _, m := range ms {
		d.Machines = append(d.Machines, s.card(r.Context(), m, latest))
	}
	if s.Groups != nil {
		d.Groups = tagGroups(ms)
	}
	s.render(w, r, http.StatusOK, "dashboard.html", d)
}

// latestActioner is an action store that reads the newest action of many
// machines at once (sqlite.ActionService does).
type latestActioner interface {
	LatestActions(ctx context.Context, machines []string) (map[string]*moonwake.Action, error)
}

// latestActions returns the newest action of each of ms, in one query when
// the store can; nil when it cannot, and each card asks for its own.
func (s *Server) latestActions(ctx context.Context, ms []*moonwake.Machine) map[string]*moonwake.Action {
	la, ok := s.Actions.(latestActioner)
	if !ok || len(ms) == 0 {
		return nil
	}
	names := make([]string, len(ms))
	for i, m := range ms {
		names[i] = m.Name
	}
	latest, err := la.LatestActions(ctx, names)
	if err != nil {
		s.log().Warn("web: latest actions", "err", err)
		return nil
	}
	return latest
}

// card gathers what the dashboard shows of m. latest, when not nil, holds
// the newest action of every machine that has one.
func (s *Server) card(ctx context.Context, m *moonwake.Machine, latest map[string]*moonwake.Action) card {
	c := card{Name: m.Name, Host: m.Host, MAC: m.MAC, Tags: m.Tags, State: moonwake.StateUnknown, CanKeep: s.KeepAwake != nil}
	if s.Monitor != nil {
		info := s.Monitor.Info(ctx, m.Name)
		if info.State != "" {
			c.State = info.State
		}
		c.Since, c.Reason, c.Agent, c.Asleep = info.Since, info.Reason, info.Agent, info.Asleep
		c.Evidence = evidenceLines(info.Evidence)
	}
	if c.Reason == "" {
		c.Reason = "No probe has answered yet."
	}
	if latest != nil {
		if a := latest[m.Name]; a != nil {
			c.Action = a
			c.Progress, c.Outcome = progress(a, s.now())
		}
	} else if s.Actions != nil {
		if as, err := s.Actions.ListActions(ctx, moonwake.ActionFilter{Machine: m.Name, Limit: 1}); err == nil && len(as) > 0 {
			c.Action = as[0]
			c.Progress, c.Outcome = progress(as[0], s.now())
		} else if err != nil {
			s.log().Warn("web: list actions", "machine", m.Name, "err", err)
		}
	}
	if s.KeepAwake != nil {
		if until, err := s.KeepAwake.KeepAwake(ctx, m.Name); err == nil && until.After(s.now()) {
			c.KeepAwake = until
		}
	}
	return c
}

// evidenceLines puts a probe round in words, one finding a line. app.js
// does the same for live updates (evidenceLines there).
func evidenceLines(ev *moonwake.Evidence) []string {
	if ev == nil {
		return nil
	}
	var out []string
	if ev.Error != "" {
		out = append(out, "probe: "+ev.Error)
	}
	for _, t := range ev.TCP {
		line := fmt.Sprintf("TCP %d: %s", t.Port, t.Outcome)
		if t.RTT > 0 {
			line += " in " + fmtRTT(t.RTT)
		}
		if t.Error != "" {
			line += " (" + t.Error + ")"
		}
		out = append(out, line)
	}
	if i := ev.ICMP; i != nil {
		line := "ping: " + string(i.Outcome)
		if i.Mode == moonwake.ICMPUnavailable {
			line = "ping: unavailable on the hub"
		} else if i.RTT > 0 {
			line += " in " + fmtRTT(i.RTT)
		}
		out = append(out, line)
	}
	if n := ev.Neighbour; n != nil {
		line := "neighbour " + n.IP + ": "
		switch n.Identity {
		case moonwake.IdentityMatch:
			line += "MAC " + n.MAC + " matches"
		case moonwake.IdentityMismatch:
			line += "held by another device, MAC " + n.MAC
		case moonwake.IdentityAbsent:
			line += "nobody resolved it"
		default:
			line += "not checked"
		}
		if n.State != "" {
			line += " (" + n.State + ")"
		}
		if n.Answered {
			line += ", answered ARP just now"
		}
		out = append(out, line)
	}
	if a := ev.Agent; a != nil {
		line := "agent: link down"
		if a.Connected {
			line = "agent: link up"
			if a.IdleSeconds != nil {
				line += ", no input for " + shortDuration(time.Duration(*a.IdleSeconds)*time.Second)
			}
		}
		out = append(out, line)
	}
	if sh := ev.Sunshine; sh != nil {
		line := "Sunshine: no answer"
		if sh.Reachable {
			line = "Sunshine: " + sh.State
			if sh.State == moonwake.SunshineBusy && sh.CurrentGame != 0 {
				line += fmt.Sprintf(", app %d", sh.CurrentGame)
			}
			if sh.Identity == moonwake.IdentityMismatch {
				line += ", another host (" + sh.Hostname + ")"
			}
		}
		out = append(out, line)
	}
	if !ev.At.IsZero() {
		out = append(out, "probed at "+readableTime(ev.At, time.Now()))
	}
	return out
}

// fmtRTT writes a round-trip time in milliseconds.
func fmtRTT(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	if ms < 10 {
		return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.1f", ms), "0"), ".") + " ms"
	}
	return fmt.Sprintf("%.0f ms", ms)
}
