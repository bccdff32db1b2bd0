package agent

import (
	"context"
	"strings"
)

// This file holds the macOS doctor's parser and decision. It builds on
// every OS so that it is tested everywhere; doctor_darwin.go runs pmset.

// darwinDoctorSys is the part of a Mac the doctor looks at.
type darwinDoctorSys struct {
	pmset      func(ctx context.Context) ([]byte, error) // pmset -g
	enableWomp func(ctx context.Context) error           // pmset -a womp 1
}

// parsePmsetValue finds a setting in `pmset -g` output, whose lines are a
// name (which may contain spaces) and a value, e.g. " womp                 1".
func parsePmsetValue(out []byte, key string) (string, bool) {
	for line := range strings.SplitSeq(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && strings.Join(f[:len(f)-1], " ") == key {
			return f[len(f)-1], true
		}
	}
	return "", false
}

// darwinChecks is the macOS doctor: "Wake for network access" (womp). A Mac
// wakes on a magic packet from sleep only, not from shut down.
func darwinChecks(ctx context.Context, s darwinDoctorSys) []check {
	c := check{name: "Wake for network access"}
	out, err := s.pmset(ctx)
	if err != nil {
		c.state, c.detail = checkWarn, "could not be read: "+err.Error()
		return []check{c}
	}
	v, ok := parsePmsetValue(out, "womp")
	switch {
	case ok && v == "1":
		c.state, c.detail = checkPass, "on (womp 1); a Mac wakes this way from sleep, not from shut down"
	case ok:
		c.state, c.detail = checkFail, "off (womp "+v+")"
		c.howTo = []string{
			`System Settings → Energy (or Battery → Options) → "Wake for network access",`,
			`or: sudo pmset -a womp 1   (doctor --fix does this)`,
			"A Mac wakes on a magic packet from sleep only: put it to sleep rather than shut it down.",
		}
		c.fix = &doctorFix{what: "turn on Wake for network access (pmset -a womp 1)", apply: s.enableWomp}
	default:
		c.state, c.detail = checkWarn, "pmset does not report womp: this Mac may not support waking by network"
	}
	return []check{c}
}
