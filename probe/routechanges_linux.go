//go:build linux

package probe

import (
	"errors"

	"golang.org/x/sys/unix"
)

// routeChanges is a netlink socket subscribed to what can change the
// kernel's answer to "how would you reach this address": routes,
// addresses, links and policy rules, of both families. It is read without
// blocking, so it needs no goroutine: whatever arrived since the last
// poll, or the kernel's word that some was lost (ENOBUFS), is a change.
type routeChanges struct {
	fd     int
	open   bool
	failed bool // the socket could not be made: the cache falls back to routeTTL
	buf    []byte
}

// routeGroups are the rtnetlink multicast groups routeChanges joins, as
// the bit mask of bind(2): group g is bit g-1.
var routeGroups = []uint32{
	unix.RTNLGRP_LINK,
	unix.RTNLGRP_IPV4_IFADDR, unix.RTNLGRP_IPV4_ROUTE, unix.RTNLGRP_IPV4_RULE,
	unix.RTNLGRP_IPV6_IFADDR, unix.RTNLGRP_IPV6_ROUTE, unix.RTNLGRP_IPV6_RULE,
}

// poll opens the socket on first use (through enter, so in the table's
// namespace), then reports whether it is listening and whether anything
// changed since the last poll. Opening counts as a change: nothing cached
// before it was watched.
func (c *routeChanges) poll(enter func(f func() error) error) (watching, changed bool) {
	if c.failed {
		return false, false
	}
	if !c.open {
		if err := inNamespace(enter, c.dial); err != nil {
			c.failed = true
			return false, true
		}
		return true, true
	}
	for {
		n, _, err := unix.Recvfrom(c.fd, c.buf, unix.MSG_DONTWAIT|unix.MSG_TRUNC)
		switch {
		case err == nil && n >= 0:
			changed = true
		case errors.Is(err, unix.EINTR):
		case errors.Is(err, unix.EAGAIN):
			return true, changed
		case errors.Is(err, unix.ENOBUFS):
			changed = true // the kernel dropped some: assume the worst
		default:
			// A socket that cannot be read says nothing from now on.
			_ = c.close()
			c.failed = true
			return false, true
		}
	}
}

func (c *routeChanges) dial() error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return err
	}
	var groups uint32
	for _, g := range routeGroups {
		groups |= 1 << (g - 1)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: groups}); err != nil {
		unix.Close(fd)
		return err
	}
	c.fd, c.open = fd, true
	if c.buf == nil {
		c.buf = make([]byte, 8<<10)
	}
	return nil
}

// close closes the socket; a later poll does not open it again.
func (c *routeChanges) close() error {
	c.failed = true
	if !c.open {
		return nil
	}
	c.open = false
	return unix.Close(c.fd)
}
