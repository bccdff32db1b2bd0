// Package importer reads the machines other wake-on-LAN tools know, so
// that `moonwake import` can register them: UpSnap's devices, Home
// Assistant's wake_on_lan switches, buttons and service calls, and the
// seed's Fission function (whose MACs live in the URLs that call it).
//
// Parsers are pure: bytes in, machines out, or an error that says where
// the file is wrong. A file with any entry that is not a valid machine is
// refused as a whole, so an import never does half of a file.
package importer

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/moonwake/moonwake"
)

// Formats, as `moonwake import --from` names them.
const (
	UpSnap        = "upsnap"
	HomeAssistant = "home-assistant"
	Fission       = "fission"
)

// Formats lists the formats Parse reads.
var Formats = []string{UpSnap, HomeAssistant, Fission}

// MaxFileSize bounds what Parse reads: these files are small, and a
// mistaken path (a disk image, a log) must not fill memory.
const MaxFileSize = 8 << 20

// Candidate is a machine found in a file, normalized, with where it was
// found, for people to check before anything is registered.
type Candidate struct {
	Machine moonwake.Machine
	From    string // "device \"Gaming PC\"", "switch 2", "line 3" …
}

// Parse reads data in format ("" to detect it) and returns the machines in
// it. The error lists every entry that is wrong, each with where it is.
func Parse(format string, data []byte) ([]Candidate, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("the file is %d bytes; an export to import is at most %d", len(data), MaxFileSize)
	}
	if format == "" {
		format = Detect(data)
		if format == "" {
			return nil, errors.New("not an UpSnap export, a Home Assistant configuration or a Fission spec; name the format with --from " + strings.Join(Formats, "|"))
		}
	}
	var (
		raws []raw
		err  error
	)
	switch format {
	case UpSnap:
		raws, err = parseUpSnap(data)
	case HomeAssistant:
		raws, err = parseHomeAssistant(data)
	case Fission:
		raws, err = parseFission(data)
	default:
		return nil, fmt.Errorf("unknown format %q: want %s", format, strings.Join(Formats, ", "))
	}
	if err != nil {
		return nil, err
	}
	return normalize(raws)
}

// Detect guesses the format of data: "" when it cannot tell.
func Detect(data []byte) string {
	s := string(data)
	switch {
	case bytes.HasPrefix(bytes.TrimSpace(data), []byte("{")) || bytes.HasPrefix(bytes.TrimSpace(data), []byte("[")):
		if strings.Contains(s, `"wake_on_lan"`) {
			return HomeAssistant // .storage/core.config_entries
		}
		if strings.Contains(s, `"mac"`) {
			return UpSnap
		}
	case strings.Contains(s, "fission.io/"):
		return Fission
	case strings.Contains(s, "wake_on_lan"):
		return HomeAssistant
	case strings.Contains(s, "mac="):
		return Fission // the seed function's URLs, one a line
	}
	return ""
}

// raw is a machine as a file spells it, before it is checked.
type raw struct {
	name, mac, host, netmask, broadcast, password string
	port                                          int
	ports                                         []int
	tags                                          []string
	from                                          string
}

// normalize turns raws into candidates: names made valid and unique, MACs
// and addresses checked. Every problem is reported, not just the first.
func normalize(raws []raw) ([]Candidate, error) {
	var (
		out      []Candidate
		problems []string
		names    = map[string]bool{}
		macs     = map[string]bool{}
	)
	for _, r := range raws {
		m := moonwake.Machine{MAC: r.mac, Host: r.host, Broadcast: r.broadcast, Port: r.port, Ports: r.ports, Password: r.password}
		if m.Broadcast == "" {
			m.Broadcast = directedBroadcast(r.host, r.netmask)
		}
		for _, t := range r.tags {
			if t := Name(t); t != "" {
				m.Tags = append(m.Tags, t)
			}
		}
		m.Name = Name(r.name)
		if m.Name == "" {
			m.Name = "pc-" + strings.ToLower(strings.NewReplacer(":", "", "-", "", ".", "").Replace(r.mac))
			if len(m.Name) > 9 {
				m.Name = "pc-" + m.Name[len(m.Name)-6:]
			}
		}
		if err := m.Normalize(); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %s", r.from, moonwake.ErrorMessage(err)))
			continue
		}
		if macs[m.MAC] {
			continue // one machine mentioned twice (a switch and a script): the first names it
		}
		base := m.Name
		for i := 2; names[m.Name]; i++ {
			m.Name = fmt.Sprintf("%.59s-%d", base, i)
		}
		names[m.Name], macs[m.MAC] = true, true
		out = append(out, Candidate{Machine: m, From: r.from})
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("nothing imported; fix these first:\n  %s", strings.Join(problems, "\n  "))
	}
	if len(out) == 0 {
		return nil, errors.New("no machines in this file")
	}
	return out, nil
}

// Name turns a name people gave a device ("Gaming PC", "Büro-Rechner")
// into a machine name (gaming-pc, b-ro-rechner): lower case, a-z 0-9 '-'
// '_', at most 63 characters. "" when nothing is left.
func Name(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(strings.TrimSpace(s)) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_':
			b.WriteRune(r)
			dash = false
		case !dash && b.Len() > 0:
			b.WriteByte('-')
			dash = true
		}
	}
	n := strings.Trim(b.String(), "-_")
	if len(n) > 63 {
		n = strings.Trim(n[:63], "-_")
	}
	return n
}

// directedBroadcast is the broadcast address of host's subnet, from a
// dotted netmask ("255.255.255.0") or a prefix length ("24"): "" when
// either is missing or wrong (the hub then picks by interface).
func directedBroadcast(host, netmask string) string {
	a, err := netip.ParseAddr(strings.TrimSpace(host))
	if err != nil || !a.Is4() || netmask == "" {
		return ""
	}
	bits := -1
	if m, err := netip.ParseAddr(strings.TrimSpace(netmask)); err == nil && m.Is4() {
		v := m.As4()
		n := uint32(v[0])<<24 | uint32(v[1])<<16 | uint32(v[2])<<8 | uint32(v[3])
		ones := 0
		for n&0x80000000 != 0 {
			ones++
			n <<= 1
		}
		if n != 0 {
			return "" // not a contiguous mask
		}
		bits = ones
	} else if _, err := fmt.Sscanf(strings.TrimPrefix(strings.TrimSpace(netmask), "/"), "%d", &bits); err != nil {
		return ""
	}
	if bits < 8 || bits > 30 {
		return ""
	}
	p := netip.PrefixFrom(a, bits).Masked()
	v := p.Addr().As4()
	host32 := uint32(v[0])<<24 | uint32(v[1])<<16 | uint32(v[2])<<8 | uint32(v[3])
	host32 |= 1<<(32-bits) - 1
	return netip.AddrFrom4([4]byte{byte(host32 >> 24), byte(host32 >> 16), byte(host32 >> 8), byte(host32)}).String()
}
