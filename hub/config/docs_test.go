package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/moonwake/moonwake/internal/docscheck"
)

// TestDocsConfig holds every ```yaml block of README.md and docs/*.md
// against the hub's configuration (decoded strictly, then validated),
// checks that every ```yaml other block at least parses, and that every key
// in a "config key" table is a real key.
func TestDocsConfig(t *testing.T) {
	root, err := docscheck.Root()
	if err != nil {
		t.Fatal(err)
	}
	pages, err := docscheck.Pages(root)
	if err != nil {
		t.Fatal(err)
	}
	blocks, yamls, keys := 0, 0, 0
	for _, p := range pages {
		md, err := os.ReadFile(root + "/" + p)
		if err != nil {
			t.Fatal(err)
		}
		errs, n, k, b := checkDocConfig(p, md)
		for _, err := range errs {
			t.Error(err)
		}
		yamls, keys, blocks = yamls+n, keys+k, blocks+b
	}
	if yamls < 5 || keys < 30 {
		t.Errorf("only %d hub configuration blocks and %d table keys found in %d blocks; is the extraction broken?", yamls, keys, blocks)
	}
}

// TestDocsConfigCatchLies shows that a misspelt key, in a block or in a
// table, fails with its page and line.
func TestDocsConfigCatchLies(t *testing.T) {
	md, err := os.ReadFile("testdata/docs/lies.md")
	if err != nil {
		t.Fatal(err)
	}
	errs, _, _, _ := checkDocConfig("lies.md", md)
	var got []string
	for _, err := range errs {
		got = append(got, err.Error())
	}
	want := []string{
		"lies.md:6: configuration block: field session_tll not found in type config.UI",
		"lies.md:10: configuration block: wake.deadline 0s: want 1s to 1h",
		"lies.md:14: a yaml other block that is not YAML: yaml: line 1: did not find expected ',' or '}'",
		"lies.md:21: config key table: no key mqtt.brokers in the hub's configuration",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

var tableKey = regexp.MustCompile("`([a-z_]+(?:\\.[a-z_]+)*)`")

// checkDocConfig checks one page: its yaml blocks, and the first column of
// its tables whose header starts with "config key". It returns the errors
// and how many configuration blocks, table keys and blocks it saw.
func checkDocConfig(page string, md []byte) (errs []error, yamls, keys, blocks int) {
	bs, err := docscheck.Parse(page, md)
	if err != nil {
		return []error{err}, 0, 0, 0
	}
	for _, b := range bs {
		if b.Lang != "yaml" && b.Lang != "yml" {
			continue
		}
		switch b.Tag {
		case "":
			yamls++
			c := Default()
			if err := Parse([]byte(b.Text), &c); err != nil {
				errs = append(errs, yamlErrors(b, err)...)
			} else if err := c.Validate(); err != nil {
				errs = append(errs, fmt.Errorf("%s: configuration block: %w", b.Pos(0), err))
			}
		case "other", "agent":
			// The agent's blocks are checked in package agent.
			var n yaml.Node
			if err := yaml.Unmarshal([]byte(b.Text), &n); err != nil {
				errs = append(errs, fmt.Errorf("%s: a yaml %s block that is not YAML: %w", b.Pos(0), b.Tag, err))
			}
		default:
			errs = append(errs, fmt.Errorf("%s: unknown yaml block tag %q (use none for the hub's configuration, agent, or other)", b.Pos(0), b.Tag))
		}
	}
	blocks = len(bs)
	inTable, fence := false, false
	for i, line := range strings.Split(string(md), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fence = !fence
		}
		if fence || !strings.HasPrefix(line, "|") {
			inTable = false
			continue
		}
		cells := strings.Split(line, "|")
		first := strings.TrimSpace(cells[1])
		if first == "config key" {
			inTable = true
			continue
		}
		if !inTable {
			continue
		}
		for _, m := range tableKey.FindAllStringSubmatch(first, -1) {
			keys++
			if !hasKey(reflect.TypeFor[Config](), strings.Split(m[1], ".")) {
				errs = append(errs, fmt.Errorf("%s:%d: config key table: no key %s in the hub's configuration", page, i+1, m[1]))
			}
		}
	}
	return errs, yamls, keys, blocks
}

// hasKey reports whether the YAML path names a field of t.
func hasKey(t reflect.Type, path []string) bool {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if len(path) == 0 {
		return true
	}
	if t.Kind() != reflect.Struct {
		return false
	}
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == path[0] {
			return hasKey(f.Type, path[1:])
		}
	}
	return false
}

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// yamlErrors turns a decoding error into one error per problem, each at
// its line of the page.
func yamlErrors(b docscheck.Block, err error) []error {
	var msgs []string
	if te := (*yaml.TypeError)(nil); errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{err.Error()}
	}
	var errs []error
	for _, m := range msgs {
		pos := b.Pos(0)
		if sm := yamlLine.FindStringSubmatch(m); sm != nil {
			n, _ := strconv.Atoi(sm[1])
			pos, m = b.Pos(n-1), sm[2]
		}
		errs = append(errs, fmt.Errorf("%s: configuration block: %s", pos, m))
	}
	return errs
}

// TestDocsConfigComplete checks that the configuration reference names
// every top-level key and every environment variable the hub reads.
func TestDocsConfigComplete(t *testing.T) {
	root, err := docscheck.Root()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(root + "/docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	for f := range reflect.TypeFor[Config]().Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !strings.Contains(page, "`"+name) {
			t.Errorf("docs/configuration.md does not name the key %s", name)
		}
	}
	for _, e := range Env {
		if !strings.Contains(page, "`"+e.Name+"`") {
			t.Errorf("docs/configuration.md does not name the variable %s (%s)", e.Name, e.Key)
		}
	}
}
