package wol

import (
	"bytes"
	"errors"
	"fmt"
	"net"
)

// Size is the length of a magic packet without a password.
const Size = 6 + 16*6

// DefaultPort is the UDP port magic packets are sent to by default
// ("discard"); 7 ("echo") is the other common choice.
const DefaultPort = 9

// EtherType is the EtherType of a raw Wake-on-LAN frame.
const EtherType = 0x0842

// Packet is a magic packet: the target MAC and an optional SecureOn password.
type Packet struct {
	Target   net.HardwareAddr
	Password []byte // nil, or 4 or 6 bytes
}

var sync6 = bytes.Repeat([]byte{0xff}, 6)

// MarshalBinary encodes p. It fails if the target is not a wakeable MAC or
// the password is not 4 or 6 bytes.
func (p *Packet) MarshalBinary() ([]byte, error) {
	if err := checkTarget(p.Target); err != nil {
		return nil, fmt.Errorf("magic packet target %s: %w", p.Target, err)
	}
	if n := len(p.Password); n != 0 && n != 4 && n != 6 {
		return nil, fmt.Errorf("magic packet: SecureOn password must be 4 or 6 bytes, not %d", n)
	}
	b := make([]byte, Size+len(p.Password))
	copy(b, sync6)
	for i := 6; i < Size; i += 6 {
		copy(b[i:], p.Target)
	}
	copy(b[Size:], p.Password)
	return b, nil
}

// Errors returned by UnmarshalBinary, wrapped with detail.
var (
	ErrLength      = errors.New("magic packet: wrong length")
	ErrSync        = errors.New("magic packet: does not start with 6 bytes 0xff")
	ErrRepetitions = errors.New("magic packet: the MAC is not repeated 16 times")
)

// UnmarshalBinary decodes a magic packet strictly: exactly 102, 106 or 108
// bytes, the 0xFF synchronization stream, sixteen identical copies of a
// wakeable MAC, then the optional password.
func (p *Packet) UnmarshalBinary(b []byte) error {
	switch len(b) {
	case Size, Size + 4, Size + 6:
	default:
		return fmt.Errorf("%w: %d bytes, want %d, %d or %d", ErrLength, len(b), Size, Size+4, Size+6)
	}
	if !bytes.Equal(b[:6], sync6) {
		return ErrSync
	}
	mac := b[6:12]
	for i := 12; i < Size; i += 6 {
		if !bytes.Equal(b[i:i+6], mac) {
			return fmt.Errorf("%w: copy %d differs", ErrRepetitions, (i-6)/6+1)
		}
	}
	if err := checkTarget(mac); err != nil {
		return fmt.Errorf("magic packet target: %w", err)
	}
	p.Target = append(net.HardwareAddr(nil), mac...)
	p.Password = nil
	if len(b) > Size {
		p.Password = append([]byte(nil), b[Size:]...)
	}
	return nil
}
