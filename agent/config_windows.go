package agent

import (
	"fmt"

	"golang.org/x/sys/windows"
)

// adminsOnly is a protected DACL (no inherited entries) that gives full
// control to SYSTEM, which the service runs as, and to the Administrators
// who pair and install it; ProgramData would otherwise let every local
// user read the agent's private key.
const adminsOnly = "D:P(A;;FA;;;SY)(A;;FA;;;BA)"

// restrictToAdmins makes path readable by SYSTEM and Administrators only.
func restrictToAdmins(path string) error {
	sd, err := windows.SecurityDescriptorFromString(adminsOnly)
	if err != nil {
		return fmt.Errorf("security descriptor: %w", err)
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return fmt.Errorf("security descriptor: %w", err)
	}
	err = windows.SetNamedSecurityInfo(path, windows.SE_FILE_OBJECT,
		windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, dacl, nil)
	if err != nil {
		return fmt.Errorf("restrict access to %s: %w", path, err)
	}
	return nil
}

// checkPrivate trusts the DACL that WriteState set: file modes mean little
// on Windows.
func checkPrivate(path string) error { return nil }
