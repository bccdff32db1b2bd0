// Package gcfloor keeps the garbage collector's heap goal from falling
// below a floor while the program is busy.
//
// Go collects when the heap has grown by GOGC percent (100) over what the
// last collection found live, and at least every 4 MiB. The hub's live
// heap is a few MiB while it answers tens of thousands of requests a
// second, each allocating a few KiB: it would collect a hundred times a
// second, and on a small machine every collection is felt in the slowest
// answers. While collections come more often than every Busy, the goal is
// the larger of the floor and what GOGC gives: a small heap is collected
// when it reaches the floor, a large one exactly as Go would. Once they
// are further apart than Idle, the goal is Go's own again, so an idle
// program keeps its small heap.
package gcfloor

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
	"time"
)

// Collections closer together than Busy turn the floor on; further apart
// than Idle, off.
const (
	Busy = 100 * time.Millisecond
	Idle = 2 * time.Second
)

// goPercent is GOGC's default, which the floor never goes under.
const goPercent = 100

// percentFor returns the GOGC percent that puts the heap goal at floor
// or, when that is less, at goPercent over live.
func percentFor(floor, live uint64) int {
	if live == 0 || floor <= live {
		return goPercent
	}
	p := (float64(floor)/float64(live) - 1) * 100
	if p <= goPercent {
		return goPercent
	}
	return int(math.Min(math.Ceil(p), 1e6))
}

// Floor holds the heap goal at or above a number of bytes while the
// program is busy. Start it once.
type Floor struct {
	bytes   uint64
	stopped atomic.Bool
	sample  []metrics.Sample
	// Only the finalizer goroutine touches these, one collection at a time.
	last time.Time // the last collection's end, as the finalizer saw it
	busy bool      // the floor is on
}

// Start keeps the heap goal at or above bytes from now on while
// collections come often, by setting the GOGC percent after every
// collection, until Stop. It does nothing and returns nil when GOGC is set
// in the environment: whoever set it chose.
func Start(bytes uint64) *Floor {
	if os.Getenv("GOGC") != "" || bytes == 0 {
		return nil
	}
	f := &Floor{bytes: bytes, sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}, last: time.Now()}
	f.arm()
	return f
}

// Stop leaves the percent as it is and stops adjusting it. A nil Floor
// does nothing.
func (f *Floor) Stop() {
	if f != nil {
		f.stopped.Store(true)
	}
}

// sentinel is garbage as soon as it is made: its finalizer runs after
// each collection, adjusts the percent and makes the next one. It holds a
// pointer so that the allocator never batches it with other small objects.
type sentinel struct{ f *Floor }

func (f *Floor) arm() {
	s := &sentinel{f: f}
	runtime.SetFinalizer(s, func(s *sentinel) {
		if s.f.stopped.Load() {
			return
		}
		s.f.collected(time.Now())
		s.f.arm()
	})
}

// collected sets the percent after a collection that ended about now:
// for what it found live while collections come often, Go's own when they
// have become rare.
func (f *Floor) collected(now time.Time) {
	since := now.Sub(f.last)
	f.last = now
	switch {
	case since < Busy:
		f.busy = true
	case since > Idle:
		f.busy = false
	}
	if !f.busy {
		debug.SetGCPercent(goPercent)
		return
	}
	metrics.Read(f.sample)
	if f.sample[0].Value.Kind() != metrics.KindUint64 {
		return
	}
	debug.SetGCPercent(percentFor(f.bytes, f.sample[0].Value.Uint64()))
}
