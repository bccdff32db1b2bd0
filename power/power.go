// Package power carries out power actions on machines (wake for now; shutdown
// and verification by probes come with the agent) and records each one as an
// action in the audit log.
//
// A wake sends its first burst of packets before the request returns, so a
// caller that gets an answer knows the packets left; the repeats are sent by
// one scheduler goroutine owned by the Service, not by a goroutine per
// action, so ten thousand wakes in flight cost a queue entry each.
package power

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/wol"
)

// Publisher announces events; events.Broker implements it.
type Publisher interface {
	Publish(typ, machine string, v any) (*moonwake.Event, error)
}

// Service wakes machines. Create it with New, start Run in a goroutine, and
// Close it when done.
type Service struct {
	actions    moonwake.ActionService
	events     Publisher
	sender     *wol.Sender
	interfaces func() ([]wol.Iface, error)
	count      int
	interval   time.Duration
	log        *slog.Logger
	now        func() time.Time

	mu      sync.Mutex
	running map[string]*moonwake.Action // actions with repeats still to send
	queue   []*repeat                   // FIFO: every repeat waits the same interval, so it is also time order
	kick    chan struct{}
	writes  sync.WaitGroup // UpdateAction calls in flight
}

// Options configure a Service.
type Options struct {
	Count      int           // packets per target, at least 1
	Interval   time.Duration // between repeats
	Sender     *wol.Sender   // nil: a new one
	Interfaces func() ([]wol.Iface, error)
	Events     Publisher // nil: none
	Logger     *slog.Logger
	Now        func() time.Time
}

// New returns a Service that records actions in actions.
func New(actions moonwake.ActionService, o Options) *Service {
	s := &Service{
		actions: actions, events: o.Events, sender: o.Sender, interfaces: o.Interfaces,
		count: o.Count, interval: o.Interval, log: o.Logger, now: o.Now,
		running: map[string]*moonwake.Action{},
		kick:    make(chan struct{}, 1),
	}
	if s.sender == nil {
		s.sender = &wol.Sender{}
	}
	if s.interfaces == nil {
		c := &wol.InterfaceCache{TTL: 10 * time.Second}
		s.interfaces = c.Interfaces
	}
	if s.count < 1 {
		s.count = 1
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

type repeat struct {
	due     time.Time
	action  *moonwake.Action
	packet  []byte
	targets []wol.Target
	left    int
}

// Plan returns the targets a wake of m sends to.
func (s *Service) Plan(m *moonwake.Machine) ([]wol.Target, []byte, error) {
	mac, err := wol.ParseMAC(m.MAC)
	if err != nil {
		return nil, nil, moonwake.Errorf(moonwake.EInvalid, "machine %s: %v", m.Name, err)
	}
	pkt := wol.Packet{Target: mac}
	if m.Password != "" {
		if pkt.Password, err = wol.ParsePassword(m.Password); err != nil {
			return nil, nil, moonwake.Errorf(moonwake.EInvalid, "machine %s: %v", m.Name, err)
		}
	}
	b, err := pkt.MarshalBinary()
	if err != nil {
		return nil, nil, moonwake.Errorf(moonwake.EInvalid, "machine %s: %v", m.Name, err)
	}
	o := wol.Options{Interface: m.Interface, Port: m.WakePort()}
	if m.Broadcast != "" {
		o.Broadcast, _ = netip.ParseAddr(m.Broadcast)
	}
	if a, err := netip.ParseAddr(m.Host); err == nil {
		o.Unicast = []netip.Addr{a}
	}
	ifs, err := s.interfaces()
	if err != nil {
		return nil, nil, err
	}
	targets, err := wol.Plan(o, ifs)
	if err != nil {
		return nil, nil, moonwake.Errorf(moonwake.EUnavailable, "cannot wake %s: %v", m.Name, err)
	}
	return targets, b, nil
}

// Wake sends magic packets to m on behalf of the actor in ctx and returns the
// recorded action. The first burst is sent before Wake returns; the action
// is durable in the audit log when it returns, also when sending failed.
func (s *Service) Wake(ctx context.Context, m *moonwake.Machine) (*moonwake.Action, error) {
	actor, _ := moonwake.ActorFrom(ctx)
	a := &moonwake.Action{
		Kind: moonwake.ActionWake, Machine: m.Name, MAC: m.MAC, Actor: actor,
		Status: moonwake.StatusRunning, CreatedAt: s.now().UTC(), Steps: []moonwake.Step{},
	}
	targets, b, planErr := s.Plan(m)
	if planErr != nil {
		s.finish(a, moonwake.StatusFailed, moonwake.ErrorMessage(planErr))
		if err := s.actions.CreateAction(ctx, a); err != nil {
			return nil, fmt.Errorf("record wake of %s: %w", m.Name, err)
		}
		s.publish(a)
		s.log.Warn("wake failed", "action", a.ID, "machine", m.Name, "actor", actor.Name, "error", a.Detail)
		return a, planErr
	}
	ok := s.burst(a, b, targets)
	switch {
	case ok == 0:
		s.finish(a, moonwake.StatusFailed, "no packet could be sent: "+a.Steps[0].Error)
	case s.count == 1:
		s.finish(a, moonwake.StatusSucceeded, sentDetail(a))
	}
	if err := s.actions.CreateAction(ctx, a); err != nil {
		return nil, fmt.Errorf("record wake of %s: %w", m.Name, err)
	}
	s.log.Info("wake", "action", a.ID, "machine", m.Name, "mac", m.MAC, "actor", actor.Name,
		"addr", actor.Addr, "targets", len(targets), "status", a.Status)
	// From here on the scheduler may change a: use the copy.
	out := clone(a)
	s.publish(out)
	if !out.Done() {
		s.mu.Lock()
		s.running[a.ID] = a
		s.queue = append(s.queue, &repeat{due: s.now().Add(s.interval), action: a, packet: b, targets: targets, left: s.count - 1})
		s.mu.Unlock()
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
	if out.Status == moonwake.StatusFailed {
		return out, moonwake.Errorf(moonwake.EUnavailable, "wake %s: %s", m.Name, out.Detail)
	}
	return out, nil
}

// burst sends b once to every target and records a step for each. It must
// be called with a not yet shared, or with s.mu held. It returns how many
// sends succeeded.
func (s *Service) burst(a *moonwake.Action, b []byte, targets []wol.Target) int {
	ok := 0
	for _, t := range targets {
		st := moonwake.Step{At: s.now().UTC(), Kind: "send", Via: t.Via, Target: t.String()}
		if err := s.sender.Send(b, t); err != nil {
			st.Error = err.Error()
		} else {
			ok++
		}
		a.Steps = append(a.Steps, st)
	}
	return ok
}

func (s *Service) finish(a *moonwake.Action, status, detail string) {
	now := s.now().UTC()
	a.Status, a.Detail, a.FinishedAt = status, detail, &now
}

// sentDetail says what a wake did, in words.
func sentDetail(a *moonwake.Action) string {
	n, failed := 0, 0
	for _, st := range a.Steps {
		if st.Kind == "send" {
			if st.Error == "" {
				n++
			} else {
				failed++
			}
		}
	}
	d := fmt.Sprintf("sent %d magic packet(s)", n)
	if failed > 0 {
		d += fmt.Sprintf(", %d failed", failed)
	}
	return d + "; power state not verified"
}

// Run sends the repeats of running wakes until ctx ends.
func (s *Service) Run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		s.mu.Lock()
		var wait time.Duration = -1
		var r *repeat
		if len(s.queue) > 0 {
			if d := s.queue[0].due.Sub(s.now()); d > 0 {
				wait = d
			} else {
				r = s.queue[0]
				s.queue[0] = nil
				s.queue = s.queue[1:]
			}
		}
		if r != nil {
			s.step(r)
			s.mu.Unlock()
			continue
		}
		s.mu.Unlock()
		if wait < 0 {
			wait = time.Hour
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
		case <-timer.C:
		}
	}
}

// step sends one repeat; s.mu is held.
func (s *Service) step(r *repeat) {
	s.burst(r.action, r.packet, r.targets)
	r.left--
	if r.left > 0 {
		r.due = r.due.Add(s.interval)
		s.queue = append(s.queue, r)
		return
	}
	s.finish(r.action, moonwake.StatusSucceeded, sentDetail(r.action))
	delete(s.running, r.action.ID)
	a := clone(r.action)
	s.publish(a)
	s.writes.Add(1)
	go func() {
		defer s.writes.Done()
		// The request that started the action is gone; this write belongs
		// to the service and must not be cut short by a request context.
		if err := s.actions.UpdateAction(context.Background(), a); err != nil {
			s.log.Error("record wake outcome", "action", a.ID, "error", err)
		}
	}()
}

// FindAction returns the action with that id, with the live state of a wake
// that is still sending.
func (s *Service) FindAction(ctx context.Context, id string) (*moonwake.Action, error) {
	s.mu.Lock()
	a, ok := s.running[id]
	if ok {
		a = clone(a)
	}
	s.mu.Unlock()
	if ok {
		return a, nil
	}
	return s.actions.FindAction(ctx, id)
}

// Close sends nothing more: running wakes are recorded as cut short, and it
// waits for outcome writes in flight.
func (s *Service) Close() error {
	s.mu.Lock()
	pending := s.running
	s.running = map[string]*moonwake.Action{}
	s.queue = nil
	s.mu.Unlock()
	for _, a := range pending {
		// The first burst left before the wake was accepted; only repeats
		// are lost, and the record says so.
		s.finish(a, moonwake.StatusSucceeded, sentDetail(a)+"; repeats cut short by a hub shutdown")
		if err := s.actions.UpdateAction(context.Background(), a); err != nil {
			s.log.Error("record wake outcome", "action", a.ID, "error", err)
		}
	}
	s.writes.Wait()
	return s.sender.Close()
}

// publish announces a's new state.
func (s *Service) publish(a *moonwake.Action) {
	if s.events == nil {
		return
	}
	if _, err := s.events.Publish(moonwake.EventAction, a.Machine, a); err != nil {
		s.log.Error("publish action event", "action", a.ID, "error", err)
	}
}

func clone(a *moonwake.Action) *moonwake.Action {
	c := *a
	c.Steps = append([]moonwake.Step(nil), a.Steps...)
	return &c
}
