// Package hub assembles a moonwake hub from its configuration and runs it:
// it builds each part once, in dependency order (the store, the events,
// the agents, the monitor, the power service, the policies, the front
// doors), starts their loops, and stops them in reverse. It holds no
// domain logic of its own; ARCHITECTURE.md draws the parts. The command
// line and the end-to-end tests run the same Hub.
package hub

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/hub/cloudevents"
	"github.com/moonwake/moonwake/hub/config"
	"github.com/moonwake/moonwake/hub/discover"
	"github.com/moonwake/moonwake/hub/events"
	"github.com/moonwake/moonwake/hub/groups"
	"github.com/moonwake/moonwake/hub/hass"
	"github.com/moonwake/moonwake/hub/httpapi"
	"github.com/moonwake/moonwake/hub/metrics"
	"github.com/moonwake/moonwake/hub/monitor"
	"github.com/moonwake/moonwake/hub/notify"
	"github.com/moonwake/moonwake/hub/passthrough"
	"github.com/moonwake/moonwake/hub/policy"
	"github.com/moonwake/moonwake/hub/power"
	"github.com/moonwake/moonwake/hub/remote"
	"github.com/moonwake/moonwake/hub/sqlite"
	"github.com/moonwake/moonwake/hub/web"
	"github.com/moonwake/moonwake/internal/dirlock"
	"github.com/moonwake/moonwake/internal/hubtls"
	"github.com/moonwake/moonwake/internal/privfile"
	"github.com/moonwake/moonwake/probe"
	"github.com/moonwake/moonwake/uplink"
	"github.com/moonwake/moonwake/wol"
)

// DBFile is the name of the database in the data directory.
const DBFile = "moonwake.db"

// KeyFile is the hub's Ed25519 identity in the data directory. Agents pin
// its public key when they pair; losing it means pairing them again.
const KeyFile = "hub.key"

// AdminTokenFile is where, in the data directory, the hub writes the first
// admin token it makes, readable by its own user only: not on stdout,
// which a service manager or a container runtime keeps in its logs.
const AdminTokenFile = "admin-token"

// Hub is a running hub. Open it, Serve it, Close it.
type Hub struct {
	cfg config.Config
	log *slog.Logger

	lock        *dirlock.Lock // the data directory, held from Open to Close
	db          *sqlite.DB
	machines    *sqlite.MachineService
	actions     *sqlite.ActionService
	events      *events.Broker
	prober      *probe.Prober
	remote      *remote.Remote
	monitor     *monitor.Monitor
	notifier    *notify.Dispatcher
	power       *power.Service
	groups      *groups.Service
	discovery   *discover.Service
	policy      *policy.Engine
	api         *httpapi.Server
	web         *web.Server           // nil when ui.enabled is off
	mqtt        *hass.Bridge          // nil when mqtt.broker is empty
	cloudEvents *cloudevents.Sender   // nil when events.sink and K_SINK are empty
	passthrough *passthrough.Listener // listens only when passthrough.listen is set
	metrics     *metrics.Metrics      // nil when metrics.listen is empty

	ln     net.Listener
	srv    *http.Server
	tls    *tls.Config // nil: plain HTTP
	cancel context.CancelFunc
	wg     sync.WaitGroup

	metricsLn  net.Listener // nil when metrics.listen is empty
	metricsSrv *http.Server

	// AdminSecret is set when Open created the first admin token, which
	// it also wrote to AdminTokenPath.
	AdminSecret    string
	AdminTokenPath string
	// TLSFingerprint is the fingerprint of the hub's self-signed
	// certificate (tls.self_signed), which agents and relays pin; empty
	// otherwise.
	TLSFingerprint string

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

// Open builds the hub: it opens the database, applies the config file's
// machines, makes sure an admin token exists, builds every part once, each
// after the parts it depends on, takes up the actions a previous run left
// running, and starts listening. Parts that hear of others (the power
// service of state changes and command outcomes, the policies of state
// changes) register themselves when they are built.
func (h *Hub) Open(ctx context.Context) error {
	// Held until Close: "moonwake restore" refuses to replace the database
	// under a running hub, and a second hub refuses to share the directory.
	lock, err := dirlock.Acquire(h.cfg.Data)
	if err != nil {
		return err
	}
	h.lock = lock
	// The uplink's key takes a millisecond of CPU to load (Ed25519
	// precomputation), and nothing before remote.New needs it.
	type keyResult struct {
		key ed25519.PrivateKey
		err error
	}
	keyc := make(chan keyResult, 1)
	go func() {
		key, err := uplink.LoadOrCreateKey(filepath.Join(h.cfg.Data, KeyFile))
		keyc <- keyResult{key, err}
	}()
	if err := h.openStore(ctx); err != nil {
		<-keyc
		return err
	}
	if err := h.openTLS(); err != nil {
		<-keyc
		return err
	}
	kr := <-keyc
	if kr.err != nil {
		return kr.err
	}
	key := kr.key
	history := sqlite.NewEventService(h.db)
	if h.events, err = events.NewBroker(ctx, history, nil); err != nil {
		return err
	}
	h.remote, err = remote.New(ctx, remote.Options{
		Peers: sqlite.NewPeerService(h.db), Relays: sqlite.NewRelayStore(h.db), Tokens: sqlite.NewTokenService(h.db),
		Key: key, TLSFingerprint: h.TLSFingerprint, Logger: h.log,
	})
	if err != nil {
		return err
	}
	sunshineHosts := remote.NewSunshineHosts(h.db, h.cfg.Data)
	if h.cfg.Metrics.Listen != "" {
		h.metrics = metrics.New()
	}
	h.prober = probe.NewProber(probe.ProberOptions{Timeout: h.cfg.Probe.Timeout})
	h.monitor = monitor.New(monitor.Options{
		Machines: h.machines, Events: h.events, Store: history, Agents: h.remote.Agents, Logger: h.log,
		LinkCheck: h.cfg.Probe.Timeout, // each round checks the agent's link too, for as long as a probe
		// A machine on a relay's network is probed by that relay.
		Watch: probe.WatchOptions{Probe: h.metrics.Probe(h.remote.Relays.Probe(h.prober.Probe)), Rest: h.cfg.Probe.Interval, Fast: h.cfg.Probe.FastInterval, IdleAfter: h.cfg.Probe.IdleAfter},
	})
	h.notifier = notify.NewDispatcher(nil, h.log)
	h.notifier.Sent = h.metrics.Notified
	h.power = power.New(h.actions, power.Options{
		Count: h.cfg.Wake.Count, WakeDeadline: h.cfg.Wake.Deadline, ShutdownDeadline: h.cfg.Shutdown.Deadline,
		Interfaces: h.Interfaces, Resends: h.Resends, Events: h.events, Logger: h.log,
		Monitor: h.monitor, Commander: remote.NewCommander(h.remote.Agents, sunshineHosts), Relays: h.metrics.Relays(h.remote.Relays),
		Countdowns: h.remote.Agents.Countdowns(),
		Sender:     &wol.Sender{Sent: h.metrics.PacketSent},
		Notify:     func(a *moonwake.Action) { h.metrics.ActionEnded(a); h.notifyAction(a) },
	})
	h.remote.Agents.OnRequest(h.agentRequest)
	h.groups = groups.New(h.power, h.log, nil)
	h.discovery = h.openDiscovery()
	schedules, idle, err := h.cfg.Policies()
	if err != nil {
		return err
	}
	policyStore := sqlite.NewPolicyService(h.db)
	h.policy = policy.New(policy.Options{
		Schedules: schedules, Idle: idle, Power: h.power, Machines: h.machines,
		Monitor: h.monitor, Store: policyStore, Notify: h.notifyPolicy, Logger: h.log,
		Countdowns: h.remote.Agents.Countdowns(),
	})
	if err := h.power.Resume(ctx, func(name string) (*moonwake.Machine, error) {
		return h.machines.FindMachine(ctx, name)
	}); err != nil {
		return err
	}
	// The front doors change machines and overrides through wrappers that
	// make the monitor and the idle policy look again at once.
	machines := registry{h.machines, h.monitor.Resync}
	keepAwake := keepAwake{policyStore, h.policy}
	if err := h.openFrontDoors(ctx, machines, keepAwake, sunshineHosts); err != nil {
		return err
	}
	if h.ln, err = net.Listen("tcp", h.cfg.Listen); err != nil {
		return fmt.Errorf("listen on %s: %w", h.cfg.Listen, err)
	}
	// The passthrough judges the magic packets from outside that reach the
	// hub itself (passthrough.listen) or a relay's own passthrough.
	h.passthrough = passthrough.New(passthrough.Options{Addrs: h.cfg.PassthroughListen(), Machines: h.machines,
		Power: h.power, Monitor: h.monitor, Relays: h.remote.Relays, Logger: h.log})
	if len(h.cfg.PassthroughListen()) > 0 {
		if err := h.passthrough.Listen(); err != nil {
			return err
		}
	}
	return h.openMetrics(machines)
}

// openStore opens the database and its services, applies the config
// file's machines, and creates the first admin token when there is none.
func (h *Hub) openStore(ctx context.Context) error {
	db, err := OpenDB(ctx, h.cfg.Data, h.log)
	if err != nil {
		return err
	}
	h.db = db
	h.machines = sqlite.NewMachineService(db)
	h.actions = sqlite.NewActionService(db)
	ms := make([]*moonwake.Machine, 0, len(h.cfg.Machines))
	for _, m := range h.cfg.Machines {
		ms = append(ms, m.Domain())
	}
	if err := h.machines.SyncConfigMachines(ctx, ms); err != nil {
		return fmt.Errorf("machines from the config file: %s", moonwake.ErrorMessage(err))
	}
	tokens := sqlite.NewTokenService(db)
	if err := h.relayEnrolToken(ctx, tokens); err != nil {
		return err
	}
	if ok, err := tokens.HasAdminToken(ctx); err != nil {
		return err
	} else if ok {
		return nil
	}
	if h.cfg.AdminTokenFile != "" {
		secret, err := readSecret(h.cfg.AdminTokenFile)
		if err != nil {
			return fmt.Errorf("admin_token_file: %w", err)
		}
		if err := tokens.ImportToken(ctx, &moonwake.Token{Name: "admin", Admin: true}, secret); err != nil {
			return fmt.Errorf("admin_token_file %s: %s", h.cfg.AdminTokenFile, moonwake.ErrorMessage(err))
		}
		h.log.Info("created the first admin token from admin_token_file", "file", h.cfg.AdminTokenFile)
		return nil
	}
	secret, err := tokens.CreateToken(ctx, &moonwake.Token{Name: "admin", Admin: true})
	if err != nil && moonwake.ErrorCode(err) == moonwake.EConflict {
		secret, err = tokens.CreateToken(ctx, &moonwake.Token{Name: "admin-" + time.Now().UTC().Format("20060102-150405"), Admin: true})
	}
	if err != nil {
		return fmt.Errorf("create the first admin token: %w", err)
	}
	path := filepath.Join(h.cfg.Data, AdminTokenFile)
	if err := privfile.Write(path, []byte(secret+"\n"), nil); err != nil {
		return fmt.Errorf("keep the first admin token (it is made; make another with: moonwake tokens create --data %s --name admin2 --admin): %w", h.cfg.Data, err)
	}
	h.AdminSecret, h.AdminTokenPath = secret, path
	h.log.Info("created the first admin token; it is in the file, readable by this user only: paste it at /setup, keep it in a password manager, then delete the file", "file", path)
	return nil
}

// openTLS loads the certificate the hub serves, if any: the files, which
// are read again when they change, or the self-signed one in the data
// directory, whose fingerprint peers pin.
func (h *Hub) openTLS() error {
	switch {
	case h.cfg.TLS.CertFile != "":
		f, err := hubtls.LoadFiles(h.cfg.TLS.CertFile, h.cfg.TLS.KeyFile, h.log)
		if err != nil {
			return err
		}
		h.tls = hubtls.ServerConfig(f.GetCertificate)
	case h.cfg.TLS.SelfSigned:
		var hosts []string
		if u, err := url.Parse(h.cfg.PublicURL); err == nil && u.Hostname() != "" {
			hosts = append(hosts, u.Hostname())
		}
		cert, err := hubtls.SelfSigned(h.cfg.Data, hosts...)
		if err != nil {
			return err
		}
		h.TLSFingerprint = hubtls.Fingerprint(cert.Certificate[0])
		h.tls = hubtls.ServerConfig(func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cert, nil })
	}
	return nil
}

// relayEnrolTokenName names the enrolment token from relay_enrol_token_file.
const relayEnrolTokenName = "relay-enrol-file"

// relayEnrolToken makes the enrolment token in relay_enrol_token_file
// valid, revoking the one an older version of the file held.
func (h *Hub) relayEnrolToken(ctx context.Context, tokens *sqlite.TokenService) error {
	if h.cfg.RelayEnrolTokenFile == "" {
		return nil
	}
	secret, err := readSecret(h.cfg.RelayEnrolTokenFile)
	if err != nil {
		return fmt.Errorf("relay_enrol_token_file: %w", err)
	}
	if t, err := tokens.Authenticate(ctx, secret); err == nil {
		if !t.RelayEnrol {
			return fmt.Errorf("relay_enrol_token_file %s holds token %q, which is not a relay enrolment token", h.cfg.RelayEnrolTokenFile, t.Name)
		}
		return nil
	}
	// A new secret in the file: the token of the old one goes (only if it
	// is the file's enrolment token, never another token of that name).
	all, err := tokens.ListTokens(ctx)
	if err != nil {
		return err
	}
	for _, t := range all {
		if t.Name == relayEnrolTokenName && t.RelayEnrol && t.RevokedAt == nil {
			if _, err := tokens.RevokeToken(ctx, t.ID); err != nil {
				return err
			}
		}
	}
	err = tokens.ImportToken(ctx, &moonwake.Token{Name: relayEnrolTokenName, RelayEnrol: true}, secret)
	if moonwake.ErrorCode(err) == moonwake.EConflict {
		// The file holds a token that was revoked: relays cannot enrol
		// with it, and the hub runs on.
		h.log.Warn("relay_enrol_token_file holds a revoked or taken token: put a new one in it (its Secret) for relays to enrol", "file", h.cfg.RelayEnrolTokenFile)
		return nil
	}
	if err != nil {
		return fmt.Errorf("relay_enrol_token_file %s: %s", h.cfg.RelayEnrolTokenFile, moonwake.ErrorMessage(err))
	}
	h.log.Info("relays may enrol with the token in relay_enrol_token_file", "file", h.cfg.RelayEnrolTokenFile)
	return nil
}

// readSecret reads a secret from a file, without its surrounding white
// space (a Secret written with echo ends in a newline).
func readSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// openFrontDoors builds the API, the web app (on every path the API does
// not claim), the Home Assistant bridge and the HTTP server.
func (h *Hub) openFrontDoors(ctx context.Context, machines moonwake.MachineService, keepAwake moonwake.KeepAwakeService, sunshineHosts moonwake.SunshinePairer) error {
	proxies, err := h.cfg.Proxies()
	if err != nil {
		return err
	}
	tokens := sqlite.NewTokenService(h.db)
	h.api = &httpapi.Server{
		Machines: machines, Tokens: tokens, Actions: h.actions, Power: h.power, Events: h.events,
		Monitor: h.monitor, Pairing: h.remote.Agents, Relays: h.remote.Relays, Uplink: h.remote.Uplink(), Pair: h.remote.Pair(),
		KeepAwake: keepAwake, Sunshine: sunshineHosts, Groups: h.groups, Discovery: h.discovery, Logger: h.log,
		Receipts:      sqlite.NewReceiptService(h.db),
		RatePerMinute: h.cfg.RateLimit.PerMinute, Burst: h.cfg.RateLimit.Burst,
		MaxStreams:     h.cfg.EventStreams.Max,
		TrustedProxies: proxies,
		Ready:          h.db.Ping,
	}
	if h.cfg.UI.On() {
		h.web = &web.Server{
			Machines: machines, Tokens: tokens, Actions: h.actions,
			Sessions: sqlite.NewSessionService(h.db, h.cfg.UI.TTL()),
			Power:    h.power, Events: h.events, Monitor: h.monitor, Pairing: h.remote.Agents,
			KeepAwake: keepAwake, Sunshine: sunshineHosts,
			Relays: h.remote.Relays, Groups: h.groups,
			PublicURL: h.cfg.PublicURL, TrustedProxies: proxies, SessionTTL: h.cfg.UI.TTL(),
			Logger: h.log.With("component", "web"),
			// The hub's and the relays' neighbour tables suggest devices
			// when a machine is added.
			Discovery: h.discovery,
			// The machine page says which policies apply, as the engine runs them.
			Policies: h.policy.Describe,
		}
		h.api.UI = h.web.Handler()
	}
	if h.mqtt, err = h.openMQTT(); err != nil {
		return err
	}
	if h.cloudEvents, err = h.openCloudEvents(); err != nil {
		return err
	}
	h.srv = &http.Server{
		Handler:           h.api.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(h.log.Handler(), slog.LevelDebug),
		TLSConfig:         h.tls,
	}
	h.srv.RegisterOnShutdown(h.api.CloseStreams)
	if h.web != nil {
		h.srv.RegisterOnShutdown(h.web.CloseStreams)
	}
	// Uplinks are hijacked connections, which Shutdown neither waits for
	// nor closes.
	h.srv.RegisterOnShutdown(func() { h.remote.Close() })
	return nil
}

// Addr is the address the hub listens on.
func (h *Hub) Addr() net.Addr { return h.ln.Addr() }

// RelayAddrs are the UDP addresses the passthrough listens on; none when
// it is off.
func (h *Hub) RelayAddrs() []net.Addr {
	return h.passthrough.Addrs()
}

// Serve serves until ctx ends or Close is called, then shuts down
// gracefully. It returns nil after a clean stop.
func (h *Hub) Serve(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	h.cancel = cancel
	h.goRun(ctx, h.power.Run)
	h.goRun(ctx, h.policy.Run)
	h.goRun(ctx, h.monitor.Run)
	h.goRun(ctx, h.notifier.Run)
	retention := sqlite.NewRetention(h.db, h.cfg.Retention.Actions, h.cfg.Retention.Events, h.log)
	retention.Delay = 30 * time.Second // not on the path of a cold start's first request
	h.goRun(ctx, retention.Run)
	if len(h.cfg.PassthroughListen()) > 0 {
		h.goRun(ctx, func(ctx context.Context) {
			if err := h.passthrough.Serve(ctx); err != nil {
				h.log.Error("passthrough stopped", "error", err)
			}
		})
		addrs := []string{}
		for _, a := range h.passthrough.Addrs() {
			addrs = append(addrs, a.String())
		}
		h.log.Info("relay listening for magic packets from outside", "udp", addrs)
	}
	if h.mqtt != nil {
		h.goRun(ctx, h.mqtt.Run)
	}
	if h.cloudEvents != nil {
		h.goRun(ctx, h.cloudEvents.Run)
	}
	errc := make(chan error, 2)
	go func() {
		if h.tls != nil {
			errc <- h.srv.ServeTLS(h.ln, "", "")
			return
		}
		errc <- h.srv.Serve(h.ln)
	}()
	if h.metricsLn != nil {
		go func() { errc <- h.metricsSrv.Serve(h.metricsLn) }()
		h.log.Info("serving metrics", "addr", h.metricsLn.Addr().String())
	}
	for _, d := range h.cfg.Deprecated() {
		h.log.Warn("config: " + d)
	}
	if w := h.cfg.PlainTextExposure(h.ln.Addr()); w != "" {
		h.log.Warn("INSECURE: " + w)
	}
	serving := []any{"addr", h.ln.Addr().String(), "tls", h.tls != nil}
	if h.TLSFingerprint != "" {
		serving = append(serving, "tls_fingerprint", h.TLSFingerprint)
	}
	h.log.Info("serving", append(serving, "data", h.cfg.Data, "version", moonwake.Version)...)
	select {
	case err := <-errc:
		cancel()
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	h.log.Info("shutting down")
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	if h.metricsSrv != nil {
		// Closed at once: a scrape is quick, and Prometheus tries again.
		if err := h.metricsSrv.Close(); err != nil {
			return fmt.Errorf("close metrics: %w", err)
		}
		if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	if err := h.srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// goRun runs loop in a goroutine that Close waits for.
func (h *Hub) goRun(ctx context.Context, loop func(context.Context)) {
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		loop(ctx)
	}()
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
	if h.mqtt != nil {
		errs = append(errs, h.mqtt.Close())
	}
	if h.remote != nil {
		errs = append(errs, h.remote.Close())
	}
	if h.srv != nil {
		errs = append(errs, h.srv.Close())
	}
	if h.metricsSrv != nil {
		errs = append(errs, h.metricsSrv.Close())
	}
	if h.metricsLn != nil {
		// Open listened; Serve, if it ran, closed it already.
		if err := h.metricsLn.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	if h.notifier != nil {
		h.notifier.Close()
	}
	if h.groups != nil {
		errs = append(errs, h.groups.Close()) // it waits on the power service
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
	errs = append(errs, h.lock.Release())
	return errors.Join(errs...)
}
