package clientip

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

func prefixes(t testing.TB, ss ...string) []netip.Prefix {
	t.Helper()
	var ps []netip.Prefix
	for _, s := range ss {
		ps = append(ps, netip.MustParsePrefix(s))
	}
	return ps
}

func request(remote string, xff ...string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = remote
	for _, v := range xff {
		r.Header.Add("X-Forwarded-For", v)
	}
	return r
}

func TestAddr(t *testing.T) {
	proxies := []string{"10.0.0.0/8", "fd00::/8"}
	tests := []struct {
		name    string
		trusted []string
		remote  string
		xff     []string
		want    string
		proxied bool
	}{
		{"no proxies, no header", nil, "192.0.2.7:5555", nil, "192.0.2.7", false},
		{"no proxies ignore XFF", nil, "192.0.2.7:5555", []string{"203.0.113.9"}, "192.0.2.7", false},
		{"trusted proxy, one hop", proxies, "10.0.0.2:443", []string{"203.0.113.9"}, "203.0.113.9", true},
		{"trusted proxy, chain", proxies, "10.0.0.2:443", []string{"198.51.100.1, 203.0.113.9, 10.0.0.3"}, "203.0.113.9", true},
		{"trusted proxy, chain over headers", proxies, "10.0.0.2:443", []string{"198.51.100.1", "203.0.113.9", "10.1.2.3"}, "203.0.113.9", true},
		{"trusted proxy, no header", proxies, "10.0.0.2:443", nil, "10.0.0.2", true},
		{"trusted proxy, all hops trusted", proxies, "10.0.0.2:443", []string{"10.0.0.5, 10.0.0.4"}, "10.0.0.2", true},
		{"untrusted peer, spoofed XFF", proxies, "198.51.100.66:1234", []string{"10.0.0.1, 127.0.0.1"}, "198.51.100.66", false},
		{"IPv6 client via trusted proxy", proxies, "10.0.0.2:443", []string{"2001:db8::1"}, "2001:db8::1", true},
		{"IPv6 proxy", proxies, "[fd00::2]:443", []string{"2001:db8::1, fd00::3"}, "2001:db8::1", true},
		{"IPv6 untrusted peer", proxies, "[2001:db8::66]:443", []string{"203.0.113.9"}, "2001:db8::66", false},
		{"IPv4-mapped proxy and client", proxies, "[::ffff:10.0.0.2]:443", []string{"::ffff:203.0.113.9"}, "203.0.113.9", true},
		{"garbage hop stops the walk", proxies, "10.0.0.2:443", []string{"203.0.113.9, nonsense, 10.0.0.3"}, "10.0.0.2", true},
		{"garbage last hop", proxies, "10.0.0.2:443", []string{"203.0.113.9, 10.0.0.3:80"}, "10.0.0.2", true},
		{"empty hop", proxies, "10.0.0.2:443", []string{"203.0.113.9,"}, "10.0.0.2", true},
		{"spaces around hops", proxies, "10.0.0.2:443", []string{" 203.0.113.9 ,  10.0.0.3 "}, "203.0.113.9", true},
		{"zone in hop", proxies, "10.0.0.2:443", []string{"fe80::1%eth0"}, "fe80::1%eth0", true},
		{"remote without port", proxies, "10.0.0.2", []string{"203.0.113.9"}, "203.0.113.9", true},
		{"remote not an address", proxies, "@unix", []string{"203.0.113.9"}, "@unix", false},
		{"empty remote", proxies, "", []string{"203.0.113.9"}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := Resolver{Trusted: prefixes(t, tt.trusted...)}
			r := request(tt.remote, tt.xff...)
			if got := res.Addr(r); got != tt.want {
				t.Errorf("Addr = %q, want %q", got, tt.want)
			}
			if got := res.FromTrustedProxy(r); got != tt.proxied {
				t.Errorf("FromTrustedProxy = %v, want %v", got, tt.proxied)
			}
		})
	}
}

func TestZeroResolver(t *testing.T) {
	var res Resolver
	r := request("10.0.0.2:443", "203.0.113.9")
	if got := res.Addr(r); got != "10.0.0.2" {
		t.Errorf("Addr = %q, want the peer", got)
	}
	if res.FromTrustedProxy(r) {
		t.Error("the zero Resolver trusts a proxy")
	}
}

// FuzzAddr checks that Addr never panics and never returns an address
// taken from X-Forwarded-For unless the peer is a trusted proxy, and then
// only an untrusted, well-formed one.
func FuzzAddr(f *testing.F) {
	f.Add("10.0.0.2:443", "203.0.113.9, 10.0.0.3")
	f.Add("198.51.100.66:1234", "10.0.0.1")
	f.Add("[fd00::2]:443", "2001:db8::1")
	f.Add("10.0.0.2", ",,, ,")
	res := Resolver{Trusted: prefixes(f, "10.0.0.0/8", "fd00::/8")}
	f.Fuzz(func(t *testing.T, remote, xff string) {
		r := request(remote, xff)
		got := res.Addr(r)
		peer := peerHost(r)
		if !res.FromTrustedProxy(r) {
			if got != peer {
				t.Fatalf("untrusted peer %q: Addr = %q, want the peer", remote, got)
			}
			return
		}
		if got == peer {
			return
		}
		a, err := netip.ParseAddr(got)
		if err != nil {
			t.Fatalf("Addr = %q, not an address", got)
		}
		if res.trusted(a) {
			t.Fatalf("Addr = %q, a trusted proxy", got)
		}
	})
}
