package probe_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/probe"
)

// fakeNet answers rounds from a table: each machine is up (its port open)
// or not (its port times out). It counts rounds and how many run at once.
type fakeNet struct {
	mu      sync.Mutex
	up      map[string]bool
	rounds  map[string][]time.Time
	delay   time.Duration
	running atomic.Int32
	maxRun  atomic.Int32
}

func newFakeNet() *fakeNet {
	return &fakeNet{up: map[string]bool{}, rounds: map[string][]time.Time{}}
}

func (f *fakeNet) set(name string, up bool) {
	f.mu.Lock()
	f.up[name] = up
	f.mu.Unlock()
}

func (f *fakeNet) count(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.rounds[name])
}

func (f *fakeNet) probe(ctx context.Context, t probe.Target) moonwake.Evidence {
	n := f.running.Add(1)
	defer f.running.Add(-1)
	for {
		m := f.maxRun.Load()
		if n <= m || f.maxRun.CompareAndSwap(m, n) {
			break
		}
	}
	f.mu.Lock()
	f.rounds[t.Name] = append(f.rounds[t.Name], time.Now())
	up, delay := f.up[t.Name], f.delay
	f.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-ctx.Done():
		}
	}
	o := moonwake.OutcomeTimeout
	if up {
		o = moonwake.OutcomeOpen
	}
	return moonwake.Evidence{At: time.Now(), TCP: []moonwake.TCPResult{{Port: 47989, Outcome: o}}}
}

// changes collects OnChange calls.
type changes struct {
	mu  sync.Mutex
	all []moonwake.StateChange
	ch  chan moonwake.StateChange
}

func newChanges() *changes { return &changes{ch: make(chan moonwake.StateChange, 1000)} }

func (c *changes) add(sc moonwake.StateChange) {
	c.mu.Lock()
	c.all = append(c.all, sc)
	c.mu.Unlock()
	c.ch <- sc
}

// wait returns the next change of machine name, failing after d.
func (c *changes) wait(t *testing.T, name string, d time.Duration) moonwake.StateChange {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case sc := <-c.ch:
			if sc.Machine == name {
				return sc
			}
		case <-deadline:
			t.Fatalf("no state change of %s within %s", name, d)
		}
	}
}

func startWatcher(t *testing.T, o probe.WatchOptions) *probe.Watcher {
	t.Helper()
	w := probe.NewWatcher(o)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	})
	return w
}

func TestWatcherStates(t *testing.T) {
	f := newFakeNet()
	f.set("pc", true)
	c := newChanges()
	w := startWatcher(t, probe.WatchOptions{Probe: f.probe, Rest: 100 * time.Millisecond, Fast: 10 * time.Millisecond, OnChange: c.add})
	w.Watch(probe.Target{Name: "pc", Ports: []int{47989}})

	sc := c.wait(t, "pc", 2*time.Second)
	if sc.From != "" || sc.To != moonwake.StateOn || sc.At.IsZero() || len(sc.Evidence.TCP) != 1 {
		t.Fatalf("first change: %+v", sc)
	}
	st, ok := w.Status("pc")
	if !ok || st.State != moonwake.StateOn || st.Since != sc.At {
		t.Fatalf("status %+v, %v", st, ok)
	}

	// Down: believed after two rounds in a row, taken quickly (Fast).
	f.set("pc", false)
	before := f.count("pc")
	sc = c.wait(t, "pc", 2*time.Second)
	if sc.From != moonwake.StateOn || sc.To != moonwake.StateOff {
		t.Fatalf("down: %+v", sc)
	}
	if n := f.count("pc") - before; n < 2 {
		t.Errorf("off believed after %d round(s)", n)
	}

	// A wake: waking at once, then on.
	w.SetPending("pc", moonwake.Pending{Kind: moonwake.PendingWake, Since: time.Now()})
	if sc = c.wait(t, "pc", time.Second); sc.To != moonwake.StateWaking {
		t.Fatalf("wake pending: %+v", sc)
	}
	f.set("pc", true)
	start := time.Now()
	sc = c.wait(t, "pc", time.Second)
	if sc.To != moonwake.StateOn || time.Since(start) > 500*time.Millisecond {
		t.Fatalf("wake: %+v after %s", sc, time.Since(start))
	}
	w.SetPending("pc", moonwake.Pending{})

	// Unwatched: no more rounds, no status.
	w.Unwatch("pc")
	time.Sleep(50 * time.Millisecond)
	n := f.count("pc")
	time.Sleep(300 * time.Millisecond)
	if f.count("pc") != n {
		t.Errorf("%d rounds after Unwatch", f.count("pc")-n)
	}
	if _, ok := w.Status("pc"); ok {
		t.Error("status after Unwatch")
	}
}

// At rest a machine is probed every Rest; during a transition every Fast.
func TestWatcherCadence(t *testing.T) {
	f := newFakeNet()
	f.set("pc", true)
	c := newChanges()
	w := startWatcher(t, probe.WatchOptions{Probe: f.probe, Rest: 200 * time.Millisecond, Fast: 20 * time.Millisecond, OnChange: c.add})
	w.Watch(probe.Target{Name: "pc"})
	c.wait(t, "pc", time.Second)
	// Rates, not exact counts: a loaded machine runs fewer rounds than
	// asked, never more, and the fast cadence stays well above the rest.
	n0, t0 := f.count("pc"), time.Now()
	time.Sleep(time.Second)
	rest := float64(f.count("pc")-n0) / time.Since(t0).Seconds()
	if rest < 1 || rest > 8 {
		t.Errorf("%.1f rounds a second at a 200ms rest interval", rest)
	}
	w.SetPending("pc", moonwake.Pending{Kind: moonwake.PendingShutdown})
	n0, t0 = f.count("pc"), time.Now()
	time.Sleep(500 * time.Millisecond)
	fast := float64(f.count("pc")-n0) / time.Since(t0).Seconds()
	if fast < 3*rest || fast > 60 {
		t.Errorf("%.1f rounds a second at a 20ms fast interval, %.1f at rest", fast, rest)
	}
	if st, _ := w.Status("pc"); st.State != moonwake.StateShuttingDown || st.Pending.Kind != moonwake.PendingShutdown {
		t.Errorf("status %+v", st)
	}
}

// Slow rounds overlap during a transition, so a change is seen about Fast
// after it happens even when each round takes far longer.
func TestWatcherOverlap(t *testing.T) {
	f := newFakeNet()
	f.delay = 400 * time.Millisecond
	c := newChanges()
	w := startWatcher(t, probe.WatchOptions{Probe: f.probe, Rest: time.Hour, Fast: 100 * time.Millisecond, OnChange: c.add})
	w.Watch(probe.Target{Name: "pc"})
	w.ProbeNow("pc")
	if sc := c.wait(t, "pc", 2*time.Second); sc.To != moonwake.StateOff {
		t.Fatalf("%+v", sc)
	}
	w.SetPending("pc", moonwake.Pending{Kind: moonwake.PendingWake})
	if sc := c.wait(t, "pc", 2*time.Second); sc.To != moonwake.StateWaking {
		t.Fatalf("%+v", sc)
	}
	time.Sleep(300 * time.Millisecond)
	f.set("pc", true)
	start := time.Now()
	sc := c.wait(t, "pc", 2*time.Second)
	// The first round that sees it starts within Fast and takes delay.
	if d := time.Since(start); sc.To != moonwake.StateOn || d > f.delay+250*time.Millisecond {
		t.Errorf("%+v after %s", sc, d)
	}
	if m := f.maxRun.Load(); m > 4 {
		t.Errorf("%d rounds of one machine at once, want at most 4", m)
	}
}

// No more rounds run at once than Concurrency, and every machine gets its
// rounds anyway.
func TestWatcherConcurrency(t *testing.T) {
	f := newFakeNet()
	f.delay = 20 * time.Millisecond
	c := newChanges()
	w := startWatcher(t, probe.WatchOptions{Probe: f.probe, Rest: 100 * time.Millisecond, Concurrency: 8, OnChange: c.add})
	const n = 200
	for i := range n {
		name := "m" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		f.set(name, true)
		w.Watch(probe.Target{Name: name})
	}
	seen := map[string]bool{}
	deadline := time.After(5 * time.Second)
	for len(seen) < n {
		select {
		case sc := <-c.ch:
			seen[sc.Machine] = true
		case <-deadline:
			t.Fatalf("%d of %d machines got a state", len(seen), n)
		}
	}
	if m := f.maxRun.Load(); m > 8 {
		t.Errorf("%d rounds at once, want at most 8", m)
	}
}

// A restarted hub passes the last known state: no spurious change.
func TestWatcherInitialState(t *testing.T) {
	f := newFakeNet()
	f.set("pc", true)
	c := newChanges()
	w := startWatcher(t, probe.WatchOptions{Probe: f.probe, Rest: 50 * time.Millisecond, OnChange: c.add})
	w.Watch(probe.Target{Name: "pc", Initial: moonwake.StateOn, InitialSince: time.Unix(1000, 0)})
	deadline := time.Now().Add(2 * time.Second)
	for f.count("pc") < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case sc := <-c.ch:
		t.Fatalf("change %+v", sc)
	default:
	}
	if st, _ := w.Status("pc"); st.State != moonwake.StateOn || !st.Since.Equal(time.Unix(1000, 0)) {
		t.Errorf("status %+v", st)
	}
}

// A Watcher stopped and run again keeps its machines.
func TestWatcherRunAgain(t *testing.T) {
	f := newFakeNet()
	f.set("pc", true)
	c := newChanges()
	w := probe.NewWatcher(probe.WatchOptions{Probe: f.probe, Rest: 50 * time.Millisecond, OnChange: c.add})
	w.Watch(probe.Target{Name: "pc"})
	for i := range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		if err := w.Run(ctx); err != nil {
			t.Fatal(err)
		}
		cancel()
		if i == 0 {
			c.wait(t, "pc", time.Second)
		}
	}
	if n := f.count("pc"); n < 6 {
		t.Errorf("%d rounds in two runs of 300ms at 50ms", n)
	}
	if st, _ := w.Status("pc"); st.State != moonwake.StateOn {
		t.Errorf("status %+v", st)
	}
}

func TestWatcherRunTwice(t *testing.T) {
	f := newFakeNet()
	w := startWatcher(t, probe.WatchOptions{Probe: f.probe})
	time.Sleep(10 * time.Millisecond)
	if err := w.Run(context.Background()); err == nil {
		t.Error("a second Run started")
	}
	if err := probe.NewWatcher(probe.WatchOptions{}).Run(context.Background()); err == nil {
		t.Error("Run without Probe started")
	}
}

// TestWatcherLateRoundConfirms: two rounds that end together may end in
// the other order; the older one, ending after the newer spoke, is still a
// look of its own and confirms the change the newer one saw, so a PC that
// went dark is off after both, not after a third. It never undoes one.
func TestWatcherLateRoundConfirms(t *testing.T) {
	for _, lateSays := range []bool{false, true} { // the late round finds nothing, or an answer
		var mu sync.Mutex
		up := true
		var held chan struct{} // the first dark round waits on it
		probeFn := func(ctx context.Context, tg probe.Target) moonwake.Evidence {
			mu.Lock()
			u, h := up, held
			if !u && h != nil {
				held = nil // only the first dark round is held
			}
			mu.Unlock()
			o := moonwake.OutcomeOpen
			if !u {
				o = moonwake.OutcomeTimeout
				if h != nil {
					<-h
					if lateSays {
						o = moonwake.OutcomeOpen
					}
				}
			}
			return moonwake.Evidence{At: time.Now(), TCP: []moonwake.TCPResult{{Port: 47989, Outcome: o}}}
		}
		c := newChanges()
		w := startWatcher(t, probe.WatchOptions{Probe: probeFn, Rest: time.Hour, Fast: time.Hour, OnChange: c.add})
		w.Watch(probe.Target{Name: "pc"})
		w.ProbeNow("pc")
		if sc := c.wait(t, "pc", 2*time.Second); sc.To != moonwake.StateOn {
			t.Fatalf("%+v", sc)
		}
		release := make(chan struct{})
		mu.Lock()
		up, held = false, release
		mu.Unlock()
		w.ProbeNow("pc") // the first dark round: held
		for {            // it has started once held is taken
			mu.Lock()
			h := held
			mu.Unlock()
			if h == nil {
				break
			}
			time.Sleep(time.Millisecond)
		}
		w.ProbeNow("pc") // the second: ends first, a change seen, not confirmed
		for {
			st, _ := w.Status("pc")
			if st.Checked.After(time.Time{}) && st.Evidence.TCP[0].Outcome == moonwake.OutcomeTimeout {
				break
			}
			time.Sleep(time.Millisecond)
		}
		close(release) // the first ends last
		if lateSays {
			select {
			case sc := <-c.ch:
				t.Fatalf("a late answer changed the state: %+v", sc)
			case <-time.After(200 * time.Millisecond):
			}
			if st, _ := w.Status("pc"); st.State != moonwake.StateOn {
				t.Fatalf("state %s, want still on", st.State)
			}
			continue
		}
		sc := c.wait(t, "pc", 2*time.Second)
		if sc.To != moonwake.StateOff || sc.Evidence.TCP[0].Outcome != moonwake.OutcomeTimeout {
			t.Fatalf("%+v", sc)
		}
	}
}
