package agent

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
)

// The agent runs as root (SYSTEM on Windows) and carries out the commands
// its configuration names, so it believes a configuration only if no one
// else could have written it: not the file, not a directory above it, not
// a symbolic link on the way. The rules are pure functions here, tested on
// every OS; config_other.go and config_windows.go gather what they judge.

// unixTrusted judges one file or directory by its owner and mode: owned by
// root and writable by no group or other user. A directory others may
// write is trusted only with the sticky bit (/tmp): then they cannot
// rename or remove the root-owned entries in it.
func unixTrusted(uid uint32, mode fs.FileMode) bool {
	if uid != 0 {
		return false
	}
	if mode.Perm()&0o022 == 0 {
		return true
	}
	return mode.IsDir() && mode&fs.ModeSticky != 0
}

// ancestors lists the directories above path, nearest first, up to the
// root.
func ancestors(path string) []string {
	var out []string
	for d := filepath.Dir(filepath.Clean(path)); ; d = filepath.Dir(d) {
		out = append(out, d)
		if filepath.Dir(d) == d {
			return out
		}
	}
}

// Windows access rights that let a principal change a file, or (on a
// directory) add, replace or remove what it holds, or take the ACL over.
const (
	winWriteData       = 0x0002 // FILE_WRITE_DATA, FILE_ADD_FILE
	winAppendData      = 0x0004 // FILE_APPEND_DATA, FILE_ADD_SUBDIRECTORY
	winWriteEA         = 0x0010 // FILE_WRITE_EA
	winDeleteChild     = 0x0040 // FILE_DELETE_CHILD
	winWriteAttributes = 0x0100 // FILE_WRITE_ATTRIBUTES
	winDelete          = 0x00010000
	winWriteDAC        = 0x00040000
	winWriteOwner      = 0x00080000
	winGenericAll      = 0x10000000
	winGenericWrite    = 0x40000000
	winMaximumAllowed  = 0x02000000

	winModify = winWriteData | winAppendData | winWriteEA | winDeleteChild | winWriteAttributes |
		winDelete | winWriteDAC | winWriteOwner | winGenericAll | winGenericWrite | winMaximumAllowed
)

// winTrustedSIDs are the principals that may write the configuration:
// SYSTEM (the service), the Administrators group, and TrustedInstaller
// (which owns system folders).
var winTrustedSIDs = []string{
	"S-1-5-18",     // LocalSystem
	"S-1-5-32-544", // BUILTIN\Administrators
	"S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464", // NT SERVICE\TrustedInstaller
}

// winACE is one entry of a DACL, as config_windows.go reads it.
type winACE struct {
	Allow   bool   // an access-allowed entry; deny entries take nothing away here
	Mask    uint32 // the rights
	SID     string // the principal, such as S-1-5-32-545
	Inherit bool   // INHERIT_ONLY_ACE: it applies to children, not to this object
}

// winUntrustedWriters lists the principals other than SYSTEM,
// Administrators and TrustedInstaller that an ACL lets change the object.
// A nil DACL (nil aces with nilDACL) lets everyone.
func winUntrustedWriters(aces []winACE, nilDACL bool) []string {
	if nilDACL {
		return []string{"Everyone (the file has no access control list)"}
	}
	var out []string
	for _, a := range aces {
		if !a.Allow || a.Inherit || a.Mask&winModify == 0 {
			continue
		}
		trusted := false
		for _, s := range winTrustedSIDs {
			trusted = trusted || strings.EqualFold(a.SID, s)
		}
		if !trusted {
			out = append(out, fmt.Sprintf("%s (rights %#x)", a.SID, a.Mask))
		}
	}
	return out
}
