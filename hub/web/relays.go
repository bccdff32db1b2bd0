package web

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/internal/httperr"
)

// relayRoutes registers the relays page, where relays are listed, paired
// and forgotten; a hub without relays (Relays nil) has no such page.
func (s *Server) relayRoutes(mux *http.ServeMux) {
	if s.Relays == nil {
		return
	}
	mux.Handle("GET /relays", s.signedIn(s.relaysPage))
	mux.Handle("POST /relays/pair", s.signedIn(s.relayPair))
	mux.Handle("POST /relays/{name}/forget", s.signedIn(s.relayForget))
}

// relaysView is the data of relays.html.
type relaysView struct {
	Relays  []relayRow
	Name    string             // the pairing form's name, as typed
	Pairing *relayPairingShown // the code just made, shown once
	Confirm string             // the relay whose Forget asks to be confirmed
	Error   string             // what went wrong with the last form
}

// relayRow is a relay as the page lists it.
type relayRow struct {
	*moonwake.Relay
	Serves   []string // its networks that it serves, not those it stands by for
	Machines []string // the machines that name it
}

// relayPairingShown is a one-time relay pairing code as the page shows it.
type relayPairingShown struct {
	Relay       string
	Code        string
	ExpiresAt   time.Time
	Fingerprint string
	Command     string // the command line to run on the relay's host
}

// relaysView gathers the relays and the machines that name them.
func (s *Server) relaysView(r *http.Request) (*relaysView, error) {
	ctx := r.Context()
	rs, err := s.Relays.ListRelays(ctx)
	if err != nil {
		return nil, err
	}
	ms, err := s.Machines.ListMachines(ctx)
	if err != nil {
		return nil, err
	}
	v := &relaysView{}
	for _, rl := range rs {
		row := relayRow{Relay: rl}
		for _, n := range rl.Networks {
			if !slices.Contains(rl.Standby, n) {
				row.Serves = append(row.Serves, n)
			}
		}
		for _, m := range ms {
			if m.Relay == rl.Name {
				row.Machines = append(row.Machines, m.Name)
			}
		}
		v.Relays = append(v.Relays, row)
	}
	return v, nil
}

// relaysPage is GET /relays.
func (s *Server) relaysPage(w http.ResponseWriter, r *http.Request) {
	v, err := s.relaysView(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "relays.html", v)
}

// relayPair is POST /relays/pair: a one-time code for the relay named in
// the form, shown once with the command that uses it. A bad name comes
// back in the form, with what is wrong with it.
func (s *Server) relayPair(w http.ResponseWriter, r *http.Request) {
	r = s.machineCtx(r)
	name := strings.TrimSpace(r.PostFormValue("name"))
	var p moonwake.RelayPairing
	var err error
	if !moonwake.ValidName(name) {
		err = moonwake.Errorf(moonwake.EInvalid, "relay name %q: use 1-63 characters a-z, 0-9, '-' or '_', starting with a letter or digit", cutForMessage(name, 70))
	} else {
		p, err = s.Relays.NewRelayPairing(r.Context(), name)
	}
	if moonwake.ErrorCode(err) == moonwake.EInternal {
		s.fail(w, r, err)
		return
	}
	v, verr := s.relaysView(r)
	if verr != nil {
		s.fail(w, r, verr)
		return
	}
	v.Name = name
	if err != nil {
		v.Error = moonwake.ErrorMessage(err)
		s.render(w, r, httperr.Status(moonwake.ErrorCode(err)), "relays.html", v)
		return
	}
	cmd := "moonwake relay pair --hub " + shellQuote(s.publicBase(r)) + " --code " + shellQuote(p.Code)
	if p.HubFingerprint != "" {
		cmd += " --hub-fingerprint " + shellQuote(p.HubFingerprint)
	}
	if p.TLSFingerprint != "" {
		cmd += " --tls-fingerprint " + shellQuote(p.TLSFingerprint)
	}
	v.Pairing = &relayPairingShown{Relay: p.Relay, Code: p.Code, ExpiresAt: p.ExpiresAt, Fingerprint: p.HubFingerprint, Command: cmd}
	a := s.actor(r)
	s.log().Info("relay pairing code issued", "relay", p.Relay, "expires", p.ExpiresAt, "actor", a.Name, "addr", a.Addr)
	w.Header().Set("Cache-Control", "no-store")
	s.render(w, r, http.StatusCreated, "relays.html", v)
}

// relayForget is POST /relays/{name}/forget: without confirm=yes it asks
// (app.js asks first and adds it, so this step is for browsers without
// script); with it, it forgets the relay and goes back to the list.
func (s *Server) relayForget(w http.ResponseWriter, r *http.Request) {
	r = s.machineCtx(r)
	name := r.PathValue("name")
	if r.PostFormValue("confirm") != "yes" {
		v, err := s.relaysView(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if !slices.ContainsFunc(v.Relays, func(row relayRow) bool { return row.Name == name }) {
			s.fail(w, r, errNoRelay(name))
			return
		}
		v.Confirm = name
		s.render(w, r, http.StatusOK, "relays.html", v)
		return
	}
	if err := s.Relays.DeleteRelay(r.Context(), name); err != nil {
		if moonwake.ErrorCode(err) == moonwake.ENotFound {
			err = errNoRelay(name)
		}
		s.fail(w, r, err)
		return
	}
	a := s.actor(r)
	s.log().Info("relay forgotten", "relay", name, "actor", a.Name, "addr", a.Addr)
	http.Redirect(w, r, "/relays", http.StatusSeeOther)
}

// errNoRelay is the error of a relay that is not (or no longer) paired.
func errNoRelay(name string) error {
	return moonwake.Errorf(moonwake.ENotFound, "There is no relay called %q: it may have been forgotten already.", cutForMessage(name, 70))
}

// machineRelay is what the machine page says of the relay a machine
// names: that relay as the hub lists it, or nil when it is not paired.
// ok is false when the hub cannot say (no relays, or the list failed).
func (s *Server) machineRelay(r *http.Request, name string) (rl *moonwake.Relay, ok bool) {
	if s.Relays == nil || name == "" {
		return nil, false
	}
	rs, err := s.Relays.ListRelays(r.Context())
	if err != nil {
		s.log().Error("web: list relays", "relay", name, "err", err)
		return nil, false
	}
	for _, x := range rs {
		if x.Name == name {
			return x, true
		}
	}
	return nil, true
}
