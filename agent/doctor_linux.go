//go:build linux

package agent

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

func platformDoctorChecks(ctx context.Context) []check {
	return linuxChecks(ctx, linuxNICSys{
		root:   os.DirFS("/"),
		getWol: ethtoolGetWol,
		setWol: ethtoolSetWol,
		run:    sysOutput,
	})
}

func doctorStdinIsTerminal() bool {
	_, err := unix.IoctlGetTermios(int(os.Stdin.Fd()), unix.TCGETS)
	return err == nil
}

// ethtoolIfreq is struct ifreq with its union used as ifr_data, a pointer
// to the ethtool command (40 bytes on every architecture; the kernel reads
// no more than its own sizeof(struct ifreq)).
type ethtoolIfreq struct {
	name [unix.IFNAMSIZ]byte
	data unsafe.Pointer
	_    [24 - unsafe.Sizeof(uintptr(0))]byte
}

// ethtoolIoctl sends one ethtool command, encoded in buf, to the
// interface ifname of the calling thread's network namespace; the kernel
// writes its answer back into buf.
func ethtoolIoctl(ifname string, buf []byte) error {
	if len(ifname) == 0 || len(ifname) >= unix.IFNAMSIZ {
		return fmt.Errorf("bad interface name %q", ifname)
	}
	// As ethtool(8) does: any socket will do, AF_UNIX when there is no IPv4.
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		fd, err = unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("socket for ethtool: %w", err)
		}
	}
	defer unix.Close(fd)
	var ifr ethtoolIfreq
	copy(ifr.name[:], ifname)
	ifr.data = unsafe.Pointer(&buf[0])
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
	runtime.KeepAlive(buf)
	if errno != 0 {
		return errno
	}
	return nil
}

// classifyEthtoolErr maps the errnos the doctor explains to its own errors,
// keeping the errno in the chain.
func classifyEthtoolErr(err error) error {
	switch {
	case errors.Is(err, unix.EOPNOTSUPP):
		return fmt.Errorf("%w (%w)", errWolUnsupported, err)
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return fmt.Errorf("%w (%w)", errWolPermission, err)
	}
	return err
}

// ethtoolGetWol reads an interface's Wake-on-LAN settings (ETHTOOL_GWOL,
// what `ethtool IF` shows as "Supports Wake-on" and "Wake-on").
func ethtoolGetWol(ifname string) (wolInfo, error) {
	buf := wolInfo{}.marshal(ethtoolGWOL, binary.NativeEndian)
	if err := ethtoolIoctl(ifname, buf); err != nil {
		return wolInfo{}, fmt.Errorf("read wake mode of %s: %w", ifname, classifyEthtoolErr(err))
	}
	w, err := parseWolinfo(buf, binary.NativeEndian)
	if err != nil {
		return wolInfo{}, fmt.Errorf("read wake mode of %s: %w", ifname, err)
	}
	return w, nil
}

// ethtoolSetWol sets an interface's wake modes (ETHTOOL_SWOL, like
// `ethtool -s IF wol g`). It needs CAP_NET_ADMIN and lasts until the driver
// is reloaded, usually the next boot. Only doctor --fix calls it, after
// consent; tests never do.
func ethtoolSetWol(ifname string, w wolInfo) error {
	buf := w.marshal(ethtoolSWOL, binary.NativeEndian)
	if err := ethtoolIoctl(ifname, buf); err != nil {
		return fmt.Errorf("set wake mode %s on %s: %w", wolModes(w.wolopts), ifname, classifyEthtoolErr(err))
	}
	return nil
}
