package agent

import (
	"io/fs"
	"reflect"
	"testing"
)

func TestUnixTrusted(t *testing.T) {
	for _, tc := range []struct {
		uid  uint32
		mode fs.FileMode
		want bool
	}{
		{0, 0o644, true},
		{0, 0o600, true},
		{0, fs.ModeDir | 0o755, true},
		{0, 0o664, false},
		{0, 0o646, false},
		{1000, 0o600, false},
		{0, fs.ModeDir | 0o775, false},
		{0, fs.ModeDir | fs.ModeSticky | 0o777, true}, // /tmp
		{0, fs.ModeSticky | 0o666, false},             // the sticky bit means nothing on a file
		{1000, fs.ModeDir | fs.ModeSticky | 0o777, false},
	} {
		if got := unixTrusted(tc.uid, tc.mode); got != tc.want {
			t.Errorf("unixTrusted(%d, %v) = %v, want %v", tc.uid, tc.mode, got, tc.want)
		}
	}
}

func TestAncestors(t *testing.T) {
	if got, want := ancestors("/etc/moonwake-agent/config.yaml"), []string{"/etc/moonwake-agent", "/etc", "/"}; !reflect.DeepEqual(got, want) {
		t.Errorf("ancestors = %q, want %q", got, want)
	}
}

// TestWinUntrustedWriters: the ACL rules the Windows agent applies, as
// ProgramData, Program Files and a user's folder set them.
func TestWinUntrustedWriters(t *testing.T) {
	const (
		system  = "S-1-5-18"
		admins  = "S-1-5-32-544"
		users   = "S-1-5-32-545"
		auth    = "S-1-5-11"
		creator = "S-1-3-0"
		ti      = "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464"
		bob     = "S-1-5-21-1-2-3-1001"
	)
	const readExecute = 0x1200a9
	for _, tc := range []struct {
		name string
		aces []winACE
		want int
	}{
		{"what install sets", []winACE{{Allow: true, Mask: 0x1f01ff, SID: system}, {Allow: true, Mask: 0x1f01ff, SID: admins}, {Allow: true, Mask: readExecute, SID: users}}, 0},
		{"Program Files", []winACE{{Allow: true, Mask: 0x1f01ff, SID: ti}, {Allow: true, Mask: 0x10000000, SID: creator, Inherit: true}, {Allow: true, Mask: readExecute, SID: users}}, 0},
		{"ProgramData's folders: users add files", []winACE{{Allow: true, Mask: 0x1f01ff, SID: system}, {Allow: true, Mask: 0x116, SID: users}}, 1},
		{"a user's Downloads", []winACE{{Allow: true, Mask: 0x1f01ff, SID: system}, {Allow: true, Mask: 0x1f01ff, SID: bob}}, 1},
		{"Authenticated Users may modify", []winACE{{Allow: true, Mask: 0x1301bf, SID: auth}}, 1},
		{"generic write", []winACE{{Allow: true, Mask: 0x40000000, SID: users}}, 1},
		{"may change the ACL", []winACE{{Allow: true, Mask: 0x40000, SID: users}}, 1},
		{"deny entries take nothing", []winACE{{Allow: false, Mask: 0x1f01ff, SID: users}}, 0},
	} {
		if got := winUntrustedWriters(tc.aces, false); len(got) != tc.want {
			t.Errorf("%s: untrusted writers %q, want %d", tc.name, got, tc.want)
		}
	}
	if got := winUntrustedWriters(nil, true); len(got) != 1 {
		t.Errorf("a nil DACL: %q", got)
	}
	if got := winUntrustedWriters(nil, false); len(got) != 0 {
		t.Errorf("an empty DACL (no one has access): %q", got)
	}
}
