package httpapi

import (
	"context"
	"maps"
	"math"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/moonwake/moonwake"
)

// DefaultWakeStagger is the time between two machines' wakes in a group
// when the request names none: a room of PCs powering on draws a surge of
// current, and a few seconds apart no breaker notices. Shutdowns draw
// none: they start together unless asked otherwise.
const DefaultWakeStagger = 2 * time.Second

// maxPerSecond bounds per_second: faster is no stagger at all.
const maxPerSecond = 1000

// groupBody is the body of a group action: which machines, when the path
// names no tag, and how far apart to start them.
//
//	{"machines": ["pc-a", "pc-b"], "tags": ["lan-party"], "stagger": "250ms"}
//	{"tags": ["office"], "per_second": 4}
type groupBody struct {
	Machines  []string `json:"machines"`
	Tags      []string `json:"tags"`
	Stagger   string   `json:"stagger"`    // a duration: "2s", "250ms", "0"
	PerSecond float64  `json:"per_second"` // or so many machines a second
}

// groupStagger decides the time between two members' starts: stagger or
// per_second (not both), else DefaultWakeStagger for a wake and none for
// the rest.
func groupStagger(kind, stagger string, perSecond float64) (time.Duration, error) {
	switch {
	case stagger != "" && perSecond != 0:
		return 0, moonwake.Errorf(moonwake.EInvalid, "give stagger or per_second, not both")
	case stagger != "":
		d, err := time.ParseDuration(stagger)
		if err != nil || d < 0 || d > 5*time.Minute {
			return 0, moonwake.Errorf(moonwake.EInvalid, "stagger %.32q: want a duration up to 5m, like 2s or 250ms", stagger)
		}
		return d, nil
	case perSecond != 0:
		if math.IsNaN(perSecond) || perSecond < 1.0/300 || perSecond > maxPerSecond {
			return 0, moonwake.Errorf(moonwake.EInvalid, "per_second %v: want between 1/300 and %d", perSecond, maxPerSecond)
		}
		return time.Duration(float64(time.Second) / perSecond), nil
	case kind == moonwake.ActionWake:
		return DefaultWakeStagger, nil
	}
	return 0, nil
}

// groupAction is POST /api/v1/groups/{tag}/{kind} (the machines with that
// tag) and POST /api/v1/groups/{kind} (the machines and tags in the body).
// The token must allow kind on every member: otherwise nothing starts.
func (s *Server) groupAction(kind string, byTag bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var body groupBody
		// A tag's route needs no body: the options are optional.
		if !byTag || r.ContentLength != 0 {
			if err := decode(w, r, &body); err != nil {
				s.error(w, r, err)
				return
			}
		}
		tag := ""
		if byTag {
			tag = r.PathValue("tag")
			if len(body.Machines) > 0 || len(body.Tags) > 0 {
				s.error(w, r, moonwake.Errorf(moonwake.EInvalid, "the path names the tag; the body may say only stagger or per_second"))
				return
			}
			body.Tags = []string{tag}
		} else if len(body.Tags) == 1 && len(body.Machines) == 0 {
			tag = body.Tags[0]
		}
		if q := r.URL.Query().Get("stagger"); q != "" && body.Stagger == "" && body.PerSecond == 0 {
			body.Stagger = q
		}
		stagger, err := groupStagger(kind, body.Stagger, body.PerSecond)
		if err != nil {
			s.error(w, r, err)
			return
		}
		members, err := s.groupMembers(r.Context(), body.Machines, body.Tags)
		if err != nil {
			s.error(w, r, err)
			return
		}
		tok := tokenFrom(r.Context())
		hidden := 0
		for _, m := range members {
			if !tok.CanSee(m.Name) {
				hidden++
			} else if !tok.Allows(kind, m.Name) {
				s.error(w, r, moonwake.Errorf(moonwake.EForbidden, "token %q may not %s %q; nothing was started", tok.Name, kind, m.Name))
				return
			}
		}
		if hidden > 0 {
			s.error(w, r, moonwake.Errorf(moonwake.EForbidden, "token %q may not %s %d of the machines asked for; nothing was started", tok.Name, kind, hidden))
			return
		}
		g, err := s.Groups.StartGroup(r.Context(), kind, tag, members, stagger)
		if err != nil {
			s.error(w, r, err)
			return
		}
		s.answerGroup(w, r, g)
	}
}

// groupMembers resolves names and tags to machines, sorted by name, each
// once. ENotFound for an unknown name or a tag no machine has.
func (s *Server) groupMembers(ctx context.Context, names, tags []string) ([]*moonwake.Machine, error) {
	if len(names)+len(tags) == 0 {
		return nil, moonwake.Errorf(moonwake.EInvalid, "name machines or tags")
	}
	all, err := s.Machines.ListMachines(ctx)
	if err != nil {
		return nil, err
	}
	var out []*moonwake.Machine
	for _, m := range all {
		in := slices.Contains(names, m.Name)
		for _, t := range tags {
			in = in || slices.Contains(m.Tags, t)
		}
		if in {
			out = append(out, m)
		}
	}
	for _, n := range names {
		if !slices.ContainsFunc(out, func(m *moonwake.Machine) bool { return m.Name == n }) {
			return nil, moonwake.Errorf(moonwake.ENotFound, "no machine %.64q", n)
		}
	}
	for _, t := range tags {
		if !slices.ContainsFunc(out, func(m *moonwake.Machine) bool { return slices.Contains(m.Tags, t) }) {
			return nil, moonwake.Errorf(moonwake.ENotFound, "no machine has the tag %.64q", t)
		}
	}
	return out, nil
}

// answerGroup answers with a group action: 202 while it runs, or, with
// ?wait=true (and ?timeout=), 200 once every member's action has ended.
func (s *Server) answerGroup(w http.ResponseWriter, r *http.Request, g *moonwake.GroupAction) {
	q := r.URL.Query()
	wait, timeout := false, maxWait
	if v := q.Get("wait"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			s.error(w, r, moonwake.Errorf(moonwake.EInvalid, "wait %q: want true or false", v))
			return
		}
		wait = b
	}
	if v := q.Get("timeout"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 || d > maxWait {
			s.error(w, r, moonwake.Errorf(moonwake.EInvalid, "timeout %q: want a duration up to %s, like 90s", v, maxWait))
			return
		}
		timeout = d
	}
	if wait && !g.Done() {
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(timeout + 10*time.Second))
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		done, err := s.Groups.WaitGroupAction(ctx, g.ID)
		cancel()
		if err != nil {
			s.error(w, r, err)
			return
		}
		g = done
	}
	w.Header().Set("Location", "/api/v1/groups/actions/"+g.ID)
	status := http.StatusAccepted
	if g.Done() {
		status = http.StatusOK
	}
	writeJSON(w, status, g)
}

// getGroupAction is GET /api/v1/groups/actions/{id}: for a token that may
// see every member.
func (s *Server) getGroupAction(w http.ResponseWriter, r *http.Request) {
	g, err := s.Groups.FindGroupAction(r.Context(), r.PathValue("id"))
	if err != nil {
		s.error(w, r, err)
		return
	}
	tok := tokenFrom(r.Context())
	own := g.Actor.TokenID != "" && g.Actor.TokenID == tok.ID
	for _, m := range g.Members {
		// As for one action: the read scope, or a token that asked for
		// it or could have.
		if !tok.CanSee(m.Machine) || !(own || tok.ReadsLog() || tok.Allows(g.Kind, m.Machine)) {
			s.error(w, r, moonwake.Errorf(moonwake.ENotFound, "no group action %q", g.ID))
			return
		}
	}
	writeJSON(w, http.StatusOK, groupFor(g, tok))
}

// groupFor returns g as tok may read it: another token's name, id and
// address are for admins only, as on an action (moonwake.Action.For).
func groupFor(g *moonwake.GroupAction, tok *moonwake.Token) *moonwake.GroupAction {
	probe := moonwake.Action{Actor: g.Actor}
	v := probe.For(tok)
	if v == &probe {
		return g
	}
	c := *g
	c.Actor = v.Actor
	return &c
}

// listGroups is GET /api/v1/groups: each tag and its machines, as the
// token sees them.
func (s *Server) listGroups(w http.ResponseWriter, r *http.Request) {
	all, err := s.Machines.ListMachines(r.Context())
	if err != nil {
		s.error(w, r, err)
		return
	}
	tok := tokenFrom(r.Context())
	byTag := map[string][]string{}
	for _, m := range all {
		if !tok.CanSee(m.Name) {
			continue
		}
		for _, t := range m.Tags {
			byTag[t] = append(byTag[t], m.Name)
		}
	}
	type group struct {
		Tag      string   `json:"tag"`
		Machines []string `json:"machines"`
	}
	out := struct {
		Groups []group `json:"groups"`
	}{Groups: []group{}}
	for _, t := range slices.Sorted(maps.Keys(byTag)) {
		out.Groups = append(out.Groups, group{t, byTag[t]})
	}
	writeJSON(w, http.StatusOK, out)
}
