package hub

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/hub/httpapi"
	"github.com/moonwake/moonwake/hub/power"
	"github.com/moonwake/moonwake/hub/sqlite"
	"github.com/moonwake/moonwake/sunshine"
	"github.com/moonwake/moonwake/uplink"
)

// SunshineDir is the directory, in the data directory, of the hub's
// Moonlight-style client identity; hosts pin its certificate when paired.
const SunshineDir = "sunshine"

// sunshineApp is the app launched on a machine's Sunshine host to shut it
// down when it has no connected agent.
const sunshineApp = sunshine.DefaultShutdownApp

// sunshinePairTimeout bounds a pairing: Sunshine holds the first request
// until the PIN is typed into its web UI. It stays under the HTTP server's
// write timeout and the CLI client's 30 s timeout.
const sunshinePairTimeout = 25 * time.Second

// sunshineHosts pairs the hub with machines' Sunshine hosts and reaches
// the paired ones. It implements httpapi.SunshinePairer.
type sunshineHosts struct {
	store *sqlite.SunshineService
	dir   string // of the client identity
	now   func() time.Time

	mu sync.Mutex
	id *sunshine.Identity // loaded on first use
}

var _ httpapi.SunshinePairer = (*sunshineHosts)(nil)

// identity returns the hub's client identity, creating it on first use.
func (sh *sunshineHosts) identity() (*sunshine.Identity, error) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.id == nil {
		id, err := sunshine.LoadOrCreateIdentity(sh.dir)
		if err != nil {
			return nil, err
		}
		sh.id = id
	}
	return sh.id, nil
}

// PairSunshine implements httpapi.SunshinePairer.
func (sh *sunshineHosts) PairSunshine(ctx context.Context, m *moonwake.Machine, pin string, port int) (httpapi.SunshinePairing, error) {
	id, err := sh.identity()
	if err != nil {
		return httpapi.SunshinePairing{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, sunshinePairTimeout)
	defer cancel()
	base := "http://" + net.JoinHostPort(m.Host, strconv.Itoa(port))
	p, err := sunshine.Pair(ctx, base, pin, id, &sunshine.PairOptions{DeviceName: "moonwake hub"})
	if err != nil {
		return httpapi.SunshinePairing{}, sunshineError(m.Name, "pair with", err)
	}
	return sh.keep(ctx, m, p)
}

// PairSunshineAuto implements httpapi.SunshinePairer: the hub picks the
// PIN and sends it to Sunshine's web UI with web's credentials, used for
// this request only.
func (sh *sunshineHosts) PairSunshineAuto(ctx context.Context, m *moonwake.Machine, port int, web httpapi.SunshineWeb) (httpapi.SunshinePairing, error) {
	id, err := sh.identity()
	if err != nil {
		return httpapi.SunshinePairing{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, sunshinePairTimeout)
	defer cancel()
	base := "http://" + net.JoinHostPort(m.Host, strconv.Itoa(port))
	p, err := sunshine.PairAuto(ctx, base, web.Port, web.Username, web.Password, id, &sunshine.PairOptions{DeviceName: "moonwake hub"})
	if err != nil {
		return httpapi.SunshinePairing{}, sunshineError(m.Name, "pair with", err)
	}
	return sh.keep(ctx, m, p)
}

// keep saves the pairing p with the host of m and says whether the MAC it
// gives is m's.
func (sh *sunshineHosts) keep(ctx context.Context, m *moonwake.Machine, p *sunshine.Paired) (httpapi.SunshinePairing, error) {
	info, err := p.ServerInfo(ctx)
	if err != nil {
		return httpapi.SunshinePairing{}, sunshineError(m.Name, "ask, once paired,", err)
	}
	at := sh.now().UTC()
	if err := sh.store.Save(ctx, &sqlite.SunshineHost{Machine: m.Name, URL: p.URL, ServerCert: string(p.ServerCertPEM), PairedAt: at}); err != nil {
		return httpapi.SunshinePairing{}, err
	}
	out := httpapi.SunshinePairing{Machine: m.Name, PairedAt: at}
	if info.MAC != nil {
		out.MAC = info.MAC.String()
		out.MACMatches = strings.EqualFold(out.MAC, m.MAC)
	}
	return out, nil
}

// sunshineError gives a failure of the host of machine a code: a wrong PIN
// is the caller's; anything else is the host's (unreachable, or not the
// host that was paired).
func sunshineError(machine, doing string, err error) error {
	switch {
	case errors.Is(err, sunshine.ErrWebCredentials):
		return moonwake.Errorf(moonwake.EInvalid, "Sunshine refused the web credentials: check the username and password of the web UI of %s", machine)
	case errors.Is(err, sunshine.ErrWebCert):
		return moonwake.Errorf(moonwake.EUnavailable, "the web UI of the Sunshine host of %s presents another certificate than its GameStream port (Sunshine uses one for both): a man in the middle? The credentials were not sent", machine)
	case errors.Is(err, sunshine.ErrWrongPIN):
		return moonwake.Errorf(moonwake.EInvalid, "wrong PIN: Sunshine on %s was given another PIN (or refused the pairing)", machine)
	case errors.Is(err, sunshine.ErrMITM):
		return moonwake.Errorf(moonwake.EUnavailable, "the Sunshine host of %s does not hold the certificate it paired with: a man in the middle, or another host at that address", machine)
	case errors.Is(err, sunshine.ErrNoApp):
		return moonwake.Errorf(moonwake.EInvalid, "the Sunshine host of %s has no app %q: add one that shuts the PC down", machine, sunshineApp)
	case errors.Is(err, context.DeadlineExceeded):
		return moonwake.Errorf(moonwake.EUnavailable, "%s the Sunshine host of %s: no answer in time (was the PIN typed into Sunshine's web UI?)", doing, machine)
	default:
		return moonwake.Errorf(moonwake.EUnavailable, "%s the Sunshine host of %s: %v", doing, machine, err)
	}
}

// paired returns the machine's paired Sunshine host, or ENotFound.
func (sh *sunshineHosts) paired(ctx context.Context, machine string) (*sunshine.Paired, error) {
	h, err := sh.store.Find(ctx, machine)
	if err != nil {
		return nil, err
	}
	id, err := sh.identity()
	if err != nil {
		return nil, err
	}
	return sunshine.NewPaired(h.URL, []byte(h.ServerCert), id)
}

// powerAgents is what the power service commands machines with: their
// agent when it is paired and connected; else, for a shutdown, the
// "Shutdown" app of their paired Sunshine host.
type powerAgents struct {
	ag  *agents
	sun *sunshineHosts
}

var _ power.Agents = powerAgents{}

// Paired implements power.Agents: an agent or a Sunshine host.
func (pa powerAgents) Paired(ctx context.Context, machine string) bool {
	if pa.ag.Paired(ctx, machine) {
		return true
	}
	_, err := pa.sun.store.Find(ctx, machine)
	return err == nil
}

// agentConnected reports whether the machine has a paired agent linked
// now.
func (pa powerAgents) agentConnected(ctx context.Context, machine string) bool {
	p, err := pa.ag.peers.PeerForMachine(ctx, machine, uplink.PurposeAgent)
	return err == nil && pa.ag.link.Connected(p.ID)
}

// Command implements power.Agents.
func (pa powerAgents) Command(ctx context.Context, machine, command, id string) (string, error) {
	if command != moonwake.ActionShutdown || pa.agentConnected(ctx, machine) {
		return pa.ag.Command(ctx, machine, command, id)
	}
	p, err := pa.sun.paired(ctx, machine)
	if moonwake.ErrorCode(err) == moonwake.ENotFound {
		return pa.ag.Command(ctx, machine, command, id) // says why the agent cannot
	} else if err != nil {
		return "", err
	}
	if err := p.ShutdownApp(ctx, sunshineApp); err != nil {
		return "", sunshineError(machine, "launch "+strconv.Quote(sunshineApp)+" on", err)
	}
	return "launched Sunshine app " + strconv.Quote(sunshineApp), nil
}

// newSunshineHosts returns the Sunshine hosts of db, with the client
// identity kept in the data directory dir.
func newSunshineHosts(db *sqlite.DB, dir string) *sunshineHosts {
	return &sunshineHosts{store: sqlite.NewSunshineService(db), dir: filepath.Join(dir, SunshineDir), now: time.Now}
}
