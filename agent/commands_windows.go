package agent

import (
	"context"
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/windows"
)

// defaultPlan uses the Windows API, no program and no shell.
func defaultPlan(name string) (Plan, error) {
	switch name {
	case CmdShutdown:
		return Plan{Command: name, Call: "InitiateSystemShutdownExW(power off, force)"}, nil
	case CmdReboot:
		return Plan{Command: name, Call: "InitiateSystemShutdownExW(reboot, force)"}, nil
	case CmdSleep:
		return Plan{Command: name, Call: "SetSuspendState(sleep)"}, nil
	case CmdHibernate:
		return Plan{Command: name, Call: "SetSuspendState(hibernate)"}, nil
	}
	return Plan{}, fmt.Errorf("unknown command %q", name)
}

var (
	procSetSuspendState       = windows.NewLazySystemDLL("powrprof.dll").NewProc("SetSuspendState")
	procAdjustTokenPrivileges = windows.NewLazySystemDLL("advapi32.dll").NewProc("AdjustTokenPrivileges")
)

// osCall carries out a power command with the Windows API. Each needs
// SeShutdownPrivilege, which the service account (LocalSystem) holds but
// must enable first.
//
// Shutdown is a full shutdown, like "shutdown /s /f /t 0": apps are
// closed without asking, and unlike the Start menu's "Shut down" with Fast
// Startup on, it is not a hibernation in disguise, which Wake-on-LAN often
// cannot wake from. Sleep and hibernate leave wake events enabled, so the
// magic packet can wake the PC.
func osCall(ctx context.Context, name string) error {
	if err := enableShutdownPrivilege(); err != nil {
		return err
	}
	const reason = windows.SHTDN_REASON_MAJOR_OTHER | windows.SHTDN_REASON_MINOR_OTHER | windows.SHTDN_REASON_FLAG_PLANNED
	msg, _ := windows.UTF16PtrFromString("moonwake: " + name + " asked by the hub")
	switch name {
	case CmdShutdown, CmdReboot:
		if err := windows.InitiateSystemShutdownEx(nil, msg, 0, true, name == CmdReboot, reason); err != nil {
			return fmt.Errorf("InitiateSystemShutdownEx: %w", err)
		}
		return nil
	case CmdSleep, CmdHibernate:
		if err := procSetSuspendState.Find(); err != nil {
			return fmt.Errorf("SetSuspendState: %w", err)
		}
		var hibernate uintptr
		if name == CmdHibernate {
			hibernate = 1
		}
		// SetSuspendState(bHibernate, bForce (ignored), bWakeupEventsDisabled)
		// returns once the PC has woken up again.
		if r, _, err := procSetSuspendState.Call(hibernate, 0, 0); r == 0 {
			return fmt.Errorf("SetSuspendState: %w", err)
		}
		return nil
	}
	return errNoOSCall
}

// enableShutdownPrivilege enables SeShutdownPrivilege in this process's
// token.
func enableShutdownPrivilege() error {
	var tok windows.Token
	if err := windows.OpenProcessToken(windows.CurrentProcess(), windows.TOKEN_ADJUST_PRIVILEGES|windows.TOKEN_QUERY, &tok); err != nil {
		return fmt.Errorf("open process token: %w", err)
	}
	defer tok.Close()
	var luid windows.LUID
	priv, _ := windows.UTF16PtrFromString("SeShutdownPrivilege")
	if err := windows.LookupPrivilegeValue(nil, priv, &luid); err != nil {
		return fmt.Errorf("look up SeShutdownPrivilege: %w", err)
	}
	tp := windows.Tokenprivileges{PrivilegeCount: 1}
	tp.Privileges[0] = windows.LUIDAndAttributes{Luid: luid, Attributes: windows.SE_PRIVILEGE_ENABLED}
	// AdjustTokenPrivileges succeeds without the privilege when the token
	// does not hold it, and says so only in the last error, which Call
	// reads right after the call, on the same thread.
	r, _, err := procAdjustTokenPrivileges.Call(uintptr(tok), 0, uintptr(unsafe.Pointer(&tp)), 0, 0, 0)
	switch {
	case r == 0:
		return fmt.Errorf("enable SeShutdownPrivilege: %w", err)
	case errors.Is(err, windows.ERROR_NOT_ALL_ASSIGNED):
		return fmt.Errorf("this account may not shut the PC down (no SeShutdownPrivilege); run the agent as a service")
	}
	return nil
}
