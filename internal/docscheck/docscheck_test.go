package docscheck

import (
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	md := "# Page\n\n```sh\nmoonwake wake \\\n  gaming-pc   # a comment\n```\n\n" +
		"1. A step:\n\n   ```yaml other\n   key: value\n   ```\n\n~~~~text\n```\nnot a fence\n~~~~\n"
	blocks, err := Parse("p.md", []byte(md))
	if err != nil {
		t.Fatal(err)
	}
	want := []Block{
		{File: "p.md", Line: 4, Lang: "sh", Text: "moonwake wake \\\n  gaming-pc   # a comment"},
		{File: "p.md", Line: 11, Lang: "yaml", Tag: "other", Text: "key: value"},
		{File: "p.md", Line: 15, Lang: "text", Text: "```\nnot a fence"},
	}
	if !reflect.DeepEqual(blocks, want) {
		t.Errorf("blocks:\n%#v\nwant:\n%#v", blocks, want)
	}
	cmds := Commands(blocks[0])
	if len(cmds) != 1 || cmds[0].Pos != "p.md:4" || strings.Join(cmds[0].Words, " ") != "moonwake wake gaming-pc" {
		t.Errorf("commands: %#v", cmds)
	}
}

func TestParseRefuses(t *testing.T) {
	for md, want := range map[string]string{
		"text\n```\nmoonwake wake x\n```\n": "p.md:2: a fence without a language",
		"```sh\nmoonwake wake x\n":          "p.md:1: a fence that is never closed",
	} {
		if _, err := Parse("p.md", []byte(md)); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want %q…", md, err, want)
		}
	}
}

func TestCommands(t *testing.T) {
	for line, want := range map[string][][]string{
		`sudo -E MOONWAKE_HUB=http://h moonwake wake pc --hub "$MOONWAKE_HUB"`: {{"moonwake", "wake", "pc", "--hub", "$MOONWAKE_HUB"}},
		`go run ./cmd/moonwake serve && curl -d '{"a": 1}' x | jq . ; moonwake version`: {
			{"moonwake", "serve"}, nil, nil, {"moonwake", "version"}},
		`.\moonwake-agent.exe doctor --fix   # fix # it`:             {{"moonwake-agent", "doctor", "--fix"}},
		`export X="$(moonwake tokens create --name a)" # a subshell`: nil,
		`/usr/local/bin/moonwake status 'a b'`:                       {{"moonwake", "status", "a b"}},
	} {
		lang := "sh"
		if strings.HasPrefix(line, ".\\") {
			lang = "powershell"
		}
		var got [][]string
		for _, c := range Commands(Block{File: "p.md", Line: 1, Lang: lang, Text: line}) {
			prog, args, ok := c.Program()
			if !ok {
				got = append(got, nil)
				continue
			}
			got = append(got, append([]string{prog}, args...))
		}
		if len(want) == 0 && len(got) == 1 && got[0] == nil {
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %q\nwant %q", line, got, want)
		}
	}
}

// TestDocsEnvironment checks that every MOONWAKE_… variable the pages name
// is one that moonwake's code (or its tests and CI) reads.
func TestDocsEnvironment(t *testing.T) {
	root, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	name := regexp.MustCompile(`MOONWAKE_[A-Z0-9_]*[A-Z0-9]`)
	known := map[string]bool{}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || p == filepath.Join(root, "docs") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if !d.IsDir() && (strings.HasSuffix(p, ".go") || strings.HasSuffix(p, ".sh") || strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".tpl") || filepath.Base(p) == "run") {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			for _, m := range name.FindAllString(string(b), -1) {
				known[m] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	pages, err := Pages(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pages {
		b, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			for _, m := range name.FindAllString(line, -1) {
				if !known[m] {
					t.Errorf("%s:%d: %s: no such environment variable in moonwake's code", p, i+1, m)
				}
			}
		}
	}
}
