//go:build windows

package agent

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/windows"
)

var procWTSQuerySessionInformationW = windows.NewLazySystemDLL("wtsapi32.dll").NewProc("WTSQuerySessionInformationW")

// WTS_INFO_CLASS values.
const (
	wtsUserName    = 5
	wtsSessionInfo = 24
)

// wtsQuery calls WTSQuerySessionInformationW on the local server; free
// the buffer with windows.WTSFreeMemory.
func wtsQuery(session, class uint32) (*byte, uint32, error) {
	if err := procWTSQuerySessionInformationW.Find(); err != nil {
		return nil, 0, err
	}
	var buf *byte
	var n uint32
	r1, _, e := procWTSQuerySessionInformationW.Call(
		0, // WTS_CURRENT_SERVER_HANDLE
		uintptr(session), uintptr(class),
		uintptr(unsafe.Pointer(&buf)), uintptr(unsafe.Pointer(&n)))
	if r1 == 0 {
		return nil, 0, fmt.Errorf("WTSQuerySessionInformation(%d, %d): %w", session, class, e)
	}
	return buf, n, nil
}

// wtsSessions lists the Terminal Services sessions with their user names.
func wtsSessions() ([]winSession, error) {
	var infos *windows.WTS_SESSION_INFO
	var count uint32
	if err := windows.WTSEnumerateSessions(0, 0, 1, &infos, &count); err != nil {
		return nil, fmt.Errorf("WTSEnumerateSessions: %w", err)
	}
	defer windows.WTSFreeMemory(uintptr(unsafe.Pointer(infos)))
	var sessions []winSession
	for _, s := range unsafe.Slice(infos, count) {
		ws := winSession{id: s.SessionID, state: s.State}
		if buf, n, err := wtsQuery(s.SessionID, wtsUserName); err == nil {
			if n >= 2 {
				ws.user = windows.UTF16PtrToString((*uint16)(unsafe.Pointer(buf)))
			}
			windows.WTSFreeMemory(uintptr(unsafe.Pointer(buf)))
		}
		sessions = append(sessions, ws)
	}
	return sessions, nil
}

func userSession() (bool, error) {
	sessions, err := wtsSessions()
	if err != nil {
		return false, fmt.Errorf("user session %w: %w", ErrUnavailable, err)
	}
	return winLoggedIn(sessions), nil
}
