//go:build windows

package agent

import (
	"fmt"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

// Session 0 and the user's input. Since Vista, services run in session 0
// and users in sessions 1, 2, …; GetLastInputInfo only sees the input of
// the caller's own session, so in a service it would report the (empty)
// session 0 forever. Run by a user (moonwake-agent in a console), idleTime
// uses GetLastInputInfo. Run as a service, it asks Terminal Services for
// the LastInputTime of each logged-on session (WTSSessionInfo) and takes
// the least idle; Windows keeps that time for RDP sessions but commonly
// leaves it 0 for the console session, and then idleTime returns
// ErrUnavailable rather than guess. Knowing the console's idle time from a
// service takes a helper process in the user's session
// (WTSQueryUserToken + CreateProcessAsUser, reporting GetLastInputInfo),
// which the agent does not have yet.

var (
	procGetLastInputInfo = windows.NewLazySystemDLL("user32.dll").NewProc("GetLastInputInfo")
	procGetTickCount     = windows.NewLazySystemDLL("kernel32.dll").NewProc("GetTickCount")
)

// lastInputInfo is LASTINPUTINFO.
type lastInputInfo struct {
	cbSize uint32
	dwTime uint32 // GetTickCount() at the last input
}

// wtsInfo is WTSINFOW.
type wtsInfo struct {
	State                   uint32
	SessionID               uint32
	IncomingBytes           uint32
	OutgoingBytes           uint32
	IncomingFrames          uint32
	OutgoingFrames          uint32
	IncomingCompressedBytes uint32
	OutgoingCompressedBytes uint32
	WinStationName          [32]uint16
	Domain                  [17]uint16
	UserName                [21]uint16
	_                       [4]byte // LARGE_INTEGER is 8-aligned, also on 386
	ConnectTime             int64   // FILETIME units (100 ns)
	DisconnectTime          int64
	LastInputTime           int64
	LogonTime               int64
	CurrentTime             int64
}

func idleTime() (time.Duration, error) {
	var sid uint32
	if err := windows.ProcessIdToSessionId(windows.GetCurrentProcessId(), &sid); err != nil {
		return 0, fmt.Errorf("idle time: ProcessIdToSessionId: %w", err)
	}
	if sid != 0 {
		return lastInputIdle()
	}
	return wtsIdle()
}

// lastInputIdle is the idle time of the caller's own session.
func lastInputIdle() (time.Duration, error) {
	if err := procGetLastInputInfo.Find(); err != nil {
		return 0, fmt.Errorf("idle time %w: %w", ErrUnavailable, err)
	}
	lii := lastInputInfo{cbSize: uint32(unsafe.Sizeof(lastInputInfo{}))}
	r1, _, e := procGetLastInputInfo.Call(uintptr(unsafe.Pointer(&lii)))
	if r1 == 0 {
		return 0, fmt.Errorf("idle time: GetLastInputInfo: %w", e)
	}
	now, _, _ := procGetTickCount.Call()
	// Both are 32-bit millisecond tick counts: the difference is right
	// across the 49.7-day wrap.
	return time.Duration(uint32(now)-lii.dwTime) * time.Millisecond, nil
}

// wtsIdle is the least idle time of the logged-on sessions, as Terminal
// Services knows it; see the comment at the top of this file.
func wtsIdle() (time.Duration, error) {
	sessions, err := wtsSessions()
	if err != nil {
		return 0, fmt.Errorf("idle time %w: %w", ErrUnavailable, err)
	}
	var samples []inputSample
	users := 0
	for _, s := range sessions {
		if s.id == 0 || s.user == "" || (s.state != wtsActive && s.state != wtsDisconnected) {
			continue
		}
		users++
		buf, n, err := wtsQuery(s.id, wtsSessionInfo)
		if err != nil {
			continue
		}
		if uintptr(n) >= unsafe.Sizeof(wtsInfo{}) {
			info := (*wtsInfo)(unsafe.Pointer(buf))
			samples = append(samples, inputSample{last: info.LastInputTime, now: info.CurrentTime})
		}
		windows.WTSFreeMemory(uintptr(unsafe.Pointer(buf)))
	}
	if users == 0 {
		return 0, fmt.Errorf("idle time %w: no user session", ErrUnavailable)
	}
	if d, ok := leastIdle(samples); ok {
		return d, nil
	}
	return 0, fmt.Errorf("idle time %w: a service in session 0 cannot see the console user's input, and Windows keeps no last-input time for that session", ErrUnavailable)
}
