package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/moonwake/moonwake/agent"
	"github.com/moonwake/moonwake/internal/docscheck"
)

// TestDocsAgent holds every moonwake-agent command line of README.md and
// docs/*.md against the agent's commands and flags, and every ```yaml agent
// block against its configuration (decoded strictly).
func TestDocsAgent(t *testing.T) {
	root, err := docscheck.Root()
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := docscheck.All(root)
	if err != nil {
		t.Fatal(err)
	}
	errs, commands, configs := checkAgentDocs(blocks)
	for _, err := range errs {
		t.Error(err)
	}
	if commands < 4 || configs < 1 {
		t.Errorf("only %d moonwake-agent command lines and %d configurations found in the docs; is the extraction broken?", commands, configs)
	}
}

// TestDocsAgentCatchLies shows that a page naming a flag or a command the
// agent does not have, or a configuration key it does not read, fails.
func TestDocsAgentCatchLies(t *testing.T) {
	md, err := os.ReadFile("testdata/docs/lies.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := docscheck.Parse("lies.md", md)
	if err != nil {
		t.Fatal(err)
	}
	errs, commands, configs := checkAgentDocs(blocks)
	var got []string
	for _, err := range errs {
		got = append(got, err.Error())
	}
	want := []string{
		`lies.md:5: moonwake-agent doctor --repair: flag provided but not defined: -repair`,
		`lies.md:6: moonwake-agent reinstall: unknown command "reinstall"`,
		`lies.md:7: moonwake-agent run now: run: unexpected argument "now"`,
		`lies.md:12: agent configuration: yaml: unmarshal errors:` + "\n" + `  line 2: field report_intervall not found in type agent.Config`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if commands != 5 || configs != 1 {
		t.Errorf("checked %d command lines and %d configurations, want 5 and 1", commands, configs)
	}
}

func checkAgentDocs(blocks []docscheck.Block) (errs []error, commands, configs int) {
	for _, b := range blocks {
		if b.Lang == "yaml" && b.Tag == "agent" {
			configs++
			if _, err := agent.ParseConfig([]byte(b.Text)); err != nil {
				errs = append(errs, fmt.Errorf("%s: agent configuration: %w", b.Pos(0), err))
			}
			continue
		}
		if !b.IsShell() {
			continue
		}
		for _, c := range docscheck.Commands(b) {
			prog, args, ok := c.Program()
			if !ok || prog != "moonwake-agent" {
				continue
			}
			commands++
			if err := checkAgentCommand(args); err != nil {
				errs = append(errs, fmt.Errorf("%s: moonwake-agent %s: %w", c.Pos, strings.Join(args, " "), err))
			}
		}
	}
	return errs, commands, configs
}

// checkAgentCommand parses args as the agent would and stops before doing
// anything: a trailing -h makes every command's flag parsing end with
// flag.ErrHelp once the flags before it are known.
func checkAgentCommand(args []string) error {
	var stderr strings.Builder
	err := dispatch(context.Background(), append(args[:len(args):len(args)], "-h"), io.Discard, &stderr, func(string) string { return "" })
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}
