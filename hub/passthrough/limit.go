package passthrough

import (
	"net/netip"
	"sync"
	"time"
)

// bucket is a token bucket; its owner holds the lock.
type bucket struct {
	tokens float64
	at     time.Time
}

// take refills b at rate per second up to burst and takes one token.
func (b *bucket) take(now time.Time, rate, burst float64) bool {
	b.fill(now, rate, burst)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func (b *bucket) fill(now time.Time, rate, burst float64) {
	if !b.at.IsZero() && now.After(b.at) {
		b.tokens += now.Sub(b.at).Seconds() * rate
	}
	if b.tokens > burst {
		b.tokens = burst
	}
	if b.at.IsZero() || now.After(b.at) {
		b.at = now
	}
}

// maxSources is how many source addresses are tracked at once. When a
// flood from more (spoofed) sources fills the table, full buckets are
// forgotten; if none is, new sources are refused until some refill.
const maxSources = 8192

// buckets keeps a token bucket per source address.
type buckets struct {
	rate, burst float64
	mu          sync.Mutex
	m           map[netip.Addr]*bucket
}

func newBuckets(rate, burst float64) *buckets {
	return &buckets{rate: rate, burst: burst, m: map[netip.Addr]*bucket{}}
}

// sourceKey is the key of a source address: an IPv4 address itself, an
// IPv6 address's /64 (one host has a whole /64 to pick from), as the rest
// of the hub keys its clients.
func sourceKey(a netip.Addr) netip.Addr {
	a = a.Unmap().WithZone("")
	if a.Is6() {
		if p, err := a.Prefix(64); err == nil {
			return p.Addr()
		}
	}
	return a
}

func (s *buckets) allow(src netip.Addr, now time.Time) bool {
	src = sourceKey(src)
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.m[src]
	if !ok {
		if len(s.m) >= maxSources {
			for k, x := range s.m {
				if x.fill(now, s.rate, s.burst); x.tokens >= s.burst {
					delete(s.m, k)
				}
			}
			if len(s.m) >= maxSources {
				return false
			}
		}
		b = &bucket{tokens: s.burst, at: now}
		s.m[src] = b
	}
	return b.take(now, s.rate, s.burst)
}
