// Package apidoc renders the API reference page (docs/api.md) from the
// OpenAPI description, so the page cannot say something the description
// does not.
package apidoc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// document is the part of an OpenAPI 3.1 document the page shows.
type document struct {
	Info struct {
		Title       string `json:"title"`
		Version     string `json:"version"`
		Description string `json:"description"`
	} `json:"info"`
	Tags       []struct{ Name string } `json:"tags"`
	Paths      map[string]map[string]operation
	Components struct {
		Schemas   map[string]schema `json:"schemas"`
		Responses map[string]struct {
			Description string `json:"description"`
		} `json:"responses"`
	} `json:"components"`
}

type operation struct {
	Summary     string               `json:"summary"`
	Description string               `json:"description"`
	Tags        []string             `json:"tags"`
	Security    *[]map[string]any    `json:"security"`
	Parameters  []parameter          `json:"parameters"`
	RequestBody *body                `json:"requestBody"`
	Responses   map[string]*response `json:"responses"`
}

type parameter struct {
	Name        string `json:"name"`
	In          string `json:"in"`
	Required    bool   `json:"required"`
	Description string `json:"description"`
	Schema      schema `json:"schema"`
}

type body struct {
	Content map[string]struct {
		Schema schema `json:"schema"`
	} `json:"content"`
}

type response struct {
	Ref         string `json:"$ref"`
	Description string `json:"description"`
	body
}

type schema struct {
	Ref         string            `json:"$ref"`
	Type        any               `json:"type"` // a name or a list of names
	Description string            `json:"description"`
	Items       *schema           `json:"items"`
	Properties  map[string]schema `json:"properties"`
	Required    []string          `json:"required"`
	Enum        []any             `json:"enum"`
	AllOf       []schema          `json:"allOf"`
	AnyOf       []schema          `json:"anyOf"`
}

var methods = []string{"get", "post", "put", "patch", "delete"}

// Render returns the Markdown page for the OpenAPI document spec.
func Render(spec []byte) ([]byte, error) {
	var d document
	if err := json.Unmarshal(spec, &d); err != nil {
		return nil, fmt.Errorf("openapi.json: %w", err)
	}
	var b bytes.Buffer
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("<!-- Generated from hub/httpapi/openapi.json by TestAPIDoc; do not edit.\n")
	p("     After changing the description: go test ./hub/httpapi -run TestAPIDoc -update -->\n\n")
	p("# API reference\n\n")
	p("%s\n\n", strings.TrimSpace(d.Info.Description))
	p("The hub serves this description as OpenAPI 3.1 at `GET /api/v1/openapi.json` (with a token), ")
	p("for clients and tools; it is [hub/httpapi/openapi.json](../hub/httpapi/openapi.json) in the repository. ")
	p("The API's tests check every request and answer they make against it.\n\n")

	type entry struct {
		method, path string
		op           operation
	}
	byTag := map[string][]entry{}
	paths := make([]string, 0, len(d.Paths))
	for path := range d.Paths {
		paths = append(paths, path)
	}
	slices.Sort(paths)
	for _, path := range paths {
		for _, m := range methods {
			op, ok := d.Paths[path][m]
			if !ok {
				continue
			}
			tag := "other"
			if len(op.Tags) > 0 {
				tag = op.Tags[0]
			}
			byTag[tag] = append(byTag[tag], entry{strings.ToUpper(m), path, op})
		}
	}
	p("## Routes\n\n| route | who | what |\n|---|---|---|\n")
	var tags []string
	for _, t := range d.Tags {
		tags = append(tags, t.Name)
	}
	for _, tag := range tags {
		for _, e := range byTag[tag] {
			p("| [`%s %s`](#%s) | %s | %s |\n", e.method, e.path, anchor(e.method+" "+e.path), who(e.op), cell(e.op.Summary))
		}
	}
	for _, tag := range tags {
		if len(byTag[tag]) == 0 {
			continue
		}
		p("\n## %s\n", strings.ToUpper(tag[:1])+tag[1:])
		for _, e := range byTag[tag] {
			p("\n### %s %s\n\n%s. %s\n", e.method, e.path, e.op.Summary, e.op.Description)
			if len(e.op.Parameters) > 0 {
				p("\n| parameter | in | type | meaning |\n|---|---|---|---|\n")
				for _, prm := range e.op.Parameters {
					req := ""
					if prm.Required {
						req = " (required)"
					}
					p("| `%s`%s | %s | %s | %s |\n", prm.Name, req, prm.In, typeOf(prm.Schema), cell(prm.Description))
				}
			}
			if e.op.RequestBody != nil {
				p("\nBody: %s.\n", contents(e.op.RequestBody.Content))
			}
			p("\n| status | answer |\n|---|---|\n")
			codes := make([]string, 0, len(e.op.Responses))
			for c := range e.op.Responses {
				codes = append(codes, c)
			}
			slices.Sort(codes)
			for _, c := range codes {
				r := e.op.Responses[c]
				desc, content := r.Description, contents(r.Content)
				if r.Ref != "" {
					name := strings.TrimPrefix(r.Ref, "#/components/responses/")
					desc, content = d.Components.Responses[name].Description, "[Error](#error)"
				}
				if content != "" {
					desc += " " + content
				}
				p("| %s | %s |\n", c, cell(desc))
			}
		}
	}
	p("\n## Schemas\n")
	names := make([]string, 0, len(d.Components.Schemas))
	for n := range d.Components.Schemas {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		s := d.Components.Schemas[n]
		p("\n### %s\n\n", n)
		if s.Description != "" {
			p("%s\n\n", s.Description)
		}
		for _, part := range s.AllOf {
			if part.Ref != "" {
				p("Everything in %s, and:\n\n", typeOf(part))
			} else {
				s.Properties, s.Required = part.Properties, part.Required
			}
		}
		if len(s.Properties) == 0 {
			p("%s.\n", typeOf(s))
			continue
		}
		p("| field | type | meaning |\n|---|---|---|\n")
		props := make([]string, 0, len(s.Properties))
		for k := range s.Properties {
			props = append(props, k)
		}
		slices.Sort(props)
		for _, k := range props {
			req := ""
			if slices.Contains(s.Required, k) {
				req = " (always)"
			}
			p("| `%s`%s | %s | %s |\n", k, req, typeOf(s.Properties[k]), cell(s.Properties[k].Description))
		}
	}
	return b.Bytes(), nil
}

// who says what a route needs, from its security and its description.
func who(op operation) string {
	if op.Security != nil && len(*op.Security) == 0 {
		return "no token"
	}
	first, _, _ := strings.Cut(op.Description, ".")
	return cell(first)
}

func contents(c map[string]struct {
	Schema schema `json:"schema"`
}) string {
	var out []string
	for _, mt := range []string{"application/json", "application/merge-patch+json", "text/event-stream"} {
		if x, ok := c[mt]; ok {
			out = append(out, fmt.Sprintf("%s (`%s`)", typeOf(x.Schema), mt))
		}
	}
	return strings.Join(out, " or ")
}

// typeOf names a schema for people: a link to a named schema, or its type.
func typeOf(s schema) string {
	if s.Ref != "" {
		n := strings.TrimPrefix(s.Ref, "#/components/schemas/")
		return fmt.Sprintf("[%s](#%s)", n, strings.ToLower(n))
	}
	var t string
	switch v := s.Type.(type) {
	case string:
		t = v
	case []any:
		var parts []string
		for _, p := range v {
			parts = append(parts, fmt.Sprint(p))
		}
		t = strings.Join(parts, " or ")
	}
	if s.Items != nil {
		t = strings.Replace(t, "array", "array of "+typeOf(*s.Items), 1)
	}
	if len(s.AnyOf) > 0 {
		var parts []string
		for _, a := range s.AnyOf {
			parts = append(parts, typeOf(a))
		}
		t = strings.Join(parts, " or ")
	}
	if len(s.Enum) > 0 {
		var vals []string
		for _, e := range s.Enum {
			vals = append(vals, fmt.Sprintf("`%v`", e))
		}
		t += ": " + strings.Join(vals, ", ")
	}
	if t == "" {
		t = "any"
	}
	return t
}

// anchor is GitHub's anchor for a heading.
func anchor(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(h) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('-')
		}
	}
	return b.String()
}

// cell makes text safe in a table cell.
func cell(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ")
}
