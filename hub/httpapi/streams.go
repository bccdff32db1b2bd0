package httpapi

import (
	"sync"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/internal/ratelimit"
)

// Caps on open event streams: each holds a goroutine, buffers and a
// replay, so a token, an address or everyone together cannot open
// unboundedly many (one read-only token opened 1,000 before). The cap on
// all of them is Server.MaxStreams.
const (
	maxStreamsPerToken = 8
	maxStreamsPerAddr  = 16
	// DefaultMaxStreams is the cap on all open event streams when
	// Server.MaxStreams is 0.
	DefaultMaxStreams = 256
)

// streamCount counts the open event streams by token, by client address
// (an IPv6 client by its /64) and in all.
type streamCount struct {
	max   int // in all; 0: DefaultMaxStreams
	mu    sync.Mutex
	byKey map[string]int
	total int
}

// count returns how many streams are open.
func (c *streamCount) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total
}

// open counts a stream of the token from addr and returns its release;
// ERateLimited, saying which cap, when one is reached.
func (c *streamCount) open(tokenID, addr string) (func(), error) {
	kt, ka := "t"+tokenID, "a"+ratelimit.AddrKey(addr)
	limit := c.max
	if limit <= 0 {
		limit = DefaultMaxStreams
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byKey == nil {
		c.byKey = map[string]int{}
	}
	switch {
	case c.byKey[kt] >= maxStreamsPerToken:
		return nil, moonwake.Errorf(moonwake.ERateLimited, "this token has %d event streams open already; close one", maxStreamsPerToken)
	case c.byKey[ka] >= maxStreamsPerAddr:
		return nil, moonwake.Errorf(moonwake.ERateLimited, "this address has %d event streams open already; close one", maxStreamsPerAddr)
	case c.total >= limit:
		return nil, moonwake.Errorf(moonwake.ERateLimited, "the hub has %d event streams open, its most; try again later", limit)
	}
	c.byKey[kt]++
	c.byKey[ka]++
	c.total++
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			for _, k := range []string{kt, ka} {
				if c.byKey[k]--; c.byKey[k] <= 0 {
					delete(c.byKey, k)
				}
			}
			c.total--
		})
	}, nil
}
