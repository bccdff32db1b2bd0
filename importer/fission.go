package importer

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// macInURL finds a MAC in a URL's query (mac=…) or path (/wake/aa-bb-…).
var (
	macQueryRE = regexp.MustCompile(`[?&]mac=([^&#\s"']+)`)
	macPathRE  = regexp.MustCompile(`/((?:[0-9A-Fa-f]{2}[-:]){5}[0-9A-Fa-f]{2})(?:[/?#\s"']|$)`)
)

// parseFission reads what the seed's Fission function leaves behind: its
// spec (an HTTPTrigger whose route may hold a MAC), and the URLs that call
// it, one a line (phone shortcuts, Home Assistant rest_commands), each
// with its MAC in the query: https://fn.example/wake?mac=aa:bb:cc:dd:ee:ff.
// A line may begin with a name for it: "gaming-pc https://…".
func parseFission(data []byte) ([]raw, error) {
	var out []raw
	if strings.Contains(string(data), "fission.io/") {
		dec := yaml.NewDecoder(strings.NewReader(string(data)))
		for {
			var doc struct {
				Kind     string `yaml:"kind"`
				Metadata struct {
					Name string `yaml:"name"`
				} `yaml:"metadata"`
				Spec struct {
					RelativeURL string `yaml:"relativeurl"`
					Prefix      string `yaml:"prefix"`
				} `yaml:"spec"`
			}
			err := dec.Decode(&doc)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("fission spec: %v", err)
			}
			if doc.Kind != "HTTPTrigger" {
				continue
			}
			for _, route := range []string{doc.Spec.RelativeURL, doc.Spec.Prefix} {
				if mac := macIn(route); mac != "" {
					out = append(out, raw{name: doc.Metadata.Name, mac: mac, from: fmt.Sprintf("HTTPTrigger %q", doc.Metadata.Name)})
				}
			}
		}
		if len(out) == 0 {
			return nil, errors.New("the Fission spec: no HTTPTrigger route holds a MAC; the seed's function takes it from the URL: import the URLs that call it (one a line, with ?mac=) instead")
		}
		return out, nil
	}
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		mac := macIn(line)
		if mac == "" {
			return nil, fmt.Errorf("line %d: no ?mac= in %q: want a URL of the function, one a line", i+1, clip(line))
		}
		name := ""
		if f := strings.Fields(line); len(f) > 1 && !strings.Contains(f[0], "://") {
			name = f[0]
		}
		out = append(out, raw{name: name, mac: mac, from: fmt.Sprintf("line %d", i+1)})
	}
	return out, nil
}

// macIn returns the MAC in a URL or route, unescaped, or "".
func macIn(s string) string {
	if m := macQueryRE.FindStringSubmatch(s); m != nil {
		if v, err := url.QueryUnescape(m[1]); err == nil {
			return v
		}
		return m[1]
	}
	if m := macPathRE.FindStringSubmatch(s); m != nil {
		return m[1]
	}
	return ""
}

// clip shortens s for an error message.
func clip(s string) string {
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}
