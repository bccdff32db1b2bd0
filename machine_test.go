package moonwake

import (
	"strings"
	"testing"
)

func TestMachineNormalize(t *testing.T) {
	m := Machine{Name: " gaming-pc ", MAC: "AABB.CCDD.EEFF", Host: "pc.lan", Broadcast: "::ffff:192.0.2.255",
		Password: "0A-0B-0C-0D", Tags: []string{"Games", "games", "lan"}, Relay: " office_relay-2 "}
	if err := m.Normalize(); err != nil {
		t.Fatal(err)
	}
	if m.Name != "gaming-pc" || m.MAC != "aa:bb:cc:dd:ee:ff" || m.Password != "0a:0b:0c:0d" ||
		strings.Join(m.Tags, ",") != "games,lan" || m.Source != SourceAPI || m.Relay != "office_relay-2" {
		t.Fatalf("%+v", m)
	}
	bad := []struct {
		m    Machine
		want string
	}{
		{Machine{Name: "", MAC: "aa:bb:cc:dd:ee:ff"}, "name"},
		{Machine{Name: "UPPER", MAC: "aa:bb:cc:dd:ee:ff"}, "name"},
		{Machine{Name: "pc", MAC: "ff:ff:ff:ff:ff:ff"}, "broadcast"},
		{Machine{Name: "pc", MAC: "aa:bb:cc:dd:ee:ff", Host: "not a host"}, "host"},
		{Machine{Name: "pc", MAC: "aa:bb:cc:dd:ee:ff", Interface: "eth0/../x"}, "interface"},
		{Machine{Name: "pc", MAC: "aa:bb:cc:dd:ee:ff", Port: -1}, "port"},
		{Machine{Name: "pc", MAC: "aa:bb:cc:dd:ee:ff", Password: "01:02"}, "password"},
		{Machine{Name: "pc", MAC: "aa:bb:cc:dd:ee:ff", Tags: []string{"no spaces"}}, "tag"},
		{Machine{Name: "pc", MAC: "aa:bb:cc:dd:ee:ff", Relay: "Office"}, "relay"},
		{Machine{Name: "pc", MAC: "aa:bb:cc:dd:ee:ff", Relay: "office relay"}, "relay"},
		{Machine{Name: "pc", MAC: "aa:bb:cc:dd:ee:ff", Relay: "-office"}, "relay"},
		{Machine{Name: "pc", MAC: "aa:bb:cc:dd:ee:ff", Relay: strings.Repeat("r", 64)}, "relay"},
	}
	for _, b := range bad {
		err := b.m.Normalize()
		if ErrorCode(err) != EInvalid || !strings.Contains(ErrorMessage(err), b.want) {
			t.Errorf("%+v: %v, want EInvalid about %q", b.m, err, b.want)
		}
	}
}

func TestMachineRelay(t *testing.T) {
	for _, relay := range []string{"", "   "} {
		m := Machine{Name: "pc", MAC: "aa:bb:cc:dd:ee:ff", Relay: relay}
		if err := m.Normalize(); err != nil || m.Relay != "" {
			t.Errorf("relay %q: %v, %q; want no relay", relay, err, m.Relay)
		}
	}
	m := Machine{Name: "pc", MAC: "aa:bb:cc:dd:ee:ff", Relay: "office"}
	if got := (MachineUpdate{}).Apply(m); got.Relay != "office" {
		t.Errorf("empty update changed the relay to %q", got.Relay)
	}
	lab, none := "lab", ""
	if got := (MachineUpdate{Relay: &lab}).Apply(m); got.Relay != "lab" {
		t.Errorf("update to lab: %q", got.Relay)
	}
	if got := (MachineUpdate{Relay: &none}).Apply(m); got.Relay != "" {
		t.Errorf("clearing update: %q", got.Relay)
	}
}

func TestTokenScope(t *testing.T) {
	phone := &Token{Name: "phone", Machines: []string{"pc"}, Actions: []string{"wake"}}
	all := &Token{Name: "ha", Actions: []string{"wake", "shutdown"}}
	admin := &Token{Name: "admin", Admin: true}
	cases := []struct {
		t      *Token
		action string
		name   string
		want   bool
	}{
		{phone, "wake", "pc", true},
		{phone, "wake", "nas", false},
		{phone, "shutdown", "pc", false},
		{all, "shutdown", "nas", true},
		{admin, "shutdown", "anything", true},
	}
	for _, c := range cases {
		if got := c.t.Allows(c.action, c.name); got != c.want {
			t.Errorf("%s may %s %s: %v, want %v", c.t.Name, c.action, c.name, got, c.want)
		}
	}
	if err := (&Token{Name: "x", Actions: []string{"format-disk"}}).Normalize(); ErrorCode(err) != EInvalid {
		t.Errorf("unknown action accepted: %v", err)
	}
}

func TestErrorHelpers(t *testing.T) {
	if ErrorCode(nil) != "" || ErrorMessage(nil) != "" {
		t.Fatal("nil")
	}
	if ErrorMessage(errFake{}) != "internal error" || ErrorCode(errFake{}) != EInternal {
		t.Fatal("internal errors must not leak")
	}
}

type errFake struct{}

func (errFake) Error() string { return "secret detail" }

// FuzzMachineNormalize checks that normalizing never panics and is stable:
// a normalized machine normalizes to itself.
func FuzzMachineNormalize(f *testing.F) {
	f.Add("pc", "aa:bb:cc:dd:ee:ff", "192.0.2.1", "eth0", "192.0.2.255", 9, "01020304", "games")
	f.Add("x", "AABB.CCDD.EEFF", "pc.lan.", "", "::1", 7, "", "")
	f.Add("", "", "", "", "", 0, "", "")
	f.Fuzz(func(t *testing.T, name, mac, host, iface, bcast string, port int, pw, tag string) {
		m := Machine{Name: name, MAC: mac, Host: host, Interface: iface, Broadcast: bcast, Port: port, Password: pw, Tags: []string{tag}}
		if m.Normalize() != nil {
			return
		}
		again := m
		again.Tags = append([]string(nil), m.Tags...)
		if err := again.Normalize(); err != nil {
			t.Fatalf("normalized machine fails to normalize: %v", err)
		}
		if again.MAC != m.MAC || again.Password != m.Password || again.Broadcast != m.Broadcast || again.Host != m.Host {
			t.Fatalf("not stable: %+v vs %+v", m, again)
		}
	})
}

func TestTapTapsAreNarrow(t *testing.T) {
	for _, tok := range []Token{
		{Name: "a", TapLink: true, Machines: []string{"pc"}, Actions: []string{"wake", "shutdown"}},
		{Name: "b", TapLink: true, Actions: []string{"wake"}},
		{Name: "c", TapLink: true, Admin: true, Machines: []string{"pc"}, Actions: []string{"wake"}},
	} {
		if err := tok.Normalize(); ErrorCode(err) != EInvalid {
			t.Errorf("%s: %v, want EInvalid", tok.Name, err)
		}
	}
}

func TestTokenScopeWords(t *testing.T) {
	for _, c := range []struct {
		tok  Token
		want string
	}{
		{Token{Admin: true, Actions: []string{"wake"}}, "admin: everything"},
		{Token{Actions: []string{ScopeRead}}, "read-only on every machine"},
		{Token{}, "state only on every machine"},
		{Token{Machines: []string{"pc-a"}, Actions: []string{ScopeRead, "wake"}}, "read, wake on pc-a"},
		{Token{Machines: []string{"pc-a", "pc-b"}, Actions: []string{"shutdown", "wake"}}, "shutdown, wake on pc-a, pc-b"},
		{Token{TapLink: true, Machines: []string{"pc-a"}, Actions: []string{"wake"}}, "tap link: wake on pc-a"},
	} {
		if got := c.tok.Scope(); got != c.want {
			t.Errorf("%+v: Scope() = %q, want %q", c.tok, got, c.want)
		}
	}
}
