// Package events numbers, stores and fans out what happens to machines:
// state changes and action progress. Subscribers (the server-sent event
// stream, later MQTT and CloudEvents) get every event in order, and a
// subscriber that reconnects resumes after the last event it saw.
package events

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/moonwake/moonwake"
)

// Broker assigns sequence numbers, queues events for storage and delivers
// them to subscribers. It is safe for concurrent use.
type Broker struct {
	store moonwake.EventService
	now   func() time.Time

	mu   sync.Mutex
	seq  int64
	subs map[*Subscription]struct{}
}

// NewBroker returns a broker whose numbering continues after the events
// already in store.
func NewBroker(ctx context.Context, store moonwake.EventService, now func() time.Time) (*Broker, error) {
	seq, err := store.LastEventSeq(ctx)
	if err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	return &Broker{store: store, now: now, seq: seq, subs: map[*Subscription]struct{}{}}, nil
}

// Publish records an event of type typ about machine with payload v, and
// delivers it to every subscriber. Storage happens in the background, in
// order with the hub's other writes; delivery is immediate.
func (b *Broker) Publish(typ, machine string, v any) (*moonwake.Event, error) {
	var data []byte
	if a, ok := v.(*moonwake.Action); ok {
		data = a.AppendJSON(nil) // one per action: no reflection
	} else {
		var err error
		if data, err = json.Marshal(v); err != nil {
			return nil, fmt.Errorf("publish %s event: %w", typ, err)
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seq++
	e := &moonwake.Event{Seq: b.seq, At: b.now().UTC(), Type: typ, Machine: machine, Data: data}
	b.store.QueueEvent(e)
	for s := range b.subs {
		s.offer(e)
	}
	return e, nil
}

// Subscription is a stream of events. Read C until it is closed: it closes
// when the subscriber falls too far behind (Lagged then reports true) or
// when Close is called.
type Subscription struct {
	C      <-chan *moonwake.Event
	c      chan *moonwake.Event
	filter func(*moonwake.Event) bool
	b      *Broker
	once   sync.Once
	lagged bool
}

// subBuffer is how many events a subscriber may fall behind before it is
// cut off; it then reconnects and resumes from storage.
const subBuffer = 1024

// offer delivers e without blocking; b.mu is held.
func (s *Subscription) offer(e *moonwake.Event) {
	if s.filter != nil && !s.filter(e) {
		return
	}
	select {
	case s.c <- e:
	default:
		s.lagged = true
		s.closeLocked()
	}
}

func (s *Subscription) closeLocked() {
	s.once.Do(func() {
		delete(s.b.subs, s)
		close(s.c)
	})
}

// Close ends the subscription.
func (s *Subscription) Close() {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	s.closeLocked()
}

// Lagged reports whether the subscription was cut off for falling behind.
func (s *Subscription) Lagged() bool {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	return s.lagged
}

// Subscribe returns the stored events after seq that pass filter (nil:
// all), then every new one. There are no gaps and no repeats between the
// two.
func (b *Broker) Subscribe(ctx context.Context, after int64, filter func(*moonwake.Event) bool) (past []*moonwake.Event, sub *Subscription, err error) {
	c := make(chan *moonwake.Event, subBuffer)
	sub = &Subscription{C: c, c: c, filter: filter, b: b}
	// Register first, so nothing published while we read history is lost.
	b.mu.Lock()
	b.subs[sub] = struct{}{}
	upTo := b.seq
	b.mu.Unlock()
	if after < 0 || after > upTo {
		after = upTo // an id from another hub or the future: start now
	}
	// A store that can say when its queued writes are done spares the
	// guessing: what it lacks then was lost, however slow its disk.
	settled := false
	if st, ok := b.store.(settler); ok && after < upTo {
		settled = st.SettleEvents(ctx) == nil
	}
	for after < upTo {
		evs, err := b.waitListed(ctx, after, upTo, settled)
		if err != nil {
			sub.Close()
			return nil, nil, err
		}
		if len(evs) == 0 {
			break
		}
		for _, e := range evs {
			if e.Seq > upTo {
				// Past upTo: what is missing below it was never
				// stored (a background write failed), and listing
				// again would find the same events forever.
				after = upTo
				break
			}
			if filter == nil || filter(e) {
				past = append(past, e)
			}
			after = e.Seq
		}
	}
	return past, sub, nil
}

// settler is a store that can wait for the events queued to it to be
// stored or lost (sqlite.EventService).
type settler interface {
	SettleEvents(ctx context.Context) error
}

// waitListed lists stored events after seq. Events up to upTo were queued
// for storage before the subscription began. When settled, they are all
// stored or lost, and one listing is the answer; otherwise they are
// committed within milliseconds as a rule: if the newest is not there yet,
// wait briefly for it.
func (b *Broker) waitListed(ctx context.Context, after, upTo int64, settled bool) ([]*moonwake.Event, error) {
	for i := 0; ; i++ {
		evs, err := b.store.ListEvents(ctx, moonwake.EventFilter{After: after, Limit: 1000})
		if err != nil {
			return nil, err
		}
		if settled || len(evs) == 1000 || (len(evs) > 0 && evs[len(evs)-1].Seq >= upTo) || i >= 50 {
			return evs, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Seq returns the last sequence number given.
func (b *Broker) Seq() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.seq
}
