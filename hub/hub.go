// Package hub assembles a moonwake hub from its configuration: the SQLite
// store, the power service and the HTTP API. The command line and the
// end-to-end tests run the same Hub.
package hub

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/hub/config"
	"github.com/moonwake/moonwake/hub/events"
	"github.com/moonwake/moonwake/hub/hass"
	"github.com/moonwake/moonwake/hub/httpapi"
	"github.com/moonwake/moonwake/hub/notify"
	"github.com/moonwake/moonwake/hub/passthrough"
	"github.com/moonwake/moonwake/hub/policy"
	"github.com/moonwake/moonwake/hub/power"
	"github.com/moonwake/moonwake/hub/sqlite"
	"github.com/moonwake/moonwake/hub/web"
	"github.com/moonwake/moonwake/probe"
	"github.com/moonwake/moonwake/uplink"
	"github.com/moonwake/moonwake/wol"
)

// DBFile is the name of the database in the data directory.
const DBFile = "moonwake.db"

// Hub is a running hub. Open it, Serve it, Close it.
type Hub struct {
	cfg config.Config
	log *slog.Logger

	db          *sqlite.DB
	machines    *sqlite.MachineService
	tokens      *sqlite.TokenService
	actions     *sqlite.ActionService
	events      *events.Broker
	power       *power.Service
	prober      *probe.Prober
	monitor     *monitor
	agents      *agents
	link        *uplink.Server
	notifier    *notify.Dispatcher
	passthrough *passthrough.Listener // nil when relay.listen is empty
	mqtt        *hass.Bridge          // nil when mqtt.broker is empty
	web         *web.Server           // nil when ui.enabled is off

	policy      *policy.Engine // schedules and idle auto-off
	policyStore *sqlite.PolicyService

	ln     net.Listener
	srv    *http.Server
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// AdminSecret is set when Open created the first admin token.
	AdminSecret string

	// Interfaces, when set before Open, replaces the host's interface list
	// for wakes. Tests give one with no broadcast-capable interface, so a
	// machine without an explicit address can never broadcast on the host's
	// real network.
	Interfaces func() ([]wol.Iface, error)
	// Resends, when set before Open, replaces the waits between a wake's
	// bursts, so tests need not wait seconds.
	Resends []time.Duration
}

// New returns a hub for cfg that logs to log.
func New(cfg config.Config, log *slog.Logger) *Hub {
	return &Hub{cfg: cfg, log: log}
}

// OpenDB opens the database in the data directory dir, creating both if
// needed. The CLI's token commands use it on the hub host. log, if not nil,
// hears of background writes that failed.
func OpenDB(ctx context.Context, dir string, log *slog.Logger) (*sqlite.DB, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	db := sqlite.NewDB(filepath.Join(dir, DBFile))
	if log != nil {
		db.OnAsyncError = func(err error) { log.Error("background write failed", "error", err) }
	}
	if err := db.Open(ctx); err != nil {
		return nil, fmt.Errorf("open database in %s: %w", dir, err)
	}
	return db, nil
}

// Open opens the database, applies the config file's machines, closes the
// books on actions cut short by a previous stop, makes sure an admin token
// exists, and starts listening.
func (h *Hub) Open(ctx context.Context) error {
	db, err := OpenDB(ctx, h.cfg.Data, h.log)
	if err != nil {
		return err
	}
	h.db = db
	h.machines = sqlite.NewMachineService(db)
	h.tokens = sqlite.NewTokenService(db)
	h.actions = sqlite.NewActionService(db)

	ms := make([]*moonwake.Machine, 0, len(h.cfg.Machines))
	for _, m := range h.cfg.Machines {
		ms = append(ms, m.Domain())
	}
	if err := h.machines.SyncConfigMachines(ctx, ms); err != nil {
		return fmt.Errorf("machines from the config file: %s", moonwake.ErrorMessage(err))
	}
	if ok, err := h.tokens.HasAdminToken(ctx); err != nil {
		return err
	} else if !ok {
		secret, err := h.tokens.CreateToken(ctx, &moonwake.Token{Name: "admin", Admin: true})
		if err != nil && moonwake.ErrorCode(err) == moonwake.EConflict {
			secret, err = h.tokens.CreateToken(ctx, &moonwake.Token{Name: "admin-" + time.Now().UTC().Format("20060102-150405"), Admin: true})
		}
		if err != nil {
			return fmt.Errorf("create the first admin token: %w", err)
		}
		h.AdminSecret = secret
	}

	key, err := loadOrCreateKey(h.cfg.Data)
	if err != nil {
		return err
	}
	evStore := sqlite.NewEventService(db)
	if h.events, err = events.NewBroker(ctx, evStore, nil); err != nil {
		return err
	}
	h.prober = probe.NewProber(probe.ProberOptions{Timeout: h.cfg.Probe.Timeout})
	h.monitor = newMonitor(probe.NewWatcher, probe.WatchOptions{
		Probe: h.prober.Probe, Rest: h.cfg.Probe.Interval, Fast: h.cfg.Probe.FastInterval,
		IdleAfter: h.cfg.Probe.IdleAfter,
	}, h.machines, h.events, evStore, h.log)
	peers := sqlite.NewPeerService(db)
	h.agents = &agents{peers: peers, mon: h.monitor, now: time.Now,
		fingerprint: uplink.Fingerprint(key.Public().(ed25519.PublicKey))}
	h.link = &uplink.Server{
		Keys: peers, HubKey: key, Logger: h.log,
		OnConnect: h.agents.onConnect, OnDisconnect: h.agents.onDisconnect, OnReport: h.agents.onReport,
		OnOutcome: h.agents.onOutcome,
	}
	h.agents.link = h.link
	h.monitor.dropLink = h.link.Drop
	if ms, err := h.machines.ListMachines(ctx); err == nil {
		h.agents.loadPaired(ctx, ms)
	}
	h.notifier = notify.NewDispatcher(nil, h.log)
	sun := newSunshineHosts(db, h.cfg.Data)
	h.power = power.New(h.actions, power.Options{
		Count: h.cfg.Wake.Count, WakeDeadline: h.cfg.Wake.Deadline, ShutdownDeadline: h.cfg.Shutdown.Deadline,
		Interfaces: h.Interfaces, Resends: h.Resends, Events: h.events, States: h.monitor, Agents: powerAgents{h.agents, sun}, Logger: h.log,
		Notify: h.notify,
	})
	if err := h.openPolicy(); err != nil {
		return err
	}
	h.monitor.changed = func(sc moonwake.StateChange) {
		h.power.StateChanged(sc)
		h.policy.Observe(sc)
	}
	h.agents.outcome = h.power.CommandOutcome
	if err := h.power.Resume(ctx, func(name string) (*moonwake.Machine, error) {
		return h.machines.FindMachine(ctx, name)
	}); err != nil {
		return err
	}
	proxies, err := h.cfg.Proxies()
	if err != nil {
		return err
	}
	reg := registry{h.machines, h.monitor.Resync}
	api := &httpapi.Server{
		Machines: reg, Tokens: h.tokens, Actions: h.actions, Power: h.power, Events: h.events,
		Monitor: h.monitor, Pairing: h.agents, Link: h.link,
		Pair:          &uplink.Pairer{Store: pairings{peers, h.agents}, HubKey: key, Logger: h.log},
		KeepAwake:     keepAwake{h.policyStore, h.policy},
		Sunshine:      sun,
		Logger:        h.log,
		RatePerMinute: h.cfg.RateLimit.PerMinute, Burst: h.cfg.RateLimit.Burst,
		TrustedProxies: proxies,
		Ready:          db.Ping,
	}
	if api.UI, err = h.openWeb(ctx, reg, api); err != nil {
		return err
	}
	if err := h.openMQTT(ctx); err != nil {
		return err
	}
	h.srv = &http.Server{
		Handler:           api.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(h.log.Handler(), slog.LevelDebug),
	}
	h.srv.RegisterOnShutdown(api.CloseStreams)
	if h.web != nil {
		h.srv.RegisterOnShutdown(h.web.CloseStreams)
	}
	// Links are hijacked connections, which Shutdown neither waits for nor
	// closes.
	h.srv.RegisterOnShutdown(func() { h.link.Close() })
	ln, err := net.Listen("tcp", h.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", h.cfg.Listen, err)
	}
	h.ln = ln
	if len(h.cfg.Relay.Listen) > 0 {
		h.passthrough = passthrough.New(passthrough.Options{Addrs: h.cfg.Relay.Listen, Machines: h.machines, Waker: h.power, Logger: h.log})
		if err := h.passthrough.Listen(); err != nil {
			return err
		}
	}
	return nil
}

// notify reports an ended action to the hub's target and the machine's own.
func (h *Hub) notify(a *moonwake.Action) {
	targets := []notify.Target{h.cfg.Notify}
	if m, err := h.machines.FindMachine(context.Background(), a.Machine); err == nil && m.Notify != nil {
		targets = append(targets, *m.Notify)
	}
	h.notifier.Send(notify.ForAction(a), targets...)
}

// Addr is the address the hub listens on.
func (h *Hub) Addr() net.Addr { return h.ln.Addr() }

// RelayAddrs are the UDP addresses the relay listens on; none when it is off.
func (h *Hub) RelayAddrs() []net.Addr {
	if h.passthrough == nil {
		return nil
	}
	return h.passthrough.Addrs()
}

// Serve serves until ctx ends or Close is called, then shuts down
// gracefully. It returns nil after a clean stop.
func (h *Hub) Serve(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	h.cancel = cancel
	h.wg.Add(4)
	go func() {
		defer h.wg.Done()
		h.power.Run(ctx)
	}()
	go func() {
		defer h.wg.Done()
		h.policy.Run(ctx)
	}()
	go func() {
		defer h.wg.Done()
		h.monitor.run(ctx)
	}()
	go func() {
		defer h.wg.Done()
		h.notifier.Run(ctx)
	}()
	if h.passthrough != nil {
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			h.passthrough.Serve(ctx)
		}()
		addrs := []string{}
		for _, a := range h.passthrough.Addrs() {
			addrs = append(addrs, a.String())
		}
		h.log.Info("relay listening for magic packets from outside", "udp", addrs)
	}
	h.runMQTT(ctx)
	errc := make(chan error, 1)
	go func() { errc <- h.srv.Serve(h.ln) }()
	h.log.Info("serving", "addr", h.ln.Addr().String(), "data", h.cfg.Data, "version", moonwake.Version)
	select {
	case err := <-errc:
		cancel()
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	h.log.Info("shutting down")
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	if err := h.srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Close stops serving and releases everything, the database last.
func (h *Hub) Close() error {
	if h.cancel != nil {
		h.cancel()
	}
	h.wg.Wait()
	var errs []error
	if h.passthrough != nil {
		errs = append(errs, h.passthrough.Close())
	}
	errs = append(errs, h.closeMQTT())
	if h.link != nil {
		errs = append(errs, h.link.Close())
	}
	if h.srv != nil {
		errs = append(errs, h.srv.Close())
	}
	if h.notifier != nil {
		h.notifier.Close()
	}
	if h.power != nil {
		errs = append(errs, h.power.Close())
	}
	if h.prober != nil {
		errs = append(errs, h.prober.Close())
	}
	if h.db != nil {
		errs = append(errs, h.db.Close())
	}
	return errors.Join(errs...)
}
