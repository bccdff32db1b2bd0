package wol

import (
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// ParseMAC parses a 48-bit MAC address written as aa:bb:cc:dd:ee:ff,
// aa-bb-cc-dd-ee-ff, aabb.ccdd.eeff or aabbccddeeff, in any case. It refuses
// addresses that cannot name a single machine to wake: the broadcast
// address, multicast addresses and the all-zero address.
func ParseMAC(s string) (net.HardwareAddr, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, fmt.Errorf("empty MAC address; write it as aa:bb:cc:dd:ee:ff")
	}
	var digits string
	switch {
	case len(s) == 17 && (s[2] == ':' || s[2] == '-'):
		sep := s[2]
		var b strings.Builder
		for i := 0; i < 17; i += 3 {
			if i > 0 && s[i-1] != sep {
				return nil, fmt.Errorf("MAC address %q: mixed or misplaced separators", s)
			}
			b.WriteString(s[i : i+2])
		}
		digits = b.String()
	case len(s) == 14 && s[4] == '.' && s[9] == '.':
		digits = s[0:4] + s[5:9] + s[10:14]
	case len(s) == 12:
		digits = s
	default:
		return nil, fmt.Errorf("MAC address %q: want 6 bytes as aa:bb:cc:dd:ee:ff, aa-bb-cc-dd-ee-ff, aabb.ccdd.eeff or aabbccddeeff", s)
	}
	mac := make(net.HardwareAddr, 6)
	if _, err := hex.Decode(mac, []byte(digits)); err != nil {
		return nil, fmt.Errorf("MAC address %q: not hexadecimal", s)
	}
	if err := checkTarget(mac); err != nil {
		return nil, fmt.Errorf("MAC address %q: %w", s, err)
	}
	return mac, nil
}

// checkTarget refuses MACs that cannot be a wake target.
func checkTarget(mac net.HardwareAddr) error {
	switch {
	case len(mac) != 6:
		return fmt.Errorf("want 6 bytes, got %d", len(mac))
	case isAll(mac, 0xff):
		return fmt.Errorf("the broadcast address cannot be woken")
	case isAll(mac, 0x00):
		return fmt.Errorf("the all-zero address cannot be woken")
	case mac[0]&1 == 1:
		return fmt.Errorf("a multicast address (first byte odd) cannot be woken")
	}
	return nil
}

func isAll(b []byte, v byte) bool {
	for _, c := range b {
		if c != v {
			return false
		}
	}
	return true
}

// ParsePassword parses a SecureOn password of 4 or 6 bytes written as hex
// (0a1b2c3d, 0a1b2c3d4e5f), with ':' or '-' between bytes (aa:bb:cc:dd:ee:ff),
// or, for 4 bytes, as a dotted quad (192.168.1.1) as etherwake accepts it.
func ParsePassword(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
		b := a.As4()
		return b[:], nil
	}
	digits := s
	if len(s) == 11 || len(s) == 17 {
		sep := s[2]
		if sep != ':' && sep != '-' {
			return nil, fmt.Errorf("SecureOn password: want 4 or 6 bytes as hex, aa:bb:cc:dd:ee:ff or a.b.c.d")
		}
		var b strings.Builder
		for i := 0; i < len(s); i += 3 {
			if i > 0 && s[i-1] != sep {
				return nil, fmt.Errorf("SecureOn password: mixed or misplaced separators")
			}
			b.WriteString(s[i : i+2])
		}
		digits = b.String()
	}
	if len(digits) != 8 && len(digits) != 12 {
		return nil, fmt.Errorf("SecureOn password: want 4 or 6 bytes as hex, aa:bb:cc:dd:ee:ff or a.b.c.d")
	}
	pw, err := hex.DecodeString(digits)
	if err != nil {
		return nil, fmt.Errorf("SecureOn password: not hexadecimal")
	}
	return pw, nil
}
