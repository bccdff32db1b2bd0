package main

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/moonwake/moonwake/internal/docscheck"
)

// TestDocsCommands holds every moonwake command line of README.md and
// docs/*.md against the real command tree: subcommand, flags, their values'
// types, and the number of arguments.
func TestDocsCommands(t *testing.T) {
	root, err := docscheck.Root()
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := docscheck.All(root)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, err := range checkDocCommands(blocks, &checked) {
		t.Error(err)
	}
	if checked < 20 {
		t.Errorf("only %d moonwake command lines found in the docs; is the extraction broken?", checked)
	}
}

// TestDocsCommandsCatchLies shows that a page naming a flag, a subcommand
// or an argument count that moonwake does not have fails, with its line.
func TestDocsCommandsCatchLies(t *testing.T) {
	md, err := os.ReadFile("testdata/docs/lies.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := docscheck.Parse("lies.md", md)
	if err != nil {
		t.Fatal(err)
	}
	var checked int
	var got []string
	for _, err := range checkDocCommands(blocks, &checked) {
		got = append(got, err.Error())
	}
	want := []string{
		`lies.md:5: moonwake wake --interfase eth0 aa:bb:cc:dd:ee:ff: unknown flag: --interfase`,
		`lies.md:6: moonwake machines add gaming-pc aa:bb:cc:dd:ee:ff --ports 22: unknown flag: --ports`,
		`lies.md:7: moonwake machines frobnicate: no such command (moonwake machines has add, list, pair, remove)`,
		`lies.md:9: moonwake keep-awake gaming-pc --for soon: invalid argument "soon" for "--for" flag: time: invalid duration "soon"`,
		`lies.md:10: moonwake status a b: accepts at most 1 arg(s), received 2`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if checked != 7 {
		t.Errorf("checked %d command lines, want 7", checked)
	}
}

// checkDocCommands checks each moonwake command line of blocks, counting
// them in checked.
func checkDocCommands(blocks []docscheck.Block, checked *int) []error {
	var errs []error
	for _, b := range blocks {
		if !b.IsShell() {
			continue
		}
		for _, c := range docscheck.Commands(b) {
			prog, args, ok := c.Program()
			if !ok || prog != "moonwake" {
				continue
			}
			*checked++
			if err := checkCommandLine(args); err != nil {
				errs = append(errs, fmt.Errorf("%s: moonwake %s: %w", c.Pos, strings.Join(args, " "), err))
			}
		}
	}
	return errs
}

// checkCommandLine parses args as moonwake would, without running
// anything: the subcommand must exist, the flags parse, and the arguments
// satisfy the command's count.
func checkCommandLine(args []string) error {
	root := newRootCmd(&env{getenv: func(string) string { return "" }})
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	cmd, rest, err := root.Find(args)
	if err != nil {
		return err
	}
	// Find stops at the first word that is not a subcommand: if the command
	// has subcommands and takes no arguments of its own, that word is a
	// subcommand that does not exist.
	if cmd.HasAvailableSubCommands() && cmd.Args == nil && !cmd.Runnable() {
		if pos := positional(rest); len(pos) > 0 {
			var names []string
			for _, s := range cmd.Commands() {
				if s.IsAvailableCommand() {
					names = append(names, s.Name())
				}
			}
			return fmt.Errorf("no such command (%s has %s)", cmd.CommandPath(), strings.Join(names, ", "))
		}
	}
	cmd.InitDefaultHelpFlag()
	cmd.InitDefaultVersionFlag()
	if err := cmd.ParseFlags(rest); err != nil {
		return err
	}
	if help, _ := cmd.Flags().GetBool("help"); help {
		return nil
	}
	return cmd.ValidateArgs(cmd.Flags().Args())
}

// positional returns the words of args that are not flags, roughly: enough
// to tell whether a word follows a command that has only subcommands.
func positional(args []string) []string {
	var out []string
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			out = append(out, a)
		}
	}
	return out
}
