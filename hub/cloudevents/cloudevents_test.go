package cloudevents_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/hub/cloudevents"
	"github.com/moonwake/moonwake/hub/events"
	"github.com/moonwake/moonwake/hub/sqlite"
	"github.com/moonwake/moonwake/internal/testlan"
)

// sink is a real HTTP server that reads CloudEvents with sdk-go. Its
// answer function decides each request's status (200 when nil).
type sink struct {
	*httptest.Server
	mu     sync.Mutex
	got    []received
	tries  int
	answer func(try int) int
	more   chan struct{}
}

type received struct {
	ev     *event.Event
	header http.Header
}

func newSink(t *testing.T, answer func(try int) int) *sink {
	s := &sink{answer: answer, more: make(chan struct{}, 1000)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ev, err := cehttp.NewEventFromHTTPRequest(r)
		if err != nil {
			t.Errorf("sink: not a CloudEvent: %v", err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.tries++
		status := http.StatusOK
		if s.answer != nil {
			status = s.answer(s.tries)
		}
		if status < 300 {
			s.got = append(s.got, received{ev, r.Header.Clone()})
		}
		s.mu.Unlock()
		w.WriteHeader(status)
		s.more <- struct{}{}
	}))
	t.Cleanup(s.Close)
	return s
}

// wait returns the first n events the sink accepted, or fails the test
// after a generous time.
func (s *sink) wait(t *testing.T, n int) []received {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		s.mu.Lock()
		if len(s.got) >= n {
			got := append([]received(nil), s.got...)
			s.mu.Unlock()
			return got
		}
		s.mu.Unlock()
		select {
		case <-s.more:
		case <-deadline:
			t.Fatalf("the sink got %d events, want %d", len(s.got), n)
		}
	}
}

func newBroker(t *testing.T) *events.Broker {
	t.Helper()
	db := sqlite.NewDB(t.TempDir() + "/db")
	if err := db.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	b, err := events.NewBroker(context.Background(), sqlite.NewEventService(db), nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// run starts a Sender with o on b and returns it; it stops with the test.
func run(t *testing.T, o cloudevents.Options) *cloudevents.Sender {
	t.Helper()
	if o.HubID == "" {
		o.HubID = "hub1"
	}
	if o.RetryMin == 0 {
		o.RetryMin, o.RetryMax = time.Millisecond, 4*time.Millisecond
	}
	s, err := cloudevents.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return s
}

func publish(t *testing.T, b *events.Broker, typ, machine string, v any) *moonwake.Event {
	t.Helper()
	e, err := b.Publish(typ, machine, v)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestAttributesAndData(t *testing.T) {
	b := newBroker(t)
	sk := newSink(t, nil)
	run(t, cloudevents.Options{Sink: sk.URL, Events: b, Extensions: map[string]string{"cluster": "home", "moonwakeseq": "overridden"}})

	at := time.Date(2026, 12, 4, 20, 0, 0, 0, time.UTC)
	sc := moonwake.StateChange{Machine: "pc", From: moonwake.StateOff, To: moonwake.StateOn, Reason: "tcp 47989 answers", At: at}
	se := publish(t, b, moonwake.EventState, "pc", sc)
	a := &moonwake.Action{ID: "act_1", Kind: moonwake.ActionWake, Machine: "pc", Status: moonwake.StatusRunning, CreatedAt: time.Now().UTC(), Steps: []moonwake.Step{}}
	ae1 := publish(t, b, moonwake.EventAction, "pc", a)
	a.Steps = append(a.Steps, moonwake.Step{Kind: "send"})
	publish(t, b, moonwake.EventAction, "pc", a) // progress: nothing
	a.Status, a.Detail = moonwake.StatusFailed, "pc is still off"
	fin := time.Now().UTC()
	a.FinishedAt = &fin
	ae3 := publish(t, b, moonwake.EventAction, "pc", a)

	got := sk.wait(t, 3)
	time.Sleep(50 * time.Millisecond) // nothing more comes
	if len(sk.got) != 3 {
		t.Fatalf("the sink got %d events, want 3", len(sk.got))
	}
	want := []struct {
		typ, id, seq, action string
		data                 []byte
		time                 time.Time
	}{
		{cloudevents.TypeStateChanged, "1", "1", "", se.Data, at},
		{cloudevents.TypeActionStarted, "act_1.started", "2", "act_1", ae1.Data, a.CreatedAt},
		{cloudevents.TypeActionFailed, "act_1.failed", "4", "act_1", ae3.Data, fin},
	}
	for i, w := range want {
		ev, h := got[i].ev, got[i].header
		if h.Get("Ce-Specversion") != "1.0" || h.Get("Content-Type") != "application/json" {
			t.Errorf("event %d not in binary mode: %v", i, h)
		}
		if ev.Type() != w.typ || ev.ID() != w.id || ev.Subject() != "pc" || ev.Source() != "moonwake://hub1/machines/pc" {
			t.Errorf("event %d: %s %s %s %s", i, ev.Type(), ev.ID(), ev.Subject(), ev.Source())
		}
		if !ev.Time().Equal(w.time) {
			t.Errorf("event %d: time %s, want %s", i, ev.Time(), w.time)
		}
		ext := ev.Extensions()
		if ext["cluster"] != "home" || ext[cloudevents.ExtSeq] != w.seq || (w.action != "" && (ext[cloudevents.ExtAction] != w.action || ext[cloudevents.ExtKind] != "wake")) {
			t.Errorf("event %d: extensions %v", i, ext)
		}
		if string(ev.Data()) != string(w.data) {
			t.Errorf("event %d: data\n got %s\nwant %s", i, ev.Data(), w.data)
		}
	}
	var back moonwake.Action
	if err := json.Unmarshal(got[2].ev.Data(), &back); err != nil || back.ID != "act_1" || back.Status != moonwake.StatusFailed {
		t.Fatalf("action data %s: %v", got[2].ev.Data(), err)
	}
}

// An action that ended at once (already on, refused) is one event: it
// starts and succeeds together.
func TestActionEndedAtOnce(t *testing.T) {
	b := newBroker(t)
	sk := newSink(t, nil)
	run(t, cloudevents.Options{Sink: sk.URL, Events: b})
	fin := time.Now().UTC()
	publish(t, b, moonwake.EventAction, "pc", &moonwake.Action{ID: "act_2", Kind: moonwake.ActionWake, Machine: "pc", Status: moonwake.StatusSucceeded, CreatedAt: fin, FinishedAt: &fin})
	got := sk.wait(t, 2)
	if got[0].ev.Type() != cloudevents.TypeActionStarted || got[1].ev.Type() != cloudevents.TypeActionSucceeded {
		t.Fatalf("types %s, %s", got[0].ev.Type(), got[1].ev.Type())
	}
}

// An action that a previous run of the hub started was announced then:
// after a restart it only ends.
func TestActionFromBeforeIsNotStartedAgain(t *testing.T) {
	b := newBroker(t)
	sk := newSink(t, nil)
	run(t, cloudevents.Options{Sink: sk.URL, Events: b})
	old := time.Now().Add(-time.Hour).UTC()
	a := &moonwake.Action{ID: "act_3", Kind: moonwake.ActionShutdown, Machine: "pc", Status: moonwake.StatusRunning, CreatedAt: old}
	publish(t, b, moonwake.EventAction, "pc", a)
	a.Status = moonwake.StatusSucceeded
	publish(t, b, moonwake.EventAction, "pc", a)
	got := sk.wait(t, 1)
	time.Sleep(50 * time.Millisecond)
	if len(sk.got) != 1 || got[0].ev.Type() != cloudevents.TypeActionSucceeded {
		t.Fatalf("got %d events, the first %s", len(sk.got), got[0].ev.Type())
	}
}

// A sink that fails now and then gets each event once, after retries; a
// sink that refuses an event (4xx) is not asked again.
func TestRetries(t *testing.T) {
	b := newBroker(t)
	sk := newSink(t, func(try int) int {
		switch try {
		case 1, 2:
			return http.StatusServiceUnavailable
		case 3:
			return http.StatusTooManyRequests
		case 5:
			return http.StatusBadRequest // the second event: refused for good
		}
		return http.StatusAccepted
	})
	s := run(t, cloudevents.Options{Sink: sk.URL, Events: b})
	for _, m := range []string{"a", "b", "c"} {
		publish(t, b, moonwake.EventState, m, moonwake.StateChange{Machine: m, To: moonwake.StateOn})
	}
	got := sk.wait(t, 2)
	if got[0].ev.Subject() != "a" || got[1].ev.Subject() != "c" {
		t.Fatalf("delivered %s, %s", got[0].ev.Subject(), got[1].ev.Subject())
	}
	eventually(t, func() bool { return s.Stats().Sent == 2 })
	if st := s.Stats(); st.Sent != 2 || st.Retried != 3 || st.Dropped != 1 {
		t.Fatalf("stats %+v", st)
	}
	sk.mu.Lock()
	defer sk.mu.Unlock()
	if sk.tries != 6 {
		t.Fatalf("%d requests, want 6", sk.tries)
	}
}

// A sink that never answers holds up nothing but its own queue: the broker
// and its publishers go on, and the overflow is dropped and counted.
func TestQueueIsBounded(t *testing.T) {
	b := newBroker(t)
	release := make(chan struct{})
	var once sync.Once
	stuck := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(stuck.Close)
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	s := run(t, cloudevents.Options{Sink: stuck.URL, Events: b, Queue: 5})

	const n = 2000 // more than the broker's own buffer for a subscriber
	for i := range n {
		publish(t, b, moonwake.EventState, "pc", moonwake.StateChange{Machine: "pc", To: moonwake.StateOn, Reason: string(rune('a' + i%26))})
	}
	// Every event is either queued (5), in flight (1) or dropped.
	eventually(t, func() bool { return s.Stats().Dropped == n-6 })
	once.Do(func() { close(release) })
	eventually(t, func() bool { return s.Stats().Sent == 6 })
	if st := s.Stats(); st.Sent+st.Dropped != n {
		t.Fatalf("stats %+v: %d events lost without a count", st, n-int(st.Sent+st.Dropped))
	}
}

// eventually waits for cond, generously, or fails the test.
func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("gave up waiting")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestNewNeedsASink(t *testing.T) {
	if _, err := cloudevents.New(cloudevents.Options{Events: newBroker(t)}); err == nil {
		t.Fatal("no error without a sink")
	}
}

// A sink's URL may carry a secret (?token=, user:password@): a failed
// delivery logs why, never the URL.
func TestSinkSecretNotLogged(t *testing.T) {
	b := newBroker(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens: every delivery fails at once
	var logs testlan.Buffer
	s := run(t, cloudevents.Options{Sink: "http://user:hunter2@" + addr + "/hook?token=s3cret", Events: b, Retries: -1,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	publish(t, b, moonwake.EventState, "pc", moonwake.StateChange{Machine: "pc", To: moonwake.StateOn})
	eventually(t, func() bool { return s.Stats().Dropped == 1 })
	out := logs.String()
	if out == "" || strings.Contains(out, "s3cret") || strings.Contains(out, "hunter2") {
		t.Fatalf("log:\n%s", out)
	}
}
