package agent

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

func TestPromptYesNo(t *testing.T) {
	var out bytes.Buffer
	ask := promptYesNo(strings.NewReader("y\n no\nYES\r\n\nmaybe\n"), &out)
	want := []bool{true, false, true, false, false, false /* end of input */}
	for i, w := range want {
		got, err := ask("fix it?")
		if err != nil || got != w {
			t.Errorf("answer %d = %v, %v; want %v", i, got, err, w)
		}
	}
	if !strings.Contains(out.String(), "  fix it? [y/N] ") {
		t.Errorf("prompt = %q", out.String())
	}
}

func TestDoctorOutcome(t *testing.T) {
	fixed := false
	checks := func(context.Context) []check {
		cs := []check{
			{name: "pass", state: checkPass, detail: "fine"},
			{name: "warn", state: checkWarn, detail: "hmm", howTo: []string{"look at it"}},
		}
		if !fixed {
			cs = append(cs, check{name: "broken", state: checkFail, detail: "off", howTo: []string{"turn it on"},
				fix: &doctorFix{what: "turn it on", apply: func(context.Context) error { fixed = true; return nil }}})
		}
		return cs
	}
	var out bytes.Buffer
	d := &doctor{checks: checks, confirm: func(string) (bool, error) { return true, nil }, out: &out}

	err := d.run(context.Background(), false)
	if err == nil || err.Error() != "doctor: 1 check(s) failed: broken" {
		t.Errorf("err = %v", err)
	}
	text := out.String()
	for _, want := range []string{"✓ pass: fine\n", "! warn: hmm\n", "✗ broken: off\n", "How to fix:\n! warn\n    look at it\n✗ broken\n    turn it on\n", "BIOS/UEFI"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}

	out.Reset()
	if err := d.run(context.Background(), true); err != nil {
		t.Errorf("after the fix: %v\n%s", err, out.String())
	}
	if !fixed || !strings.Contains(out.String(), "✓ done: turn it on") {
		t.Errorf("not fixed:\n%s", out.String())
	}

	// A warning alone does not fail the doctor.
	fixed = true
	out.Reset()
	if err := d.run(context.Background(), false); err != nil {
		t.Errorf("warnings only: %v", err)
	}
}

func TestDoctorFixFailsOrCannotAsk(t *testing.T) {
	checks := func(context.Context) []check {
		return []check{{name: "broken", state: checkFail, detail: "off",
			fix: &doctorFix{what: "turn it on", apply: func(context.Context) error { return errors.New("access denied") }}}}
	}
	var out bytes.Buffer
	d := &doctor{checks: checks, confirm: func(string) (bool, error) { return true, nil }, out: &out}
	if err := d.run(context.Background(), true); err == nil {
		t.Error("a failed fix: no error")
	}
	if !strings.Contains(out.String(), "✗ could not turn it on: access denied") || strings.Contains(out.String(), "After fixing") {
		t.Errorf("output:\n%s", out.String())
	}

	d.confirm = func(string) (bool, error) { return false, errors.New("read /dev/stdin: input/output error") }
	if err := d.run(context.Background(), true); err == nil || !strings.Contains(err.Error(), "ask before fixing broken") {
		t.Errorf("prompt failure: %v", err)
	}
}

func TestDoctorNothingToCheck(t *testing.T) {
	var out bytes.Buffer
	d := &doctor{checks: func(context.Context) []check { return nil }, out: &out}
	if err := d.run(context.Background(), true); err != nil {
		t.Error(err)
	}
	if !strings.Contains(out.String(), "! nothing to check") {
		t.Errorf("output:\n%s", out.String())
	}
}
