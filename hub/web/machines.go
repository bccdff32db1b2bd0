package web

import (
	"cmp"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/internal/httperr"
	"github.com/moonwake/moonwake/sunshine"
)

// machineRoutes registers the machine pages: one machine, editing it,
// adding one. The dashboard's action POSTs (wake, shutdown, keep-awake)
// are the foundation's.
func (s *Server) machineRoutes(mux *http.ServeMux) {
	mux.Handle("GET /machines/new", s.signedIn(s.machineNewPage))
	mux.Handle("POST /machines/new", s.signedIn(s.machineCreate))
	mux.Handle("POST /machines/new/sweep", s.signedIn(s.machineSweep))
	mux.Handle("GET /machines/{name}", s.signedIn(s.machinePage))
	mux.Handle("GET /machines/{name}/edit", s.signedIn(s.machineEditPage))
	mux.Handle("POST /machines/{name}/edit", s.signedIn(s.machineEdit))
	mux.Handle("POST /machines/{name}/delete", s.signedIn(s.machineDelete))
	mux.Handle("POST /machines/{name}/pair", s.signedIn(s.machinePairAgent))
	mux.Handle("POST /machines/{name}/sunshine/pair", s.signedIn(s.machinePairSunshine))
}

// machineHistoryLimit bounds the state changes and the actions shown on a
// machine page, each.
const machineHistoryLimit = 40

// machineView is the data of machine.html.
type machineView struct {
	Machine     *moonwake.Machine
	PasswordSet bool
	Config      bool // declared in the config file: read-only here
	Power       moonwake.PowerInfo
	Monitored   bool             // a monitor tells the state
	Action      *moonwake.Action // the newest action, for the card's data-outcome
	History     []machineEvent
	HistoryErr  string

	Policies      []string  // the policies that apply, in sentences
	PoliciesOK    bool      // the hub says which policies apply
	KeepAwake     time.Time // zero: not kept awake
	KeepAwakeOK   bool      // the hub has keep-awake overrides
	KeepAwakeErr  string
	AgentPairing  bool // the hub pairs agents
	Pairing       *agentPairing
	SunshineOK    bool            // the hub pairs with Sunshine hosts
	RelayOK       bool            // the hub can say whether the relay the machine names is paired
	Relay         *moonwake.Relay // that relay, when paired
	Sunshine      sunshineForm
	SunshineDone  *moonwake.SunshinePairing
	SunshineErr   string
	ConfirmDelete bool
	Error         string // what went wrong with the last form, if anything
}

// machineEvent is one line of a machine's history: a state change or an
// action.
type machineEvent struct {
	At       time.Time
	Finished *time.Time
	Action   bool   // an action, else a state change
	What     string // "wake", or "off → on"
	Actor    string // who asked, for actions
	Outcome  string // running, succeeded or failed, for actions
	Detail   string
}

// agentPairing is a one-time agent pairing code as the page shows it.
type agentPairing struct {
	Code        string
	ExpiresAt   time.Time
	Fingerprint string
	Command     string // the command line to run on the machine
}

// sunshineForm is the Sunshine pairing form: what was typed, never the
// password.
type sunshineForm struct {
	Auto     bool
	PIN      string
	Port     string
	Username string
	WebPort  string
}

// machineCtx returns the request's context acting as its session.
func (s *Server) machineCtx(r *http.Request) *http.Request {
	return r.WithContext(moonwake.WithActor(r.Context(), s.actor(r)))
}

// machineView gathers what the machine page shows of m.
func (s *Server) machineView(r *http.Request, m *moonwake.Machine) *machineView {
	ctx := r.Context()
	v := &machineView{
		Machine:      m,
		PasswordSet:  m.Password != "",
		Config:       m.Source == moonwake.SourceConfig,
		Power:        moonwake.PowerInfo{State: moonwake.StateUnknown},
		Monitored:    s.Monitor != nil,
		KeepAwakeOK:  s.KeepAwake != nil,
		AgentPairing: s.Pairing != nil,
		SunshineOK:   s.Sunshine != nil,
	}
	var states []*moonwake.Event
	if s.Monitor != nil {
		v.Power = s.Monitor.Info(ctx, m.Name)
		var err error
		if states, err = s.Monitor.History(ctx, m.Name, machineHistoryLimit); err != nil {
			s.log().Error("web: machine history", "machine", m.Name, "err", err)
			v.HistoryErr = "The state history could not be read; the details are in the hub's log."
		}
	}
	if v.Power.State == "" {
		v.Power.State = moonwake.StateUnknown
	}
	v.Relay, v.RelayOK = s.machineRelay(r, m.Relay)
	actions, err := s.Actions.ListActions(ctx, moonwake.ActionFilter{Machine: m.Name, Limit: machineHistoryLimit})
	if err != nil {
		s.log().Error("web: machine actions", "machine", m.Name, "err", err)
		v.HistoryErr = "The actions could not be read; the details are in the hub's log."
	}
	if len(actions) > 0 {
		v.Action = actions[0]
	}
	v.History = mergeHistory(states, actions)
	if s.Policies != nil {
		v.PoliciesOK, v.Policies = true, s.Policies(m)
	}
	if s.KeepAwake != nil {
		until, err := s.KeepAwake.KeepAwake(ctx, m.Name)
		if err != nil {
			s.log().Error("web: keep-awake", "machine", m.Name, "err", err)
			v.KeepAwakeErr = "The keep-awake override could not be read."
		} else if until.After(s.now()) {
			v.KeepAwake = until
		}
	}
	return v
}

// mergeHistory puts state changes and actions together, newest first.
func mergeHistory(states []*moonwake.Event, actions []*moonwake.Action) []machineEvent {
	out := make([]machineEvent, 0, len(states)+len(actions))
	for _, e := range states {
		if e.Type != moonwake.EventState {
			continue
		}
		var sc moonwake.StateChange
		if json.Unmarshal(e.Data, &sc) != nil {
			continue
		}
		what := string(sc.To)
		if sc.From != "" {
			what = string(sc.From) + " → " + string(sc.To)
		}
		at := sc.At
		if at.IsZero() {
			at = e.At
		}
		out = append(out, machineEvent{At: at, What: what, Detail: sc.Reason})
	}
	for _, a := range actions {
		out = append(out, machineEvent{
			At: a.CreatedAt, Finished: a.FinishedAt, Action: true, What: a.Kind,
			Actor: actorLabel(a.Actor), Outcome: a.Status, Detail: a.Detail,
		})
	}
	slices.SortStableFunc(out, func(a, b machineEvent) int { return b.At.Compare(a.At) })
	return out
}

// actorLabel says who asked for an action, for people.
func actorLabel(a moonwake.Actor) string {
	var b strings.Builder
	b.WriteString(cmp.Or(a.Kind, "?"))
	if a.Name != "" {
		b.WriteString(" " + a.Name)
	}
	if a.Addr != "" {
		b.WriteString(" from " + a.Addr)
	}
	return b.String()
}

// pathMachine finds the machine named in the path, or renders the error.
func (s *Server) pathMachine(w http.ResponseWriter, r *http.Request) *moonwake.Machine {
	m, err := s.Machines.FindMachine(r.Context(), r.PathValue("name"))
	if err != nil {
		s.fail(w, r, err)
		return nil
	}
	return m
}

// machinePage is GET /machines/{name}.
func (s *Server) machinePage(w http.ResponseWriter, r *http.Request) {
	m := s.pathMachine(w, r)
	if m == nil {
		return
	}
	s.render(w, r, http.StatusOK, "machine.html", s.machineView(r, m))
}

// machinePairAgent is POST /machines/{name}/pair: a one-time code for the
// machine's agent, shown once with the command that uses it.
func (s *Server) machinePairAgent(w http.ResponseWriter, r *http.Request) {
	r = s.machineCtx(r)
	m := s.pathMachine(w, r)
	if m == nil {
		return
	}
	v := s.machineView(r, m)
	if s.Pairing == nil {
		v.Error = "This hub does not pair agents."
		s.render(w, r, http.StatusServiceUnavailable, "machine.html", v)
		return
	}
	p, err := s.Pairing.NewAgentPairing(r.Context(), m.Name)
	if err != nil {
		if moonwake.ErrorCode(err) == moonwake.EInternal {
			s.fail(w, r, err)
			return
		}
		v.Error = moonwake.ErrorMessage(err)
		s.render(w, r, httperr.Status(moonwake.ErrorCode(err)), "machine.html", v)
		return
	}
	cmd := "moonwake-agent pair --hub " + shellQuote(s.publicBase(r)) + " --code " + shellQuote(p.Code)
	if p.HubFingerprint != "" {
		cmd += " --hub-fingerprint " + shellQuote(p.HubFingerprint)
	}
	if p.TLSFingerprint != "" {
		cmd += " --tls-fingerprint " + shellQuote(p.TLSFingerprint)
	}
	v.Pairing = &agentPairing{Code: p.Code, ExpiresAt: p.ExpiresAt, Fingerprint: p.HubFingerprint, Command: cmd}
	a := s.actor(r)
	s.log().Info("pairing code issued", "machine", m.Name, "expires", p.ExpiresAt, "actor", a.Name, "addr", a.Addr)
	w.Header().Set("Cache-Control", "no-store")
	s.render(w, r, http.StatusCreated, "machine.html", v)
}

// shellQuote quotes s for a POSIX shell or PowerShell when it holds
// anything but plain URL and code characters.
func shellQuote(s string) string {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_.:/+=@%", c)) {
			return "'" + strings.ReplaceAll(s, "'", "'\"'\"'") + "'"
		}
	}
	return s
}

// parseSunshineForm checks the Sunshine pairing form as the API checks its
// body (httpapi's pairSunshine): a 4-digit PIN typed into Sunshine, or
// "auto" with the web UI's username and password; ports default to
// Sunshine's.
func parseSunshineForm(f url.Values) (sunshineForm, moonwake.SunshineWeb, int, error) {
	in := sunshineForm{
		Auto: f.Get("auto") != "", PIN: strings.TrimSpace(f.Get("pin")), Port: strings.TrimSpace(f.Get("port")),
		Username: f.Get("username"), WebPort: strings.TrimSpace(f.Get("web_port")),
	}
	web := moonwake.SunshineWeb{Username: in.Username, Password: f.Get("password")}
	port, err := formPort("port", in.Port, sunshine.DefaultPort)
	if err != nil {
		return in, web, 0, err
	}
	if !in.Auto {
		if len(in.PIN) != 4 || !pinDigits(in.PIN) {
			return in, web, 0, moonwake.Errorf(moonwake.EInvalid, "PIN: type the 4 digits that Sunshine's web UI asks for (or pair automatically)")
		}
		return in, web, port, nil
	}
	if web.Username == "" || web.Password == "" {
		return in, web, 0, moonwake.Errorf(moonwake.EInvalid, "automatic pairing needs the username and password of Sunshine's web UI")
	}
	if web.Port, err = formPort("web UI port", in.WebPort, sunshine.DefaultWebPort); err != nil {
		return in, web, 0, err
	}
	return in, web, port, nil
}

// formPort reads a port field: blank is def.
func formPort(field, v string, def int) (int, error) {
	if v == "" {
		return def, nil
	}
	p, err := strconv.Atoi(v)
	if err != nil || p < 1 || p > 65535 {
		return 0, moonwake.Errorf(moonwake.EInvalid, "%s %q: want a number from 1 to 65535", field, cutForMessage(v, 20))
	}
	return p, nil
}

func pinDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// cutForMessage cuts s to n bytes (at a rune boundary) for messages.
func cutForMessage(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// machinePairSunshine is POST /machines/{name}/sunshine/pair. The web UI
// password is used once and never echoed nor logged.
func (s *Server) machinePairSunshine(w http.ResponseWriter, r *http.Request) {
	r = s.machineCtx(r)
	m := s.pathMachine(w, r)
	if m == nil {
		return
	}
	in, web, port, err := parseSunshineForm(r.PostForm)
	if err == nil && s.Sunshine == nil {
		err = moonwake.Errorf(moonwake.EUnavailable, "This hub does not pair with Sunshine hosts.")
	}
	if err == nil && m.Host == "" {
		err = moonwake.Errorf(moonwake.EInvalid, "%s has no host: edit it and set its IP address or DNS name to pair with its Sunshine.", m.Name)
	}
	var p moonwake.SunshinePairing
	if err == nil {
		if in.Auto {
			p, err = s.Sunshine.PairSunshineAuto(r.Context(), m, port, web)
		} else {
			p, err = s.Sunshine.PairSunshine(r.Context(), m, in.PIN, port)
		}
	}
	v := s.machineView(r, m)
	in.PIN = "" // used: a new pairing needs a new one
	v.Sunshine = in
	if err != nil {
		code := moonwake.ErrorCode(err)
		if code == moonwake.EInternal {
			s.fail(w, r, err)
			return
		}
		status := httperr.Status(code)
		if code == moonwake.EUnavailable && s.Sunshine != nil {
			status = http.StatusBadGateway // the host failed, not the hub
		}
		v.SunshineErr = moonwake.ErrorMessage(err)
		s.render(w, r, status, "machine.html", v)
		return
	}
	a := s.actor(r)
	s.log().Info("sunshine host paired", "machine", m.Name, "auto", in.Auto, "mac", p.MAC, "mac_matches", p.MACMatches, "actor", a.Name, "addr", a.Addr)
	v.SunshineDone = &p
	s.render(w, r, http.StatusOK, "machine.html", v)
}

// machineDelete is POST /machines/{name}/delete: without confirm=yes it
// asks; with it, it deletes and goes to the dashboard.
func (s *Server) machineDelete(w http.ResponseWriter, r *http.Request) {
	r = s.machineCtx(r)
	m := s.pathMachine(w, r)
	if m == nil {
		return
	}
	if r.PostFormValue("confirm") != "yes" {
		v := s.machineView(r, m)
		v.ConfirmDelete = true
		s.render(w, r, http.StatusOK, "machine.html", v)
		return
	}
	if err := s.Machines.DeleteMachine(r.Context(), m.Name); err != nil {
		if code := moonwake.ErrorCode(err); code == moonwake.EConflict || code == moonwake.ENotFound {
			v := s.machineView(r, m)
			v.Error = moonwake.ErrorMessage(err)
			s.render(w, r, httperr.Status(code), "machine.html", v)
			return
		}
		s.fail(w, r, err)
		return
	}
	a := s.actor(r)
	s.log().Info("machine deleted", "machine", m.Name, "actor", a.Name, "addr", a.Addr)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// machineForm is the add and edit form: the fields as typed, so that a
// mistake loses nothing. The SecureOn password is write-only: it is never
// put back into the page.
type machineForm struct {
	New           bool // adding, else editing
	Name          string
	MAC           string
	Host          string
	Interface     string
	Broadcast     string
	Port          string
	Ports         string
	Tags          string
	Relay         string // "": chosen by the host's address
	PasswordSet   bool   // editing a machine that has one
	PasswordTyped bool   // a password was typed into a form that failed: retype it
	Error         string
	Suggestions   []suggestionRow
	SuggestNote   string     // why there are no suggestions, if there are none
	RelayErrors   []string   // relays that did not say what they see
	Sweeps        []sweepRow // relays that may sweep, for the sweep buttons
	Swept         *sweptNote // a sweep just started
}

// sweptNote is a sweep just started, as the page after it says.
type sweptNote struct{ Relay, Network, Seconds string }

// machineFormOf fills the form from a stored machine.
func machineFormOf(m *moonwake.Machine) machineForm {
	f := machineForm{
		Name: m.Name, MAC: m.MAC, Host: m.Host, Interface: m.Interface, Broadcast: m.Broadcast,
		Ports: formatPorts(m.Ports), Tags: strings.Join(m.Tags, ", "), Relay: m.Relay, PasswordSet: m.Password != "",
	}
	if m.Port != 0 {
		f.Port = strconv.Itoa(m.Port)
	}
	return f
}

// readMachineForm reads the form fields as typed.
func readMachineForm(v url.Values) machineForm {
	get := func(k string) string { return strings.TrimSpace(v.Get(k)) }
	return machineForm{
		Name: get("name"), MAC: get("mac"), Host: get("host"), Interface: get("interface"),
		Broadcast: get("broadcast"), Port: get("port"), Ports: get("ports"), Tags: get("tags"),
		Relay: get("relay"), PasswordTyped: v.Get("password") != "",
	}
}

// maxPortsField bounds what the ports field is read from.
const maxPortsField = 512

// parsePorts reads a list of TCP ports separated by commas or spaces:
// "47989, 22". Blank is none. Each is a number from 1 to 65535; duplicates
// are dropped and the order is kept.
func parsePorts(s string) ([]int, error) {
	if len(s) > maxPortsField {
		return nil, moonwake.Errorf(moonwake.EInvalid, "ports: too long; list at most 16 ports")
	}
	out := []int{}
	for _, f := range splitFormList(s) {
		p, err := strconv.Atoi(f)
		if err != nil || p < 1 || p > 65535 {
			return nil, moonwake.Errorf(moonwake.EInvalid, "ports: %q is not a port number from 1 to 65535", cutForMessage(f, 20))
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	if len(out) > 16 {
		return nil, moonwake.Errorf(moonwake.EInvalid, "ports: at most 16")
	}
	return out, nil
}

// formatPorts writes ports as parsePorts reads them.
func formatPorts(ps []int) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = strconv.Itoa(p)
	}
	return strings.Join(s, ", ")
}

// maxTagsField bounds what the tags field is read from.
const maxTagsField = 2048

// parseTags reads tags separated by commas or spaces, lower-cased and
// without duplicates; whether each is a valid tag is the machine's
// Normalize to say.
func parseTags(s string) ([]string, error) {
	if len(s) > maxTagsField {
		return nil, moonwake.Errorf(moonwake.EInvalid, "tags: too long")
	}
	out := []string{}
	for _, f := range splitFormList(s) {
		f = strings.ToLower(f)
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	if len(out) > 64 {
		return nil, moonwake.Errorf(moonwake.EInvalid, "tags: at most 64")
	}
	return out, nil
}

// splitFormList splits on commas and white space, dropping empty items.
func splitFormList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool {
		return r == ',' || r == ';' || r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\u00a0'
	})
}

// parseFields turns the typed form into machine fields.
func (f machineForm) parseFields() (port int, ports []int, tags []string, err error) {
	if f.Port != "" {
		if port, err = strconv.Atoi(f.Port); err != nil || port < 1 || port > 65535 {
			return 0, nil, nil, moonwake.Errorf(moonwake.EInvalid, "port %q: want the UDP port for magic packets, 1 to 65535 (blank: 9)", cutForMessage(f.Port, 20))
		}
	}
	if ports, err = parsePorts(f.Ports); err != nil {
		return 0, nil, nil, err
	}
	if tags, err = parseTags(f.Tags); err != nil {
		return 0, nil, nil, err
	}
	return port, ports, tags, nil
}

// machineEditPage is GET /machines/{name}/edit.
func (s *Server) machineEditPage(w http.ResponseWriter, r *http.Request) {
	m := s.pathMachine(w, r)
	if m == nil {
		return
	}
	if m.Source == moonwake.SourceConfig {
		s.fail(w, r, errConfigOwned(m))
		return
	}
	s.render(w, r, http.StatusOK, "machine_edit.html", machineFormOf(m))
}

func errConfigOwned(m *moonwake.Machine) error {
	return moonwake.Errorf(moonwake.EConflict, "%s is declared in the hub's config file: change it there, and the hub picks the change up.", m.Name)
}

// machineEdit is POST /machines/{name}/edit. A blank password keeps the
// one set; "clear_password" removes it.
func (s *Server) machineEdit(w http.ResponseWriter, r *http.Request) {
	r = s.machineCtx(r)
	m := s.pathMachine(w, r)
	if m == nil {
		return
	}
	if m.Source == moonwake.SourceConfig {
		s.fail(w, r, errConfigOwned(m))
		return
	}
	f := readMachineForm(r.PostForm)
	f.Name, f.PasswordSet = m.Name, m.Password != ""
	port, ports, tags, err := f.parseFields()
	var nm *moonwake.Machine
	if err == nil {
		u := moonwake.MachineUpdate{
			MAC: &f.MAC, Host: &f.Host, Interface: &f.Interface, Broadcast: &f.Broadcast,
			Port: &port, Ports: &ports, Tags: &tags, Relay: &f.Relay,
		}
		if pw := r.PostFormValue("password"); pw != "" {
			u.Password = &pw
		} else if r.PostFormValue("clear_password") != "" {
			empty := ""
			u.Password = &empty
		}
		nm, err = s.Machines.UpdateMachine(r.Context(), m.Name, u)
	}
	if err != nil {
		code := moonwake.ErrorCode(err)
		if code == moonwake.EInternal {
			s.fail(w, r, err)
			return
		}
		f.Error = moonwake.ErrorMessage(err)
		s.render(w, r, httperr.Status(code), "machine_edit.html", f)
		return
	}
	a := s.actor(r)
	s.log().Info("machine updated", "machine", nm.Name, "actor", a.Name, "addr", a.Addr)
	http.Redirect(w, r, "/machines/"+url.PathEscape(nm.Name), http.StatusSeeOther)
}
