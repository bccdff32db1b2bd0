//go:build linux

package lan

import (
	"errors"

	"golang.org/x/sys/unix"
)

// isTransient reports errors a send gets from an earlier datagram's fate
// (an ICMP unreachable reported on the socket, an ARP that failed): they
// say a host is absent, not that the sweep cannot go on.
func isTransient(err error) bool {
	return errors.Is(err, unix.ECONNREFUSED) || errors.Is(err, unix.EHOSTUNREACH) || errors.Is(err, unix.ENETUNREACH) ||
		errors.Is(err, unix.ENOBUFS) || errors.Is(err, unix.EAGAIN)
}
