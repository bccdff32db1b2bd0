package agent

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/internal/hubtls"
	"github.com/moonwake/moonwake/uplink"
)

// PairOptions are the inputs of Pair.
type PairOptions struct {
	Hub       string // the hub's URL
	Code      string // the one-time code from "moonwake machines pair NAME"
	StatePath string // where to store the result
	// HubFingerprint, if set, must match the fingerprint of the hub's key
	// (uplink.Fingerprint), as the hub shows it: a check against someone
	// answering in the hub's place during pairing over plain HTTP.
	HubFingerprint string
	// TLSFingerprint, if set, is the fingerprint of the hub's self-signed
	// TLS certificate: the agent trusts that certificate alone, now and
	// on every later connection.
	TLSFingerprint string
	HTTPClient     *http.Client // nil: http.DefaultClient, or pinned to TLSFingerprint
}

// Pair generates the agent's key pair, redeems the pairing code at the
// hub, and writes the agent's identity and the hub's key to the state
// file, replacing an earlier pairing. Nothing is written when it fails.
func Pair(ctx context.Context, o PairOptions) (*State, error) {
	if err := checkHubURL(o.Hub); err != nil {
		return nil, moonwake.Errorf(moonwake.EInvalid, "%v", err)
	}
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil, err
	}
	hc := o.HTTPClient
	if hc == nil && o.TLSFingerprint != "" {
		if hc, err = hubtls.PinnedClient(o.TLSFingerprint); err != nil {
			return nil, moonwake.Errorf(moonwake.EInvalid, "%v", err)
		}
	}
	host, _ := os.Hostname()
	resp, err := uplink.Pair(ctx, hc, o.Hub, uplink.PairRequest{
		Code: o.Code, Purpose: uplink.PurposeAgent, PublicKey: pub,
		Hostname: host, OS: runtime.GOOS + "/" + runtime.GOARCH, Software: moonwake.Version,
	})
	if err != nil {
		return nil, err
	}
	if fp := uplink.Fingerprint(resp.HubPublicKey); o.HubFingerprint != "" && fp != strings.TrimSpace(o.HubFingerprint) {
		return nil, moonwake.Errorf(moonwake.EUnauthorized,
			"the hub's key is %s, not the expected %s: not pairing (someone else may have answered)", fp, o.HubFingerprint)
	}
	s := &State{
		Hub: o.Hub, ID: resp.ID, Machine: resp.Machine, HubPublicKey: resp.HubPublicKey,
		PrivateKey: priv.Seed(), PairedAt: time.Now().UTC().Truncate(time.Second),
		TLSFingerprint: strings.TrimSpace(o.TLSFingerprint),
	}
	if err := WriteState(o.StatePath, s); err != nil {
		return nil, err
	}
	return s, nil
}

// Agent is the service body: it keeps the uplink to the hub up, carries out
// the hub's commands and sends reports.
type Agent struct {
	Config     Config
	State      *State
	Logger     *slog.Logger // nil: discard
	HTTPClient *http.Client // nil: http.DefaultClient

	// The measurements of reports; nil means IdleTime, UserSession and
	// Uptime.
	Idle    func() (time.Duration, error)
	Session func() (bool, error)
	Uptime  func() (time.Duration, error)

	// OnLink, if set, is told each time the uplink goes up or down.
	OnLink func(up bool, err error)

	// Notifier shows countdowns at the PC; nil: the OS's own means.
	Notifier Notifier
	// CountdownPoll is how often a countdown looks for input; 0: a second.
	CountdownPoll time.Duration

	link       atomic.Pointer[uplink.Client] // for the notices of countdowns
	countdowns countdowns
}

// Run runs the agent until ctx ends; it returns nil then. It returns an
// error at once only when the configuration or the state is unusable.
func (a *Agent) Run(ctx context.Context) error {
	if a.State == nil {
		return ErrNotPaired
	}
	if a.Logger == nil {
		a.Logger = slog.New(slog.DiscardHandler)
	}
	hub := a.State.Hub
	if a.Config.Hub != "" {
		hub = a.Config.Hub
	}
	for _, name := range CommandNames {
		if p, err := PlanCommand(name, a.Config.Commands); err != nil {
			a.Logger.Warn("command unavailable", "command", name, "error", err)
		} else {
			a.Logger.Info("command", "command", name, "plan", p.String())
		}
	}
	hc := a.HTTPClient
	if hc == nil && a.State.TLSFingerprint != "" {
		var err error
		if hc, err = hubtls.PinnedClient(a.State.TLSFingerprint); err != nil {
			return fmt.Errorf("state: %w", err)
		}
	}
	a.Logger.Info("agent starting", "hub", hub, "id", a.State.ID, "machine", a.State.Machine, "version", moonwake.Version)
	c := &uplink.Client{
		HubURL: hub, ID: a.State.ID, Purpose: uplink.PurposeAgent,
		Key: a.State.Key(), HubKey: a.State.HubPublicKey,
		Handle: a.Handle, Report: a.Report,
		ReportInterval: a.Config.ReportInterval,
		OnState:        a.OnLink,
		HTTPClient:     hc,
		Software:       moonwake.Version,
		Logger:         a.Logger,
	}
	a.link.Store(c)
	a.countdowns.mu.Lock()
	a.countdowns.ctx = ctx
	a.countdowns.mu.Unlock()
	defer a.countdowns.wg.Wait()
	// Programs on this PC (Sunshine's power apps) ask the hub through
	// the agent's link; without the socket the agent still does the rest.
	path := a.Config.SocketPath()
	if l, err := ListenLocal(path, a.Config.SocketGroup); err != nil {
		a.Logger.Error("no local socket: Sunshine apps cannot ask for power actions", "error", err)
	} else {
		a.Logger.Info("local socket", "path", path)
		lctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		defer wg.Wait()
		defer cancel()
		wg.Go(func() { ServeLocal(lctx, l, path, a.localRequest(c.Request), a.Logger) })
	}
	return c.Run(ctx)
}

// Handle answers a command from the hub. A known command is accepted at
// once and carried out after the answer is sent and AckDelay has passed,
// so the hub learns that it was accepted before the network goes down.
//
// A countdown command starts a countdown (see Notifier), and a withdraw
// ends it; a power command ends the countdown of its ID, whose grace is
// over.
func (a *Agent) Handle(ctx context.Context, cmd uplink.Command) (uplink.Result, uplink.Then) {
	switch cmd.Name {
	case uplink.CmdCountdown:
		return a.startCountdown(cmd), nil
	case uplink.CmdWithdraw:
		if a.endCountdown(cmd.ID) {
			a.Logger.Info("countdown withdrawn by the hub", "action", cmd.ID)
		}
		return uplink.Result{OK: true, Detail: "withdrawn"}, nil
	}
	p, err := PlanCommand(cmd.Name, a.Config.Commands)
	if err != nil {
		return uplink.Result{Error: err.Error()}, nil
	}
	a.endCountdown(cmd.ID)
	delay := a.Config.AckDelay
	if delay == 0 {
		delay = DefaultAckDelay
	}
	detail := fmt.Sprintf("accepted; %s in %v with %s", cmd.Name, delay, p)
	return uplink.Result{OK: true, Detail: detail}, func(ctx context.Context) error {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return errors.New("the agent stopped before carrying it out")
		case <-t.C:
		}
		a.Logger.Warn("carrying out a power command from the hub", "command", cmd.Name, "id", cmd.ID, "plan", p.String())
		return Execute(ctx, p)
	}
}

// localRequest answers what comes on the local socket: a cancel
// (LocalCancel) is the agent's own business, the power requests go to the
// hub through send.
func (a *Agent) localRequest(send Requester) Requester {
	return func(ctx context.Context, r uplink.Request) (uplink.Result, error) {
		if r.Name != LocalCancel {
			return send(ctx, r)
		}
		n, late := a.CancelCountdowns()
		switch {
		case n == 0 && late > 0:
			return uplink.Result{Error: "too late: the countdown has run out, and the hub is sending its command"}, nil
		case n == 0:
			return uplink.Result{Error: "no countdown is running"}, nil
		}
		return uplink.Result{OK: true, Detail: fmt.Sprintf("cancelled %d countdown(s); the hub is told", n)}, nil
	}
}

// Report measures what the hub wants to know about this PC. What cannot
// be measured is left out and said in Errors.
func (a *Agent) Report(ctx context.Context) uplink.Report {
	r := uplink.Report{
		At: time.Now().UTC(), OS: runtime.GOOS, Arch: runtime.GOARCH, Software: moonwake.Version,
	}
	r.Hostname, _ = os.Hostname()
	idle, session, up := a.Idle, a.Session, a.Uptime
	if idle == nil {
		idle = IdleTime
	}
	if session == nil {
		session = UserSession
	}
	if up == nil {
		up = Uptime
	}
	fail := func(what string, err error) {
		r.Errors = append(r.Errors, what+": "+tail([]byte(err.Error()), 200))
	}
	if d, err := idle(); err != nil {
		fail("idle", err)
	} else {
		s := d.Seconds()
		r.IdleSeconds = &s
	}
	if ok, err := session(); err != nil {
		fail("user session", err)
	} else {
		r.UserSession = &ok
	}
	if d, err := up(); err != nil {
		fail("uptime", err)
	} else {
		s := d.Seconds()
		r.UptimeSeconds = &s
	}
	return r
}
