package httpapi

import (
	"time"

	"github.com/moonwake/moonwake/internal/ratelimit"
)

// maxBuckets bounds the keys each limiter remembers.
const maxBuckets = 10000

// limiter keeps one token bucket per token ID or per client address (an
// IPv6 client's /64, see ratelimit.AddrKey).
type limiter struct {
	k     *ratelimit.Keyed
	addrs bool // keys are client addresses
}

func newLimiter(perMinute float64, burst int) *limiter {
	return &limiter{k: ratelimit.New(perMinute, burst, maxBuckets)}
}

// newAddrLimiter returns a limiter keyed by client address.
func newAddrLimiter(perMinute float64, burst int) *limiter {
	return &limiter{k: ratelimit.New(perMinute, burst, maxBuckets), addrs: true}
}

func (l *limiter) key(k string) string {
	if l.addrs {
		return ratelimit.AddrKey(k)
	}
	return k
}

// allow takes one request from key's bucket. When the bucket is empty it
// reports false and how many seconds until the next request is allowed.
func (l *limiter) allow(key string) (bool, float64) {
	ok, wait := l.k.Allow(l.key(key), time.Now())
	return ok, wait.Seconds()
}

// exhausted reports whether key's bucket is empty, without taking from it.
func (l *limiter) exhausted(key string) bool { return l.k.Exhausted(l.key(key)) }
