// Package ratelimit keeps token buckets by key (a token ID, a client
// address) in a map of bounded size, for the API's and the web app's limits.
package ratelimit

import (
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// sweepEvery is how often, at most, a full map is swept of the buckets that
// have refilled: a flood of new keys does not rescan the map each time.
const sweepEvery = time.Second

// Keyed keeps one token bucket per key. It remembers at most max keys; past
// that, newcomers share one overflow bucket until a sweep forgets buckets
// that have refilled (forgetting them changes nothing), so an attacker
// cycling keys costs memory only while their buckets drain.
type Keyed struct {
	limit rate.Limit
	burst int
	max   int

	mu       sync.Mutex
	buckets  map[string]*rate.Limiter
	overflow *rate.Limiter
	swept    time.Time
}

// New returns buckets that allow perMinute requests a minute, burst at
// once, for at most max keys.
func New(perMinute float64, burst, max int) *Keyed {
	limit := rate.Limit(perMinute / 60)
	return &Keyed{limit: limit, burst: burst, max: max,
		buckets: map[string]*rate.Limiter{}, overflow: rate.NewLimiter(limit, burst)}
}

// Limit is the sustained rate, per second.
func (k *Keyed) Limit() rate.Limit { return k.limit }

// Bucket returns key's bucket, made when key is new.
func (k *Keyed) Bucket(key string, now time.Time) *rate.Limiter {
	k.mu.Lock()
	defer k.mu.Unlock()
	if b := k.buckets[key]; b != nil {
		return b
	}
	if len(k.buckets) >= k.max {
		if now.Sub(k.swept) >= sweepEvery || now.Before(k.swept) {
			k.swept = now
			for key, b := range k.buckets {
				if b.TokensAt(now) >= float64(k.burst) {
					delete(k.buckets, key)
				}
			}
		}
		if len(k.buckets) >= k.max {
			return k.overflow
		}
	}
	b := rate.NewLimiter(k.limit, k.burst)
	k.buckets[key] = b
	return b
}

// Allow takes one request from key's bucket. When it is empty it takes
// nothing and says how long until the next request is allowed.
func (k *Keyed) Allow(key string, now time.Time) (bool, time.Duration) {
	r := k.Bucket(key, now).ReserveN(now, 1)
	if !r.OK() {
		return false, time.Minute
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// Exhausted reports whether key's bucket is empty, without taking from it
// or making one.
func (k *Keyed) Exhausted(key string) bool {
	k.mu.Lock()
	b := k.buckets[key]
	k.mu.Unlock()
	return b != nil && b.Tokens() < 1
}

// Len is the number of keys remembered.
func (k *Keyed) Len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.buckets)
}

// AddrKey is the key of a client address: an IPv4 address itself, an IPv6
// address's /64 (one host usually has a whole /64 to pick from), anything
// else as it is.
func AddrKey(addr string) string {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	p, err := a.WithZone("").Prefix(64)
	if err != nil {
		return addr
	}
	return p.String()
}
