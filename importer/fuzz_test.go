package importer

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse: no input makes a parser panic, and what comes out is always
// a set of valid machines with unique names and MACs.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.*"))
	for _, p := range append(files, filepath.Join("testdata", "core.config_entries")) {
		if b, err := os.ReadFile(p); err == nil {
			for _, format := range append([]string{""}, Formats...) {
				f.Add(format, b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, format string, data []byte) {
		cs, err := Parse(format, data)
		if err != nil {
			return
		}
		names, macs := map[string]bool{}, map[string]bool{}
		for _, c := range cs {
			m := c.Machine
			if err := m.Normalize(); err != nil {
				t.Fatalf("an invalid machine came out: %+v: %v", c.Machine, err)
			}
			if names[m.Name] || macs[m.MAC] {
				t.Fatalf("a name or MAC came out twice: %+v", c.Machine)
			}
			names[m.Name], macs[m.MAC] = true, true
		}
	})
}
