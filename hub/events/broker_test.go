package events_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/hub/events"
	"github.com/moonwake/moonwake/hub/sqlite"
)

// openStore opens a SQLite event store in a temporary file.
func openStore(t testing.TB) *sqlite.EventService {
	t.Helper()
	db := sqlite.NewDB(t.TempDir() + "/db")
	db.OnAsyncError = func(err error) { t.Errorf("event write failed: %v", err) }
	if err := db.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	return sqlite.NewEventService(db)
}

func newBroker(t testing.TB, store moonwake.EventService, now func() time.Time) *events.Broker {
	t.Helper()
	b, err := events.NewBroker(context.Background(), store, now)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// memStore is an event store in memory. Events become visible to
// ListEvents after delay; those whose Seq is in drop are never stored, as
// when a background write fails.
type memStore struct {
	mu      sync.Mutex
	evs     []*moonwake.Event
	visible []time.Time
	delay   time.Duration
	drop    map[int64]bool
	lists   int
	onList  func(n int) // called at the start of the nth ListEvents, without mu
	listErr error
	lastErr error
}

func (m *memStore) AppendEvent(ctx context.Context, e *moonwake.Event) error {
	m.QueueEvent(e)
	return nil
}

func (m *memStore) QueueEvent(e *moonwake.Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.drop[e.Seq] {
		return
	}
	c := *e
	m.evs = append(m.evs, &c)
	m.visible = append(m.visible, time.Now().Add(m.delay))
}

func (m *memStore) ListEvents(ctx context.Context, f moonwake.EventFilter) ([]*moonwake.Event, error) {
	m.mu.Lock()
	m.lists++
	n, hook := m.lists, m.onList
	m.mu.Unlock()
	if hook != nil {
		hook(n)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.listErr != nil {
		return nil, m.listErr
	}
	out := []*moonwake.Event{}
	now := time.Now()
	for i, e := range m.evs {
		if now.Before(m.visible[i]) {
			break // committed in order
		}
		if e.Seq > f.After && (f.Machine == "" || e.Machine == f.Machine) && (f.Type == "" || e.Type == f.Type) {
			out = append(out, e)
			if len(out) == f.Limit {
				break
			}
		}
	}
	return out, nil
}

func (m *memStore) LastEventSeq(ctx context.Context) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.lastErr != nil {
		return 0, m.lastErr
	}
	if len(m.evs) == 0 {
		return 0, nil
	}
	return m.evs[len(m.evs)-1].Seq, nil
}

type payload struct {
	N int `json:"n"`
}

// publish publishes n events about machine, numbered from N.
func publish(t testing.TB, b *events.Broker, machine string, from, n int) {
	t.Helper()
	for i := range n {
		if _, err := b.Publish(moonwake.EventState, machine, payload{from + i}); err != nil {
			t.Error(err)
			return
		}
	}
}

// seqs returns the sequence numbers of evs.
func seqs(evs []*moonwake.Event) []int64 {
	out := make([]int64, len(evs))
	for i, e := range evs {
		out[i] = e.Seq
	}
	return out
}

// consecutive reports whether s is from, from+1, … to.
func consecutive(s []int64, from, to int64) error {
	if int64(len(s)) != to-from+1 {
		return fmt.Errorf("%d events, want %d (%d to %d)", len(s), to-from+1, from, to)
	}
	for i, q := range s {
		if q != from+int64(i) {
			return fmt.Errorf("event %d has seq %d, want %d", i, q, from+int64(i))
		}
	}
	return nil
}

// receive reads n events from sub, or fails after 5s.
func receive(t testing.TB, sub *events.Subscription, n int) []*moonwake.Event {
	t.Helper()
	var out []*moonwake.Event
	timeout := time.After(5 * time.Second)
	for len(out) < n {
		select {
		case e, ok := <-sub.C:
			if !ok {
				t.Fatalf("subscription closed after %d of %d events (lagged %v)", len(out), n, sub.Lagged())
			}
			out = append(out, e)
		case <-timeout:
			t.Fatalf("received %d of %d events in 5s", len(out), n)
		}
	}
	return out
}

// quiet checks that sub has nothing more to say for a moment.
func quiet(t testing.TB, sub *events.Subscription) {
	t.Helper()
	select {
	case e, ok := <-sub.C:
		t.Fatalf("unexpected event %+v (open %v)", e, ok)
	case <-time.After(20 * time.Millisecond):
	}
}

func TestPublish(t *testing.T) {
	t.Parallel()
	store := openStore(t)
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.FixedZone("CET", 3600))
	b := newBroker(t, store, func() time.Time { return at })
	if b.Seq() != 0 {
		t.Fatalf("Seq of a new store %d, want 0", b.Seq())
	}
	for i, tc := range []struct {
		typ, machine string
		v            any
		data         string
	}{
		{moonwake.EventState, "pc", moonwake.StateChange{Machine: "pc", To: moonwake.StateOn, Reason: "answered"}, `"to":"on"`},
		{moonwake.EventAction, "pc", &moonwake.Action{ID: "act_1", Kind: moonwake.ActionWake, Status: moonwake.StatusRunning}, `"id":"act_1"`},
		{moonwake.EventState, "nas", payload{3}, `{"n":3}`},
	} {
		e, err := b.Publish(tc.typ, tc.machine, tc.v)
		if err != nil {
			t.Fatal(err)
		}
		if e.Seq != int64(i+1) || e.Type != tc.typ || e.Machine != tc.machine || !e.At.Equal(at) || e.At.Location() != time.UTC {
			t.Errorf("event %d: %+v", i, e)
		}
		if !json.Valid(e.Data) || !strings.Contains(string(e.Data), tc.data) {
			t.Errorf("event %d data %s, want %s in it", i, e.Data, tc.data)
		}
	}
	if _, err := b.Publish(moonwake.EventState, "pc", func() {}); err == nil {
		t.Error("publishing what cannot be encoded: no error")
	}
	if b.Seq() != 3 {
		t.Errorf("Seq %d after 3 events and a failure, want 3", b.Seq())
	}
	e, err := b.Publish(moonwake.EventState, "pc", payload{4})
	if err != nil || e.Seq != 4 {
		t.Fatalf("after a failure: %+v, %v; want seq 4", e, err)
	}

	// Stored in the background, in order.
	var got []*moonwake.Event
	deadline := time.Now().Add(5 * time.Second)
	for len(got) < 4 && time.Now().Before(deadline) {
		if got, err = store.ListEvents(context.Background(), moonwake.EventFilter{}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	if err := consecutive(seqs(got), 1, 4); err != nil {
		t.Fatal(err)
	}
	if got[2].Machine != "nas" || string(got[2].Data) != `{"n":3}` || !got[2].At.Equal(at) {
		t.Errorf("stored %+v", got[2])
	}
}

// Publishers racing get distinct, gapless numbers, delivered in order.
func TestPublishConcurrent(t *testing.T) {
	t.Parallel()
	b := newBroker(t, &memStore{}, nil)
	_, sub, err := b.Subscribe(context.Background(), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	const writers, each = 8, 100
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() { publish(t, b, fmt.Sprint("pc", w), 0, each) })
	}
	wg.Wait()
	if err := consecutive(seqs(receive(t, sub, writers*each)), 1, writers*each); err != nil {
		t.Fatal(err)
	}
	if b.Seq() != writers*each {
		t.Errorf("Seq %d", b.Seq())
	}
}

func TestNewBrokerContinuesNumbering(t *testing.T) {
	t.Parallel()
	store := openStore(t)
	b := newBroker(t, store, nil)
	publish(t, b, "pc", 0, 5)
	// The first broker's events are stored in the background; Subscribe
	// waits for them.
	past, sub, err := b.Subscribe(context.Background(), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	sub.Close()
	if err := consecutive(seqs(past), 1, 5); err != nil {
		t.Fatal(err)
	}

	b2 := newBroker(t, store, nil)
	if b2.Seq() != 5 {
		t.Fatalf("a new broker starts at %d, want 5", b2.Seq())
	}
	e, err := b2.Publish(moonwake.EventState, "pc", payload{6})
	if err != nil || e.Seq != 6 {
		t.Fatalf("%+v, %v; want seq 6", e, err)
	}
	past, sub, err = b2.Subscribe(context.Background(), 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if err := consecutive(seqs(past), 4, 6); err != nil {
		t.Fatal(err)
	}

	if _, err := events.NewBroker(context.Background(), &memStore{lastErr: errors.New("disk on fire")}, nil); err == nil {
		t.Error("NewBroker on a store that cannot be read: no error")
	}
}

func TestSubscribeReplayThenLive(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		after    int64
		from, to int64 // the events replayed; from > to: none
	}{
		{0, 1, 5},
		{2, 3, 5},
		{5, 6, 5},
		{-1, 6, 5}, // nonsense: from now on
		{99, 6, 5}, // from another hub, or the future: from now on
	} {
		t.Run(fmt.Sprint("after ", tc.after), func(t *testing.T) {
			t.Parallel()
			b := newBroker(t, openStore(t), nil)
			publish(t, b, "pc", 1, 5)
			past, sub, err := b.Subscribe(context.Background(), tc.after, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Close()
			if tc.from > tc.to {
				if len(past) != 0 {
					t.Fatalf("replayed %v, want nothing", seqs(past))
				}
			} else if err := consecutive(seqs(past), tc.from, tc.to); err != nil {
				t.Fatal(err)
			}
			var d payload
			if len(past) > 0 && (json.Unmarshal(past[0].Data, &d) != nil || d.N != int(tc.from) || past[0].Type != moonwake.EventState || past[0].Machine != "pc") {
				t.Errorf("replayed %+v", past[0])
			}
			quiet(t, sub)
			e, err := b.Publish(moonwake.EventAction, "pc", payload{0})
			if err != nil {
				t.Fatal(err)
			}
			if got := receive(t, sub, 1)[0]; got != e {
				t.Errorf("live %+v, want %+v", got, e)
			}
			quiet(t, sub)
		})
	}
}

// Events published while Subscribe reads the history are in the history or
// live, never both, never neither.
func TestSubscribeWhilePublishing(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		store func(t *testing.T) moonwake.EventService
	}{
		{"sqlite", func(t *testing.T) moonwake.EventService { return openStore(t) }},
		{"slow store", func(t *testing.T) moonwake.EventService { return &memStore{delay: 20 * time.Millisecond} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := newBroker(t, tc.store(t), nil)
			publish(t, b, "pc", 0, 50)
			const writers, each, subscribers = 4, 150, 6
			total := int64(50 + writers*each)
			var wg sync.WaitGroup
			for w := range writers {
				wg.Go(func() {
					for i := range each {
						publish(t, b, fmt.Sprint("pc", w), i, 1)
						if i%10 == 0 {
							time.Sleep(time.Millisecond)
						}
					}
				})
			}
			errc := make(chan error, subscribers)
			for i := range subscribers {
				wg.Go(func() {
					time.Sleep(time.Duration(i) * 3 * time.Millisecond)
					after := int64(i * 7)
					past, sub, err := b.Subscribe(context.Background(), after, nil)
					if err != nil {
						errc <- err
						return
					}
					defer sub.Close()
					got := seqs(past)
					timeout := time.After(10 * time.Second)
					for len(got) == 0 || got[len(got)-1] < total {
						select {
						case e, ok := <-sub.C:
							if !ok {
								errc <- fmt.Errorf("subscriber %d cut off (lagged %v)", i, sub.Lagged())
								return
							}
							got = append(got, e.Seq)
						case <-timeout:
							errc <- fmt.Errorf("subscriber %d: %d events, last %v", i, len(got), got[len(got)-1:])
							return
						}
					}
					if err := consecutive(got, after+1, total); err != nil {
						errc <- fmt.Errorf("subscriber %d after %d (%d replayed): %v", i, after, len(past), err)
					}
				})
			}
			wg.Wait()
			close(errc)
			for err := range errc {
				t.Error(err)
			}
		})
	}
}

func TestSubscribeFilter(t *testing.T) {
	t.Parallel()
	b := newBroker(t, openStore(t), nil)
	for i := range 10 {
		typ := moonwake.EventState
		if i%3 == 0 {
			typ = moonwake.EventAction
		}
		if _, err := b.Publish(typ, fmt.Sprint("pc", i%2), payload{i}); err != nil {
			t.Fatal(err)
		}
	}
	pc0 := func(e *moonwake.Event) bool { return e.Machine == "pc0" && e.Type == moonwake.EventState }
	past, sub, err := b.Subscribe(context.Background(), 1, pc0)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	// pc0: events 1, 3, 5, 7, 9; actions: 1, 4, 7, 10.
	if got := seqs(past); fmt.Sprint(got) != "[3 5 9]" {
		t.Errorf("replayed %v, want [3 5 9]", got)
	}
	publish(t, b, "pc1", 0, 3)
	publish(t, b, "pc0", 0, 1)
	if _, err := b.Publish(moonwake.EventAction, "pc0", payload{}); err != nil {
		t.Fatal(err)
	}
	publish(t, b, "pc0", 0, 1)
	if got := seqs(receive(t, sub, 2)); fmt.Sprint(got) != "[14 16]" {
		t.Errorf("live %v, want [14 16]", got)
	}
	quiet(t, sub)
}

// A subscriber that stops reading is cut off, not waited for.
func TestLaggingSubscriber(t *testing.T) {
	t.Parallel()
	b := newBroker(t, openStore(t), nil)
	_, slow, err := b.Subscribe(context.Background(), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, fast, err := b.Subscribe(context.Background(), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Close()
	_, filtered, err := b.Subscribe(context.Background(), 0, func(e *moonwake.Event) bool { return e.Machine == "other" })
	if err != nil {
		t.Fatal(err)
	}
	defer filtered.Close()

	// The publisher never waits for the slow subscriber; the fast one
	// reads each chunk as it is published.
	const n, chunk = 3000, 500
	for i := 0; i < n; i += chunk {
		done := make(chan struct{})
		go func() {
			defer close(done)
			publish(t, b, "pc", i, chunk)
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Publish blocked on a subscriber that does not read")
		}
		if err := consecutive(seqs(receive(t, fast, chunk)), int64(i+1), int64(i+chunk)); err != nil {
			t.Fatal(err)
		}
	}
	// The slow one gets what fitted, then its channel closes.
	k := 0
	for e := range slow.C {
		if k++; e.Seq != int64(k) {
			t.Fatalf("event %d has seq %d", k, e.Seq)
		}
	}
	if k == 0 || k >= n || !slow.Lagged() {
		t.Errorf("the slow subscriber got %d of %d events before it was cut off; lagged %v", k, n, slow.Lagged())
	}
	slow.Close() // closing again is harmless
	if fast.Lagged() || filtered.Lagged() {
		t.Error("subscribers that kept up, or were offered nothing, lagged")
	}
	// It reconnects after the last event it saw and misses nothing.
	past, again, err := b.Subscribe(context.Background(), int64(k), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if err := consecutive(seqs(past), int64(k+1), n); err != nil {
		t.Error(err)
	}
}

func TestClose(t *testing.T) {
	t.Parallel()
	b := newBroker(t, &memStore{}, nil)
	_, sub, err := b.Subscribe(context.Background(), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	publish(t, b, "pc", 0, 1)
	sub.Close()
	sub.Close()
	publish(t, b, "pc", 0, 1)
	var got []int64
	for e := range sub.C {
		got = append(got, e.Seq)
	}
	if fmt.Sprint(got) != "[1]" || sub.Lagged() {
		t.Errorf("after Close: %v, lagged %v; want [1], false", got, sub.Lagged())
	}
}

func TestSubscribeStoreTrouble(t *testing.T) {
	t.Parallel()

	t.Run("list fails", func(t *testing.T) {
		t.Parallel()
		store := &memStore{}
		b := newBroker(t, store, nil)
		publish(t, b, "pc", 0, 3)
		store.mu.Lock()
		store.listErr = errors.New("disk on fire")
		store.mu.Unlock()
		if _, _, err := b.Subscribe(context.Background(), 0, nil); err == nil {
			t.Fatal("no error")
		}
	})

	t.Run("ctx ends while waiting for storage", func(t *testing.T) {
		t.Parallel()
		b := newBroker(t, &memStore{delay: time.Hour}, nil)
		publish(t, b, "pc", 0, 3)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
		defer cancel()
		if _, _, err := b.Subscribe(ctx, 0, nil); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err %v, want the deadline", err)
		}
	})

	t.Run("events never stored", func(t *testing.T) {
		t.Parallel()
		b := newBroker(t, &memStore{delay: time.Hour}, nil)
		publish(t, b, "pc", 0, 3)
		start := time.Now()
		past, sub, err := b.Subscribe(context.Background(), 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		if len(past) != 0 || time.Since(start) > 3*time.Second {
			t.Errorf("replayed %v after %s", seqs(past), time.Since(start))
		}
		publish(t, b, "pc", 0, 1)
		if got := receive(t, sub, 1); got[0].Seq != 4 {
			t.Errorf("live %v", seqs(got))
		}
	})

	// An event whose background write failed leaves a hole in the history.
	// Subscribe replays around it, even when newer events are stored
	// meanwhile.
	for _, missing := range []int64{3, 5} {
		t.Run(fmt.Sprint("event ", missing, " lost"), func(t *testing.T) {
			t.Parallel()
			store := &memStore{drop: map[int64]bool{missing: true}, delay: 5 * time.Millisecond}
			b := newBroker(t, store, nil)
			publish(t, b, "pc", 0, 5)
			store.onList = func(n int) {
				if n == 1 {
					publish(t, b, "pc", 0, 1) // event 6, live
				}
			}
			type result struct {
				past []*moonwake.Event
				sub  *events.Subscription
				err  error
			}
			res := make(chan result, 1)
			go func() {
				past, sub, err := b.Subscribe(context.Background(), 0, nil)
				res <- result{past, sub, err}
			}()
			var r result
			select {
			case r = <-res:
			case <-time.After(3 * time.Second):
				t.Fatal("Subscribe did not return")
			}
			if r.err != nil {
				t.Fatal(r.err)
			}
			defer r.sub.Close()
			var want []int64
			for s := int64(1); s <= 5; s++ {
				if s != missing {
					want = append(want, s)
				}
			}
			if got := seqs(r.past); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("replayed %v, want %v", got, want)
			}
			if got := receive(t, r.sub, 1); got[0].Seq != 6 {
				t.Errorf("live %v, want [6]", seqs(got))
			}
		})
	}
}

// More history than one page of the store.
func TestSubscribeLongHistory(t *testing.T) {
	t.Parallel()
	b := newBroker(t, openStore(t), nil)
	publish(t, b, "pc", 0, 2345)
	past, sub, err := b.Subscribe(context.Background(), 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if err := consecutive(seqs(past), 11, 2345); err != nil {
		t.Fatal(err)
	}
}
