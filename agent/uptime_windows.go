//go:build windows

package agent

import (
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

var procGetTickCount64 = windows.NewLazySystemDLL("kernel32.dll").NewProc("GetTickCount64")

func uptime() (time.Duration, error) {
	if err := procGetTickCount64.Find(); err != nil {
		return 0, err
	}
	// GetTickCount64 cannot fail. Its 64-bit result is in r1, or in r2:r1
	// (EDX:EAX) on 32-bit Windows.
	r1, r2, _ := procGetTickCount64.Call()
	ms := uint64(r1)
	if unsafe.Sizeof(uintptr(0)) == 4 {
		ms = uint64(r2)<<32 | uint64(uint32(r1))
	}
	return time.Duration(ms) * time.Millisecond, nil
}
