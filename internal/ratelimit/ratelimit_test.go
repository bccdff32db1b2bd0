package ratelimit

import (
	"fmt"
	"testing"
	"time"
)

func TestAddrKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7":            "192.0.2.7",
		"::ffff:192.0.2.7":     "192.0.2.7",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64",
		"2001:db8:1:2::9":      "2001:db8:1:2::/64",
		"fe80::1%eth0":         "fe80::/64",
		"not an address":       "not an address",
	} {
		if got := AddrKey(in); got != want {
			t.Errorf("AddrKey(%q) = %q, want %q", in, got, want)
		}
	}
}

// The map stays bounded however many keys come, and newcomers past the cap
// share one bucket, which limits them.
func TestKeyedBounded(t *testing.T) {
	k := New(60, 2, 100)
	now := time.Now()
	for i := range 1000 {
		k.Allow(fmt.Sprintf("10.0.%d.%d", i>>8, i&255), now)
	}
	if n := k.Len(); n > 100 {
		t.Fatalf("%d keys remembered, cap 100", n)
	}
	if ok, wait := k.Allow("192.0.2.1", now); ok || wait <= 0 {
		t.Errorf("a newcomer past the cap: allowed %v, wait %s; want the drained overflow bucket", ok, wait)
	}
	// Once buckets have refilled, a sweep makes room again.
	later := now.Add(time.Minute)
	if ok, _ := k.Allow("192.0.2.2", later); !ok {
		t.Error("after the buckets refilled, a newcomer is still refused")
	}
	if k.Exhausted("never-seen") {
		t.Error("an unknown key is exhausted")
	}
}
