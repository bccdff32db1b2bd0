// Package cloudevents sends what happens on the hub as CloudEvents, over
// the HTTP binding in binary content mode, to a sink: a Knative Broker (its
// URL injected by a SinkBinding as K_SINK) or any URL in events.sink.
//
// Power-state changes become dev.moonwake.machine.state.changed; actions
// become dev.moonwake.action.started, .succeeded and .failed. Each event's
// data is the JSON the API and its event stream give (a StateChange or an
// Action); its source names the hub and the machine, its subject the
// machine, and its extensions the ids the API uses (moonwakeseq, the
// event stream's id; moonwakeaction, the action's id) and the action's
// kind (moonwakekind), for filters.
//
// The Sender is a subscriber of the event broker, like the Home Assistant
// bridge: it never blocks the broker or slows an action. Events wait in a
// bounded queue for one delivery loop, which retries with backoff; when the
// queue is full the oldest event is dropped, counted and logged.
package cloudevents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/hub/events"
)

// Types of the events the hub sends.
const (
	TypeStateChanged    = "dev.moonwake.machine.state.changed"
	TypeActionStarted   = "dev.moonwake.action.started"
	TypeActionSucceeded = "dev.moonwake.action.succeeded"
	TypeActionFailed    = "dev.moonwake.action.failed"
)

// Extension attributes: the ids the API uses.
const (
	ExtSeq    = "moonwakeseq"    // the event's number in GET /api/v1/events (its SSE id)
	ExtAction = "moonwakeaction" // the action's id in GET /api/v1/actions/{id}
	// ExtKind is the action's kind (wake, shutdown …), so that a Knative
	// Trigger, which filters on attributes only, can pick failed shutdowns.
	ExtKind = "moonwakekind"
)

// Default bounds, for options left zero.
const (
	DefaultRetries  = 5
	DefaultRetryMin = 500 * time.Millisecond
	DefaultRetryMax = 30 * time.Second
	DefaultQueue    = 1000
	DefaultTimeout  = 10 * time.Second
)

// Options configure a Sender.
type Options struct {
	Sink   string         // the URL events are POSTed to
	HubID  string         // names this hub in every event's source
	Events *events.Broker // the events to send
	// Retries is how many times a failed delivery is tried again
	// (DefaultRetries when 0, none when negative); the waits between
	// tries double from RetryMin up to RetryMax, with jitter.
	Retries            int
	RetryMin, RetryMax time.Duration
	// Queue is how many events wait at most (DefaultQueue when 0).
	Queue int
	// Extensions are extension attributes added to every event (a
	// SinkBinding's ceOverrides); the hub's own come after and win.
	Extensions map[string]string
	// Client sends the requests (a client with DefaultTimeout when nil).
	Client *http.Client
	Logger *slog.Logger
	// Now is the clock (time.Now when nil): an action that started before
	// the Sender did was announced by the hub's previous run.
	Now func() time.Time
}

// Stats counts what happened to the events.
type Stats struct {
	Sent    uint64 // accepted by the sink
	Retried uint64 // tries again after a failure
	Dropped uint64 // never delivered: the queue overflowed, or the sink refused or failed every try
}

// Sender follows the event broker and delivers CloudEvents to the sink.
// Build it with New and run Run; it is safe for concurrent use.
type Sender struct {
	o     Options
	log   *slog.Logger
	start time.Time
	after int64 // the broker's last event when New was called: follow starts after it

	mu      sync.Mutex
	queue   []*event.Event // oldest first, at most o.Queue
	ready   chan struct{}  // a nudge: the queue has events
	stats   Stats
	started map[string]bool // running actions announced as started
	lastLog time.Time       // of the last drop log: drops are logged once a minute
}

// New returns a Sender, or an error if the options cannot work.
func New(o Options) (*Sender, error) {
	if o.Sink == "" {
		return nil, errors.New("cloudevents: no sink")
	}
	if o.Events == nil {
		return nil, errors.New("cloudevents: no event broker")
	}
	if o.Retries == 0 {
		o.Retries = DefaultRetries
	}
	if o.RetryMin <= 0 {
		o.RetryMin = DefaultRetryMin
	}
	if o.RetryMax <= 0 {
		o.RetryMax = DefaultRetryMax
	}
	o.RetryMin = min(o.RetryMin, o.RetryMax)
	if o.Queue <= 0 {
		o.Queue = DefaultQueue
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: DefaultTimeout}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Sender{
		o: o, log: log.With("component", "cloudevents"), start: o.Now(), after: o.Events.Seq(),
		ready: make(chan struct{}, 1), started: map[string]bool{},
	}, nil
}

// Stats returns the counts so far.
func (s *Sender) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Run follows the broker and delivers until ctx ends. Events still queued
// then are not sent.
func (s *Sender) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { s.follow(ctx) })
	s.deliver(ctx)
	wg.Wait()
}

// follow moves the broker's events into the queue. It only converts and
// appends, so it keeps up with the broker; if it falls behind anyway, it
// subscribes again after the last event it saw and the broker replays the
// missed ones from storage.
func (s *Sender) follow(ctx context.Context) {
	relevant := func(e *moonwake.Event) bool {
		return e.Type == moonwake.EventState || e.Type == moonwake.EventAction
	}
	after := s.after
	for ctx.Err() == nil {
		past, sub, err := s.o.Events.Subscribe(ctx, after, relevant)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Error("subscribe to events", "error", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		for _, e := range past {
			s.observe(e)
			after = e.Seq
		}
	read:
		for {
			select {
			case <-ctx.Done():
				sub.Close()
				return
			case e, ok := <-sub.C:
				if !ok {
					break read
				}
				s.observe(e)
				after = e.Seq
			}
		}
		sub.Close()
		s.log.Warn("fell behind the hub's events; catching up from the event history", "after", after)
	}
}

// observe turns a broker event into CloudEvents and queues them.
func (s *Sender) observe(e *moonwake.Event) {
	evs, err := s.convert(e)
	if err != nil {
		s.log.Error("convert event", "seq", e.Seq, "type", e.Type, "error", err)
		return
	}
	for _, ev := range evs {
		s.enqueue(ev)
	}
}

// convert returns the CloudEvents of e: one for a state change; for an
// action, started when it is first seen (unless the previous run of the hub
// announced it), and succeeded or failed when it ends. Progress of a
// running action (another burst, another request) sends nothing.
func (s *Sender) convert(e *moonwake.Event) ([]*event.Event, error) {
	switch e.Type {
	case moonwake.EventState:
		var sc moonwake.StateChange
		if err := json.Unmarshal(e.Data, &sc); err != nil {
			return nil, fmt.Errorf("state event: %w", err)
		}
		at := sc.At // when the evidence changed
		if at.IsZero() {
			at = e.At
		}
		ev := s.newEvent(strconv.FormatInt(e.Seq, 10), TypeStateChanged, e, at)
		if err := ev.SetData(event.ApplicationJSON, []byte(e.Data)); err != nil {
			return nil, err
		}
		return []*event.Event{ev}, nil
	case moonwake.EventAction:
		var a moonwake.Action
		if err := json.Unmarshal(e.Data, &a); err != nil {
			return nil, fmt.Errorf("action event: %w", err)
		}
		if a.ID == "" {
			return nil, errors.New("action event without an id")
		}
		var out []*event.Event
		add := func(typ, phase string, at time.Time) error {
			ev := s.newEvent(a.ID+"."+phase, typ, e, at)
			ev.SetExtension(ExtAction, a.ID)
			ev.SetExtension(ExtKind, a.Kind)
			if err := ev.SetData(event.ApplicationJSON, []byte(e.Data)); err != nil {
				return err
			}
			out = append(out, ev)
			return nil
		}
		s.mu.Lock()
		announce := !s.started[a.ID] && !a.CreatedAt.Before(s.start)
		if a.Done() {
			delete(s.started, a.ID)
		} else {
			s.started[a.ID] = true
		}
		s.mu.Unlock()
		if announce {
			if err := add(TypeActionStarted, "started", a.CreatedAt); err != nil {
				return nil, err
			}
		}
		if a.Done() {
			typ, phase := TypeActionSucceeded, "succeeded"
			if a.Status == moonwake.StatusFailed {
				typ, phase = TypeActionFailed, "failed"
			}
			at := e.At
			if a.FinishedAt != nil {
				at = *a.FinishedAt
			}
			if err := add(typ, phase, at); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return nil, nil
}

// newEvent returns a CloudEvent of the hub's event e, without data.
func (s *Sender) newEvent(id, typ string, e *moonwake.Event, at time.Time) *event.Event {
	ev := event.New(event.CloudEventsVersionV1)
	ev.SetID(id)
	ev.SetType(typ)
	ev.SetSource(Source(s.o.HubID, e.Machine))
	ev.SetSubject(e.Machine)
	ev.SetTime(at.UTC())
	for k, v := range s.o.Extensions {
		ev.SetExtension(k, v)
	}
	ev.SetExtension(ExtSeq, strconv.FormatInt(e.Seq, 10))
	return &ev
}

// Source is the source of the events about machine on the hub hubID.
func Source(hubID, machine string) string {
	return "moonwake://" + hubID + "/machines/" + machine
}

// enqueue appends ev, dropping the oldest event when the queue is full.
func (s *Sender) enqueue(ev *event.Event) {
	s.mu.Lock()
	if len(s.queue) >= s.o.Queue {
		dropped := s.queue[0]
		s.queue[0] = nil
		s.queue = s.queue[1:]
		s.dropLocked("the queue is full", dropped, nil)
	}
	s.queue = append(s.queue, ev)
	s.mu.Unlock()
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// dropLocked counts a dropped event and logs it, at most once a minute
// with the count so far, so a sink that is down does not flood the log.
func (s *Sender) dropLocked(why string, ev *event.Event, err error) {
	s.stats.Dropped++
	now := time.Now()
	if now.Sub(s.lastLog) < time.Minute {
		return
	}
	s.lastLog = now
	args := []any{"why", why, "type", ev.Type(), "id", ev.ID(), "dropped_so_far", s.stats.Dropped}
	if err != nil {
		args = append(args, "error", err)
	}
	s.log.Warn("CloudEvent dropped", args...)
}

// next takes the oldest queued event, waiting until there is one or ctx
// ends.
func (s *Sender) next(ctx context.Context) *event.Event {
	for {
		s.mu.Lock()
		if len(s.queue) > 0 {
			ev := s.queue[0]
			s.queue[0] = nil
			s.queue = s.queue[1:]
			s.mu.Unlock()
			return ev
		}
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil
		case <-s.ready:
		}
	}
}

// deliver sends the queued events in order, one at a time, until ctx ends.
func (s *Sender) deliver(ctx context.Context) {
	for {
		ev := s.next(ctx)
		if ev == nil {
			return
		}
		s.send(ctx, ev)
	}
}

// send delivers ev, trying again with backoff while the failure may pass.
func (s *Sender) send(ctx context.Context, ev *event.Event) {
	wait := s.o.RetryMin
	for try := 0; ; try++ {
		err := s.post(ctx, ev)
		if err == nil {
			s.mu.Lock()
			s.stats.Sent++
			s.mu.Unlock()
			return
		}
		if ctx.Err() != nil {
			return
		}
		var perm permanentError
		if errors.As(err, &perm) || try >= s.o.Retries {
			why := "the sink failed every try"
			if errors.As(err, &perm) {
				why = "the sink refused it"
			}
			s.mu.Lock()
			s.dropLocked(why, ev, err)
			s.mu.Unlock()
			return
		}
		s.log.Debug("CloudEvent delivery failed; trying again", "type", ev.Type(), "id", ev.ID(), "try", try+1, "in", wait, "error", err)
		s.mu.Lock()
		s.stats.Retried++
		s.mu.Unlock()
		// Full jitter over the upper half: senders that failed together
		// do not come back together.
		d := wait/2 + rand.N(wait/2+1)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(2*wait, s.o.RetryMax)
	}
}

// permanentError is a failure that trying again would not change.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// post sends ev once, in binary content mode. A 2xx is a delivery; 408,
// 429 and 5xx, and network errors, may pass; any other status is final.
func (s *Sender) post(ctx context.Context, ev *event.Event) error {
	req, err := cehttp.NewHTTPRequestFromEvent(ctx, s.o.Sink, *ev)
	if err != nil {
		return permanentError{fmt.Errorf("invalid CloudEvent: %w", err)}
	}
	resp, err := s.o.Client.Do(req)
	if err != nil {
		// A *url.Error repeats the sink's URL, whose query or user info
		// may hold a secret: keep the cause, not the URL.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = fmt.Errorf("%s the sink: %w", ue.Op, ue.Err)
		}
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // reuse the connection
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return nil
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		return fmt.Errorf("sink answered %d %s", code, http.StatusText(code))
	default:
		return permanentError{fmt.Errorf("sink answered %d %s", code, http.StatusText(code))}
	}
}
