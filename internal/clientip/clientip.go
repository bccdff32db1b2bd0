// Package clientip finds a request's client address behind trusted
// reverse proxies. The web app and the API share it, so that the
// X-Forwarded-For rules live in one place.
package clientip

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Resolver believes X-Forwarded-For (and, through FromTrustedProxy,
// headers such as X-Forwarded-Proto) only from the proxies in Trusted.
// The zero Resolver trusts no one.
type Resolver struct {
	Trusted []netip.Prefix
}

// Addr returns the client's IP address. X-Forwarded-For is believed only
// when the connection comes from a trusted proxy, and then the rightmost
// address that is not itself a trusted proxy is the client. A hop that is
// not an address stops the walk, and the peer's address is returned.
func (r Resolver) Addr(req *http.Request) string {
	host := peerHost(req)
	if !r.FromTrustedProxy(req) {
		return host
	}
	hops := strings.Split(strings.Join(req.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		if !r.trusted(a.Unmap()) {
			return a.Unmap().String()
		}
	}
	return host
}

// FromTrustedProxy reports whether the connection comes from a trusted
// proxy.
func (r Resolver) FromTrustedProxy(req *http.Request) bool {
	if len(r.Trusted) == 0 {
		return false
	}
	a, err := netip.ParseAddr(peerHost(req))
	return err == nil && r.trusted(a.Unmap())
}

// peerHost is the host part of the connection's remote address, or the
// whole of it when it has no port.
func peerHost(req *http.Request) string {
	host, _, err := net.SplitHostPort(req.RemoteAddr)
	if err != nil {
		return req.RemoteAddr
	}
	return host
}

func (r Resolver) trusted(a netip.Addr) bool {
	for _, p := range r.Trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
