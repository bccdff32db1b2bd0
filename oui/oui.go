// Package oui names the maker of a network card from its MAC address, with
// a table of the IEEE's MA-L registry built in (oui.tsv.gz, made by
// internal/gen from Debian's ieee-data). The hub shows it beside the
// devices it suggests adding: "ASUSTek Computer" says "the gaming PC"
// better than a MAC does.
package oui

//go:generate go run ./internal/gen -out oui.tsv.gz

import (
	"bufio"
	"bytes"
	"compress/gzip"
	_ "embed"
	"net"
	"sort"
	"strings"
	"sync"
)

//go:embed oui.tsv.gz
var table []byte

// entry is one assignment: the first three bytes of a MAC, and its owner.
type entry struct {
	prefix uint32
	vendor string
}

// entries is the table, sorted by prefix, read on first use (about 30,000
// entries, a few milliseconds).
var entries = sync.OnceValue(func() []entry {
	zr, err := gzip.NewReader(bytes.NewReader(table))
	if err != nil {
		return nil
	}
	var out []entry
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		hex, vendor, ok := strings.Cut(sc.Text(), "\t")
		if !ok || len(hex) != 6 {
			continue
		}
		var p uint32
		for _, c := range hex {
			p <<= 4
			switch {
			case c >= '0' && c <= '9':
				p |= uint32(c - '0')
			case c >= 'A' && c <= 'F':
				p |= uint32(c-'A') + 10
			}
		}
		out = append(out, entry{p, vendor})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].prefix < out[j].prefix })
	return out
})

// Vendor returns the maker of the card with this MAC, "" when the registry
// does not know it. A locally administered MAC (a phone's or a VM's random
// address) has no maker, and says so.
func Vendor(mac net.HardwareAddr) string {
	if len(mac) < 3 {
		return ""
	}
	if mac[0]&0x02 != 0 {
		return "random address"
	}
	p := uint32(mac[0])<<16 | uint32(mac[1])<<8 | uint32(mac[2])
	es := entries()
	i := sort.Search(len(es), func(i int) bool { return es[i].prefix >= p })
	if i < len(es) && es[i].prefix == p {
		return es[i].vendor
	}
	return ""
}
