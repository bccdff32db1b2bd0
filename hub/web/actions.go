package web

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/internal/httperr"
)

// actionAnswer is the JSON answer to a button pressed with fetch: the
// action, and the card's progress line as the page shows it.
type actionAnswer struct {
	Action   *moonwake.Action `json:"action,omitempty"`
	Progress string           `json:"progress"`
	Outcome  string           `json:"outcome"` // running, succeeded, failed
	Error    *errorJSON       `json:"error,omitempty"`
}

// errorJSON is an error as app.js reads it.
type errorJSON struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// wake is POST /machines/{name}/wake.
func (s *Server) wake(w http.ResponseWriter, r *http.Request) {
	m, err := s.Machines.FindMachine(r.Context(), r.PathValue("name"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ctx := moonwake.WithActor(r.Context(), s.actor(r))
	a, err := s.Power.Wake(ctx, m)
	s.answerAction(w, r, a, err)
}

// shutdown is POST /machines/{name}/shutdown.
func (s *Server) shutdown(w http.ResponseWriter, r *http.Request) {
	m, err := s.Machines.FindMachine(r.Context(), r.PathValue("name"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ctx := moonwake.WithActor(r.Context(), s.actor(r))
	a, err := s.Power.Command(ctx, m, moonwake.ActionShutdown)
	s.answerAction(w, r, a, err)
}

// answerAction answers a button: JSON for fetch, else back to the page it
// was pressed on. An action that could not start at all is an error page;
// one that started and failed at once shows on its card.
func (s *Server) answerAction(w http.ResponseWriter, r *http.Request, a *moonwake.Action, err error) {
	if err != nil && a == nil {
		s.fail(w, r, err)
		return
	}
	if err != nil {
		s.log().Info("web: action failed", "machine", a.Machine, "kind", a.Kind, "err", err)
	}
	if wantsJSON(r) {
		ans := actionAnswer{Action: a}
		ans.Progress, ans.Outcome = progress(a, s.now())
		ans.Progress = readableTimes(ans.Progress, s.now()) // app.js shows it as text
		status := http.StatusAccepted
		if err != nil {
			code := moonwake.ErrorCode(err)
			status = httperr.Status(code)
			ans.Error = &errorJSON{Code: code, Message: moonwake.ErrorMessage(err)}
		} else if a.Done() {
			status = http.StatusOK
		}
		writeJSON(w, status, ans)
		return
	}
	s.back(w, r)
}

// back sends the browser, after a form, to the page it came from when that
// is on this site, else to the dashboard.
func (s *Server) back(w http.ResponseWriter, r *http.Request) {
	to := "/"
	if ref := r.Referer(); ref != "" {
		if u, err := url.Parse(ref); err == nil && (u.Host == "" || u.Host == r.Host) {
			p := u.EscapedPath()
			if u.RawQuery != "" {
				p += "?" + u.RawQuery
			}
			to = localPath(p)
		}
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// keepAwakeAnswer is the JSON answer to the keep-awake button.
type keepAwakeAnswer struct {
	Machine string     `json:"machine"`
	Until   *time.Time `json:"until,omitempty"`
	Label   string     `json:"label"` // "kept awake for 2 h", or ""
}

// keepAwake is POST /machines/{name}/keep-awake: form field "for" (a
// duration like 2h) keeps the machine awake that long; "clear" ends it.
func (s *Server) keepAwake(w http.ResponseWriter, r *http.Request) {
	if s.KeepAwake == nil {
		s.fail(w, r, moonwake.Errorf(moonwake.EUnavailable, "This hub has no power policies, so there is nothing to keep a machine awake from."))
		return
	}
	m, err := s.Machines.FindMachine(r.Context(), r.PathValue("name"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ans := keepAwakeAnswer{Machine: m.Name}
	if r.PostFormValue("clear") != "" {
		if err := s.KeepAwake.ClearKeepAwake(r.Context(), m.Name); err != nil {
			s.fail(w, r, err)
			return
		}
		s.log().Info("keep awake cleared", "machine", m.Name, "by", "session:admin")
	} else {
		v := strings.TrimSpace(r.PostFormValue("for"))
		if v == "" {
			v = "2h"
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 || d > moonwake.MaxKeepAwake {
			s.fail(w, r, moonwake.Errorf(moonwake.EInvalid, "Keep awake for %q: want a duration from 1m to 744h, like 2h.", v))
			return
		}
		until := s.now().Add(d).UTC().Truncate(time.Second)
		if err := s.KeepAwake.SetKeepAwake(r.Context(), m.Name, until, "session:admin"); err != nil {
			s.fail(w, r, err)
			return
		}
		s.log().Info("keep awake", "machine", m.Name, "until", until, "by", "session:admin")
		ans.Until = &until
		ans.Label = "kept awake for " + shortDuration(roundDuration(until.Sub(s.now())))
	}
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, ans)
		return
	}
	s.back(w, r)
}

// progressWindow is how long a finished action's outcome stays on its card.
const progressWindow = time.Hour

// progress is an action's line on its machine's card, and its outcome
// (running, succeeded, failed, cancelled): "waking…", "on after 41 s",
// "shutdown failed: still answering on 47989", "shutdown cancelled at the
// PC (input)". app.js words them the same way.
func progress(a *moonwake.Action, now time.Time) (text, outcome string) {
	if a == nil {
		return "", ""
	}
	switch a.Status {
	case moonwake.StatusRunning:
		return runningLabel(a.Kind), "running"
	case moonwake.StatusSucceeded:
		if a.FinishedAt != nil && now.Sub(*a.FinishedAt) > progressWindow {
			return "", ""
		}
		for i := len(a.Steps) - 1; i >= 0; i-- {
			if st := a.Steps[i]; st.Kind == "verify" && st.Target != "" && a.FinishedAt != nil {
				return stateWord(moonwake.PowerState(st.Target)) + " after " + shortDuration(a.FinishedAt.Sub(a.CreatedAt)), "succeeded"
			}
		}
		if strings.Contains(a.Detail, "already") {
			if a.Kind == moonwake.ActionWake {
				return "already on", "succeeded"
			}
			return "already off", "succeeded"
		}
		if a.Detail != "" {
			return a.Detail, "succeeded"
		}
		return a.Kind + " done", "succeeded"
	case moonwake.StatusFailed:
		if a.FinishedAt != nil && now.Sub(*a.FinishedAt) > progressWindow {
			return "", ""
		}
		return a.Kind + " failed: " + a.Detail, "failed"
	case moonwake.StatusCancelled:
		if a.FinishedAt != nil && now.Sub(*a.FinishedAt) > progressWindow {
			return "", ""
		}
		return a.Kind + " " + a.Detail, "cancelled" // "shutdown cancelled at the PC (input)"
	}
	return "", ""
}

// runningLabel is the progress line of a running action.
func runningLabel(kind string) string {
	switch kind {
	case moonwake.ActionWake:
		return "waking…"
	case moonwake.ActionShutdown:
		return "shutting down…"
	case moonwake.ActionReboot:
		return "rebooting…"
	case moonwake.ActionSleep:
		return "going to sleep…"
	case moonwake.ActionHibernate:
		return "hibernating…"
	}
	return kind + "…"
}

// stateWord is a state in a sentence: "on after 41 s".
func stateWord(st moonwake.PowerState) string {
	if st == moonwake.StateShuttingDown {
		return "shutting down"
	}
	return string(st)
}

// groupWakeStagger is the time between two machines of a group the
// dashboard wakes: a room of PCs powering on at once may trip a breaker.
const groupWakeStagger = 2 * time.Second

// groupAnswer is the JSON answer to a group button.
type groupAnswer struct {
	Group *moonwake.GroupAction `json:"group"`
}

// groupAction is POST /groups/{tag}/wake (2 s apart) and
// /groups/{tag}/shutdown (together): the machines with the tag, each
// followed on its card as any action.
func (s *Server) groupAction(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.Groups == nil {
			s.fail(w, r, moonwake.Errorf(moonwake.EUnavailable, "This hub has no group actions."))
			return
		}
		tag := r.PathValue("tag")
		ms, err := s.Machines.ListMachines(r.Context())
		if err != nil {
			s.fail(w, r, err)
			return
		}
		var members []*moonwake.Machine
		for _, m := range ms {
			if slices.Contains(m.Tags, tag) {
				members = append(members, m)
			}
		}
		if len(members) == 0 {
			s.fail(w, r, moonwake.Errorf(moonwake.ENotFound, "No machine has the tag %q.", tag))
			return
		}
		stagger := time.Duration(0)
		if kind == moonwake.ActionWake {
			stagger = groupWakeStagger
		}
		g, err := s.Groups.StartGroup(moonwake.WithActor(r.Context(), s.actor(r)), kind, tag, members, stagger)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.log().Info("web: group action", "tag", tag, "kind", kind, "members", len(members), "id", g.ID)
		if wantsJSON(r) {
			writeJSON(w, http.StatusAccepted, groupAnswer{g})
			return
		}
		s.back(w, r)
	}
}
