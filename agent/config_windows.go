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

// trustedOwners are the owners a configuration may have: the agent runs as
// SYSTEM and carries out the commands the file names, so a file an ordinary
// user created (in ProgramData, which lets users create files) must not be
// believed.
var trustedOwners = []windows.WELL_KNOWN_SID_TYPE{
	windows.WinLocalSystemSid, windows.WinBuiltinAdministratorsSid,
}

// checkTrusted refuses a configuration owned by anyone but SYSTEM or the
// Administrators group.
func checkTrusted(path string) error {
	sd, err := windows.GetNamedSecurityInfo(path, windows.SE_FILE_OBJECT, windows.OWNER_SECURITY_INFORMATION)
	if err != nil {
		return fmt.Errorf("configuration %s: %w", path, err)
	}
	owner, _, err := sd.Owner()
	if err != nil {
		return fmt.Errorf("configuration %s: %w", path, err)
	}
	for _, t := range trustedOwners {
		if owner.IsWellKnown(t) {
			return nil
		}
	}
	return fmt.Errorf("configuration %s is owned by %s, not SYSTEM or Administrators, and the agent runs its commands as SYSTEM: run moonwake-agent install again as an administrator, or: icacls %q /setowner Administrators", path, owner, path)
}

// secureConfig gives a configuration the agent wrote to Administrators,
// readable by users and writable by SYSTEM and Administrators only.
func secureConfig(path string) error {
	admins, err := windows.CreateWellKnownSid(windows.WinBuiltinAdministratorsSid)
	if err != nil {
		return err
	}
	sd, err := windows.SecurityDescriptorFromString("D:P(A;;FA;;;SY)(A;;FA;;;BA)(A;;0x1200a9;;;BU)")
	if err != nil {
		return err
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return err
	}
	return windows.SetNamedSecurityInfo(path, windows.SE_FILE_OBJECT,
		windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION,
		admins, nil, dacl, nil)
}
