package wol

import (
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// SendRaw sends payload in an Ethernet frame with EtherType 0x0842 to the
// broadcast MAC on the named interface, as etherwake does. It needs
// CAP_NET_RAW. Broadcasting, rather than addressing the target's MAC, reaches
// the sleeping card even when switches have forgotten which port it is on.
func SendRaw(ifname string, payload []byte) error {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return err
	}
	if len(ifi.HardwareAddr) != 6 {
		return fmt.Errorf("interface %s has no Ethernet address", ifname)
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open raw socket (needs CAP_NET_RAW): %w", err)
	}
	defer unix.Close(fd)
	frame := make([]byte, 14+len(payload))
	copy(frame[0:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	copy(frame[6:12], ifi.HardwareAddr)
	frame[12], frame[13] = EtherType>>8, EtherType&0xff
	copy(frame[14:], payload)
	sa := &unix.SockaddrLinklayer{
		Protocol: htons(EtherType),
		Ifindex:  ifi.Index,
		Halen:    6,
	}
	copy(sa.Addr[:], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	if err := unix.Sendto(fd, frame, 0, sa); err != nil {
		return err
	}
	return nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
