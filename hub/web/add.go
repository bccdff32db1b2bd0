package web

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/internal/httperr"
	"github.com/moonwake/moonwake/oui"
	"github.com/moonwake/moonwake/probe"
)

// Bounds on the neighbour suggestions: the table of a busy LAN can be
// long, and each suggestion may cost a reverse DNS lookup.
const (
	maxSuggestions     = 32
	neighbourTimeout   = 2 * time.Second
	lookupTimeout      = time.Second
	lookupsAtOnce      = 4
	suggestionsTimeout = 3 * time.Second
)

// neighbourSuggestion is a device in the hub's neighbour table that could
// be added as a machine.
type neighbourSuggestion struct {
	IP        string
	MAC       string
	Interface string // "" when the index has no name here
	State     string // the kernel's: reachable, stale …
	Vendor    string // the card's maker, from the IEEE registry; "" when unknown
	DNSName   string // reverse DNS, without the final dot; "" for none
	Name      string // a machine name made from DNSName; "" for none
	Href      string // the add form, filled in
}

// machineNewPage is GET /machines/new: the form, filled in from the query
// (a suggestion's link: ?mac=…&host=…&name=…), and the suggestions.
func (s *Server) machineNewPage(w http.ResponseWriter, r *http.Request) {
	f := readMachineForm(r.URL.Query())
	f.New = true
	f.PasswordTyped = false // never taken from a URL
	f.Suggestions, f.SuggestNote = s.neighbourSuggestions(r.Context())
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
		f.Suggestions, f.SuggestNote = s.neighbourSuggestions(r.Context())
		s.render(w, r, httperr.Status(code), "machine_new.html", f)
		return
	}
	a := s.actor(r)
	s.log().Info("machine created", "machine", m.Name, "mac", m.MAC, "actor", a.Name, "addr", a.Addr)
	http.Redirect(w, r, "/machines/"+url.PathEscape(m.Name), http.StatusSeeOther)
}

// neighbourSuggestions lists the devices of the hub's neighbour table that
// are not machines yet, with their reverse DNS names; note says why there
// are none, when there are none.
func (s *Server) neighbourSuggestions(ctx context.Context) ([]neighbourSuggestion, string) {
	if s.Neighbours == nil {
		return nil, "This hub cannot read its neighbour table, so it has no suggestions."
	}
	ctx, cancel := context.WithTimeout(ctx, suggestionsTimeout)
	defer cancel()
	nctx, ncancel := context.WithTimeout(ctx, neighbourTimeout)
	ns, err := s.Neighbours(nctx)
	ncancel()
	if err != nil {
		s.log().Warn("web: neighbour table", "err", err)
		return nil, "The hub's neighbour table could not be read."
	}
	known := map[string]bool{}
	if ms, err := s.Machines.ListMachines(ctx); err == nil {
		for _, m := range ms {
			known[m.MAC] = true
		}
	} else {
		s.log().Error("web: list machines", "err", err)
	}
	out := pickNeighbours(ns, known, interfaceName)
	if len(out) == 0 {
		return nil, "Every device the hub sees on its LAN is a machine already, or it sees none yet."
	}
	s.lookupNames(ctx, out)
	for i := range out {
		v := url.Values{"mac": {out[i].MAC}, "host": {out[i].IP}}
		if out[i].Name != "" {
			v.Set("name", out[i].Name)
		}
		out[i].Href = "/machines/new?" + v.Encode()
	}
	return out, ""
}

// interfaceName names the interface with that index in the hub's own
// namespace, "" when there is none.
func interfaceName(index int) string {
	ifi, err := net.InterfaceByIndex(index)
	if err != nil {
		return ""
	}
	return ifi.Name
}

// pickNeighbours keeps the entries worth suggesting: resolved, with a
// unicast Ethernet MAC that is not a machine's already, at an address a
// machine's host can name, one per MAC (its IPv4 address first), at most
// maxSuggestions, sorted by address.
func pickNeighbours(ns []probe.Neighbour, known map[string]bool, ifname func(int) string) []neighbourSuggestion {
	ns = slices.Clone(ns)
	// IPv4 before IPv6, so a device seen both ways is offered by its IPv4.
	slices.SortStableFunc(ns, func(a, b probe.Neighbour) int {
		if a.IP.Is4() != b.IP.Is4() {
			if a.IP.Is4() {
				return -1
			}
			return 1
		}
		return a.IP.Compare(b.IP)
	})
	seen := map[string]bool{}
	var out []neighbourSuggestion
	for _, n := range ns {
		ip := n.IP.Unmap()
		switch {
		case len(n.MAC) != 6, n.MAC[0]&1 != 0, bytes.Equal(n.MAC, make([]byte, 6)):
			continue // unresolved, multicast or broadcast, or all zeros
		case n.State == 0, n.State.Unresolved(), n.State&probe.NUDNoARP != 0:
			continue
		case !ip.IsValid(), ip.IsMulticast(), ip.IsUnspecified(), ip.IsLoopback():
			continue
		case ip.Is6() && ip.IsLinkLocalUnicast():
			continue // fe80::… needs its zone, which a machine's host cannot carry
		}
		mac := n.MAC.String()
		if known[mac] || seen[mac] {
			continue
		}
		seen[mac] = true
		sg := neighbourSuggestion{IP: ip.WithZone("").String(), MAC: mac, State: n.State.String(), Vendor: oui.Vendor(n.MAC)}
		if ifname != nil && n.Ifindex > 0 {
			sg.Interface = ifname(n.Ifindex)
		}
		out = append(out, sg)
		if len(out) == maxSuggestions {
			break
		}
	}
	return out
}

// lookupNames fills in reverse DNS names, a few lookups at a time, each
// bounded; a name that does not come in time is left out.
func (s *Server) lookupNames(ctx context.Context, sg []neighbourSuggestion) {
	if s.LookupAddr == nil {
		return
	}
	sem := make(chan struct{}, lookupsAtOnce)
	var wg sync.WaitGroup
	for i := range sg {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return
		}
		wg.Add(1)
		go func(g *neighbourSuggestion) {
			defer func() { <-sem; wg.Done() }()
			lctx, cancel := context.WithTimeout(ctx, lookupTimeout)
			defer cancel()
			names, err := s.LookupAddr(lctx, g.IP)
			if err != nil || len(names) == 0 {
				return
			}
			g.DNSName = strings.TrimSuffix(names[0], ".")
			g.Name = nameFromDNS(g.DNSName)
		}(&sg[i])
	}
	wg.Wait()
}

// nameFromDNS makes a machine name from a DNS name: its first label, lower
// case, with anything but a-z, 0-9, '-' and '_' turned into '-'. It
// returns "" when nothing usable is left.
func nameFromDNS(dns string) string {
	label, _, _ := strings.Cut(strings.TrimSuffix(dns, "."), ".")
	var b strings.Builder
	for _, c := range strings.ToLower(label) {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
			b.WriteRune(c)
		default:
			b.WriteByte('-')
		}
		if b.Len() >= 63 {
			break
		}
	}
	name := strings.TrimLeft(b.String(), "-_")
	if len(name) > 63 {
		name = name[:63]
	}
	name = strings.TrimRight(name, "-_")
	if !moonwake.ValidName(name) {
		return ""
	}
	return name
}
