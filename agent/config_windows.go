package agent

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unsafe"

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

// openConfig opens the configuration without following a symbolic link or
// junction (FILE_FLAG_OPEN_REPARSE_POINT), and refuses one, so that what
// checkTrusted inspects is what is read.
func openConfig(path string) (*os.File, error) {
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	h, err := windows.CreateFile(p, windows.GENERIC_READ|windows.READ_CONTROL, windows.FILE_SHARE_READ, nil,
		windows.OPEN_EXISTING, windows.FILE_FLAG_OPEN_REPARSE_POINT, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	var info windows.ByHandleFileInformation
	if err := windows.GetFileInformationByHandle(h, &info); err != nil {
		windows.CloseHandle(h)
		return nil, fmt.Errorf("configuration %s: %w", path, err)
	}
	if info.FileAttributes&windows.FILE_ATTRIBUTE_REPARSE_POINT != 0 {
		windows.CloseHandle(h)
		return nil, fmt.Errorf("configuration %s is a symbolic link or junction: give the file itself, so no one can point the agent elsewhere", path)
	}
	return os.NewFile(uintptr(h), path), nil
}

// checkTrusted refuses a configuration owned by anyone but SYSTEM or the
// Administrators group, or whose ACL, or its folder's, lets anyone else
// change it (write, append, delete, take over the ACL or the owner; in the
// folder, add or remove files).
func checkTrusted(f *os.File, path string) error {
	sd, err := windows.GetSecurityInfo(windows.Handle(f.Fd()), windows.SE_FILE_OBJECT,
		windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return fmt.Errorf("configuration %s: %w", path, err)
	}
	owner, _, err := sd.Owner()
	if err != nil {
		return fmt.Errorf("configuration %s: %w", path, err)
	}
	trusted := false
	for _, t := range trustedOwners {
		trusted = trusted || owner.IsWellKnown(t)
	}
	if !trusted {
		return fmt.Errorf("configuration %s is owned by %s, not SYSTEM or Administrators, and the agent runs its commands as SYSTEM: run moonwake-agent install again as an administrator, or: icacls %q /setowner Administrators", path, owner, path)
	}
	if err := checkDACL(sd, path, path); err != nil {
		return err
	}
	dir := filepath.Dir(path)
	dsd, err := windows.GetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT, windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return fmt.Errorf("configuration %s: folder %s: %w", path, dir, err)
	}
	return checkDACL(dsd, path, dir)
}

// checkDACL refuses the object p (the configuration at path, or its
// folder) when its DACL lets principals other than SYSTEM, Administrators
// and TrustedInstaller change it.
func checkDACL(sd *windows.SECURITY_DESCRIPTOR, path, p string) error {
	acl, _, err := sd.DACL()
	if err != nil && err != windows.ERROR_OBJECT_NOT_FOUND {
		return fmt.Errorf("configuration %s: the ACL of %s: %w", path, p, err)
	}
	var aces []winACE
	if acl != nil {
		for i := uint16(0); i < acl.AceCount; i++ {
			var ace *windows.ACCESS_ALLOWED_ACE
			if err := windows.GetAce(acl, uint32(i), &ace); err != nil {
				return fmt.Errorf("configuration %s: the ACL of %s: %w", path, p, err)
			}
			sid := (*windows.SID)(unsafe.Pointer(&ace.SidStart))
			aces = append(aces, winACE{
				Allow:   ace.Header.AceType == windows.ACCESS_ALLOWED_ACE_TYPE,
				Mask:    uint32(ace.Mask),
				SID:     sid.String(),
				Inherit: ace.Header.AceFlags&windows.INHERIT_ONLY_ACE != 0,
			})
		}
	}
	if w := winUntrustedWriters(aces, acl == nil); len(w) > 0 {
		return fmt.Errorf("configuration %s: %s may be changed by %s, and the agent runs its commands as SYSTEM: run moonwake-agent install again as an administrator, or remove their write access with icacls",
			path, p, strings.Join(w, ", "))
	}
	return nil
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

// checkBinary refuses to register a service binary that principals other
// than SYSTEM, Administrators and TrustedInstaller could replace (a
// download folder, a user's profile): the service runs it as SYSTEM at
// every boot.
func checkBinary(exe string) error {
	for _, p := range append([]string{exe}, ancestors(exe)...) {
		sd, err := windows.GetNamedSecurityInfo(p, windows.SE_FILE_OBJECT, windows.DACL_SECURITY_INFORMATION)
		if err != nil {
			return fmt.Errorf("install: %s: %w", p, err)
		}
		if err := checkDACL(sd, exe, p); err != nil {
			return fmt.Errorf("install: %w; copy moonwake-agent.exe to a folder only administrators may change, such as C:\\Program Files\\moonwake", err)
		}
	}
	return nil
}

// secureConfigDir makes the agent's folder in ProgramData changeable by
// SYSTEM and Administrators only: ProgramData lets every user add files
// to the folders in it, which checkTrusted refuses.
func secureConfigDir(dir string) error {
	sd, err := windows.SecurityDescriptorFromString("D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;0x1200a9;;;BU)")
	if err != nil {
		return err
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return err
	}
	return windows.SetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT,
		windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, dacl, nil)
}
