package sunshinetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Sunshine keeps apps.json in a Boost property tree: read_json turns every
// number and boolean into a string, and write_json writes the tree back
// pretty-printed (four spaces), every value as a string, '/' escaped as
// "\/", an empty array as "". The config API answers with that file as it
// is on disk, so the emulator keeps the same tree and writes the same bytes.

// ptree is a Boost property tree: a value, or an ordered list of children
// (an array when every key is empty).
type ptree struct {
	data     string
	children []pchild
}

type pchild struct {
	key  string
	tree *ptree
}

// get returns the first child under key, or nil.
func (t *ptree) get(key string) *ptree {
	for _, c := range t.children {
		if c.key == key {
			return c.tree
		}
	}
	return nil
}

// erase removes every child under key.
func (t *ptree) erase(key string) {
	kept := t.children[:0]
	for _, c := range t.children {
		if c.key != key {
			kept = append(kept, c)
		}
	}
	t.children = kept
}

// put replaces the child under key, or appends it.
func (t *ptree) put(key string, v *ptree) {
	for i, c := range t.children {
		if c.key == key {
			t.children[i].tree = v
			return
		}
	}
	t.children = append(t.children, pchild{key, v})
}

// readPtree parses JSON as Boost's read_json does: scalars become strings
// (null the string "null"), arrays children with empty keys.
func readPtree(b []byte) (*ptree, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	t, err := readValue(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("garbage after data")
	}
	if t.children == nil && t.data != "" {
		// Boost wants an object or an array at the top.
		return nil, errors.New("expected object or array")
	}
	return t, nil
}

func readValue(dec *json.Decoder) (*ptree, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch v := tok.(type) {
	case json.Delim:
		t := &ptree{children: []pchild{}}
		switch v {
		case '{':
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return nil, err
				}
				c, err := readValue(dec)
				if err != nil {
					return nil, err
				}
				t.children = append(t.children, pchild{k.(string), c})
			}
		case '[':
			for dec.More() {
				c, err := readValue(dec)
				if err != nil {
					return nil, err
				}
				t.children = append(t.children, pchild{"", c})
			}
		}
		if _, err := dec.Token(); err != nil { // the closing delimiter
			return nil, err
		}
		return t, nil
	case string:
		return &ptree{data: v}, nil
	case json.Number:
		return &ptree{data: v.String()}, nil
	case bool:
		return &ptree{data: fmt.Sprint(v)}, nil
	case nil:
		return &ptree{data: "null"}, nil
	}
	return nil, fmt.Errorf("unexpected %v", tok)
}

// writePtree writes t as Boost's write_json(pretty) does.
func writePtree(t *ptree) []byte {
	var b strings.Builder
	writeTree(&b, t, 0)
	b.WriteByte('\n')
	return []byte(b.String())
}

func writeTree(b *strings.Builder, t *ptree, indent int) {
	pad := func(n int) { b.WriteString(strings.Repeat(" ", 4*n)) }
	if len(t.children) == 0 {
		b.WriteString(`"` + escapeBoost(t.data) + `"`)
		return
	}
	array := true
	for _, c := range t.children {
		array = array && c.key == ""
	}
	open, end := "{", "}"
	if array {
		open, end = "[", "]"
	}
	b.WriteString(open + "\n")
	for i, c := range t.children {
		pad(indent + 1)
		if !array {
			b.WriteString(`"` + escapeBoost(c.key) + `": `)
		}
		writeTree(b, c.tree, indent+1)
		if i < len(t.children)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	pad(indent)
	b.WriteString(end)
}

// escapeBoost escapes as Boost's create_escapes: printable ASCII and the
// bytes of UTF-8 sequences as they are, '/' too, control bytes \uXXXX.
func escapeBoost(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			b.WriteString(`\"`)
		case c == '\\':
			b.WriteString(`\\`)
		case c == '/':
			b.WriteString(`\/`)
		case c == '\b':
			b.WriteString(`\b`)
		case c == '\f':
			b.WriteString(`\f`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\t':
			b.WriteString(`\t`)
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
