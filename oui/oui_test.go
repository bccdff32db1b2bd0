package oui

import (
	"net"
	"testing"
)

func TestVendor(t *testing.T) {
	for mac, want := range map[string]string{
		"3c:7c:3f:01:02:03": "ASUSTek COMPUTER",
		"00:1a:11:aa:bb:cc": "Google",
		"00:0c:29:12:34:56": "VMware",
		"d8:bb:c1:00:00:01": "Micro-Star INTL",
		"02:77:00:00:00:01": "random address", // locally administered
		"00:00:00:00:00:00": "XEROX",
		"fc:ff:ff:00:00:00": "", // unassigned
	} {
		hw, err := net.ParseMAC(mac)
		if err != nil {
			t.Fatal(err)
		}
		if got := Vendor(hw); got != want {
			t.Errorf("Vendor(%s) = %q, want %q", mac, got, want)
		}
	}
	if Vendor(nil) != "" {
		t.Error("a nil MAC has a vendor")
	}
	if n := len(entries()); n < 30000 {
		t.Errorf("%d vendors in the table", n)
	}
}

func BenchmarkVendor(b *testing.B) {
	hw, _ := net.ParseMAC("3c:7c:3f:01:02:03")
	Vendor(hw)
	for b.Loop() {
		Vendor(hw)
	}
}
