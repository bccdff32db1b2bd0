package httpapi

import (
	"fmt"
	"testing"

	"github.com/moonwake/moonwake"
)

// TestStreamCount: the caps per token, per address (an IPv6 client by its
// /64) and in all, and releases that free places once.
func TestStreamCount(t *testing.T) {
	var c streamCount
	limited := func(err error) bool { return moonwake.ErrorCode(err) == moonwake.ERateLimited }
	var releases []func()
	for i := range maxStreamsPerAddr {
		r, err := c.open(fmt.Sprintf("tok_%d", i), fmt.Sprintf("2001:db8::%x", i+1))
		if err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
		releases = append(releases, r)
	}
	if _, err := c.open("tok_x", "2001:db8::ffff"); !limited(err) {
		t.Fatalf("a 17th stream from one /64: %v", err)
	}
	releases[0]()
	releases[0]() // a second release frees nothing more
	if _, err := c.open("tok_x", "2001:db8::ffff"); err != nil {
		t.Fatalf("after a release: %v", err)
	}
	if _, err := c.open("tok_y", "2001:db8::fffe"); !limited(err) {
		t.Fatalf("a double release freed two places: %v", err)
	}
	for _, limit := range []int{0, 1, 1000} {
		d := streamCount{max: limit}
		want := limit
		if limit == 0 {
			want = DefaultMaxStreams
		}
		for i := range want {
			if _, err := d.open(fmt.Sprintf("t%d", i), fmt.Sprintf("10.0.%d.%d", i/256, i%256)); err != nil {
				t.Fatalf("max %d: stream %d: %v", limit, i, err)
			}
		}
		if _, err := d.open("t-last", "192.0.2.1"); !limited(err) {
			t.Fatalf("max %d: stream %d in all: %v", limit, want+1, err)
		}
	}
}
