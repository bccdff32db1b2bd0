package httpapi

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiter keeps one token bucket per key (a token ID or a client address).
// Buckets that have refilled are forgotten when the map grows, so an attacker
// cycling addresses costs memory only while their buckets are draining.
type limiter struct {
	every rate.Limit
	burst int

	mu       sync.Mutex
	buckets  map[string]*rate.Limiter
	swept    time.Time
	overflow *rate.Limiter // shared by new keys while the map is full
}

func newLimiter(perMinute float64, burst int) *limiter {
	return &limiter{
		every:    rate.Limit(perMinute / 60),
		burst:    burst,
		buckets:  map[string]*rate.Limiter{},
		overflow: rate.NewLimiter(rate.Limit(perMinute/60), burst),
	}
}

// maxBuckets is the size at which full buckets are swept.
const maxBuckets = 10000

// allow takes one request from key's bucket. When the bucket is empty it
// reports false and how many seconds until the next request is allowed.
func (l *limiter) allow(key string) (bool, float64) {
	now := time.Now()
	l.mu.Lock()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= maxBuckets && now.Sub(l.swept) > time.Second {
			l.sweep(now)
			l.swept = now
		}
		if len(l.buckets) < maxBuckets {
			b = rate.NewLimiter(l.every, l.burst)
			l.buckets[key] = b
		} else {
			// Full of buckets still draining (many addresses at once):
			// newcomers share one, so memory stays bounded.
			b = l.overflow
		}
	}
	l.mu.Unlock()
	r := b.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d.Seconds()
	}
	return true, 0
}

// sweep drops buckets that are full again: forgetting them changes nothing.
func (l *limiter) sweep(now time.Time) {
	for k, b := range l.buckets {
		if b.TokensAt(now) >= float64(l.burst) {
			delete(l.buckets, k)
		}
	}
}

// exhausted reports whether key's bucket is empty, without taking from it.
func (l *limiter) exhausted(key string) bool {
	l.mu.Lock()
	b := l.buckets[key]
	l.mu.Unlock()
	return b != nil && b.Tokens() < 1
}
