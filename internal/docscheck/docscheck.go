// Package docscheck reads the fenced code blocks of moonwake's Markdown
// pages (README.md and docs/*.md) so that tests can hold every command and
// every configuration shown there against the programs: docs that lie fail
// CI, naming the page, the line and what is wrong.
//
// The rules, for whoever writes a page:
//
//   - Every fence names its language. An unnamed fence is an error, so a
//     command cannot hide from the checks by accident.
//   - ```sh (also bash, shell, console, powershell): each command line that
//     runs moonwake or moonwake-agent (also after sudo, VAR=value, or as
//     go run ./cmd/moonwake, ./moonwake, moonwake.exe) must name a real
//     subcommand, real flags with values of the right type, and the right
//     number of arguments. Other programs (curl, kubectl, helm) are not
//     checked. Lines join on a trailing backslash; # starts a comment.
//   - ```yaml: a moonwake hub configuration. It is decoded strictly (unknown
//     keys are errors) into the hub's configuration and validated.
//   - ```yaml agent: a moonwake-agent configuration, decoded strictly too.
//   - ```yaml other: YAML that is not moonwake's own syntax (Home
//     Assistant's configuration, a Kubernetes object): it must parse, its
//     keys are not checked.
//   - ```text, ```json, ```ini and the rest: not checked. Use text for
//     output and usage synopses, never for a command a reader should type.
//   - Every MOONWAKE_… variable a page names must be one the code reads.
package docscheck

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Block is one fenced code block of a page.
type Block struct {
	File string // the page, relative to the repository's root: docs/agent.md
	Line int    // the line of the block's first line of content, from 1
	Lang string // the info string's first word: sh, yaml, text
	Tag  string // the rest of the info string: "agent", "other" or ""
	Text string // the content, without the fences
}

// Pos is where something is, as file:line.
func (b Block) Pos(offset int) string { return fmt.Sprintf("%s:%d", b.File, b.Line+offset) }

// Root returns the repository's root: the nearest directory above the
// working directory that holds moonwake's go.mod.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.HasPrefix(b, []byte("module github.com/moonwake/moonwake\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no moonwake go.mod above the working directory")
		}
		dir = parent
	}
}

// Pages returns the pages that are checked, relative to root: README.md
// and every docs/*.md, including pages added later.
func Pages(root string) ([]string, error) {
	pages, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		return nil, err
	}
	pages = append(pages, filepath.Join(root, "README.md"))
	for i, p := range pages {
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return nil, err
		}
		pages[i] = filepath.ToSlash(rel)
	}
	slices.Sort(pages)
	return pages, nil
}

// All returns the blocks of every page under root.
func All(root string) ([]Block, error) {
	pages, err := Pages(root)
	if err != nil {
		return nil, err
	}
	var all []Block
	for _, p := range pages {
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(p)))
		if err != nil {
			return nil, err
		}
		blocks, err := Parse(p, b)
		if err != nil {
			return nil, err
		}
		all = append(all, blocks...)
	}
	return all, nil
}

// Parse returns the fenced blocks of the Markdown page md, named file in
// what it returns. A fence without a language, or one left open, is an
// error.
func Parse(file string, md []byte) ([]Block, error) {
	var (
		blocks []Block
		open   *Block
		indent int    // the opening fence's indent, which its content loses
		marks  string // the opening fence's backticks or tildes
		body   []string
	)
	sc := bufio.NewScanner(bytes.NewReader(md))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimLeft(line, " ")
		lead := len(line) - len(trimmed)
		if open != nil {
			if k := fenceLen(trimmed); k >= len(marks) && trimmed[0] == marks[0] && strings.TrimSpace(trimmed[k:]) == "" {
				open.Text = strings.Join(body, "\n")
				blocks = append(blocks, *open)
				open, body = nil, nil
				continue
			}
			body = append(body, line[min(lead, indent):])
			continue
		}
		k := fenceLen(trimmed)
		if k < 3 || lead > 8 { // deeper is code indented in a list, not a fence
			continue
		}
		info := strings.Fields(trimmed[k:])
		if len(info) == 0 {
			return nil, fmt.Errorf("%s:%d: a fence without a language: say what it holds (sh, yaml, yaml other, text …)", file, n)
		}
		indent, marks = lead, trimmed[:k]
		open = &Block{File: file, Line: n + 1, Lang: strings.ToLower(info[0]), Tag: strings.Join(info[1:], " ")}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if open != nil {
		return nil, fmt.Errorf("%s:%d: a fence that is never closed", file, open.Line-1)
	}
	return blocks, nil
}

// fenceLen is the number of fence characters s starts with.
func fenceLen(s string) int {
	if s == "" || (s[0] != '`' && s[0] != '~') {
		return 0
	}
	n := 0
	for n < len(s) && s[n] == s[0] {
		n++
	}
	return n
}

// IsShell reports whether b holds commands to type.
func (b Block) IsShell() bool {
	switch b.Lang {
	case "sh", "bash", "shell", "console", "powershell", "ps1":
		return true
	}
	return false
}

// Command is one simple command of a shell block: its words, after quotes
// are removed.
type Command struct {
	Pos   string // file:line of the line it starts on
	Words []string
}

// Commands returns the simple commands of a shell block: lines joined on a
// trailing backslash, comments dropped, and split on ;, &&, ||, | and &.
func Commands(b Block) []Command {
	var out []Command
	lines := strings.Split(b.Text, "\n")
	for i := 0; i < len(lines); i++ {
		start := i
		line := lines[i]
		for strings.HasSuffix(line, "\\") && i+1 < len(lines) {
			i++
			line = strings.TrimSuffix(line, "\\") + " " + lines[i]
		}
		line = strings.TrimPrefix(strings.TrimSpace(line), "$ ")
		for _, words := range split(line, b.Lang == "powershell" || b.Lang == "ps1") {
			if len(words) > 0 {
				out = append(out, Command{Pos: b.Pos(start), Words: words})
			}
		}
	}
	return out
}

// split tokenizes one shell line the way sh would for simple commands:
// quotes are removed, $(…) and ${…} are kept whole as words, # at the start
// of a word ends the line, and operators separate commands. In PowerShell a
// backslash is a path separator, not an escape.
func split(line string, powershell bool) [][]string {
	var (
		cmds  [][]string
		words []string
		word  strings.Builder
		in    bool // a word is under way (it may be empty: "")
		depth int  // inside $( … )
	)
	flushWord := func() {
		if in {
			words = append(words, word.String())
		}
		word.Reset()
		in = false
	}
	flushCmd := func() {
		flushWord()
		cmds = append(cmds, words)
		words = nil
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case depth > 0:
			word.WriteByte(c)
			switch c {
			case '(':
				depth++
			case ')':
				depth--
			}
		case c == '$' && i+1 < len(line) && line[i+1] == '(':
			word.WriteString("$(")
			i++
			depth, in = 1, true
		case c == '\'':
			j := strings.IndexByte(line[i+1:], '\'')
			if j < 0 {
				j = len(line) - i - 1
			}
			word.WriteString(line[i+1 : i+1+j])
			i += j + 1
			in = true
		case c == '"':
			j := i + 1
			for ; j < len(line) && line[j] != '"'; j++ {
				if line[j] == '\\' && j+1 < len(line) {
					j++
				}
				word.WriteByte(line[j])
			}
			i = j
			in = true
		case c == '\\' && i+1 < len(line) && !powershell:
			i++
			word.WriteByte(line[i])
			in = true
		case c == ' ' || c == '\t':
			flushWord()
		case c == '#' && !in:
			flushCmd()
			return cmds
		case c == ';' || c == '|' || c == '&':
			if i+1 < len(line) && line[i+1] == c {
				i++
			}
			flushCmd()
		default:
			word.WriteByte(c)
			in = true
		}
	}
	flushCmd()
	return cmds
}

// Program returns the moonwake program a command runs and its arguments:
// "moonwake" or "moonwake-agent", after sudo and its -E, VAR=value
// assignments, a path (./moonwake, /usr/local/bin/moonwake), an .exe, or
// go run ./cmd/NAME. ok is false for any other program.
func (c Command) Program() (name string, args []string, ok bool) {
	w := c.Words
	for len(w) > 0 {
		switch {
		case w[0] == "sudo":
			w = w[1:]
			for len(w) > 0 && strings.HasPrefix(w[0], "-") {
				w = w[1:]
			}
			continue
		case isAssignment(w[0]):
			w = w[1:]
			continue
		}
		break
	}
	if len(w) >= 3 && w[0] == "go" && w[1] == "run" {
		w = w[2:]
		for len(w) > 0 && strings.HasPrefix(w[0], "-") {
			w = w[1:]
		}
		if len(w) > 0 && strings.HasPrefix(w[0], "./cmd/") {
			w = append([]string{strings.TrimPrefix(w[0], "./cmd/")}, w[1:]...)
		}
	}
	if len(w) == 0 {
		return "", nil, false
	}
	prog := strings.TrimSuffix(w[0], ".exe")
	if i := strings.LastIndexAny(prog, `/\`); i >= 0 {
		prog = prog[i+1:]
	}
	switch prog {
	case "moonwake", "moonwake-agent":
		return prog, w[1:], true
	}
	return "", nil, false
}

// isAssignment reports whether w is NAME=value before a command.
func isAssignment(w string) bool {
	name, _, ok := strings.Cut(w, "=")
	if !ok || name == "" {
		return false
	}
	for i, r := range name {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}
