// Package policy runs the hub's power policies: cron schedules that wake
// and shut machines down, and idle auto-off, which shuts down a machine
// nobody uses (never one that streams) after a warning and a grace period.
// Every action they take goes through the power service, so it is verified
// and in the audit log, with the policy as its author.
package policy

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Cron is a parsed 5-field cron expression (minute hour day-of-month month
// day-of-week) in a time zone.
type Cron struct {
	spec   string
	loc    *time.Location
	minute uint64 // bits 0-59
	hour   uint64 // bits 0-23
	dom    uint64 // bits 1-31
	month  uint64 // bits 1-12
	dow    uint64 // bits 0-6, Sunday is 0
	// domStar and dowStar: the field was "*" (or "*/n"). As in Vixie cron,
	// when both day fields are restricted a day matching either fires.
	domStar, dowStar bool
}

type field struct {
	name     string
	min, max int
	names    []string // names[i] is value min+i
}

var (
	fMinute = field{name: "minute", min: 0, max: 59}
	fHour   = field{name: "hour", min: 0, max: 23}
	fDom    = field{name: "day of month", min: 1, max: 31}
	fMonth  = field{name: "month", min: 1, max: 12,
		names: []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}}
	// Day of week takes 0-7, 7 being Sunday again.
	fDow = field{name: "day of week", min: 0, max: 7,
		names: []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}}
)

// maxSpec bounds an expression's length.
const maxSpec = 256

// ParseCron parses spec, a 5-field cron expression, evaluated in loc (nil:
// UTC). Each field is "*" or a comma-separated list of values, ranges
// (a-b) and steps (*/n, a-b/n, a/n); months and days of the week also take
// English three-letter names (jan, mon-fri). Anything else is an error:
// there are no macros (@daily), no seconds field, no L, W or #.
func ParseCron(spec string, loc *time.Location) (*Cron, error) {
	if loc == nil {
		loc = time.UTC
	}
	if len(spec) > maxSpec {
		return nil, fmt.Errorf("cron %q: longer than %d characters", spec[:32]+"…", maxSpec)
	}
	fs := strings.Fields(spec)
	if len(fs) != 5 {
		return nil, fmt.Errorf("cron %q: want 5 fields (minute hour day-of-month month day-of-week), got %d", spec, len(fs))
	}
	c := &Cron{spec: strings.Join(fs, " "), loc: loc}
	var err error
	if c.minute, _, err = parseField(fs[0], fMinute); err != nil {
		return nil, fmt.Errorf("cron %q: %w", spec, err)
	}
	if c.hour, _, err = parseField(fs[1], fHour); err != nil {
		return nil, fmt.Errorf("cron %q: %w", spec, err)
	}
	if c.dom, c.domStar, err = parseField(fs[2], fDom); err != nil {
		return nil, fmt.Errorf("cron %q: %w", spec, err)
	}
	if c.month, _, err = parseField(fs[3], fMonth); err != nil {
		return nil, fmt.Errorf("cron %q: %w", spec, err)
	}
	if c.dow, c.dowStar, err = parseField(fs[4], fDow); err != nil {
		return nil, fmt.Errorf("cron %q: %w", spec, err)
	}
	if c.dow&(1<<7) != 0 {
		c.dow = c.dow&^(1<<7) | 1
	}
	if !c.canFire() {
		return nil, fmt.Errorf("cron %q: never fires (no such day in those months)", spec)
	}
	return c, nil
}

// canFire reports whether some day of some month matches, so Next never
// searches forever.
func (c *Cron) canFire() bool {
	if !c.dowStar {
		return true // some weekday matches every week
	}
	days := [13]int{0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}
	for m := 1; m <= 12; m++ {
		if c.month&(1<<m) != 0 && c.dom&((uint64(1)<<(days[m]+1))-2) != 0 {
			return true
		}
	}
	return false
}

// String returns the expression, fields separated by single spaces.
func (c *Cron) String() string { return c.spec }

// Location returns the time zone the expression is evaluated in.
func (c *Cron) Location() *time.Location { return c.loc }

func parseField(s string, f field) (bits uint64, star bool, err error) {
	star = strings.HasPrefix(s, "*")
	for _, item := range strings.Split(s, ",") {
		b, err := parseItem(item, f)
		if err != nil {
			return 0, false, err
		}
		bits |= b
	}
	return bits, star, nil
}

func parseItem(item string, f field) (uint64, error) {
	if item == "" {
		return 0, fmt.Errorf("%s: empty list item", f.name)
	}
	rng, stepS, hasStep := strings.Cut(item, "/")
	lo, hi := f.min, f.max
	switch {
	case rng == "*":
		if f.name == fDow.name {
			hi = 6
		}
	default:
		a, b, isRange := strings.Cut(rng, "-")
		var err error
		if lo, err = value(a, f); err != nil {
			return 0, err
		}
		switch {
		case isRange:
			if hi, err = value(b, f); err != nil {
				return 0, err
			}
			if hi < lo {
				return 0, fmt.Errorf("%s: range %s goes backwards", f.name, rng)
			}
		case hasStep:
			// a/n: from a to the end of the field.
		default:
			hi = lo
		}
	}
	step := 1
	if hasStep {
		n, err := strconv.Atoi(stepS)
		if err != nil || n < 1 || n > f.max-f.min+1 || stepS != strconv.Itoa(n) {
			return 0, fmt.Errorf("%s: step %q: want a number from 1 to %d", f.name, stepS, f.max-f.min+1)
		}
		step = n
	}
	var bits uint64
	for v := lo; v <= hi; v += step {
		bits |= 1 << v
	}
	return bits, nil
}

func value(s string, f field) (int, error) {
	ls := strings.ToLower(s)
	for i, n := range f.names {
		if ls == n {
			return f.min + i, nil
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || s != strconv.Itoa(n) {
		return 0, fmt.Errorf("%s: %q is not a number or name", f.name, s)
	}
	if n < f.min || n > f.max {
		return 0, fmt.Errorf("%s: %d out of range %d-%d", f.name, n, f.min, f.max)
	}
	return n, nil
}

// searchDays bounds Next's search: a February 29th that must fall on a
// given weekday recurs within 28 years.
const searchDays = 366 * 30

// Next returns the first time after after at which c fires, in c's
// location, or the zero time if there is none (which ParseCron prevents).
// Wall-clock times that do not exist (skipped by a daylight-saving change)
// do not fire; a wall-clock time that happens twice (the hour repeated when
// clocks go back) fires once, at its first occurrence.
func (c *Cron) Next(after time.Time) time.Time {
	a := after.In(c.loc)
	y, mo, d := a.Date()
	for i := 0; i < searchDays; i++ {
		day := time.Date(y, mo, d+i, 12, 0, 0, 0, c.loc)
		if !c.dayMatches(day) {
			continue
		}
		dy, dm, dd := day.Date()
		for h := 0; h < 24; h++ {
			if c.hour&(1<<h) == 0 {
				continue
			}
			for m := 0; m < 60; m++ {
				if c.minute&(1<<m) == 0 {
					continue
				}
				t, ok := c.first(dy, dm, dd, h, m)
				if ok && t.After(after) {
					return t
				}
			}
		}
	}
	return time.Time{}
}

// first returns the first instant that reads y-mo-d h:m on the wall clock
// in c's location; false when no instant does.
func (c *Cron) first(y int, mo time.Month, d, h, m int) (time.Time, bool) {
	t := time.Date(y, mo, d, h, m, 0, 0, c.loc)
	same := func(u time.Time) bool {
		uy, umo, ud := u.Date()
		return uy == y && umo == mo && ud == d && u.Hour() == h && u.Minute() == m
	}
	if !same(t) {
		return time.Time{}, false // in a gap
	}
	// The same wall time may also have happened earlier, before the clocks
	// went back (by up to two hours, in practice one or half an hour).
	for _, back := range []time.Duration{2 * time.Hour, time.Hour, 30 * time.Minute} {
		if u := t.Add(-back); same(u) {
			return u, true
		}
	}
	return t, true
}

func (c *Cron) dayMatches(t time.Time) bool {
	if c.month&(1<<int(t.Month())) == 0 {
		return false
	}
	dom := c.dom&(1<<t.Day()) != 0
	dow := c.dow&(1<<int(t.Weekday())) != 0
	if c.domStar || c.dowStar {
		return dom && dow
	}
	return dom || dow
}
