package remote

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
	"github.com/moonwake/moonwake/hub/sqlite"
	"github.com/moonwake/moonwake/sunshine"
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

// SunshineHosts pairs the hub with machines' Sunshine hosts and reaches
// the paired ones.
type SunshineHosts struct {
	store *sqlite.SunshineService
	dir   string // of the client identity
	now   func() time.Time

	mu sync.Mutex
	id *sunshine.Identity // loaded on first use
}

var _ moonwake.SunshinePairer = (*SunshineHosts)(nil)

// identity returns the hub's client identity, creating it on first use.
func (sh *SunshineHosts) identity() (*sunshine.Identity, error) {
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

// PairSunshine implements moonwake.SunshinePairer.
func (sh *SunshineHosts) PairSunshine(ctx context.Context, m *moonwake.Machine, pin string, port int) (moonwake.SunshinePairing, error) {
	id, err := sh.identity()
	if err != nil {
		return moonwake.SunshinePairing{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, sunshinePairTimeout)
	defer cancel()
	base := "http://" + net.JoinHostPort(m.Host, strconv.Itoa(port))
	p, err := sunshine.Pair(ctx, base, pin, id, &sunshine.PairOptions{DeviceName: "moonwake hub"})
	if err != nil {
		return moonwake.SunshinePairing{}, sunshineError(m.Name, "pair with", err)
	}
	return sh.keep(ctx, m, p)
}

// PairSunshineAuto implements moonwake.SunshinePairer: the hub picks the
// PIN and sends it to Sunshine's web UI with web's credentials, used for
// this request only.
func (sh *SunshineHosts) PairSunshineAuto(ctx context.Context, m *moonwake.Machine, port int, web moonwake.SunshineWeb) (moonwake.SunshinePairing, error) {
	id, err := sh.identity()
	if err != nil {
		return moonwake.SunshinePairing{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, sunshinePairTimeout)
	defer cancel()
	base := "http://" + net.JoinHostPort(m.Host, strconv.Itoa(port))
	p, err := sunshine.PairAuto(ctx, base, web.Port, web.Username, web.Password, id, &sunshine.PairOptions{DeviceName: "moonwake hub"})
	if err != nil {
		return moonwake.SunshinePairing{}, sunshineError(m.Name, "pair with", err)
	}
	return sh.keep(ctx, m, p)
}

// keep saves the pairing p with the host of m and says whether the MAC it
// gives is m's.
func (sh *SunshineHosts) keep(ctx context.Context, m *moonwake.Machine, p *sunshine.Paired) (moonwake.SunshinePairing, error) {
	info, err := p.ServerInfo(ctx)
	if err != nil {
		return moonwake.SunshinePairing{}, sunshineError(m.Name, "ask, once paired,", err)
	}
	at := sh.now().UTC()
	if err := sh.store.Save(ctx, &sqlite.SunshineHost{Machine: m.Name, URL: p.URL, ServerCert: string(p.ServerCertPEM), PairedAt: at}); err != nil {
		return moonwake.SunshinePairing{}, err
	}
	out := moonwake.SunshinePairing{Machine: m.Name, PairedAt: at}
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
func (sh *SunshineHosts) paired(ctx context.Context, machine string) (*sunshine.Paired, error) {
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

// NewSunshineHosts returns the Sunshine hosts of db, with the client
// identity kept in the data directory dir.
func NewSunshineHosts(db *sqlite.DB, dir string) *SunshineHosts {
	return &SunshineHosts{store: sqlite.NewSunshineService(db), dir: filepath.Join(dir, SunshineDir), now: time.Now}
}

// launchShutdown launches the "Shutdown" app on the machine's paired
// Sunshine host; ENotFound when it has none.
func (sh *SunshineHosts) launchShutdown(ctx context.Context, machine string) (string, error) {
	p, err := sh.paired(ctx, machine)
	if err != nil {
		return "", err
	}
	if err := p.ShutdownApp(ctx, sunshineApp); err != nil {
		return "", sunshineError(machine, "launch "+strconv.Quote(sunshineApp)+" on", err)
	}
	return "launched Sunshine app " + strconv.Quote(sunshineApp), nil
}
