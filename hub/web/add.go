package web

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/internal/httperr"
)

// discoverTimeout bounds the suggestions on the Add machine page: the hub
// and its relays read their tables and name the devices within it.
const discoverTimeout = 4 * time.Second

// suggestionRow is a device the page offers, with the link that fills in
// the form from it.
type suggestionRow struct {
	moonwake.Suggestion
	SeenBy string // "the hub", "relay office", …
	Href   string // the add form, filled in; "" for a machine already
}

// sweepRow is a relay that may sweep its subnets, for the sweep buttons.
type sweepRow struct {
	Relay    string
	Networks []string
}

// machineNewPage is GET /machines/new: the form, filled in from the query
// (a suggestion's link: ?mac=…&host=…&name=…), and the suggestions.
func (s *Server) machineNewPage(w http.ResponseWriter, r *http.Request) {
	f := readMachineForm(r.URL.Query())
	f.New = true
	f.PasswordTyped = false // never taken from a URL
	if q := r.URL.Query(); q.Get("swept") != "" {
		f.Swept = &sweptNote{Relay: q.Get("swept"), Network: q.Get("network"), Seconds: q.Get("seconds")}
	}
	s.suggest(r.Context(), &f)
	s.render(w, r, http.StatusOK, "machine_new.html", f)
}

// machineCreate is POST /machines/new: it adds the machine and goes to its
// page, or shows the form again with what was typed and what is wrong.
func (s *Server) machineCreate(w http.ResponseWriter, r *http.Request) {
	r = s.machineCtx(r)
	f := readMachineForm(r.PostForm)
	f.New = true
	port, ports, tags, err := f.parseFields()
	m := &moonwake.Machine{
		Name: f.Name, MAC: f.MAC, Host: f.Host, Interface: f.Interface, Broadcast: f.Broadcast,
		Port: port, Ports: ports, Tags: tags, Relay: f.Relay, Password: r.PostFormValue("password"), Source: moonwake.SourceAPI,
	}
	if err == nil {
		err = s.Machines.CreateMachine(r.Context(), m)
	}
	if err != nil {
		code := moonwake.ErrorCode(err)
		if code == moonwake.EInternal {
			s.fail(w, r, err)
			return
		}
		f.Error = moonwake.ErrorMessage(err)
		s.suggest(r.Context(), &f)
		s.render(w, r, httperr.Status(code), "machine_new.html", f)
		return
	}
	a := s.actor(r)
	s.log().Info("machine created", "machine", m.Name, "mac", m.MAC, "actor", a.Name, "addr", a.Addr)
	http.Redirect(w, r, "/machines/"+url.PathEscape(m.Name), http.StatusSeeOther)
}

// suggest fills in the page's suggestions from the hub's and the relays'
// neighbour tables; Note says why there are none, when there are none.
func (s *Server) suggest(ctx context.Context, f *machineForm) {
	if s.Discovery == nil {
		f.SuggestNote = "This hub cannot read neighbour tables, so it has no suggestions."
		return
	}
	ctx, cancel := context.WithTimeout(ctx, discoverTimeout)
	defer cancel()
	d, err := s.Discovery.Discover(ctx)
	if err != nil {
		s.log().Error("web: discover", "err", err)
		f.SuggestNote = "The neighbour tables could not be read."
		return
	}
	for _, sg := range d.Suggestions {
		row := suggestionRow{Suggestion: sg, SeenBy: seenBy(sg)}
		if sg.Machine == "" {
			v := url.Values{"mac": {sg.MAC}, "host": {sg.IP}}
			if sg.Name != "" {
				v.Set("name", sg.Name)
			}
			row.Href = "/machines/new?" + v.Encode()
		}
		f.Suggestions = append(f.Suggestions, row)
	}
	for _, r := range d.Relays {
		if r.Error != "" {
			f.RelayErrors = append(f.RelayErrors, r.Name+": "+r.Error)
		} else if r.Sweep && len(r.Networks) > 0 {
			f.Sweeps = append(f.Sweeps, sweepRow{Relay: r.Name, Networks: r.Networks})
		}
	}
	if len(f.Suggestions) == 0 {
		f.SuggestNote = "The hub and its relays see no device on their LANs yet."
		if d.HubError != "" {
			f.SuggestNote = d.HubError + "."
		}
	}
}

// seenBy says who saw a suggestion, for people.
func seenBy(sg moonwake.Suggestion) string {
	var who []string
	if sg.Hub {
		who = append(who, "the hub")
	}
	for _, r := range sg.Relays {
		who = append(who, "relay "+r)
	}
	return strings.Join(who, ", ")
}

// machineSweep is POST /machines/new/sweep: a relay sweeps the subnet
// named in the form, and the page comes back saying for how long, so that
// a reload then shows what it found. A refusal is shown on the page.
func (s *Server) machineSweep(w http.ResponseWriter, r *http.Request) {
	r = s.machineCtx(r)
	if s.Discovery == nil {
		s.fail(w, r, notFound(r))
		return
	}
	relay, network := r.PostFormValue("relay"), r.PostFormValue("network")
	sw, err := s.Discovery.Sweep(r.Context(), relay, network)
	if err != nil {
		if moonwake.ErrorCode(err) == moonwake.EInternal {
			s.fail(w, r, err)
			return
		}
		f := machineForm{New: true, Error: moonwake.ErrorMessage(err)}
		s.suggest(r.Context(), &f)
		s.render(w, r, httperr.Status(moonwake.ErrorCode(err)), "machine_new.html", f)
		return
	}
	a := s.actor(r)
	s.log().Info("relay sweep started", "relay", sw.Relay, "network", sw.Network, "actor", a.Name, "addr", a.Addr)
	v := url.Values{"swept": {sw.Relay}, "network": {sw.Network}, "seconds": {strconv.Itoa(int(sw.Duration.Round(time.Second).Seconds()))}}
	http.Redirect(w, r, "/machines/new?"+v.Encode()+"#suggest-h", http.StatusSeeOther)
}
