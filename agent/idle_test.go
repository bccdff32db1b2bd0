package agent

import (
	"errors"
	"runtime"
	"testing"
	"time"
)

func TestParseHIDIdleTime(t *testing.T) {
	d, err := parseHIDIdleTime(readFixture(t, "ioreg/IOHIDSystem.txt"))
	if err != nil || d != 208745083*time.Nanosecond {
		t.Errorf("got %v, %v", d, err)
	}
	if _, err := parseHIDIdleTime(readFixture(t, "ioreg/no-idle.txt")); !errors.Is(err, ErrUnavailable) {
		t.Errorf("no HIDIdleTime: %v", err)
	}
	if _, err := parseHIDIdleTime([]byte(`  "HIDIdleTime" = -5`)); err == nil {
		t.Error("negative parsed")
	}
}

func TestLeastIdle(t *testing.T) {
	const sec = 10_000_000 // FILETIME units
	now := int64(133_770_000_000_000_000)
	d, ok := leastIdle([]inputSample{
		{last: 0, now: now},             // console: no last input kept
		{last: now - 300*sec, now: now}, // RDP: 5 minutes
		{last: now - 60*sec, now: now},  // RDP: 1 minute
		{last: 1, now: now},             // nonsense
		{last: now + 10*sec, now: now},  // clock skew
	})
	if !ok || d != 0 {
		// the skewed sample counts as 0: in use now
		t.Errorf("got %v, %v", d, ok)
	}
	d, ok = leastIdle([]inputSample{{last: now - 300*sec, now: now}, {last: now - 60*sec, now: now}})
	if !ok || d != time.Minute {
		t.Errorf("got %v, %v", d, ok)
	}
	if _, ok := leastIdle([]inputSample{{last: 0, now: now}}); ok {
		t.Error("no last input: ok")
	}
}

// TestIdleTimeAndSessionHere calls the real functions on this machine:
// they either answer or say that they cannot.
func TestIdleTimeAndSessionHere(t *testing.T) {
	idle, err := IdleTime()
	if err != nil && !errors.Is(err, ErrUnavailable) {
		t.Errorf("IdleTime: %v (not ErrUnavailable)", err)
	}
	if err == nil && idle < 0 {
		t.Errorf("IdleTime = %v", idle)
	}
	loggedIn, serr := UserSession()
	if serr != nil && !errors.Is(serr, ErrUnavailable) {
		t.Errorf("UserSession: %v (not ErrUnavailable)", serr)
	}
	t.Logf("%s: IdleTime %v, %v; UserSession %v, %v", runtime.GOOS, idle, err, loggedIn, serr)
}
