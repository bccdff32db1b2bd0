package agent

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
)

// Doctor checks what stops Wake-on-LAN from working on this PC and writes a
// checklist to out: one line per check, marked ✓ (fine), ! (worth a look,
// or could not be checked) or ✗ (breaks Wake-on-LAN), then how to fix each
// item that is not fine.
//
// What it checks depends on the OS:
//   - Windows: Fast Startup (HiberbootEnabled), whether each wired adapter
//     wakes on a magic packet (Get-NetAdapterPowerManagement) and is armed
//     to wake the PC (powercfg /devicequery wake_armed).
//   - Linux: the wake mode of each wired interface, read through the
//     kernel's ethtool interface, and whether NetworkManager, a systemd
//     .link file or TLP sets it again at boot.
//   - macOS: "Wake for network access" (pmset womp).
//
// With fix set (the caller's --fix flag), Doctor offers to fix what it
// safely can (Fast Startup, an adapter's wake setting, the Linux wake
// mode): it asks y/N for each one when standard input is a terminal, and
// takes the flag as consent otherwise. Then it checks again. Persistent
// network configuration (NetworkManager, .link files, TLP) is explained,
// never changed.
//
// The error is non-nil when a check fails after any fixes, so that the
// doctor command exits non-zero; a check that could only warn does not fail.
func Doctor(ctx context.Context, fix bool, out io.Writer) error {
	d := &doctor{
		checks:  platformDoctorChecks,
		confirm: stdinConfirm(out),
		out:     out,
	}
	return d.run(ctx, fix)
}

// checkState is the outcome of one check.
type checkState int

const (
	checkPass checkState = iota // ✓
	checkWarn                   // ! could not be checked, or may bite later
	checkFail                   // ✗ breaks Wake-on-LAN
)

func (s checkState) mark() string {
	switch s {
	case checkPass:
		return "✓"
	case checkWarn:
		return "!"
	default:
		return "✗"
	}
}

// check is one line of the doctor's checklist.
type check struct {
	name   string     // what was checked: "Fast Startup", "eth0 wake mode"
	state  checkState // outcome
	detail string     // what was found, one line
	howTo  []string   // how to fix it by hand, one instruction per line
	fix    *doctorFix // what doctor --fix can do about it; nil: nothing
}

// doctorFix is a change doctor --fix may make, with consent.
type doctorFix struct {
	what  string // a question's object: "disable Fast Startup (set HiberbootEnabled to 0)"
	apply func(ctx context.Context) error
}

// doctor runs the checks; its fields are replaced by tests.
type doctor struct {
	checks  func(ctx context.Context) []check
	confirm func(question string) (bool, error)
	out     io.Writer
}

func (d *doctor) run(ctx context.Context, fix bool) error {
	fmt.Fprintln(d.out, "Wake-on-LAN checks:")
	checks := d.checks(ctx)
	d.print(checks)

	fixable := 0
	for _, c := range checks {
		if c.state != checkPass && c.fix != nil {
			fixable++
		}
	}
	if fixable > 0 && !fix {
		fmt.Fprintf(d.out, "\n%d item(s) can be fixed for you: run doctor again with --fix (as root or Administrator).\n", fixable)
	}
	if fixable > 0 && fix {
		fmt.Fprintln(d.out, "\nFixing:")
		applied := 0
		for _, c := range checks {
			if c.state == checkPass || c.fix == nil {
				continue
			}
			ok, err := d.confirm(fmt.Sprintf("%s: %s?", c.name, c.fix.what))
			if err != nil {
				return fmt.Errorf("doctor: ask before fixing %s: %w", c.name, err)
			}
			if !ok {
				fmt.Fprintf(d.out, "  - skipped: %s\n", c.fix.what)
				continue
			}
			if err := c.fix.apply(ctx); err != nil {
				fmt.Fprintf(d.out, "  ✗ could not %s: %v\n", c.fix.what, err)
				continue
			}
			applied++
			fmt.Fprintf(d.out, "  ✓ done: %s\n", c.fix.what)
		}
		if applied > 0 {
			// Check again rather than trust the fix: a driver may accept a
			// wake mode and keep its own.
			fmt.Fprintln(d.out, "\nAfter fixing:")
			checks = d.checks(ctx)
			d.print(checks)
		}
	}

	fmt.Fprintln(d.out, "\nAlso check in the firmware (BIOS/UEFI) setup, which no program can read: Wake-on-LAN")
	fmt.Fprintln(d.out, `("Power on by PCI-E", "Resume by LAN") enabled, and ErP/EuP or "deep sleep" disabled.`)

	var failed []string
	for _, c := range checks {
		if c.state == checkFail {
			failed = append(failed, c.name)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("doctor: %d check(s) failed: %s", len(failed), strings.Join(failed, "; "))
	}
	return nil
}

// print writes the checklist, then how to fix what is not fine.
func (d *doctor) print(checks []check) {
	if len(checks) == 0 {
		fmt.Fprintln(d.out, "! nothing to check on this system")
		return
	}
	for _, c := range checks {
		fmt.Fprintf(d.out, "%s %s: %s\n", c.state.mark(), c.name, c.detail)
	}
	header := false
	for _, c := range checks {
		if c.state == checkPass || len(c.howTo) == 0 {
			continue
		}
		if !header {
			fmt.Fprintln(d.out, "\nHow to fix:")
			header = true
		}
		fmt.Fprintf(d.out, "%s %s\n", c.state.mark(), c.name)
		for _, l := range c.howTo {
			fmt.Fprintf(d.out, "    %s\n", l)
		}
	}
}

// stdinConfirm returns the consent prompt Doctor uses: a y/N question on
// out answered on standard input when that is a terminal; otherwise the
// --fix flag alone is the consent (doctor run by a script or installer).
func stdinConfirm(out io.Writer) func(string) (bool, error) {
	if !doctorStdinIsTerminal() {
		return func(string) (bool, error) { return true, nil }
	}
	return promptYesNo(os.Stdin, out)
}

// promptYesNo asks each question on out and reads the answer from in; only
// "y" or "yes" (any case) is a yes, and the end of input is a no.
func promptYesNo(in io.Reader, out io.Writer) func(string) (bool, error) {
	r := bufio.NewReader(in)
	return func(question string) (bool, error) {
		fmt.Fprintf(out, "  %s [y/N] ", question)
		line, err := r.ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return false, err
		}
		if errors.Is(err, io.EOF) && line == "" {
			fmt.Fprintln(out)
		}
		switch strings.ToLower(strings.TrimSpace(line)) {
		case "y", "yes":
			return true, nil
		}
		return false, nil
	}
}

// sysRunner runs a program (never a shell) and returns its standard
// output. Tests replace it with canned output.
type sysRunner func(ctx context.Context, name string, args ...string) ([]byte, error)

// sysOutput is the real sysRunner. It asks for untranslated output
// (LC_ALL=C), which the parsers expect, and puts the program's complaint
// in the error.
func sysOutput(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "SYSTEMD_COLORS=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 300 {
			msg = msg[:300] + "…"
		}
		if msg != "" {
			return out, fmt.Errorf("%s: %w: %s", name, err, msg)
		}
		return out, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}
