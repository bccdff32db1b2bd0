package agent

import (
	"context"
	"fmt"
	"log/slog"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

// On Windows a countdown is a message box in the active console session,
// which a service (session 0) can show with WTSSendMessage: OK and
// Cancel, Cancel keeping the PC on. It times out by itself when the
// countdown ends.
type wtsNotifier struct{ log *slog.Logger }

func osNotifier(log *slog.Logger) Notifier { return wtsNotifier{log} }

var procWTSSendMessageW = windows.NewLazySystemDLL("wtsapi32.dll").NewProc("WTSSendMessageW")

// Message box styles and answers (winuser.h).
const (
	mbOKCancel      = 0x00000001
	mbIconWarning   = 0x00000030
	mbSetForeground = 0x00010000
	mbTopmost       = 0x00040000
	idCancel        = 2
)

// Show implements Notifier. The box cannot be taken down from here: a
// withdrawn countdown's box stays until its time is up (the PC is going
// down then anyway, or the hub cancelled and the box says nothing more).
func (w wtsNotifier) Show(ctx context.Context, n Notification) (bool, error) {
	session := windows.WTSGetActiveConsoleSessionId()
	if session == 0xFFFFFFFF {
		return false, fmt.Errorf("countdown %w: nobody at the console", ErrUnavailable)
	}
	title, err := windows.UTF16FromString(n.Title(time.Now()))
	if err != nil {
		return false, err
	}
	msg, err := windows.UTF16FromString(n.Body())
	if err != nil {
		return false, err
	}
	timeout := uint32(max(time.Until(n.Until)/time.Second, 1))
	type answer struct {
		resp uint32
		err  error
	}
	done := make(chan answer, 1)
	go func() { // blocks until an answer or the timeout, which bounds it
		var resp uint32
		r, _, err := procWTSSendMessageW.Call(0, uintptr(session),
			uintptr(unsafe.Pointer(&title[0])), uintptr(2*(len(title)-1)),
			uintptr(unsafe.Pointer(&msg[0])), uintptr(2*(len(msg)-1)),
			mbOKCancel|mbIconWarning|mbSetForeground|mbTopmost, uintptr(timeout), uintptr(unsafe.Pointer(&resp)), 1)
		if r == 0 {
			done <- answer{err: fmt.Errorf("WTSSendMessage: %w", err)}
			return
		}
		done <- answer{resp: resp}
	}()
	select {
	case <-ctx.Done():
		return false, nil
	case a := <-done:
		return a.resp == idCancel, a.err
	}
}
