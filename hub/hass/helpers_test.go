package hass

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/hub/events"
	"github.com/moonwake/moonwake/internal/testlan"
	"github.com/moonwake/moonwake/mock"
)

func testMachine(name, mac string) *moonwake.Machine {
	m := &moonwake.Machine{Name: name, MAC: mac, Host: "127.0.0.1"}
	if err := m.Normalize(); err != nil {
		panic(err)
	}
	return m
}

// hubState is what the tests' hub knows: machines, states, actions, and
// what its power service was asked. Its methods fill the mock doubles that
// testOptions hands the bridge.
type hubState struct {
	mu       sync.Mutex
	machines map[string]*moonwake.Machine
	states   map[string]moonwake.PowerInfo
	actions  map[string][]*moonwake.Action
	calls    []call
	events   *events.Broker
}

type call struct {
	Machine, Action string
	Actor           moonwake.Actor
}

func newHubState(t *testing.T, ms ...*moonwake.Machine) *hubState {
	b, err := events.NewBroker(context.Background(), memEvents{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := &hubState{machines: map[string]*moonwake.Machine{}, states: map[string]moonwake.PowerInfo{},
		actions: map[string][]*moonwake.Action{}, events: b}
	for _, m := range ms {
		f.machines[m.Name] = m
	}
	return f
}

func (f *hubState) findMachine(ctx context.Context, name string) (*moonwake.Machine, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if m, ok := f.machines[name]; ok {
		c := *m
		return &c, nil
	}
	return nil, moonwake.Errorf(moonwake.ENotFound, "no machine %q", name)
}

func (f *hubState) listMachines(ctx context.Context) ([]*moonwake.Machine, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*moonwake.Machine
	for _, m := range f.machines {
		c := *m
		out = append(out, &c)
	}
	slices.SortFunc(out, func(a, b *moonwake.Machine) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func (f *hubState) info(ctx context.Context, name string) moonwake.PowerInfo {
	f.mu.Lock()
	defer f.mu.Unlock()
	if i, ok := f.states[name]; ok {
		return i
	}
	return moonwake.PowerInfo{State: moonwake.StateUnknown, Reason: "not probed yet"}
}

func (f *hubState) listActions(ctx context.Context, af moonwake.ActionFilter) ([]*moonwake.Action, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	as := f.actions[af.Machine]
	if len(as) > 0 {
		return []*moonwake.Action{as[len(as)-1]}, nil
	}
	return nil, nil
}

// act records a power action asked for, and starts it.
func (f *hubState) act(ctx context.Context, m *moonwake.Machine, kind string) (*moonwake.Action, error) {
	actor, _ := moonwake.ActorFrom(ctx)
	f.mu.Lock()
	f.calls = append(f.calls, call{m.Name, kind, actor})
	a := &moonwake.Action{ID: fmt.Sprintf("a%d", len(f.calls)), Kind: kind, Machine: m.Name, Actor: actor,
		Status: moonwake.StatusRunning, CreatedAt: time.Now().UTC()}
	f.actions[m.Name] = append(f.actions[m.Name], a)
	f.mu.Unlock()
	if _, err := f.events.Publish(moonwake.EventAction, m.Name, a); err != nil {
		return nil, err
	}
	return a, nil
}

func (f *hubState) wake(ctx context.Context, m *moonwake.Machine) (*moonwake.Action, error) {
	return f.act(ctx, m, moonwake.ActionWake)
}

// Calls returns the power actions asked for so far.
func (f *hubState) Calls() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// setState changes a machine's state as the monitor would: the state, then
// the event.
func (f *hubState) setState(t *testing.T, name string, s moonwake.PowerState, reason string) {
	f.mu.Lock()
	old := f.states[name].State
	f.states[name] = moonwake.PowerInfo{State: s, Since: time.Now().UTC(), Reason: reason}
	f.mu.Unlock()
	if _, err := f.events.Publish(moonwake.EventState, name, moonwake.StateChange{Machine: name, From: old, To: s, Reason: reason, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
}

// memEvents is an event store that keeps nothing: the tests subscribe from
// now on.
type memEvents struct{}

func (memEvents) AppendEvent(ctx context.Context, e *moonwake.Event) error { return nil }
func (memEvents) QueueEvent(e *moonwake.Event)                             {}
func (memEvents) ListEvents(ctx context.Context, f moonwake.EventFilter) ([]*moonwake.Event, error) {
	return nil, nil
}
func (memEvents) LastEventSeq(ctx context.Context) (int64, error) { return 0, nil }

// brokerURL is the test broker: MOONWAKE_TEST_MQTT, or a mosquitto of the
// test's own when the binary is there. Without either the test skips,
// unless MOONWAKE_TEST_REQUIRE names mqtt (CI), where it fails.
func brokerURL(t *testing.T) string {
	t.Helper()
	if u := os.Getenv("MOONWAKE_TEST_MQTT"); u != "" {
		return u
	}
	if _, err := exec.LookPath(mosquittoPath()); err == nil {
		return "tcp://" + startMosquitto(t, freePort(t)).addr
	}
	if strings.Contains(os.Getenv("MOONWAKE_TEST_REQUIRE"), "mqtt") {
		t.Fatal("no MQTT broker: set MOONWAKE_TEST_MQTT or install mosquitto")
	}
	t.Skip("no MQTT broker: set MOONWAKE_TEST_MQTT or install mosquitto")
	return ""
}

func mosquittoPath() string {
	if _, err := os.Stat("/usr/sbin/mosquitto"); err == nil {
		return "/usr/sbin/mosquitto"
	}
	return "mosquitto"
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// mosquitto is a broker process of the test's own, on loopback.
type mosquitto struct {
	t    *testing.T
	addr string
	conf string
	cmd  *exec.Cmd
	log  bytes.Buffer
}

func startMosquitto(t *testing.T, port int) *mosquitto {
	t.Helper()
	if _, err := exec.LookPath(mosquittoPath()); err != nil {
		if strings.Contains(os.Getenv("MOONWAKE_TEST_REQUIRE"), "mqtt") {
			t.Fatal("mosquitto is not installed")
		}
		t.Skip("mosquitto is not installed")
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "mosquitto.conf")
	// user root: started as root, mosquitto would otherwise switch to the
	// mosquitto user; it writes nothing here anyway.
	body := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\nuser root\nlog_dest stderr\n", port)
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	m := &mosquitto{t: t, addr: fmt.Sprintf("127.0.0.1:%d", port), conf: conf}
	m.start()
	t.Cleanup(m.stop)
	return m
}

func (m *mosquitto) start() {
	m.t.Helper()
	m.cmd = exec.Command(mosquittoPath(), "-c", m.conf)
	m.cmd.Stderr = &m.log
	if err := m.cmd.Start(); err != nil {
		m.t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", m.addr); err == nil {
			c.Close()
			return
		}
	}
	m.t.Fatalf("mosquitto did not listen on %s: %s", m.addr, m.log.String())
}

// stop kills the broker by its pid and reaps it.
func (m *mosquitto) stop() {
	if m.cmd == nil {
		return
	}
	_ = m.cmd.Process.Kill()
	_ = m.cmd.Wait()
	m.cmd = nil
}

// observer is a plain MQTT client that records every message it sees.
type observer struct {
	t      *testing.T
	c      mqtt.Client
	mu     sync.Mutex
	last   map[string][]byte
	all    map[string][]string // every payload, in order
	count  map[string]int
	notify chan struct{}
}

func newObserver(t *testing.T, broker string, filters ...string) *observer {
	t.Helper()
	o := &observer{t: t, last: map[string][]byte{}, all: map[string][]string{}, count: map[string]int{}, notify: make(chan struct{}, 1)}
	opts := mqtt.NewClientOptions().AddBroker(broker).SetClientID("observer-" + randID()).SetCleanSession(true).
		SetAutoReconnect(false).SetOrderMatters(true)
	o.c = mqtt.NewClient(opts)
	if tok := o.c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("observer connect: %v", tok.Error())
	}
	t.Cleanup(func() { o.c.Disconnect(100) })
	for _, f := range filters {
		tok := o.c.Subscribe(f, 1, func(_ mqtt.Client, m mqtt.Message) {
			o.mu.Lock()
			o.last[m.Topic()] = slices.Clone(m.Payload())
			o.count[m.Topic()]++
			o.all[m.Topic()] = append(o.all[m.Topic()], string(m.Payload()))
			o.mu.Unlock()
			select {
			case o.notify <- struct{}{}:
			default:
			}
		})
		if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("observer subscribe: %v", tok.Error())
		}
	}
	return o
}

// get returns the last payload on topic, and whether one came.
func (o *observer) get(topic string) ([]byte, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	p, ok := o.last[topic]
	return p, ok
}

func (o *observer) seen(topic string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.count[topic]
}

// wait waits until cond holds, checking after every message.
func (o *observer) wait(what string, timeout time.Duration, cond func() bool) {
	o.t.Helper()
	deadline := time.After(timeout)
	for !cond() {
		select {
		case <-o.notify:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			o.t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// waitPayload waits until topic's last payload satisfies ok.
func (o *observer) waitPayload(topic string, timeout time.Duration, ok func([]byte) bool) []byte {
	o.t.Helper()
	var got []byte
	o.wait(topic, timeout, func() bool {
		p, seen := o.get(topic)
		got = p
		return seen && ok(p)
	})
	return got
}

// waitSeen waits until payload has come on topic at least n times,
// however many messages came after it.
func (o *observer) waitSeen(topic, payload string, n int, timeout time.Duration) {
	o.t.Helper()
	o.wait(fmt.Sprintf("%s %q ×%d", topic, payload, n), timeout, func() bool {
		o.mu.Lock()
		defer o.mu.Unlock()
		k := 0
		for _, p := range o.all[topic] {
			if p == payload {
				k++
			}
		}
		return k >= n
	})
}

func (o *observer) publish(topic string, retained bool, payload string) {
	o.t.Helper()
	tok := o.c.Publish(topic, 1, retained, payload)
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		o.t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

func randID() string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// testBridge is a running bridge with unique prefixes.
type testBridge struct {
	*Bridge
	cancel context.CancelFunc
	done   chan struct{}
	logs   *testlan.Buffer
}

// testOptions are options for f, through the mock doubles, with prefixes
// of the test's own.
func testOptions(f *hubState, broker string) Options {
	id := randID()
	return Options{
		Broker: broker, ClientID: "moonwake-test-" + id, HubID: "h" + id,
		TopicPrefix: "mw-" + id, DiscoveryPrefix: "ha-" + id,
		Machines:          &mock.MachineService{FindMachineFn: f.findMachine, ListMachinesFn: f.listMachines},
		Monitor:           &mock.Monitor{InfoFn: f.info},
		Power:             &mock.PowerService{WakeFn: f.wake, CommandFn: f.act},
		Actions:           &mock.ActionService{ListActionsFn: f.listActions},
		Events:            f.events,
		ReconnectInterval: 300 * time.Millisecond, ScanWindow: 300 * time.Millisecond,
		RepublishInterval: 500 * time.Millisecond,
	}
}

// testTopics are the topics of a bridge with options o.
func testTopics(o Options) topics {
	return topics{prefix: o.TopicPrefix, discovery: o.DiscoveryPrefix, hub: o.HubID}
}

func startBridge(t *testing.T, o Options) *testBridge {
	t.Helper()
	logs := new(testlan.Buffer)
	o.Logger = slog.New(slog.NewTextHandler(io.MultiWriter(logs), &slog.HandlerOptions{Level: slog.LevelDebug}))
	b, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tb := &testBridge{Bridge: b, cancel: cancel, done: make(chan struct{}), logs: logs}
	go func() {
		defer close(tb.done)
		b.Run(ctx)
	}()
	t.Cleanup(func() {
		tb.stop()
		if t.Failed() {
			t.Logf("bridge log:\n%s", logs.String())
		}
	})
	return tb
}

// stop ends Run and closes the bridge, cleanly.
func (tb *testBridge) stop() {
	tb.cancel()
	<-tb.done
	tb.Close()
}

// proxy forwards TCP connections to a broker, and can cut them all at once
// as a network failure would: the broker sees the client vanish without a
// DISCONNECT.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.cut() })
	return p
}

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		u, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, u)
		p.mu.Unlock()
		go func() { _, _ = io.Copy(u, c); u.Close() }()
		go func() { _, _ = io.Copy(c, u); c.Close() }()
	}
}

func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // a reset, not a goodbye
		}
		c.Close()
	}
	p.conns = nil
}
