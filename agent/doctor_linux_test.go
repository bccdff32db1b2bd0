//go:build linux

package agent

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/moonwake/moonwake/internal/testlan"
	"golang.org/x/sys/unix"
)

// TestEthtoolGetWolInNamespace reads the wake mode through the real ioctl,
// inside a throwaway network namespace: a veth has no Wake-on-LAN, so the
// kernel answers "not supported"; an unknown name is "no such device".
// Nothing is ever set (no ETHTOOL_SWOL in tests).
func TestEthtoolGetWolInNamespace(t *testing.T) {
	testlan.Require(t)
	lan := testlan.New(t)
	pc := lan.AddHost("pc")
	err := pc.Do(func() error {
		_, err := ethtoolGetWol(pc.Iface())
		if !errors.Is(err, errWolUnsupported) || !errors.Is(err, unix.EOPNOTSUPP) {
			return errors.New("veth: got " + errString(err) + ", want not supported")
		}
		if !strings.Contains(err.Error(), pc.Iface()) {
			return errors.New("error does not name the interface: " + err.Error())
		}
		if _, err := ethtoolGetWol("lo"); !errors.Is(err, errWolUnsupported) {
			return errors.New("lo: got " + errString(err))
		}
		if _, err := ethtoolGetWol("mwnosuch0"); !errors.Is(err, unix.ENODEV) {
			return errors.New("unknown interface: got " + errString(err))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func errString(err error) string {
	if err == nil {
		return "no error"
	}
	return err.Error()
}

func TestEthtoolBadName(t *testing.T) {
	for _, name := range []string{"", "a-name-longer-than-15"} {
		if _, err := ethtoolGetWol(name); err == nil || !strings.Contains(err.Error(), "bad interface name") {
			t.Errorf("%q: %v", name, err)
		}
	}
}

// TestDoctorOnThisMachine runs the real Linux doctor without --fix: it
// only reads (sysfs, the GWOL ioctl, nmcli if there) and must produce a
// checklist whatever this machine is.
func TestDoctorOnThisMachine(t *testing.T) {
	var out bytes.Buffer
	err := Doctor(context.Background(), false, &out)
	text := out.String()
	if !strings.HasPrefix(text, "Wake-on-LAN checks:\n") || !strings.Contains(text, "BIOS/UEFI") {
		t.Fatalf("output:\n%s", text)
	}
	if err != nil && !strings.Contains(text, "✗ ") {
		t.Errorf("error %v without a failed check:\n%s", err, text)
	}
	t.Logf("doctor on this machine (err %v):\n%s", err, text)
}
