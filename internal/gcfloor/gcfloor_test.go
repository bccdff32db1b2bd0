package gcfloor

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func TestPercentFor(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		floor, live uint64
		want        int
	}{
		{32 * mib, 2 * mib, 1500},  // goal 32 MiB
		{32 * mib, 3 * mib, 967},   // 3 MiB × 10.67 ≥ 32 MiB
		{32 * mib, 16 * mib, 100},  // GOGC's own goal, 32 MiB, is enough
		{32 * mib, 100 * mib, 100}, // a big heap: as Go would
		{32 * mib, 0, 100},         // nothing measured yet
		{32 * mib, 1, 1e6},         // capped
		{0, 2 * mib, 100},
	} {
		if got := percentFor(tc.floor, tc.live); got != tc.want {
			t.Errorf("percentFor(%d, %d) = %d, want %d", tc.floor, tc.live, got, tc.want)
		}
		if got := percentFor(tc.floor, tc.live); tc.live > 0 && tc.floor > 0 {
			goal := float64(tc.live) * (1 + float64(got)/100)
			if goal < float64(tc.floor) && got < 1e6 {
				t.Errorf("percentFor(%d, %d) = %d: goal %.0f below the floor", tc.floor, tc.live, got, goal)
			}
		}
	}
}

// The floor is on while collections come more often than Busy, and off
// once they are further apart than Idle; in between it stays as it was.
func TestFloorOnlyWhileBusy(t *testing.T) {
	t.Setenv("GOGC", "")
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	runtime.GC() // so that there is a live heap to measure
	f := &Floor{bytes: 1 << 40, sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
	percent := func() int { p := debug.SetGCPercent(100); debug.SetGCPercent(p); return p }
	t0 := time.Now()
	f.last = t0
	f.collected(t0.Add(Idle + time.Second)) // rare: Go's own
	if p := percent(); p != 100 {
		t.Fatalf("percent %d after a rare collection, want 100", p)
	}
	f.collected(t0.Add(Idle + time.Second + Busy/2)) // often: the floor
	if p := percent(); p <= 100 {
		t.Fatalf("percent %d after collections %s apart, want the floor's", p, Busy/2)
	}
	f.collected(t0.Add(Idle + 2*time.Second)) // between: as it was
	if p := percent(); p <= 100 {
		t.Fatalf("percent %d after collections 1s apart, want it kept", p)
	}
	f.collected(t0.Add(2*Idle + 3*time.Second)) // rare again
	if p := percent(); p != 100 {
		t.Fatalf("percent %d once collections became rare, want 100", p)
	}
}

// The percent follows each collection, and Stop leaves it be.
func TestFloorFollowsCollections(t *testing.T) {
	t.Setenv("GOGC", "")
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	f := Start(256 << 20)
	if f == nil {
		t.Fatal("Start returned nil without GOGC")
	}
	defer f.Stop()
	deadline := time.Now().Add(5 * time.Second)
	for {
		runtime.GC()
		time.Sleep(10 * time.Millisecond) // the finalizer runs after the collection
		if p := debug.SetGCPercent(-1); p > 100 {
			debug.SetGCPercent(p)
			break
		} else {
			debug.SetGCPercent(p)
		}
		if time.Now().After(deadline) {
			t.Fatal("the percent stayed at 100 with a 256 MiB floor and a small heap")
		}
	}
	f.Stop()
	debug.SetGCPercent(100)
	runtime.GC()
	time.Sleep(10 * time.Millisecond)
	runtime.GC()
	time.Sleep(10 * time.Millisecond)
	if p := debug.SetGCPercent(100); p != 100 {
		t.Errorf("percent %d after Stop, want it left at 100", p)
	}
}

func TestGOGCSetLeavesItAlone(t *testing.T) {
	t.Setenv("GOGC", "100")
	if f := Start(256 << 20); f != nil {
		f.Stop()
		t.Fatal("Start adjusted the collector although GOGC is set")
	}
}
