package web

import (
	"crypto/rand"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/internal/httperr"
)

// tokenRoutes registers the tokens page, where API tokens and tap
// links are made and revoked.
func (s *Server) tokenRoutes(mux *http.ServeMux) {
	mux.Handle("GET /tokens", s.signedIn(s.tokensPage))
	mux.Handle("POST /tokens", s.signedIn(s.tokenCreate))
	mux.Handle("POST /tokens/links", s.signedIn(s.tapCreate))
	mux.Handle("POST /tokens/{id}/revoke", s.signedIn(s.tokenRevoke))
}

// tapPrefix starts the name of every tap link's token.
const tapPrefix = "link-"

// tokensView is the data of tokens.html.
type tokensView struct {
	Tokens   []tokenRow // API tokens, revoked ones too
	TapLinks []tokenRow // tap links
	Machines []string   // for the forms
	Actions  []string

	TokenForm     tokenForm
	MachineChecks []checkOption // the new-token form's boxes
	ActionChecks  []checkOption
	NewToken      *shownToken // the token just made: its secret, shown once
	NewTap        *shownTap   // the link just made: its URL, shown once
	TapForm       tapForm
	Error         string // what went wrong with the last form
}

// checkOption is a checkbox of a form.
type checkOption struct {
	Value   string
	Checked bool
}

// checks makes a box for each of all, ticked when in on.
func checks(all, on []string) []checkOption {
	out := make([]checkOption, len(all))
	for i, v := range all {
		out[i] = checkOption{Value: v, Checked: slices.Contains(on, v)}
	}
	return out
}

// setTokenForm puts f, as typed, into the new-token form.
func (v *tokensView) setTokenForm(f tokenForm) {
	v.TokenForm = f
	v.MachineChecks = checks(v.Machines, f.Machines)
	v.ActionChecks = checks(moonwake.KnownScopes, f.Actions) // read: the audit log
}

// tokenRow is a token as the page lists it.
type tokenRow struct {
	ID        string
	Name      string
	Scope     string // in words
	Machine   string // links: the one machine
	Action    string // links: the one action
	CreatedAt time.Time
	LastUsed  *time.Time
	Revoked   *time.Time
}

// tokenForm is the new-token form as typed.
type tokenForm struct {
	Name     string
	Machines []string
	Actions  []string
	Admin    bool
	// CloudEvents: for POST /api/v1/cloudevents only, in a Knative
	// Trigger's subscriber URL.
	CloudEvents bool
}

// tapForm is the new-link form as chosen.
type tapForm struct {
	Machine string
	Action  string
}

type shownToken struct {
	Name   string
	Secret string
	URL    string // a CloudEvents token's subscriber URL
}

type shownTap struct {
	Machine string
	Action  string
	Verb    string // the action in words: "shut down"
	URL     string
}

// isTapLink reports whether t is a tap link: a token made as one
// (Link), for one action on one machine, and not an admin token.
func isTapLink(t *moonwake.Token) bool {
	return t != nil && t.TapLink && !t.Admin && len(t.Machines) == 1 && len(t.Actions) == 1 && moonwake.ValidName(t.Machines[0])
}

// tokensView gathers the page's lists.
func (s *Server) tokensView(r *http.Request) (*tokensView, error) {
	ctx := r.Context()
	ts, err := s.Tokens.ListTokens(ctx)
	if err != nil {
		return nil, err
	}
	ms, err := s.Machines.ListMachines(ctx)
	if err != nil {
		return nil, err
	}
	v := &tokensView{Actions: moonwake.KnownActions}
	for _, m := range ms {
		v.Machines = append(v.Machines, m.Name)
	}
	v.setTokenForm(tokenForm{Actions: []string{moonwake.ActionWake}})
	// Newest first: the one just made is on top.
	for _, t := range slices.Backward(ts) {
		row := tokenRow{ID: t.ID, Name: t.Name, Scope: t.Scope(), CreatedAt: t.CreatedAt, LastUsed: t.LastUsedAt, Revoked: t.RevokedAt}
		if isTapLink(t) {
			row.Machine, row.Action = t.Machines[0], t.Actions[0]
			if t.RevokedAt == nil {
				v.TapLinks = append(v.TapLinks, row)
			}
			continue
		}
		v.Tokens = append(v.Tokens, row)
	}
	return v, nil
}

// tokensPage is GET /tokens.
func (s *Server) tokensPage(w http.ResponseWriter, r *http.Request) {
	v, err := s.tokensView(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "tokens.html", v)
}

// tokenCreate is POST /tokens: an API token, whose secret the page shows
// once.
func (s *Server) tokenCreate(w http.ResponseWriter, r *http.Request) {
	r = s.machineCtx(r)
	f := tokenForm{
		Name:     strings.TrimSpace(r.PostFormValue("name")),
		Machines: formValues(r.PostForm["machines"]),
		Actions:  formValues(r.PostForm["actions"]),
		Admin:    r.PostFormValue("admin") != "",

		CloudEvents: r.PostFormValue("cloudevents") != "",
	}
	t := &moonwake.Token{Name: f.Name, Machines: f.Machines, Actions: f.Actions, Admin: f.Admin, CloudEvents: f.CloudEvents}
	secret, err := s.Tokens.CreateToken(r.Context(), t)
	v, verr := s.tokensView(r)
	if verr != nil {
		s.fail(w, r, verr)
		return
	}
	if err != nil {
		if moonwake.ErrorCode(err) == moonwake.EInternal {
			s.fail(w, r, err)
			return
		}
		v.setTokenForm(f)
		v.Error = moonwake.ErrorMessage(err)
		s.render(w, r, httperr.Status(moonwake.ErrorCode(err)), "tokens.html", v)
		return
	}
	a := s.actor(r)
	s.log().Info("token created", "token", t.ID, "name", t.Name, "admin", t.Admin, "actor", a.Name, "addr", a.Addr)
	v.NewToken = &shownToken{Name: t.Name, Secret: secret}
	if t.CloudEvents {
		v.NewToken.URL = s.publicBase(r) + "/api/v1/cloudevents?token=" + url.QueryEscape(secret)
	}
	w.Header().Set("Cache-Control", "no-store")
	s.render(w, r, http.StatusCreated, "tokens.html", v)
}

// formValues trims a multi-valued field and drops blanks.
func formValues(vs []string) []string {
	out := []string{}
	for _, v := range vs {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// tapCreate is POST /tokens/links: a token for one action on one machine,
// shown once as a URL to open on a phone.
func (s *Server) tapCreate(w http.ResponseWriter, r *http.Request) {
	r = s.machineCtx(r)
	f := tapForm{Machine: strings.TrimSpace(r.PostFormValue("machine")), Action: strings.TrimSpace(r.PostFormValue("action"))}
	fail := func(err error) {
		if moonwake.ErrorCode(err) == moonwake.EInternal {
			s.fail(w, r, err)
			return
		}
		v, verr := s.tokensView(r)
		if verr != nil {
			s.fail(w, r, verr)
			return
		}
		v.TapForm, v.Error = f, moonwake.ErrorMessage(err)
		s.render(w, r, httperr.Status(moonwake.ErrorCode(err)), "tokens.html", v)
	}
	if !slices.Contains(moonwake.KnownActions, f.Action) {
		fail(moonwake.Errorf(moonwake.EInvalid, "Choose what the link does: %s.", strings.Join(moonwake.KnownActions, ", ")))
		return
	}
	m, err := s.Machines.FindMachine(r.Context(), f.Machine)
	if err != nil {
		fail(err)
		return
	}
	var t *moonwake.Token
	var secret string
	for range 3 { // a name taken by an active link: draw again
		t = &moonwake.Token{Name: tapName(m.Name, f.Action), Machines: []string{m.Name}, Actions: []string{f.Action}, TapLink: true}
		secret, err = s.Tokens.CreateToken(r.Context(), t)
		if moonwake.ErrorCode(err) != moonwake.EConflict {
			break
		}
	}
	if err != nil {
		fail(err)
		return
	}
	a := s.actor(r)
	s.log().Info("link created", "token", t.ID, "name", t.Name, "machine", m.Name, "action", f.Action, "actor", a.Name, "addr", a.Addr)
	v, err := s.tokensView(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v.TapForm = f
	v.NewTap = &shownTap{Machine: m.Name, Action: f.Action, Verb: strings.ToLower(tapVerbs[f.Action]), URL: s.publicBase(r) + "/l/" + url.PathEscape(secret)}
	w.Header().Set("Cache-Control", "no-store")
	s.render(w, r, http.StatusCreated, "tokens.html", v)
}

// tapName names a link's token: link-<machine>-<action>-<4 random>,
// with the machine's name cut so that the whole is a valid name.
func tapName(machine, action string) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	var b [4]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	room := 63 - len(tapPrefix) - 1 - len(action) - 1 - len(b)
	if len(machine) > room {
		machine = strings.TrimRight(machine[:room], "-_")
	}
	return tapPrefix + machine + "-" + action + "-" + string(b[:])
}

// tokenRevoke is POST /tokens/{id}/revoke. A revoked link stops working at
// once, its open progress pages included.
func (s *Server) tokenRevoke(w http.ResponseWriter, r *http.Request) {
	r = s.machineCtx(r)
	t, err := s.Tokens.RevokeToken(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	a := s.actor(r)
	s.log().Info("token revoked", "token", t.ID, "name", t.Name, "actor", a.Name, "addr", a.Addr)
	http.Redirect(w, r, "/tokens", http.StatusSeeOther)
}

// publicBase is the URL this hub is reached at, without a final slash:
// PublicURL, else the request's scheme and host (the scheme from
// X-Forwarded-Proto only when a trusted proxy sent it).
func (s *Server) publicBase(r *http.Request) string {
	if s.PublicURL != "" {
		return strings.TrimRight(s.PublicURL, "/")
	}
	scheme := "http"
	if s.https(r) {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}
