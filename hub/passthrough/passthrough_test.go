package passthrough_test

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/hub/passthrough"
	"github.com/moonwake/moonwake/hub/sqlite"
	"github.com/moonwake/moonwake/mock"
)

type wakeCall struct {
	machine *moonwake.Machine
	actor   moonwake.Actor
}

// wakes records the wakes asked of the mock power service it makes.
type wakes struct {
	mu    sync.Mutex
	calls []wakeCall
}

// recordWakes returns a power service whose Wake records the call and
// fails with err, or, when err is nil, starts a wake.
func recordWakes(err error) (*mock.PowerService, *wakes) {
	w := &wakes{}
	return &mock.PowerService{WakeFn: func(ctx context.Context, m *moonwake.Machine) (*moonwake.Action, error) {
		actor, _ := moonwake.ActorFrom(ctx)
		w.mu.Lock()
		w.calls = append(w.calls, wakeCall{m, actor})
		w.mu.Unlock()
		if err != nil {
			return nil, err
		}
		return &moonwake.Action{ID: "a1", Kind: moonwake.ActionWake, Machine: m.Name, Actor: actor, Status: moonwake.StatusRunning}, nil
	}}, w
}

func (w *wakes) Calls() []wakeCall {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]wakeCall(nil), w.calls...)
}

// machines opens a real SQLite registry in a temporary directory holding ms.
func machines(t testing.TB, ms ...*moonwake.Machine) *sqlite.MachineService {
	t.Helper()
	db := sqlite.NewDB(filepath.Join(t.TempDir(), "moonwake.db"))
	if err := db.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s := sqlite.NewMachineService(db)
	for _, m := range ms {
		if err := s.CreateMachine(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// magic builds a magic packet by hand, not with package wol.
func magic(t testing.TB, mac string, password ...byte) []byte {
	t.Helper()
	hw, err := net.ParseMAC(mac)
	if err != nil {
		t.Fatal(err)
	}
	b := bytes.Repeat([]byte{0xff}, 6)
	for range 16 {
		b = append(b, hw...)
	}
	return append(b, password...)
}

// clock is a settable time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func notLocal(netip.Addr) bool { return false }

func testMachines(t testing.TB) *sqlite.MachineService {
	return machines(t,
		&moonwake.Machine{Name: "gaming-pc", MAC: "02:00:00:00:00:01", Interface: "eth0"},
		&moonwake.Machine{Name: "locked", MAC: "02:00:00:00:00:02", Password: "0a:1b:2c:3d:4e:5f"},
		&moonwake.Machine{Name: "locked4", MAC: "02:00:00:00:00:03", Password: "192.168.1.1"},
	)
}

var (
	phone  = netip.MustParseAddr("203.0.113.7")
	phone2 = netip.MustParseAddr("198.51.100.9")
)

func TestHandle(t *testing.T) {
	ms := testMachines(t)
	tests := []struct {
		name    string
		data    []byte
		want    passthrough.Outcome
		machine string
	}{
		{"registered", magic(t, "02:00:00:00:00:01"), passthrough.Woken, "gaming-pc"},
		{"registered, password it does not need", magic(t, "02:00:00:00:00:01", 1, 2, 3, 4), passthrough.Woken, "gaming-pc"},
		{"unregistered", magic(t, "02:00:00:00:00:09"), passthrough.Unregistered, ""},
		{"password right", magic(t, "02:00:00:00:00:02", 0x0a, 0x1b, 0x2c, 0x3d, 0x4e, 0x5f), passthrough.Woken, "locked"},
		{"password 4 right", magic(t, "02:00:00:00:00:03", 192, 168, 1, 1), passthrough.Woken, "locked4"},
		{"password missing", magic(t, "02:00:00:00:00:02"), passthrough.BadPassword, ""},
		{"password wrong", magic(t, "02:00:00:00:00:02", 0x0a, 0x1b, 0x2c, 0x3d, 0x4e, 0x50), passthrough.BadPassword, ""},
		{"password too short", magic(t, "02:00:00:00:00:02", 0x0a, 0x1b, 0x2c, 0x3d), passthrough.BadPassword, ""},
		{"password 4 wrong", magic(t, "02:00:00:00:00:03", 192, 168, 1, 2), passthrough.BadPassword, ""},
		{"empty", nil, passthrough.Malformed, ""},
		{"short", magic(t, "02:00:00:00:00:01")[:101], passthrough.Malformed, ""},
		{"long", append(magic(t, "02:00:00:00:00:01"), 1, 2, 3, 4, 5), passthrough.Malformed, ""},
		{"bad sync", append([]byte{0xfe}, magic(t, "02:00:00:00:00:01")[1:]...), passthrough.Malformed, ""},
		{"copies differ", append(magic(t, "02:00:00:00:00:01")[:96], 2, 0, 0, 0, 0, 2), passthrough.Malformed, ""},
		{"broadcast MAC", magic(t, "ff:ff:ff:ff:ff:ff"), passthrough.Malformed, ""},
		{"multicast MAC", magic(t, "03:00:00:00:00:01"), passthrough.Malformed, ""},
		{"password of 5 bytes", magic(t, "02:00:00:00:00:01", 1, 2, 3, 4, 5), passthrough.Malformed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pw, w := recordWakes(nil)
			l := passthrough.New(passthrough.Options{Machines: ms, Power: pw, Local: notLocal})
			if got := l.Handle(t.Context(), phone, tt.data); got != tt.want {
				t.Errorf("Handle = %v, want %v", got, tt.want)
			}
			calls := w.Calls()
			if tt.machine == "" {
				if len(calls) != 0 {
					t.Errorf("woke %d machine(s), want none", len(calls))
				}
				return
			}
			if len(calls) != 1 || calls[0].machine.Name != tt.machine {
				t.Fatalf("calls %+v, want one wake of %s", calls, tt.machine)
			}
			want := moonwake.Actor{Kind: "relay", Name: "moonlight", Addr: phone.String()}
			if calls[0].actor != want {
				t.Errorf("actor %+v, want %+v", calls[0].actor, want)
			}
			if l.Stats()[tt.want.String()] != 1 {
				t.Errorf("stats %v", l.Stats())
			}
		})
	}
}

// TestBurst: one press of Moonlight's button sends many datagrams; it must
// wake once. Another press seconds later wakes (joins) again.
func TestBurst(t *testing.T) {
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	pw, w := recordWakes(nil)
	l := passthrough.New(passthrough.Options{Machines: testMachines(t), Power: pw, Local: notLocal, Now: c.Now})
	pkt := magic(t, "02:00:00:00:00:01")
	for i := range 12 {
		got := l.Handle(t.Context(), phone, pkt)
		if want := map[bool]passthrough.Outcome{true: passthrough.Woken, false: passthrough.Debounced}[i == 0]; got != want {
			t.Errorf("datagram %d: %v, want %v", i+1, got, want)
		}
		c.Add(10 * time.Millisecond)
	}
	// From another source too, within the window.
	if got := l.Handle(t.Context(), phone2, pkt); got != passthrough.Debounced {
		t.Errorf("second source: %v, want debounced", got)
	}
	if n := len(w.Calls()); n != 1 {
		t.Fatalf("%d wakes for one burst, want 1", n)
	}
	c.Add(2 * time.Second)
	if got := l.Handle(t.Context(), phone, pkt); got != passthrough.Woken {
		t.Errorf("a press 2 s later: %v, want woken", got)
	}
	// Other machines are debounced on their own.
	if got := l.Handle(t.Context(), phone, magic(t, "02:00:00:00:00:03", 192, 168, 1, 1)); got != passthrough.Woken {
		t.Errorf("other machine: %v, want woken", got)
	}
	// A wrong password does not count as a wake, so it cannot hold off
	// the right one.
	if got := l.Handle(t.Context(), phone2, magic(t, "02:00:00:00:00:02")); got != passthrough.BadPassword {
		t.Errorf("no password: %v", got)
	}
	if got := l.Handle(t.Context(), phone, magic(t, "02:00:00:00:00:02", 0x0a, 0x1b, 0x2c, 0x3d, 0x4e, 0x5f)); got != passthrough.Woken {
		t.Errorf("right password after a wrong one: %v, want woken", got)
	}
}

// TestSourceRate: a source flooding datagrams is cut off, others are not.
func TestSourceRate(t *testing.T) {
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	pw, _ := recordWakes(nil)
	l := passthrough.New(passthrough.Options{Machines: testMachines(t), Power: pw, Local: notLocal, Now: c.Now,
		SourceRate: 5, SourceBurst: 10})
	junk := []byte("not a magic packet")
	for i := range 10 {
		if got := l.Handle(t.Context(), phone, junk); got != passthrough.Malformed {
			t.Fatalf("datagram %d: %v, want malformed", i+1, got)
		}
	}
	if got := l.Handle(t.Context(), phone, magic(t, "02:00:00:00:00:01")); got != passthrough.RateLimited {
		t.Errorf("datagram 11: %v, want rate-limited", got)
	}
	if got := l.Handle(t.Context(), phone2, magic(t, "02:00:00:00:00:01")); got != passthrough.Woken {
		t.Errorf("another source: %v, want woken", got)
	}
	c.Add(200 * time.Millisecond) // one token back
	if got := l.Handle(t.Context(), phone, junk); got != passthrough.Malformed {
		t.Errorf("after a refill: %v, want malformed", got)
	}
	if got := l.Handle(t.Context(), phone, junk); got != passthrough.RateLimited {
		t.Errorf("after the refill is spent: %v, want rate-limited", got)
	}
	if s := l.Stats(); s["rate-limited"] != 2 || s["malformed"] != 11 || s["woken"] != 1 {
		t.Errorf("stats %v", s)
	}
}

// TestSelf: datagrams from the host's own addresses are dropped, so a
// relay on port 9 never wakes again on hearing its own broadcast.
func TestSelf(t *testing.T) {
	pw, w := recordWakes(nil)
	l := passthrough.New(passthrough.Options{Machines: testMachines(t), Power: pw,
		Local: func(a netip.Addr) bool { return a == phone }})
	if got := l.Handle(t.Context(), phone, magic(t, "02:00:00:00:00:01")); got != passthrough.Self {
		t.Errorf("from self: %v", got)
	}
	if got := l.Handle(t.Context(), netip.MustParseAddr("::ffff:203.0.113.7"), magic(t, "02:00:00:00:00:01")); got != passthrough.Self {
		t.Errorf("from self, IPv4-mapped: %v", got)
	}
	if len(w.Calls()) != 0 {
		t.Error("woke on its own packet")
	}
}

func TestWakeError(t *testing.T) {
	pw, _ := recordWakes(moonwake.Errorf(moonwake.EConflict, "a shutdown of gaming-pc is under way"))
	l := passthrough.New(passthrough.Options{Machines: testMachines(t), Power: pw, Local: notLocal})
	if got := l.Handle(t.Context(), phone, magic(t, "02:00:00:00:00:01")); got != passthrough.Failed {
		t.Errorf("Handle = %v, want failed", got)
	}
}

// TestListenerUDP runs the listener on real sockets on 127.0.0.1.
func TestListenerUDP(t *testing.T) {
	pw, w := recordWakes(nil)
	l := passthrough.New(passthrough.Options{Addrs: []string{"127.0.0.1:0", "127.0.0.1:0"}, Machines: testMachines(t), Power: pw})
	if err := l.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- l.Serve(ctx) }()
	addrs := l.Addrs()
	if len(addrs) != 2 {
		t.Fatalf("addrs %v", addrs)
	}
	send := func(to net.Addr, b []byte) {
		c, err := net.DialUDP("udp", nil, to.(*net.UDPAddr))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	waitStat := func(key string, n uint64) {
		t.Helper()
		for end := time.Now().Add(5 * time.Second); l.Stats()[key] < n; {
			if time.Now().After(end) {
				t.Fatalf("stats %v, want %s=%d", l.Stats(), key, n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	send(addrs[0], []byte("junk"))
	send(addrs[1], magic(t, "02:00:00:00:00:09"))
	send(addrs[0], magic(t, "02:00:00:00:00:02", 9, 9, 9, 9, 9, 9))
	send(addrs[0], bytes.Repeat([]byte{0xff}, 2000)) // truncated on read
	waitStat("malformed", 2)
	waitStat("unregistered", 1)
	waitStat("bad-password", 1)
	if len(w.Calls()) != 0 {
		t.Fatalf("woke %+v", w.Calls())
	}
	// A burst to both ports, as Moonlight sends: one wake.
	for range 5 {
		send(addrs[0], magic(t, "02:00:00:00:00:01"))
		send(addrs[1], magic(t, "02:00:00:00:00:01"))
	}
	waitStat("woken", 1)
	waitStat("debounced", 9)
	calls := w.Calls()
	if len(calls) != 1 || calls[0].machine.Name != "gaming-pc" || calls[0].actor.Addr != "127.0.0.1" || calls[0].actor.Kind != "relay" {
		t.Errorf("calls %+v", calls)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Error(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after its context ended")
	}
	if err := l.Close(); err != nil {
		t.Error(err)
	}
}

func TestListenError(t *testing.T) {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	l := passthrough.New(passthrough.Options{Addrs: []string{"127.0.0.1:0", c.LocalAddr().String()}, Machines: testMachines(t), Power: &mock.PowerService{}})
	if err := l.Listen(); err == nil {
		t.Fatal("Listen on a taken port succeeded")
	}
	if len(l.Addrs()) != 0 {
		t.Errorf("sockets left open: %v", l.Addrs())
	}
	if err := l.Serve(t.Context()); err == nil {
		t.Error("Serve without sockets succeeded")
	}
}

// TestAlreadyOnIsCounted: a packet for a machine that is on (Moonlight's
// button pressed again, or a spoofed sender) is counted, and wakes nothing:
// no action, so no audit record and no notification.
func TestAlreadyOnIsCounted(t *testing.T) {
	pw, w := recordWakes(nil)
	state := moonwake.StateOn
	mon := &mock.Monitor{InfoFn: func(context.Context, string) moonwake.PowerInfo { return moonwake.PowerInfo{State: state} }}
	l := passthrough.New(passthrough.Options{Machines: testMachines(t), Power: pw, Monitor: mon, Local: notLocal})
	for range 3 {
		if got := l.Handle(t.Context(), phone, magic(t, "02:00:00:00:00:01")); got != passthrough.AlreadyOn {
			t.Fatalf("a packet for a machine that is on: %v, want already-on", got)
		}
	}
	if len(w.Calls()) != 0 {
		t.Fatalf("wakes of a machine that is on: %+v", w.Calls())
	}
	state = moonwake.StateShuttingDown // going down: a wake is what the person wants
	if got := l.Handle(t.Context(), phone, magic(t, "02:00:00:00:00:01")); got != passthrough.Woken {
		t.Errorf("a packet while it shuts down: %v, want woken", got)
	}
	if s := l.Stats(); s["already-on"] != 3 || s["woken"] != 1 {
		t.Errorf("stats %v", s)
	}
}

// TestMachineBudget: a machine's wakes from outside that would start a new
// action draw on its budget, so a flood records a bounded number of
// actions; wakes that join a running one (the machine is waking) do not,
// and the budget refills with time.
func TestMachineBudget(t *testing.T) {
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	pw, w := recordWakes(nil)
	state := moonwake.StateOff
	mon := &mock.Monitor{InfoFn: func(context.Context, string) moonwake.PowerInfo { return moonwake.PowerInfo{State: state} }}
	l := passthrough.New(passthrough.Options{Machines: testMachines(t), Power: pw, Monitor: mon, Local: notLocal, Now: c.Now,
		MachineBurst: 3, MachineRefill: time.Minute})
	send := func(mac string) passthrough.Outcome {
		c.Add(3 * time.Second) // past the debounce, and a new source each time
		return l.Handle(t.Context(), netip.AddrFrom4([4]byte{203, 0, 113, byte(len(w.Calls()) + 10)}), magic(t, mac))
	}
	for i := range 3 {
		if got := send("02:00:00:00:00:01"); got != passthrough.Woken {
			t.Fatalf("wake %d: %v, want woken", i+1, got)
		}
	}
	if got := send("02:00:00:00:00:01"); got != passthrough.OverBudget {
		t.Fatalf("past the budget: %v, want over-budget", got)
	}
	state = moonwake.StateWaking // it would join the running wake: free
	if got := send("02:00:00:00:00:01"); got != passthrough.Woken {
		t.Errorf("while waking: %v, want woken", got)
	}
	state = moonwake.StateOff
	c.Add(time.Minute) // one back
	if got := send("02:00:00:00:00:01"); got != passthrough.Woken {
		t.Errorf("after a refill: %v, want woken", got)
	}
	if got := send("02:00:00:00:00:01"); got != passthrough.OverBudget {
		t.Errorf("after the refill is spent: %v, want over-budget", got)
	}
	if s := l.Stats(); s["over-budget"] != 2 || s["woken"] != 5 {
		t.Errorf("stats %v", s)
	}
}

// TestIPv6SourcesBy64: the addresses of one IPv6 /64 share a source's
// budget, as one host can pick any of them.
func TestIPv6SourcesBy64(t *testing.T) {
	pw, _ := recordWakes(nil)
	l := passthrough.New(passthrough.Options{Machines: testMachines(t), Power: pw, Local: notLocal, SourceRate: 0.001, SourceBurst: 2})
	junk := []byte("junk")
	for i, src := range []string{"2001:db8:1:2::1", "2001:db8:1:2::ffff"} {
		if got := l.Handle(t.Context(), netip.MustParseAddr(src), junk); got != passthrough.Malformed {
			t.Fatalf("datagram %d: %v", i, got)
		}
	}
	if got := l.Handle(t.Context(), netip.MustParseAddr("2001:db8:1:2:abcd::9"), junk); got != passthrough.RateLimited {
		t.Errorf("a third address of the same /64: %v, want rate-limited", got)
	}
	if got := l.Handle(t.Context(), netip.MustParseAddr("2001:db8:1:3::1"), junk); got != passthrough.Malformed {
		t.Errorf("another /64: %v, want malformed (its own budget)", got)
	}
}

// TestGlobalBudget: spoofed sources, each within its own budget, still
// meet the budget of all sources together.
func TestGlobalBudget(t *testing.T) {
	pw, _ := recordWakes(nil)
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := passthrough.New(passthrough.Options{Machines: testMachines(t), Power: pw, Local: notLocal, Now: c.Now})
	limited := 0
	for i := range passthrough.DefaultGlobalBurst + 50 {
		src := netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)})
		if l.Handle(t.Context(), src, []byte("junk")) == passthrough.RateLimited {
			limited++
		}
	}
	if limited != 50 {
		t.Errorf("%d of %d datagrams from distinct sources limited, want 50", limited, passthrough.DefaultGlobalBurst+50)
	}
}
