package agent

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// The Linux kernel's ethtool interface for Wake-on-LAN: the SIOCETHTOOL
// ioctl carries a struct ethtool_wolinfo (linux/ethtool.h):
//
//	struct ethtool_wolinfo {
//		__u32 cmd;        // ETHTOOL_GWOL (5) or ETHTOOL_SWOL (6)
//		__u32 supported;  // WAKE_* bits the device can do
//		__u32 wolopts;    // WAKE_* bits enabled now
//		__u8  sopass[6];  // SecureOn password, for WAKE_MAGICSECURE
//	};                    // 18 bytes, padded to 20
//
// The codec below is pure, so it is tested on fixtures of those bytes; the
// ioctl itself is in doctor_linux.go.
const (
	ethtoolGWOL = 0x5
	ethtoolSWOL = 0x6

	wolinfoLen = 20
)

// WAKE_* bits and the letters `ethtool` shows for them.
const (
	wakePHY         = 1 << 0 // p: link change
	wakeUcast       = 1 << 1 // u: unicast frame
	wakeMcast       = 1 << 2 // m: multicast frame
	wakeBcast       = 1 << 3 // b: broadcast frame
	wakeARP         = 1 << 4 // a: ARP
	wakeMagic       = 1 << 5 // g: magic packet, what moonwake sends
	wakeMagicSecure = 1 << 6 // s: magic packet with SecureOn password
	wakeFilter      = 1 << 7 // f: filters
)

const wakeLetters = "pumbagsf" // bit i is wakeLetters[i]

// wolInfo is a decoded struct ethtool_wolinfo.
type wolInfo struct {
	supported uint32
	wolopts   uint32
	sopass    [6]byte
}

// parseWolinfo decodes the struct the kernel filled in for ETHTOOL_GWOL,
// in the given byte order (the host's, binary.NativeEndian, for real
// ioctls).
func parseWolinfo(b []byte, order binary.ByteOrder) (wolInfo, error) {
	if len(b) < 18 {
		return wolInfo{}, fmt.Errorf("ethtool_wolinfo: %d bytes, want at least 18", len(b))
	}
	if cmd := order.Uint32(b[0:4]); cmd != ethtoolGWOL {
		return wolInfo{}, fmt.Errorf("ethtool_wolinfo: cmd %#x, want ETHTOOL_GWOL", cmd)
	}
	w := wolInfo{
		supported: order.Uint32(b[4:8]),
		wolopts:   order.Uint32(b[8:12]),
	}
	copy(w.sopass[:], b[12:18])
	return w, nil
}

// marshal encodes w as the struct for the ioctl command cmd.
func (w wolInfo) marshal(cmd uint32, order binary.ByteOrder) []byte {
	b := make([]byte, wolinfoLen)
	order.PutUint32(b[0:4], cmd)
	order.PutUint32(b[4:8], w.supported)
	order.PutUint32(b[8:12], w.wolopts)
	copy(b[12:18], w.sopass[:])
	return b
}

// wolModes renders WAKE_* bits the way `ethtool` does: "g", "pumbg", or
// "d" for none; bits ethtool has no letter for are shown in hex.
func wolModes(bits uint32) string {
	if bits == 0 {
		return "d"
	}
	var s strings.Builder
	for i := 0; i < len(wakeLetters); i++ {
		if bits&(1<<i) != 0 {
			s.WriteByte(wakeLetters[i])
		}
	}
	if rest := bits &^ (1<<len(wakeLetters) - 1); rest != 0 {
		fmt.Fprintf(&s, "+%#x", rest)
	}
	return s.String()
}

// parseWolModes reads ethtool's letters back into WAKE_* bits.
func parseWolModes(s string) (uint32, error) {
	if s == "d" {
		return 0, nil
	}
	var bits uint32
	for _, r := range s {
		i := strings.IndexRune(wakeLetters, r)
		if i < 0 {
			return 0, fmt.Errorf("wake mode %q: unknown letter %q", s, r)
		}
		bits |= 1 << i
	}
	return bits, nil
}
