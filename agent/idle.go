package agent

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// IdleTime returns how long ago a person last used this machine's keyboard
// or mouse (or terminal):
//   - Windows: GetLastInputInfo against GetTickCount, in the caller's
//     session. A Windows service runs in session 0, which never sees the
//     user's input; there it asks Terminal Services for the active console
//     session's last input time, and returns ErrUnavailable when Windows
//     does not keep one (it does for RDP sessions, often not for the
//     console). See idle_windows.go.
//   - Linux: logind's IdleHint/IdleSinceHint of the users' sessions, the
//     least idle one counting (see loginIdle for what the hints mean).
//   - macOS: HIDIdleTime from `ioreg -c IOHIDSystem`.
//
// The error wraps ErrUnavailable when the time cannot be known here, in
// particular when nobody is logged in (see UserSession).
func IdleTime() (time.Duration, error) {
	return idleTime()
}

// parseHIDIdleTime reads the first HIDIdleTime, in nanoseconds, from
// `ioreg -c IOHIDSystem` output: `| |   "HIDIdleTime" = 208745083`.
func parseHIDIdleTime(out []byte) (time.Duration, error) {
	for line := range strings.SplitSeq(string(out), "\n") {
		_, rest, ok := strings.Cut(line, `"HIDIdleTime" = `)
		if !ok {
			continue
		}
		ns, err := strconv.ParseInt(strings.TrimSpace(rest), 10, 64)
		if err != nil || ns < 0 {
			return 0, fmt.Errorf("ioreg: bad HIDIdleTime %q", strings.TrimSpace(rest))
		}
		return time.Duration(ns), nil
	}
	return 0, fmt.Errorf("idle time %w: ioreg shows no HIDIdleTime", ErrUnavailable)
}

// inputSample is a session's last input and the time it was read, in
// Windows FILETIME units (100 ns), as WTSINFO gives them.
type inputSample struct {
	last, now int64
}

// leastIdle is the smallest idle time among samples that have a last
// input time (Windows leaves it 0 where it keeps none).
func leastIdle(samples []inputSample) (time.Duration, bool) {
	best, found := time.Duration(0), false
	for _, s := range samples {
		if s.last <= 0 || s.now <= 0 || s.now-s.last > 1<<63/100-1 {
			continue
		}
		d := max(time.Duration(s.now-s.last)*100, 0)
		if !found || d < best {
			best, found = d, true
		}
	}
	return best, found
}
