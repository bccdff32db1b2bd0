package power

// The tests drive a Service with doubles for everything around it: the
// monitor (a mock.Monitor answering from states, what the test makes it
// see), the commander (a mock.Commander recording in agents the commands
// sent), the network (fakeNet, a wol.Sender whose sockets only record what
// is written to them, so no packet leaves the process), the event broker
// and the notifier (recorder). The audit log is the real SQLite one, in a temporary file.
//
// Tests that count resends or deadlines run on a clock they advance
// (testClock): they are exact and take no time. The others run on the real
// clock with deadlines of a fraction of a second.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/hub/sqlite"
	"github.com/moonwake/moonwake/mock"
	"github.com/moonwake/moonwake/wol"
)

// fakeNet hands a Sender sockets that record what is written to them.
type fakeNet struct {
	mu       sync.Mutex
	writes   []string // destinations, one per packet
	packets  [][]byte
	writeErr error
	onWrite  func() // called after each write, without mu
}

func (f *fakeNet) ListenPacket(network, address string) (net.PacketConn, error) {
	return &fakeConn{f: f}, nil
}

// sent returns how many packets were written.
func (f *fakeNet) sent() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.writes)
}

type fakeConn struct {
	net.PacketConn // nil: any other method panics, showing the Sender used it
	f              *fakeNet
}

func (c *fakeConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	c.f.mu.Lock()
	if err := c.f.writeErr; err != nil {
		c.f.mu.Unlock()
		return 0, err
	}
	c.f.writes = append(c.f.writes, addr.String())
	c.f.packets = append(c.f.packets, append([]byte(nil), b...))
	hook := c.f.onWrite
	c.f.mu.Unlock()
	if hook != nil {
		hook()
	}
	return len(b), nil
}

func (c *fakeConn) Close() error { return nil }

// states is what the monitor sees: the states the test sets. Its monitor
// is a mock.Monitor that answers from it.
type states struct {
	mu      sync.Mutex
	state   map[string]moonwake.PowerState
	since   time.Time
	reason  string          // why a machine is in its state, for every machine
	blind   map[string]bool // machines that cannot be verified
	asleep  map[string]bool // off machines whose network card answers
	pending []string        // "machine kind" per SetPending call; kind "" ends it
}

// monitor returns a monitor that answers from f.
func (f *states) monitor() *mock.Monitor {
	return &mock.Monitor{InfoFn: f.info, SetPendingFn: f.setPending, CanVerifyFn: f.canVerify}
}

func (f *states) info(_ context.Context, name string) moonwake.PowerInfo {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.state[name]
	if !ok {
		return moonwake.PowerInfo{State: moonwake.StateUnknown, Reason: "not probed yet"}
	}
	return moonwake.PowerInfo{State: st, Since: f.since, Reason: f.reason, Asleep: st == moonwake.StateOff && f.asleep[name]}
}

func (f *states) setPending(name string, p moonwake.Pending) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pending = append(f.pending, name+" "+string(p.Kind))
}

func (f *states) canVerify(m *moonwake.Machine) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return !f.blind[m.Name]
}

// set makes the monitor see machine in st, without telling the Service.
func (f *states) set(machine string, st moonwake.PowerState) moonwake.PowerState {
	f.mu.Lock()
	defer f.mu.Unlock()
	from := f.state[machine]
	f.state[machine] = st
	return from
}

func (f *states) pendings() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.pending...)
}

// command is one command sent through the commander.
type command struct{ machine, name, id string }

// agents records the commands sent; errs are returned by successive sends.
// Its commander is a mock.Commander that sends to it.
type agents struct {
	mu       sync.Mutex
	unpaired map[string]bool
	errs     []error
	said     string
	cmds     []command
	onCmd    func(command) // called after the command is recorded, without mu
}

// commander returns a commander that sends to f.
func (f *agents) commander() *mock.Commander {
	return &mock.Commander{ReachableFn: f.reachable, SendFn: f.send}
}

func (f *agents) reachable(_ context.Context, machine string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return !f.unpaired[machine]
}

func (f *agents) send(_ context.Context, machine, kind, id string) (string, error) {
	f.mu.Lock()
	c := command{machine, kind, id}
	f.cmds = append(f.cmds, c)
	var err error
	if len(f.errs) > 0 {
		err, f.errs = f.errs[0], f.errs[1:]
	}
	said, hook := f.said, f.onCmd
	f.mu.Unlock()
	if hook != nil {
		hook(c)
	}
	if err != nil {
		return "", err
	}
	return said, nil
}

func (f *agents) commands() []command {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]command(nil), f.cmds...)
}

// recorder is the Publisher and the Notify of a Service.
type recorder struct {
	mu       sync.Mutex
	events   []moonwake.Action // as a subscriber would decode them
	notified []*moonwake.Action
}

func (r *recorder) Publish(typ, machine string, v any) (*moonwake.Event, error) {
	if typ != moonwake.EventAction {
		return nil, fmt.Errorf("unexpected event type %q", typ)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var a moonwake.Action
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if a.Machine != machine {
		return nil, fmt.Errorf("event about %q carries an action of %q", machine, a.Machine)
	}
	r.events = append(r.events, a)
	return &moonwake.Event{Seq: int64(len(r.events)), Type: typ, Machine: machine, Data: b}, nil
}

func (r *recorder) notify(a *moonwake.Action) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notified = append(r.notified, a)
}

func (r *recorder) notifications() []*moonwake.Action {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*moonwake.Action(nil), r.notified...)
}

// published returns the statuses announced for action id, in order.
func (r *recorder) published(id string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, a := range r.events {
		if a.ID == id {
			out = append(out, a.Status)
		}
	}
	return out
}

// testClock is a clock the test advances. Advancing it wakes the Service's
// Run, whose timers run on the real clock, to look at its heap again.
type testClock struct {
	mu sync.Mutex
	t  time.Time
	s  *Service
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	s := c.s
	c.mu.Unlock()
	if s != nil {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
}

// harness is a Service with its doubles and its audit log.
type harness struct {
	t         testing.TB
	db        *sqlite.DB
	store     *sqlite.ActionService
	net       *fakeNet
	states    *states
	monitor   *mock.Monitor // answers from states
	agents    *agents
	commander *mock.Commander // sends to agents
	rec       *recorder
	clock     *testClock // nil: the real clock
	o         Options

	s    *Service
	stop func() // stops Run and closes s
}

type option func(h *harness)

// onTestClock runs the Service on a clock the test advances.
func onTestClock(h *harness) {
	h.clock = &testClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	h.o.Now = h.clock.Now
}

// withoutAgents gives the Service no commander at all.
func withoutAgents(h *harness) { h.o.Commander = nil }

// withoutStates gives the Service no monitor at all.
func withoutStates(h *harness) { h.o.Monitor = nil }

func loopback() ([]wol.Iface, error) {
	return []wol.Iface{{Name: "lo", Up: true, Loopback: true, Prefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8")}}}, nil
}

// newHarness opens an audit log and starts a Service on it with o, whose
// Sender, Interfaces, Events, Monitor, Commander and Notify are the doubles.
func newHarness(t testing.TB, o Options, opts ...option) *harness {
	t.Helper()
	db := sqlite.NewDB(t.TempDir() + "/db")
	if err := db.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	h := &harness{
		t: t, db: db, store: sqlite.NewActionService(db),
		net:    &fakeNet{},
		states: &states{state: map[string]moonwake.PowerState{}, since: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), blind: map[string]bool{}},
		agents: &agents{unpaired: map[string]bool{}},
		rec:    &recorder{},
	}
	h.monitor, h.commander = h.states.monitor(), h.agents.commander()
	o.Interfaces = loopback
	o.Events = h.rec
	o.Monitor = h.monitor
	o.Commander = h.commander
	o.Notify = h.rec.notify
	h.o = o
	for _, opt := range opts {
		opt(h)
	}
	h.start()
	return h
}

// start starts a new Service on the harness's audit log and doubles.
func (h *harness) start() {
	o := h.o
	o.Sender = &wol.Sender{ListenPacket: h.net.ListenPacket, Raw: func(string, []byte) error {
		return errors.New("no raw frames in tests")
	}}
	s := New(h.store, o)
	if h.clock != nil {
		h.clock.mu.Lock()
		h.clock.s = s
		h.clock.mu.Unlock()
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx)
	}()
	var once sync.Once
	h.s = s
	h.stop = func() {
		once.Do(func() {
			cancel()
			<-done
			if err := s.Close(); err != nil {
				h.t.Error(err)
			}
		})
	}
	h.t.Cleanup(h.stop)
}

func pc(name string) *moonwake.Machine {
	return &moonwake.Machine{Name: name, MAC: "52:54:00:12:34:56", Broadcast: "127.0.0.1"}
}

var (
	alice = moonwake.Actor{Kind: "token", Name: "alice", Addr: "192.0.2.1"}
	bob   = moonwake.Actor{Kind: "token", Name: "bob", Addr: "192.0.2.2"}
)

func as(a moonwake.Actor) context.Context {
	return moonwake.WithActor(context.Background(), a)
}

// changeState makes the monitor see machine in st and tells whoever
// registered with it, as the monitor does.
func (h *harness) changeState(machine string, st moonwake.PowerState) {
	from := h.states.set(machine, st)
	h.monitor.Change(moonwake.StateChange{Machine: machine, From: from, To: st, Reason: "test"})
}

// wait waits for action id to end.
func (h *harness) wait(id string) *moonwake.Action {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a, err := h.s.Wait(ctx, id)
	if err != nil {
		h.t.Fatalf("wait for %s: %v", id, err)
	}
	if !a.Done() {
		h.t.Fatalf("action %s still %s after 5s: %+v", id, a.Status, a.Steps)
	}
	return a
}

// find returns action id as the Service reports it.
func (h *harness) find(id string) *moonwake.Action {
	h.t.Helper()
	a, err := h.s.FindAction(context.Background(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	return a
}

// stored returns action id as the audit log holds it once it has status:
// the outcome of an action is written in the background.
func (h *harness) stored(id, status string) *moonwake.Action {
	h.t.Helper()
	var a *moonwake.Action
	waitFor(h.t, "action "+id+" stored as "+status, func() bool {
		var err error
		if a, err = h.store.FindAction(context.Background(), id); err != nil {
			h.t.Fatal(err)
		}
		return a.Status == status
	})
	return a
}

// waitFor polls cond until it holds, for at most 5s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func steps(a *moonwake.Action, kind string) []moonwake.Step {
	var out []moonwake.Step
	for _, s := range a.Steps {
		if s.Kind == kind {
			out = append(out, s)
		}
	}
	return out
}

func lastStep(t testing.TB, a *moonwake.Action) moonwake.Step {
	t.Helper()
	if len(a.Steps) == 0 {
		t.Fatalf("action %s has no steps", a.ID)
	}
	return a.Steps[len(a.Steps)-1]
}

func wantStatus(t testing.TB, a *moonwake.Action, status, detail string) {
	t.Helper()
	if a.Status != status || !strings.Contains(a.Detail, detail) {
		t.Fatalf("action %s: %s %q, want %s with %q; steps %+v", a.ID, a.Status, a.Detail, status, detail, a.Steps)
	}
	if (status == moonwake.StatusRunning) != (a.FinishedAt == nil) {
		t.Errorf("action %s is %s with finished_at %v", a.ID, a.Status, a.FinishedAt)
	}
}

func wantCode(t testing.TB, err error, code string) {
	t.Helper()
	if got := moonwake.ErrorCode(err); got != code {
		t.Fatalf("error %v: code %q, want %q", err, got, code)
	}
}

func equal[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestWakeVerified(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Resends: []time.Duration{10 * time.Millisecond, 20 * time.Millisecond}, WakeDeadline: 5 * time.Second})
	a, err := h.s.Wake(as(alice), pc("pc"))
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, a, moonwake.StatusRunning, "")
	if a.ID == "" || a.Kind != moonwake.ActionWake || a.Machine != "pc" || a.Actor != alice || a.Deadline == nil {
		t.Fatalf("action %+v", a)
	}
	if d := a.Deadline.Sub(a.CreatedAt); d < 4900*time.Millisecond || d > 5100*time.Millisecond {
		t.Errorf("deadline %s after creation, want the wake deadline, 5s", d)
	}
	if got := h.net.sent(); got != 1 {
		t.Fatalf("%d packets sent before Wake returned, want 1", got)
	}
	if st := steps(a, "send"); len(st) != 1 || st[0].Via != wol.ViaUDP || st[0].Target != "127.0.0.1:9" || st[0].Error != "" {
		t.Fatalf("send steps %+v", st)
	}
	if got, err := h.store.FindAction(context.Background(), a.ID); err != nil || got.Status != moonwake.StatusRunning {
		t.Fatalf("not durable as running when Wake returns: %+v, %v", got, err)
	}

	waitFor(t, "two resends", func() bool { return h.net.sent() >= 3 })
	h.changeState("pc", moonwake.StateOn)
	a = h.wait(a.ID)
	wantStatus(t, a, moonwake.StatusSucceeded, "pc is on after")
	if st := lastStep(t, a); st.Kind != "verify" || st.Target != string(moonwake.StateOn) {
		t.Errorf("last step %+v, want verify on", st)
	}
	if n := len(steps(a, "send")); n < 3 {
		t.Errorf("%d send steps, want one per burst (at least 3)", n)
	}
	if want := []string{"pc wake", "pc "}; !equal(h.states.pendings(), want) {
		t.Errorf("SetPending calls %q, want %q", h.states.pendings(), want)
	}
	sent := h.net.sent()
	time.Sleep(50 * time.Millisecond)
	if h.net.sent() != sent {
		t.Errorf("packets still sent after the machine was seen on")
	}
	for _, b := range h.net.packets {
		if len(b) != 102 || string(b[:6]) != "\xff\xff\xff\xff\xff\xff" || b[6] != 0x52 {
			t.Fatalf("packet %x is not a magic packet for 52:54:00:12:34:56", b)
		}
	}
	if n := h.rec.notifications(); len(n) != 1 || n[0].ID != a.ID || n[0].Status != moonwake.StatusSucceeded {
		t.Errorf("notified %+v, want the succeeded wake", n)
	}
	if p := h.rec.published(a.ID); len(p) < 2 || p[0] != moonwake.StatusRunning || p[len(p)-1] != moonwake.StatusSucceeded {
		t.Errorf("announced %q, want running … succeeded", p)
	}
	if got := h.stored(a.ID, moonwake.StatusSucceeded); len(got.Steps) != len(a.Steps) {
		t.Errorf("stored %+v, want the succeeded action with its %d steps", got, len(a.Steps))
	}
}

// A machine the monitor sees on between the check Wake makes first and the
// registration of the action (a change told to nobody) ends it at once.
func TestWakeSeenOnWhileStarting(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Resends: []time.Duration{time.Hour}, WakeDeadline: 2 * time.Hour})
	h.net.onWrite = func() { h.changeState("pc", moonwake.StateOn) }
	a, err := h.s.Wake(as(alice), pc("pc"))
	if err != nil {
		t.Fatal(err)
	}
	a = h.wait(a.ID)
	wantStatus(t, a, moonwake.StatusSucceeded, "pc is on after")
	if st := lastStep(t, a); st.Kind != "verify" {
		t.Errorf("last step %+v, want verify", st)
	}
}

func TestWakeAlreadyUp(t *testing.T) {
	t.Parallel()
	for _, st := range []moonwake.PowerState{moonwake.StateOn, moonwake.StateIdle, moonwake.StateStreaming} {
		t.Run(string(st), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, Options{})
			h.states.set("pc", st)
			a, err := h.s.Wake(as(alice), pc("pc"))
			if err != nil {
				t.Fatal(err)
			}
			wantStatus(t, a, moonwake.StatusSucceeded, "pc is already "+string(st)+" (since 2030-01-01T00:00:00Z); nothing sent")
			if h.net.sent() != 0 || len(a.Steps) != 0 {
				t.Errorf("%d packets sent, steps %+v; want none", h.net.sent(), a.Steps)
			}
			if p := h.states.pendings(); len(p) != 0 {
				t.Errorf("SetPending calls %q, want none", p)
			}
			if got := h.stored(a.ID, moonwake.StatusSucceeded); got == nil {
				t.Errorf("stored %+v", got)
			}
			if n := h.rec.notifications(); len(n) != 1 || n[0].ID != a.ID {
				t.Errorf("notified %+v", n)
			}
			if p := h.rec.published(a.ID); !equal(p, []string{moonwake.StatusSucceeded}) {
				t.Errorf("announced %q", p)
			}
		})
	}
}

// Requests that need nothing done share one record while the machine's
// state holds, for a minute, when the same actor asks: a flood of wakes of
// a PC that is on is answered from memory, and the audit log keeps a row a
// minute for it. Another actor, a new state or a minute later is recorded
// anew.
func TestNoopRequestsShareARecord(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{}, onTestClock)
	h.states.set("pc", moonwake.StateOn)
	wake := func(who moonwake.Actor) *moonwake.Action {
		t.Helper()
		a, err := h.s.Wake(as(who), pc("pc"))
		if err != nil {
			t.Fatal(err)
		}
		if a.Status != moonwake.StatusSucceeded || a.Machine != "pc" {
			t.Fatalf("wake: %+v", a)
		}
		return a
	}
	first := wake(alice)
	for range 5 {
		if a := wake(alice); a.ID != first.ID {
			t.Fatalf("a repeated wake made %s, want it to share %s", a.ID, first.ID)
		}
	}
	byBob := wake(bob)
	if byBob.ID == first.ID {
		t.Error("another actor's wake shares alice's record")
	}
	h.clock.Advance(noopFold - time.Millisecond)
	if a := wake(alice); a.ID != first.ID {
		t.Errorf("a wake just within the minute made %s", a.ID)
	}
	h.clock.Advance(time.Millisecond)
	later := wake(alice)
	if later.ID == first.ID {
		t.Error("a wake a minute later shares the old record")
	}
	// The PC went down and came back up: a new state since a new time.
	h.states.mu.Lock()
	h.states.since = h.states.since.Add(time.Hour)
	h.states.mu.Unlock()
	if a := wake(alice); a.ID == later.ID {
		t.Error("a wake in a new state shares the old record")
	}
	// So do commands to a machine that is off; a reboot is never a no-op.
	h.states.set("pc", moonwake.StateOff)
	sleep := func() *moonwake.Action {
		t.Helper()
		a, err := h.s.Command(as(alice), pc("pc"), moonwake.ActionSleep)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	if a, b := sleep(), sleep(); a.ID != b.ID {
		t.Errorf("two sleeps of a machine that is off: %s and %s", a.ID, b.ID)
	}

	stored, err := h.store.ListActions(context.Background(), moonwake.ActionFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 5 {
		t.Errorf("%d records, want 5 (alice, bob, alice a minute later, alice in a new state, the sleep)", len(stored))
	}
	if n := h.rec.notifications(); len(n) != 5 {
		t.Errorf("%d notifications, want one a record", len(n))
	}
}

// A machine shutting down is still up, but not woken: it is about to be
// off.
func TestWakeShuttingDownMachineSends(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Resends: []time.Duration{time.Hour}, WakeDeadline: 2 * time.Hour})
	h.states.set("pc", moonwake.StateShuttingDown)
	a, err := h.s.Wake(as(alice), pc("pc"))
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, a, moonwake.StatusRunning, "")
	if h.net.sent() != 1 {
		t.Fatalf("%d packets sent, want 1", h.net.sent())
	}
}

func TestWakeFailsAtDeadline(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Resends: []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}, WakeDeadline: 10 * time.Second}, onTestClock)
	a, err := h.s.Wake(as(alice), pc("pc"))
	if err != nil {
		t.Fatal(err)
	}
	// Bursts at 0s, 1s, 3s, 7s; the next, at 11s, is past the deadline.
	for i, d := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		h.clock.Advance(d - time.Millisecond)
		time.Sleep(5 * time.Millisecond)
		if got := h.net.sent(); got != i+1 {
			t.Fatalf("%d packets sent %s before resend %d, want %d", got, time.Millisecond, i+1, i+1)
		}
		h.clock.Advance(time.Millisecond)
		waitFor(t, fmt.Sprintf("resend %d", i+1), func() bool { return h.net.sent() == i+2 })
	}
	h.clock.Advance(3*time.Second - time.Millisecond)
	time.Sleep(5 * time.Millisecond)
	if got := h.find(a.ID); got.Done() {
		t.Fatalf("ended before its deadline: %+v", got)
	}
	h.clock.Advance(time.Millisecond)
	a = h.wait(a.ID)
	wantStatus(t, a, moonwake.StatusFailed, "pc was not seen on within 10s (4 burst(s) sent)")
	if got := a.FinishedAt.Sub(a.CreatedAt); got != 10*time.Second {
		t.Errorf("ended %s after it started, want 10s", got)
	}
	if n := len(steps(a, "send")); n != 4 || h.net.sent() != 4 {
		t.Errorf("%d send steps, %d packets; want 4", n, h.net.sent())
	}
	n := h.rec.notifications()
	if len(n) != 1 || n[0].ID != a.ID || n[0].Status != moonwake.StatusFailed || n[0].Detail != a.Detail {
		t.Fatalf("notified %+v, want the failed wake", n)
	}
	if want := []string{"pc wake", "pc "}; !equal(h.states.pendings(), want) {
		t.Errorf("SetPending calls %q, want %q", h.states.pendings(), want)
	}
	if got := h.stored(a.ID, moonwake.StatusFailed); got.Detail != a.Detail {
		t.Errorf("stored %+v", got)
	}
	// A later state change is not an action's business any more.
	h.changeState("pc", moonwake.StateOn)
	if got := h.find(a.ID); got.Status != moonwake.StatusFailed {
		t.Errorf("after the end, %+v", got)
	}
}

// Without a way to see the machine, a wake resends twice and then says
// what it did.
func TestWakeUnverifiable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opt  option
	}{
		{"machine cannot be probed", func(h *harness) { h.states.blind["pc"] = true }},
		{"no monitor", withoutStates},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, Options{Resends: []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}, WakeDeadline: time.Hour}, onTestClock, tc.opt)
			a, err := h.s.Wake(as(alice), pc("pc"))
			if err != nil {
				t.Fatal(err)
			}
			// Bursts at 0s, 1s and 3s, and the end one first wait later,
			// at 4s (slack for a late tick), not at the wake deadline.
			if d := a.Deadline.Sub(a.CreatedAt); d != 4*time.Second {
				t.Fatalf("deadline %s after creation, want 4s", d)
			}
			h.clock.Advance(time.Second)
			waitFor(t, "the first resend", func() bool { return h.net.sent() == 2 })
			h.changeState("pc", moonwake.StateOn) // unseen: the action cannot verify
			h.clock.Advance(2 * time.Second)
			waitFor(t, "the second resend", func() bool { return h.net.sent() == 3 })
			h.clock.Advance(999 * time.Millisecond)
			time.Sleep(5 * time.Millisecond)
			if got := h.find(a.ID); got.Done() || h.net.sent() != 3 {
				t.Fatalf("%d packets; before the end: %+v", h.net.sent(), got)
			}
			h.clock.Advance(time.Millisecond)
			a = h.wait(a.ID)
			wantStatus(t, a, moonwake.StatusSucceeded, "sent 3 burst(s) of magic packets; not verified: pc has no address to probe and no agent")
			if n := len(steps(a, "send")); n != 3 || h.net.sent() != 3 {
				t.Errorf("%d send steps, %d packets; want 3", n, h.net.sent())
			}
			if steps(a, "verify") != nil {
				t.Errorf("verify steps in an unverifiable wake: %+v", a.Steps)
			}
		})
	}
}

// A service that looks late (a loaded host), after the deadline of a wake
// it cannot verify, still sends every resend, spaced as planned, and ends
// only then.
func TestWakeUnverifiableLate(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Resends: []time.Duration{time.Second, 2 * time.Second}, WakeDeadline: time.Hour}, onTestClock, withoutStates)
	a, err := h.s.Wake(as(alice), pc("pc"))
	if err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(10 * time.Second) // past the deadline, 4s
	waitFor(t, "the first resend", func() bool { return h.net.sent() == 2 })
	time.Sleep(5 * time.Millisecond)
	if got := h.find(a.ID); got.Done() || h.net.sent() != 2 {
		t.Fatalf("%d packets; before the second resend: %+v", h.net.sent(), got)
	}
	h.clock.Advance(2 * time.Second)
	a = h.wait(a.ID)
	wantStatus(t, a, moonwake.StatusSucceeded, "sent 3 burst(s) of magic packets; not verified: pc has no address to probe and no agent")
	if n := len(steps(a, "send")); n != 3 || h.net.sent() != 3 {
		t.Errorf("%d send steps, %d packets; want 3", n, h.net.sent())
	}
}

func TestWakeFailsAtOnce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		m      func() *moonwake.Machine
		setup  func(h *harness)
		code   string
		detail string
	}{
		{"bad MAC", func() *moonwake.Machine { m := pc("pc"); m.MAC = "ff:ff:ff:ff:ff:ff"; return m }, nil,
			moonwake.EInvalid, "machine pc:"},
		{"no such interface", func() *moonwake.Machine { m := pc("pc"); m.Broadcast, m.Interface = "", "eth9"; return m }, nil,
			moonwake.EUnavailable, "cannot wake pc"},
		{"every send fails", func() *moonwake.Machine { return pc("pc") }, func(h *harness) { h.net.writeErr = errors.New("network is unreachable") },
			moonwake.EUnavailable, "no packet could be sent: send to 127.0.0.1:9: network is unreachable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, Options{})
			if tc.setup != nil {
				tc.setup(h)
			}
			a, err := h.s.Wake(as(alice), tc.m())
			wantCode(t, err, tc.code)
			if a == nil {
				t.Fatal("no action returned with the error")
			}
			wantStatus(t, a, moonwake.StatusFailed, tc.detail)
			if got := h.stored(a.ID, moonwake.StatusFailed); got == nil {
				t.Errorf("stored %+v", got)
			}
			if n := h.rec.notifications(); len(n) != 1 || n[0].Status != moonwake.StatusFailed {
				t.Errorf("notified %+v", n)
			}
			if p := h.states.pendings(); len(p) != 0 {
				t.Errorf("SetPending calls %q, want none", p)
			}
			// The machine is free for the next try.
			h.net.mu.Lock()
			h.net.writeErr = nil
			h.net.mu.Unlock()
			if b, err := h.s.Wake(as(alice), pc("pc")); err != nil || b.ID == a.ID {
				t.Errorf("next wake: %v, %+v", err, b)
			}
		})
	}
}

// Pressing again joins the wake under way: the request is recorded, and a
// burst goes out at most once a second.
func TestWakeJoin(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Resends: []time.Duration{time.Hour}, WakeDeadline: 2 * time.Hour}, onTestClock)
	a, err := h.s.Wake(as(alice), pc("pc"))
	if err != nil {
		t.Fatal(err)
	}
	join := func(want int) *moonwake.Action {
		t.Helper()
		b, err := h.s.Wake(as(bob), pc("pc"))
		if err != nil {
			t.Fatal(err)
		}
		if b.ID != a.ID || b.Actor != alice || b.Done() {
			t.Fatalf("join returned %+v, want the running action %s of alice", b, a.ID)
		}
		if got := h.net.sent(); got != want {
			t.Fatalf("%d packets sent, want %d", got, want)
		}
		return b
	}
	b := join(1) // at once: no burst
	if st := lastStep(t, b); st.Kind != "request" || st.Target != "bob 192.0.2.2" {
		t.Errorf("last step %+v, want bob's request", st)
	}
	h.clock.Advance(999 * time.Millisecond)
	join(1)
	h.clock.Advance(time.Millisecond)
	b = join(2) // a second after the first burst
	if st := lastStep(t, b); st.Kind != "send" {
		t.Errorf("last step %+v, want the burst the request sent", st)
	}
	join(2)
	h.clock.Advance(500 * time.Millisecond)
	join(2)
	h.clock.Advance(500 * time.Millisecond)
	join(3)
	for range 7 {
		join(3)
	}
	// 13 requests joined: 10 are recorded, then they are counted.
	if got := len(steps(h.find(a.ID), "request")); got != 10 {
		t.Errorf("%d request steps, want 10", got)
	}
	h.changeState("pc", moonwake.StateOn)
	a = h.wait(a.ID)
	wantStatus(t, a, moonwake.StatusSucceeded, "pc is on after 2s")
	reqs := steps(a, "request")
	if len(reqs) != 11 || reqs[10].Target != "and 3 more requests" {
		t.Errorf("request steps %+v, want 10 and a count of 3 more", reqs)
	}
	if n := len(steps(a, "send")); n != 3 {
		t.Errorf("%d send steps, want 3", n)
	}
	if n := h.rec.notifications(); len(n) != 1 {
		t.Errorf("%d notifications for one action", len(n))
	}
	// Ended: the next press starts a new action.
	h.states.set("pc", moonwake.StateOff)
	c, err := h.s.Wake(as(bob), pc("pc"))
	if err != nil || c.ID == a.ID || c.Actor != bob {
		t.Fatalf("wake after the end: %v, %+v", err, c)
	}
}

// Requests racing to start the same wake all get an action, and only one
// of them watches the machine.
func TestWakeConcurrent(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Resends: []time.Duration{time.Hour}, WakeDeadline: 2 * time.Hour})
	const n = 20
	ids := make(chan *moonwake.Action, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			a, err := h.s.Wake(as(bob), pc("pc"))
			if err != nil {
				t.Error(err)
				return
			}
			ids <- a
		})
	}
	wg.Wait()
	close(ids)
	running := map[string]bool{}
	for a := range ids {
		switch {
		case a.Status == moonwake.StatusRunning:
			running[a.ID] = true
		case a.Status == moonwake.StatusSucceeded && strings.HasPrefix(a.Detail, "joined action "):
		default:
			t.Errorf("action %+v", a)
		}
	}
	if len(running) != 1 {
		t.Fatalf("%d running actions, want 1: %v", len(running), running)
	}
	for id := range running {
		h.changeState("pc", moonwake.StateOn)
		wantStatus(t, h.wait(id), moonwake.StatusSucceeded, "pc is on")
	}
}

func TestConflicts(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Resends: []time.Duration{time.Hour}, WakeDeadline: 2 * time.Hour, ShutdownDeadline: time.Hour})
	h.states.set("a", moonwake.StateOn)
	shut, err := h.s.Command(as(alice), pc("a"), moonwake.ActionShutdown)
	if err != nil {
		t.Fatal(err)
	}
	wake, err := h.s.Wake(as(alice), pc("b"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		machine, kind string
		code          string
		id            string
	}{
		{"a", moonwake.ActionWake, moonwake.EConflict, ""},
		{"a", moonwake.ActionReboot, moonwake.EConflict, ""},
		{"a", moonwake.ActionSleep, moonwake.EConflict, ""},
		{"a", moonwake.ActionShutdown, "", shut.ID},
		{"b", moonwake.ActionShutdown, moonwake.EConflict, ""},
		{"b", moonwake.ActionWake, "", wake.ID},
	} {
		var a *moonwake.Action
		var err error
		if tc.kind == moonwake.ActionWake {
			a, err = h.s.Wake(as(bob), pc(tc.machine))
		} else {
			a, err = h.s.Command(as(bob), pc(tc.machine), tc.kind)
		}
		wantCode(t, err, tc.code)
		switch {
		case tc.code != "" && (a != nil || !strings.Contains(err.Error(), "under way")):
			t.Errorf("%s of %s: %+v, %v", tc.kind, tc.machine, a, err)
		case tc.code == "" && a.ID != tc.id:
			t.Errorf("%s of %s: %+v, want to join %s", tc.kind, tc.machine, a, tc.id)
		}
	}
	if n := len(h.agents.commands()); n != 1 {
		t.Errorf("%d commands sent, want 1 (joining a shutdown sends nothing)", n)
	}
	if n := h.net.sent(); n != 1 {
		t.Errorf("%d packets sent, want 1", n)
	}
}

func TestPowerVerified(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		kind    string
		pending moonwake.PendingKind
		goal    []moonwake.PowerState // the states seen, in order; the last ends the action
		detail  string
	}{
		{"shutdown", moonwake.ActionShutdown, moonwake.PendingShutdown, []moonwake.PowerState{moonwake.StateShuttingDown, moonwake.StateOff}, "pc is off after"},
		{"sleep", moonwake.ActionSleep, moonwake.PendingShutdown, []moonwake.PowerState{moonwake.StateShuttingDown, moonwake.StateOff}, "pc is off after"},
		{"hibernate", moonwake.ActionHibernate, moonwake.PendingShutdown, []moonwake.PowerState{moonwake.StateOff}, "pc is off after"},
		// A reboot is proven by the machine going down, then up.
		{"reboot", moonwake.ActionReboot, moonwake.PendingReboot, []moonwake.PowerState{moonwake.StateOn, moonwake.StateWaking, moonwake.StateUnknown, moonwake.StateOn}, "pc is on after"},
		{"reboot through off to idle", moonwake.ActionReboot, moonwake.PendingReboot, []moonwake.PowerState{moonwake.StateOff, moonwake.StateIdle}, "pc is idle after"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, Options{ShutdownDeadline: 5 * time.Second})
			h.states.set("pc", moonwake.StateOn)
			h.agents.said = "shutting down in 1s"
			a, err := h.s.Command(as(alice), pc("pc"), tc.kind)
			if err != nil {
				t.Fatal(err)
			}
			wantStatus(t, a, moonwake.StatusRunning, "")
			if a.Kind != tc.kind || a.Actor != alice || a.Deadline == nil {
				t.Fatalf("action %+v", a)
			}
			cmds := h.agents.commands()
			if len(cmds) != 1 || cmds[0].machine != "pc" || cmds[0].name != tc.kind {
				t.Fatalf("commands %+v, want one %s of pc", cmds, tc.kind)
			}
			if cmds[0].id != a.ID {
				t.Errorf("the command carries action id %q, want %q: the agent's outcome could not be matched", cmds[0].id, a.ID)
			}
			if st := steps(a, "command"); len(st) != 1 || st[0].Via != "agent" || st[0].Target != tc.kind+": shutting down in 1s" || st[0].Error != "" {
				t.Errorf("command steps %+v", st)
			}
			if got := h.stored(a.ID, moonwake.StatusRunning); got.Deadline == nil {
				t.Errorf("stored %+v, want running with a deadline", got)
			}
			for _, st := range tc.goal[:len(tc.goal)-1] {
				h.changeState("pc", st)
				if got := h.find(a.ID); got.Done() {
					t.Fatalf("ended when %s was seen: %+v", st, got)
				}
			}
			h.changeState("pc", tc.goal[len(tc.goal)-1])
			a = h.wait(a.ID)
			wantStatus(t, a, moonwake.StatusSucceeded, tc.detail)
			if st := lastStep(t, a); st.Kind != "verify" || st.Target != string(tc.goal[len(tc.goal)-1]) {
				t.Errorf("last step %+v", st)
			}
			if want := []string{"pc " + string(tc.pending), "pc "}; !equal(h.states.pendings(), want) {
				t.Errorf("SetPending calls %q, want %q", h.states.pendings(), want)
			}
			if n := len(h.agents.commands()); n != 1 {
				t.Errorf("%d commands, want 1", n)
			}
			if got := h.stored(a.ID, moonwake.StatusSucceeded); got == nil {
				t.Errorf("stored %+v", got)
			}
			if n := h.rec.notifications(); len(n) != 1 || n[0].Status != moonwake.StatusSucceeded {
				t.Errorf("notified %+v", n)
			}
		})
	}
}

func TestPowerAlreadyOff(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{})
	h.states.set("pc", moonwake.StateOff)
	a, err := h.s.Command(as(alice), pc("pc"), moonwake.ActionSleep)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, a, moonwake.StatusSucceeded, "pc is already off (since 2030-01-01T00:00:00Z); nothing sent")
	if n := len(h.agents.commands()); n != 0 {
		t.Errorf("%d commands sent to a machine that is off", n)
	}
	if got := h.stored(a.ID, moonwake.StatusSucceeded); got == nil {
		t.Errorf("stored %+v", got)
	}
	// A reboot of a machine that is off is not done: it must come up.
	a, err = h.s.Command(as(alice), pc("pc"), moonwake.ActionReboot)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, a, moonwake.StatusRunning, "")
}

func TestPowerFailsAtOnce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		opt    option
		code   string
		detail string
		cmds   int
	}{
		{"no agents", withoutAgents, moonwake.EUnavailable, "pc has no way to be shut down: pair its agent", 0},
		{"not paired", func(h *harness) { h.agents.unpaired["pc"] = true }, moonwake.EUnavailable, "pair its agent (moonwake machines pair pc)", 0},
		{"agent refuses", func(h *harness) {
			h.agents.errs = []error{moonwake.Errorf(moonwake.EInvalid, "the agent of pc refused: not allowed")}
		}, moonwake.EInvalid, "the agent did not take the shutdown command: the agent of pc refused: not allowed", 1},
		{"agent not connected", func(h *harness) {
			h.agents.errs = []error{moonwake.Errorf(moonwake.EUnavailable, "the agent of pc is not connected")}
		}, moonwake.EUnavailable, "the agent did not take the shutdown command: the agent of pc is not connected", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, Options{}, tc.opt)
			h.states.set("pc", moonwake.StateOn)
			a, err := h.s.Command(as(alice), pc("pc"), moonwake.ActionShutdown)
			wantCode(t, err, tc.code)
			if a == nil {
				t.Fatal("no action returned with the error")
			}
			wantStatus(t, a, moonwake.StatusFailed, tc.detail)
			if n := len(h.agents.commands()); n != tc.cmds {
				t.Errorf("%d commands, want %d", n, tc.cmds)
			}
			if tc.cmds > 0 {
				if st := steps(a, "command"); len(st) != 1 || st[0].Error == "" {
					t.Errorf("command steps %+v, want one with the error", st)
				}
			}
			if got := h.stored(a.ID, moonwake.StatusFailed); got.Detail != a.Detail {
				t.Errorf("stored %+v", got)
			}
			if got := h.find(a.ID); got.Status != moonwake.StatusFailed {
				t.Errorf("found %+v", got)
			}
			n := h.rec.notifications()
			if len(n) != 1 || n[0].ID != a.ID || n[0].Status != moonwake.StatusFailed {
				t.Errorf("notified %+v, want the failed action", n)
			}
			if p := h.rec.published(a.ID); len(p) == 0 || p[len(p)-1] != moonwake.StatusFailed {
				t.Errorf("announced %q", p)
			}
			if p := h.states.pendings(); len(p) != 0 {
				t.Errorf("SetPending calls %q, want none", p)
			}
		})
	}
}

// A machine still up at the deadline gets the command once more, and the
// action fails when it is still up a deadline later.
func TestShutdownStillUp(t *testing.T) {
	t.Parallel()
	const deadline = 150 * time.Millisecond
	h := newHarness(t, Options{ShutdownDeadline: deadline})
	h.states.set("pc", moonwake.StateOn)
	start := time.Now()
	a, err := h.s.Command(as(alice), pc("pc"), moonwake.ActionShutdown)
	if err != nil {
		t.Fatal(err)
	}
	h.changeState("pc", moonwake.StateShuttingDown)
	a = h.wait(a.ID)
	took := time.Since(start)
	wantStatus(t, a, moonwake.StatusFailed, "pc is still up 300ms after the shutdown command, sent twice")
	if took < 2*deadline || took > 2*deadline+time.Second {
		t.Errorf("failed after %s, want about %s", took, 2*deadline)
	}
	if d := a.FinishedAt.Sub(a.CreatedAt); d < 2*deadline {
		t.Errorf("finished %s after it was created, want at least %s", d, 2*deadline)
	}
	cmds := h.agents.commands()
	if len(cmds) != 2 || cmds[0] != cmds[1] {
		t.Errorf("commands %+v, want the same one twice", cmds)
	}
	if n := len(steps(a, "command")); n != 2 {
		t.Errorf("%d command steps, want 2", n)
	}
	n := h.rec.notifications()
	if len(n) != 1 || n[0].ID != a.ID || n[0].Status != moonwake.StatusFailed {
		t.Fatalf("notified %+v, want the failed shutdown", n)
	}
	if want := []string{"pc shutdown", "pc "}; !equal(h.states.pendings(), want) {
		t.Errorf("SetPending calls %q, want %q", h.states.pendings(), want)
	}
	// The retry was announced and stored as it happened.
	if p := h.rec.published(a.ID); !equal(p, []string{"running", "running", "failed"}) {
		t.Errorf("announced %q, want running, running (the retry), failed", p)
	}
}

// What the second command gets decides how a shutdown still up at its
// deadline goes on.
func TestShutdownRetry(t *testing.T) {
	t.Parallel()
	const d = time.Minute
	for _, tc := range []struct {
		name   string
		retry  error
		off    bool // the machine goes off after the retry
		at     time.Duration
		status string
		detail string
	}{
		{"taken, still up", nil, false, 2 * d, moonwake.StatusFailed, "pc is still on 2m0s after the shutdown command, sent twice"},
		{"taken, then off", nil, true, d + d/2, moonwake.StatusSucceeded, "pc is off after 1m30s"},
		{"agent gone", moonwake.Errorf(moonwake.EUnavailable, "not connected"), false, 2 * d, moonwake.StatusFailed, "sent twice"},
		{"agent gone, then off", moonwake.Errorf(moonwake.EUnavailable, "not connected"), true, d + d/2, moonwake.StatusSucceeded, "pc is off after 1m30s"},
		{"refused", moonwake.Errorf(moonwake.EInvalid, "the agent of pc refused: busy"), false, d, moonwake.StatusFailed,
			"pc is still up and the agent refused the shutdown command again: the agent of pc refused: busy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, Options{ShutdownDeadline: d}, onTestClock)
			h.states.set("pc", moonwake.StateOn)
			h.agents.errs = []error{nil, tc.retry}
			a, err := h.s.Command(as(alice), pc("pc"), moonwake.ActionShutdown)
			if err != nil {
				t.Fatal(err)
			}
			h.clock.Advance(d - time.Millisecond)
			time.Sleep(5 * time.Millisecond)
			if n := len(h.agents.commands()); n != 1 {
				t.Fatalf("%d commands before the deadline, want 1", n)
			}
			h.clock.Advance(time.Millisecond)
			waitFor(t, "the second command", func() bool { return len(h.agents.commands()) == 2 })
			if tc.at > d {
				waitFor(t, "the new deadline", func() bool { return !h.find(a.ID).Deadline.Before(a.CreatedAt.Add(2 * d)) })
				if got := h.find(a.ID); got.Done() {
					t.Fatalf("ended at the first deadline: %+v", got)
				}
				if tc.off {
					h.clock.Advance(d / 2)
					h.changeState("pc", moonwake.StateOff)
				} else {
					h.clock.Advance(d)
				}
			}
			a = h.wait(a.ID)
			wantStatus(t, a, tc.status, tc.detail)
			if got := a.FinishedAt.Sub(a.CreatedAt); got != tc.at {
				t.Errorf("ended %s after it started, want %s", got, tc.at)
			}
			if n := len(h.agents.commands()); n != 2 {
				t.Errorf("%d commands, want 2", n)
			}
			// The retry's update and the end's are written in order.
			if got := h.stored(a.ID, tc.status); len(got.Steps) != len(a.Steps) {
				t.Errorf("stored %+v", got)
			}
			if tc.status == moonwake.StatusFailed {
				if n := h.rec.notifications(); len(n) != 1 || n[0].Status != moonwake.StatusFailed {
					t.Errorf("notified %+v", n)
				}
			}
		})
	}
}

// The agent reports how the command went; a failure ends the action at
// once.
func TestCommandOutcome(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{ShutdownDeadline: time.Hour})
	h.states.set("pc", moonwake.StateOn)
	var mu sync.Mutex
	var ids []string
	h.agents.onCmd = func(c command) {
		mu.Lock()
		defer mu.Unlock()
		ids = append(ids, c.id)
	}
	a, err := h.s.Command(as(alice), pc("pc"), moonwake.ActionShutdown)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	id := ids[0]
	mu.Unlock()
	if id != a.ID {
		t.Fatalf("the agent was given action id %q, want %q: its outcome cannot be matched", id, a.ID)
	}
	h.commander.Report("pc", "act_unknown", false, "what?") // ignored
	h.commander.Report("other", id, false, "not yours")     // another machine's agent: ignored
	h.commander.Report("pc", id, true, "logging off")
	if got := h.find(a.ID); got.Done() || lastStep(t, got) != (moonwake.Step{At: lastStep(t, got).At, Kind: "outcome", Via: "agent", Target: "logging off"}) {
		t.Fatalf("after a good outcome: %+v", got)
	}
	h.commander.Report("pc", id, false, "an application blocks the shutdown")
	a = h.wait(a.ID)
	wantStatus(t, a, moonwake.StatusFailed, "the agent could not shutdown pc: an application blocks the shutdown")
	if st := lastStep(t, a); st.Kind != "outcome" || st.Error != "an application blocks the shutdown" || st.Target != "" {
		t.Errorf("last step %+v", st)
	}
	if n := h.rec.notifications(); len(n) != 1 || n[0].Status != moonwake.StatusFailed {
		t.Errorf("notified %+v", n)
	}
	if want := []string{"pc shutdown", "pc "}; !equal(h.states.pendings(), want) {
		t.Errorf("SetPending calls %q, want %q", h.states.pendings(), want)
	}
	h.commander.Report("pc", id, false, "late") // ended: ignored
	if got := h.stored(a.ID, moonwake.StatusFailed); got.Detail != a.Detail || len(got.Steps) != len(a.Steps) {
		t.Errorf("stored %+v", got)
	}
}

// Close leaves running actions running in the audit log, with their steps
// so far, and the next Service resumes them.
func TestCloseAndResume(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Resends: []time.Duration{time.Hour}, WakeDeadline: 2 * time.Hour, ShutdownDeadline: time.Hour})
	h.states.set("b", moonwake.StateOn)
	wake, err := h.s.Wake(as(alice), pc("a"))
	if err != nil {
		t.Fatal(err)
	}
	shut, err := h.s.Command(as(alice), pc("b"), moonwake.ActionShutdown)
	if err != nil {
		t.Fatal(err)
	}
	h.commander.Report("b", shut.ID, true, "bye")
	waiting := make(chan *moonwake.Action)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		a, _ := h.s.Wait(ctx, wake.ID)
		waiting <- a
	}()

	h.stop()
	for _, id := range []string{wake.ID, shut.ID} {
		a, err := h.store.FindAction(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, a, moonwake.StatusRunning, "")
		if a.Deadline == nil || len(a.Steps) == 0 {
			t.Errorf("stored %+v, want its deadline and steps", a)
		}
	}
	if a, err := h.store.FindAction(context.Background(), shut.ID); err != nil || lastStep(t, a).Kind != "outcome" {
		t.Errorf("stored %+v, %v; want the steps up to Close", a, err)
	}
	if a := <-waiting; a == nil || a.Status != moonwake.StatusRunning {
		t.Errorf("Wait across Close returned %+v", a)
	}

	sent, cmds := h.net.sent(), len(h.agents.commands())
	h.start()
	machines := map[string]*moonwake.Machine{"a": pc("a"), "b": pc("b")}
	err = h.s.Resume(context.Background(), func(name string) (*moonwake.Machine, error) {
		if m := machines[name]; m != nil {
			return m, nil
		}
		return nil, moonwake.Errorf(moonwake.ENotFound, "no machine %q", name)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{wake.ID, shut.ID} {
		a := h.find(id)
		wantStatus(t, a, moonwake.StatusRunning, "")
		if st := lastStep(t, a); st.Kind != "resume" {
			t.Errorf("last step %+v, want resume", st)
		}
	}
	p := h.states.pendings()
	if len(p) != 4 || !(equal(p[2:], []string{"a wake", "b shutdown"}) || equal(p[2:], []string{"b shutdown", "a wake"})) {
		t.Errorf("SetPending calls %q, want the resumed actions pending", p)
	}
	// Taken up: joined, ended by the monitor, and nothing sent again.
	if b, err := h.s.Wake(as(bob), pc("a")); err != nil || b.ID != wake.ID {
		t.Errorf("wake after resume: %v, %+v; want to join %s", err, b, wake.ID)
	}
	if _, err := h.s.Wake(as(bob), pc("b")); moonwake.ErrorCode(err) != moonwake.EConflict {
		t.Errorf("wake of a machine being shut down after resume: %v", err)
	}
	h.changeState("a", moonwake.StateOn)
	h.changeState("b", moonwake.StateOff)
	wantStatus(t, h.wait(wake.ID), moonwake.StatusSucceeded, "a is on after")
	wantStatus(t, h.wait(shut.ID), moonwake.StatusSucceeded, "b is off after")
	if h.net.sent() != sent || len(h.agents.commands()) != cmds {
		t.Errorf("resume sent %d packets and %d commands, want none", h.net.sent()-sent, len(h.agents.commands())-cmds)
	}
	if got := h.stored(shut.ID, moonwake.StatusSucceeded); len(steps(got, "resume")) != 1 {
		t.Errorf("stored %+v", got)
	}
}

// Resume takes up what it can, and ends the rest.
func TestResume(t *testing.T) {
	t.Parallel()
	const d = time.Minute
	for _, tc := range []struct {
		name, kind, machine string
		deadline            time.Duration // after Resume; 0: none
		state               moonwake.PowerState
		status, detail      string
	}{
		{"older hub", moonwake.ActionWake, "a", 0, "", moonwake.StatusSucceeded, "the hub restarted before this action ended; packets were sent, not verified"},
		{"machine gone", moonwake.ActionShutdown, "gone", d, "", moonwake.StatusFailed, "the hub restarted and the machine no longer exists"},
		{"wake past its deadline", moonwake.ActionWake, "b", -time.Second, moonwake.StateOff, moonwake.StatusFailed, "b was not seen on within 1m0s"},
		{"shutdown past its deadline", moonwake.ActionShutdown, "c", -time.Second, moonwake.StateOn, moonwake.StatusFailed, "c is still on"},
		{"wake that went on unseen", moonwake.ActionWake, "d", d, moonwake.StateOn, moonwake.StatusSucceeded, "d is on after 2m0s"},
		{"shutdown that went off unseen", moonwake.ActionSleep, "e", d, moonwake.StateOff, moonwake.StatusSucceeded, "e is off after 2m0s"},
		{"reboot that is up", moonwake.ActionReboot, "f", d, moonwake.StateOn, moonwake.StatusFailed, "f is still on"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, Options{Resends: []time.Duration{time.Second}, WakeDeadline: d, ShutdownDeadline: d}, onTestClock)
			now := h.clock.Now()
			a := &moonwake.Action{Kind: tc.kind, Machine: tc.machine, MAC: "52:54:00:12:34:56", Actor: alice,
				Status: moonwake.StatusRunning, CreatedAt: now.Add(-d),
				Steps: []moonwake.Step{{At: now.Add(-d), Kind: "command", Via: "agent", Target: tc.kind}}}
			if tc.kind == moonwake.ActionWake {
				a.Steps = []moonwake.Step{{At: now.Add(-d), Kind: "send", Via: wol.ViaUDP, Target: "127.0.0.1:9"}}
			}
			if tc.deadline != 0 {
				dl := now.Add(tc.deadline)
				a.Deadline = &dl
			}
			if err := h.store.CreateAction(context.Background(), a); err != nil {
				t.Fatal(err)
			}
			if tc.state != "" {
				h.states.set(tc.machine, tc.state)
			}
			err := h.s.Resume(context.Background(), func(name string) (*moonwake.Machine, error) {
				if name == "gone" {
					return nil, moonwake.Errorf(moonwake.ENotFound, "no machine %q", name)
				}
				return pc(name), nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if tc.deadline > 0 && tc.machine != "gone" {
				got := h.find(a.ID)
				wantStatus(t, got, moonwake.StatusRunning, "")
				if st := lastStep(t, got); st.Kind != "resume" {
					t.Errorf("last step %+v, want resume", st)
				}
				h.clock.Advance(tc.deadline)
			}
			var got *moonwake.Action
			waitFor(t, "the end", func() bool { got = h.find(a.ID); return got.Done() })
			wantStatus(t, got, tc.status, tc.detail)
			if got := h.stored(a.ID, tc.status); got.Detail != tc.detail && !strings.Contains(got.Detail, tc.detail) {
				t.Errorf("stored %+v", got)
			}
			if n := len(h.agents.commands()); n != 0 {
				t.Errorf("%d commands sent again after a restart", n)
			}
			if tc.status == moonwake.StatusFailed {
				if n := h.rec.notifications(); len(n) != 1 || n[0].ID != a.ID {
					t.Errorf("notified %+v", n)
				}
			}
		})
	}
}

// Two actions left running on one machine: one is taken up, the other
// ends, loudly.
func TestResumeTwoForOneMachine(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{ShutdownDeadline: time.Hour}, onTestClock)
	now := h.clock.Now()
	deadline := now.Add(time.Hour)
	var ids []string
	for i := range 2 {
		a := &moonwake.Action{Kind: moonwake.ActionShutdown, Machine: "pc", Actor: alice, Status: moonwake.StatusRunning,
			CreatedAt: now.Add(time.Duration(i-2) * time.Minute), Deadline: &deadline, Steps: []moonwake.Step{}}
		if err := h.store.CreateAction(context.Background(), a); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, a.ID)
	}
	if err := h.s.Resume(context.Background(), func(string) (*moonwake.Machine, error) { return pc("pc"), nil }); err != nil {
		t.Fatal(err)
	}
	var running, failed *moonwake.Action
	for _, id := range ids {
		switch a := h.find(id); a.Status {
		case moonwake.StatusRunning:
			running = a
		case moonwake.StatusFailed:
			failed = a
		}
	}
	if running == nil || failed == nil {
		t.Fatalf("after Resume: %+v, %+v; want one running and one failed", h.find(ids[0]), h.find(ids[1]))
	}
	wantStatus(t, failed, moonwake.StatusFailed, "superseded")
	if n := h.rec.notifications(); len(n) != 1 || n[0].ID != failed.ID {
		t.Errorf("notified %+v, want the superseded action", n)
	}
	if p := h.rec.published(failed.ID); !equal(p, []string{moonwake.StatusFailed}) {
		t.Errorf("announced %q", p)
	}
	h.stored(failed.ID, moonwake.StatusFailed)
	h.changeState("pc", moonwake.StateOff)
	wantStatus(t, h.wait(running.ID), moonwake.StatusSucceeded, "pc is off after")
}

func TestWait(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Resends: []time.Duration{time.Hour}, WakeDeadline: 2 * time.Hour})
	a, err := h.s.Wake(as(alice), pc("pc"))
	if err != nil {
		t.Fatal(err)
	}

	// ctx ends first: the action as it is.
	start := time.Now() // before the deadline is set, which counts from its own now
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	got, err := h.s.Wait(ctx, a.ID)
	cancel()
	if err != nil || got.ID != a.ID || got.Done() {
		t.Fatalf("Wait when ctx ended: %+v, %v", got, err)
	}
	if took := time.Since(start); took < 30*time.Millisecond || took > 2*time.Second {
		t.Errorf("Wait returned after %s, want 30ms", took)
	}

	// The action ends first.
	done := make(chan *moonwake.Action, 1)
	go func() {
		a, err := h.s.Wait(context.Background(), a.ID)
		if err != nil {
			t.Error(err)
		}
		done <- a
	}()
	time.Sleep(10 * time.Millisecond)
	select {
	case a := <-done:
		t.Fatalf("Wait returned before the end: %+v", a)
	default:
	}
	h.changeState("pc", moonwake.StateOn)
	select {
	case got := <-done:
		wantStatus(t, got, moonwake.StatusSucceeded, "pc is on after")
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not return when the action ended")
	}

	// Ended already, and unknown.
	if got, err := h.s.Wait(context.Background(), a.ID); err != nil || got.Status != moonwake.StatusSucceeded {
		t.Errorf("Wait for an ended action: %+v, %v", got, err)
	}
	if _, err := h.s.Wait(context.Background(), "act_nope"); moonwake.ErrorCode(err) != moonwake.ENotFound {
		t.Errorf("Wait for an unknown action: %v", err)
	}
}

// Many running actions are driven by the one Run goroutine.
func TestManyActions(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Resends: []time.Duration{time.Second}, WakeDeadline: 10 * time.Second}, onTestClock)
	const n = 100
	ids := make([]string, n)
	for i := range n {
		a, err := h.s.Wake(as(alice), pc(fmt.Sprintf("pc%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = a.ID
	}
	h.clock.Advance(time.Second)
	waitFor(t, "a resend of every wake", func() bool { return h.net.sent() == 2*n })
	for i := 0; i < n; i += 2 {
		h.changeState(fmt.Sprintf("pc%d", i), moonwake.StateOn)
	}
	for range 9 {
		h.clock.Advance(time.Second)
	}
	for i, id := range ids {
		a := h.wait(id)
		if i%2 == 0 {
			wantStatus(t, a, moonwake.StatusSucceeded, "is on after 1s")
		} else {
			wantStatus(t, a, moonwake.StatusFailed, "was not seen on within 10s")
		}
	}
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	if len(h.s.timers) != 0 || len(h.s.byID) != 0 || len(h.s.byMachine) != 0 {
		t.Errorf("left behind: %d timers, %d by id, %d by machine", len(h.s.timers), len(h.s.byID), len(h.s.byMachine))
	}
}

// BenchmarkWakeJoin measures requests that join a running wake: the cost
// of a button pressed by many people at once.
func BenchmarkWakeJoin(b *testing.B) {
	h := newHarness(b, Options{Resends: []time.Duration{time.Hour}, WakeDeadline: 2 * time.Hour})
	m := pc("pc")
	a, err := h.s.Wake(as(alice), m)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := as(bob)
		for pb.Next() {
			j, err := h.s.Wake(ctx, m)
			if err != nil || j.ID != a.ID {
				b.Errorf("join: %v, %+v", err, j)
				return
			}
		}
	})
	b.StopTimer()
	if sent := h.net.sent(); b.Elapsed() < time.Second && sent > 2 {
		b.Errorf("%d packets sent in %s of joins", sent, b.Elapsed())
	}
}

// A failed shutdown says what still answers, when the monitor can tell.
func TestShutdownStillUpSaysWhy(t *testing.T) {
	t.Parallel()
	const deadline = 100 * time.Millisecond
	h := newHarness(t, Options{ShutdownDeadline: deadline}, func(h *harness) {
		h.states.reason = "shutdown pending for 1s, still up: tcp/47989 open"
	})
	h.states.set("pc", moonwake.StateOn)
	a, err := h.s.Command(as(alice), pc("pc"), moonwake.ActionShutdown)
	if err != nil {
		t.Fatal(err)
	}
	h.changeState("pc", moonwake.StateShuttingDown)
	a = h.wait(a.ID)
	wantStatus(t, a, moonwake.StatusFailed, "pc is still up 200ms after the shutdown command, sent twice: tcp/47989 open")
}

// TestWakeRaceOneAction drives many requests at once at a machine that is
// off, also across the end of the action they start: each either starts
// the one action or joins it, so one first burst goes out and one action
// is recorded, never one per request.
func TestWakeRaceOneAction(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Resends: []time.Duration{time.Hour}, WakeDeadline: 2 * time.Hour}, onTestClock)
	const n = 64
	var wg sync.WaitGroup
	ids := make(chan string, n)
	for i := range n {
		wg.Go(func() {
			who := alice
			if i%2 == 1 {
				who = bob
			}
			a, err := h.s.Wake(as(who), pc("pc"))
			if err != nil {
				t.Error(err)
				return
			}
			ids <- a.ID
		})
	}
	wg.Wait()
	close(ids)
	seen := map[string]int{}
	for id := range ids {
		seen[id]++
	}
	if len(seen) != 1 {
		t.Fatalf("%d requests made %d actions, want 1: %v", n, len(seen), seen)
	}
	if got := h.net.sent(); got != 1 {
		t.Errorf("%d packets sent, want the first burst's 1", got)
	}
	list, err := h.store.ListActions(context.Background(), moonwake.ActionFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 {
		t.Errorf("%d actions recorded, want 1", len(list))
	}

	// At the instant it ends: every request either joins it or, once it
	// has ended, finds the machine on and sends nothing.
	var id string
	for k := range seen {
		id = k
	}
	var wg2 sync.WaitGroup
	for range n {
		wg2.Go(func() {
			if _, err := h.s.Wake(as(bob), pc("pc")); err != nil {
				t.Error(err)
			}
		})
	}
	h.changeState("pc", moonwake.StateOn)
	wg2.Wait()
	if a := h.wait(id); a.Status != moonwake.StatusSucceeded {
		t.Fatalf("the wake: %s %s", a.Status, a.Detail)
	}
	if got := h.net.sent(); got != 1 {
		t.Errorf("%d packets sent across the action's end, want 1", got)
	}
}

// asleepEvidence is a round in which nothing answered but the machine's
// network card, to the prober's own ARP request.
func asleepEvidence() moonwake.Evidence {
	return moonwake.Evidence{
		Addr: "192.0.2.10",
		TCP:  []moonwake.TCPResult{{Port: 47989, Outcome: moonwake.OutcomeTimeout}},
		ICMP: &moonwake.ICMPResult{Mode: moonwake.ICMPPrivileged, Outcome: moonwake.OutcomeTimeout},
		Neighbour: &moonwake.NeighbourResult{IP: "192.0.2.10", MAC: "aa:bb:cc:dd:ee:ff", State: "reachable",
			Identity: moonwake.IdentityMatch, Answered: true},
	}
}

// A sleep or hibernate is verified when the machine stops answering, as
// a shutdown is; its outcome says asleep when its network card still
// answered ARP, and off when it did not. After a shutdown, a card that
// answers does not make the outcome "asleep": the action asked for off.
func TestSleepVerifiedAsleep(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		kind   string
		asleep bool
		detail string
		target string
	}{
		{moonwake.ActionSleep, true, "pc is asleep after", "asleep"},
		{moonwake.ActionHibernate, true, "pc is asleep after", "asleep"},
		{moonwake.ActionSleep, false, "pc is off after", "off"},
		{moonwake.ActionShutdown, true, "pc is off after", "off"},
	} {
		t.Run(fmt.Sprintf("%s asleep=%v", tc.kind, tc.asleep), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, Options{ShutdownDeadline: 5 * time.Second})
			h.states.set("pc", moonwake.StateOn)
			a, err := h.s.Command(as(alice), pc("pc"), tc.kind)
			if err != nil {
				t.Fatal(err)
			}
			ev := moonwake.Evidence{TCP: []moonwake.TCPResult{{Port: 47989, Outcome: moonwake.OutcomeTimeout}}}
			if tc.asleep {
				ev = asleepEvidence()
			}
			from := h.states.set("pc", moonwake.StateOff)
			h.monitor.Change(moonwake.StateChange{Machine: "pc", From: from, To: moonwake.StateOff, Reason: "test", Evidence: ev})
			a = h.wait(a.ID)
			wantStatus(t, a, moonwake.StatusSucceeded, tc.detail)
			if st := lastStep(t, a); st.Kind != "verify" || st.Target != tc.target {
				t.Errorf("last step %+v, want verify %s", st, tc.target)
			}
		})
	}
}

// Seen asleep at its deadline check rather than as a change (after a
// restart, say): the outcome says asleep all the same.
func TestSleepAsleepAtCheck(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{ShutdownDeadline: 5 * time.Second}, onTestClock)
	h.states.set("pc", moonwake.StateOn)
	a, err := h.s.Command(as(alice), pc("pc"), moonwake.ActionSleep)
	if err != nil {
		t.Fatal(err)
	}
	h.states.mu.Lock()
	h.states.asleep = map[string]bool{"pc": true}
	h.states.mu.Unlock()
	h.states.set("pc", moonwake.StateOff) // no change told
	h.clock.Advance(6 * time.Second)
	a = h.wait(a.ID)
	wantStatus(t, a, moonwake.StatusSucceeded, "pc is asleep after")
}

// Asleep is off: a wake sends its packets, and never says "already on".
func TestWakeAsleepSends(t *testing.T) {
	t.Parallel()
	h := newHarness(t, Options{Resends: []time.Duration{time.Hour}, WakeDeadline: 2 * time.Hour})
	h.states.mu.Lock()
	h.states.asleep = map[string]bool{"pc": true}
	h.states.mu.Unlock()
	h.states.set("pc", moonwake.StateOff)
	a, err := h.s.Wake(as(alice), pc("pc"))
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, a, moonwake.StatusRunning, "")
	if h.net.sent() != 1 {
		t.Fatalf("%d packets sent, want 1", h.net.sent())
	}
	h.changeState("pc", moonwake.StateOn)
	wantStatus(t, h.wait(a.ID), moonwake.StatusSucceeded, "pc is on after")
}
