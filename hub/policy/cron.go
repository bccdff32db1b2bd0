// Package policy runs the hub's power policies: cron schedules that wake
// and shut machines down, and idle auto-off, which shuts down a machine
// nobody uses (never one that streams) after a warning and a grace period.
// Every action they take goes through the power service, so it is verified
// and in the audit log, with the policy as its author.
package policy

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Cron is a parsed cron expression (minute hour day-of-month month
// day-of-week, or a macro such as @daily) in a time zone.
type Cron struct {
	spec   string
	loc    *time.Location
	minute uint64 // bits 0-59
	hour   uint64 // bits 0-23
	dom    uint64 // bits 1-31
	month  uint64 // bits 1-12
	dow    uint64 // bits 0-6, Sunday is 0
	// domStar and dowStar: the field began with "*" ("*", "*/n"). As in
	// Vixie cron, when both day fields are restricted a day matching
	// either fires; when either is starred, a day must match both.
	domStar, dowStar bool
}

type field struct {
	name     string
	min, max int
	// last ends "*" and "a/n": Saturday (6) for the day of the week, not
	// 7, so that "1/2" is Mon, Wed, Fri (as robfig/cron and others read
	// it) and does not wrap round to Sunday.
	last  int
	names []string // names[i] is value min+i
	hint  string   // what the names are, for errors
}

var (
	fMinute = field{name: "minute", min: 0, max: 59, last: 59}
	fHour   = field{name: "hour", min: 0, max: 23, last: 23}
	fDom    = field{name: "day-of-month", min: 1, max: 31, last: 31}
	fMonth  = field{name: "month", min: 1, max: 12, last: 12, hint: "a month name (jan-dec)",
		names: []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}}
	// Day of week takes 0-7, 7 being Sunday again, as in crontab(5).
	fDow = field{name: "day-of-week", min: 0, max: 7, last: 6, hint: "a day name (sun-sat)",
		names: []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}}
)

// maxSpec bounds an expression's length.
const maxSpec = 256

// macros are the crontab(5) shorthands, as the fields they stand for.
// @reboot is not among them: see ParseCron.
var macros = map[string]string{
	"@yearly":   "0 0 1 1 *",
	"@annually": "0 0 1 1 *",
	"@monthly":  "0 0 1 * *",
	"@weekly":   "0 0 * * 0",
	"@daily":    "0 0 * * *",
	"@midnight": "0 0 * * *",
	"@hourly":   "0 * * * *",
}

// ParseCron parses spec, a cron expression as in crontab(5), evaluated in
// loc (nil: UTC).
//
// spec is 5 fields (minute hour day-of-month month day-of-week) separated
// by any run of white space, or one of the macros @yearly (@annually),
// @monthly, @weekly, @daily (@midnight) and @hourly. Each field is a
// comma-separated list of items: "*", a value, a range "a-b", or either
// of those with a step ("*/15", "1-30/5"). Values are decimal, leading
// zeros allowed ("04"); months and days of the week also take English
// three-letter names in any case (jan, Mon-FRI); 0 and 7 are both Sunday.
// As in Vixie cron, when both day fields are restricted (neither begins
// with "*"), a day matching either fires.
//
// "a/n" means "a-last/n" (the last minute, hour, day or month; Saturday
// for the day of the week): Vixie cron ignored the step there and cronie
// refuses it, but many crons and documents use it that way, and the old
// parser here did too.
//
// Anything else is an error that names the field and the text at fault:
// a seconds or year field (Quartz, Spring, AWS), @reboot (a hub has no
// boot to run at), L, W, # and ?, a step of 0, backwards ranges, empty
// list items, and expressions that can never fire (30 feb).
func ParseCron(spec string, loc *time.Location) (*Cron, error) {
	if loc == nil {
		loc = time.UTC
	}
	if len(spec) > maxSpec {
		cut := 32
		for cut > 0 && !utf8.RuneStart(spec[cut]) {
			cut--
		}
		return nil, fmt.Errorf("cron %q: longer than %d characters", spec[:cut]+"…", maxSpec)
	}
	fs := strings.Fields(spec)
	var c *Cron
	var err error
	switch {
	case len(fs) > 0 && strings.HasPrefix(fs[0], "@"):
		c, err = parseMacro(fs, loc)
	case len(fs) > 5:
		// Most often a Quartz-style seconds field, or a crontab line
		// pasted with its command.
		err = fmt.Errorf("want 5 fields (minute hour day-of-month month day-of-week), got %d: "+
			"there is no seconds or year field, and no command", len(fs))
	case len(fs) < 5:
		err = fmt.Errorf("want 5 fields (minute hour day-of-month month day-of-week), got %d", len(fs))
	default:
		c, err = parseFields(fs, loc)
	}
	if err != nil {
		return nil, fmt.Errorf("cron %q: %w", spec, err)
	}
	return c, nil
}

// parseMacro parses fs, whose first field is an @macro. The macro is kept
// as written in String, so a schedule's identity (see jobKey) is its text.
func parseMacro(fs []string, loc *time.Location) (*Cron, error) {
	name := strings.ToLower(fs[0])
	if name == "@reboot" {
		return nil, errors.New("@reboot runs once when cron starts; a hub schedule has no boot to run at " +
			"(to wake a machine when the hub starts, use a time such as @hourly or 0 8 * * *)")
	}
	exp, ok := macros[name]
	if !ok {
		return nil, fmt.Errorf("unknown macro %q: want @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly", fs[0])
	}
	if len(fs) > 1 {
		return nil, fmt.Errorf("%s stands alone: it takes no other fields (got %q after it)", fs[0], strings.Join(fs[1:], " "))
	}
	c, err := parseFields(strings.Fields(exp), loc)
	if err != nil {
		return nil, err // cannot happen: macros are valid
	}
	c.spec = fs[0]
	return c, nil
}

// parseFields parses the 5 fields of an expression.
func parseFields(fs []string, loc *time.Location) (*Cron, error) {
	c := &Cron{spec: strings.Join(fs, " "), loc: loc}
	var err error
	if c.minute, _, err = parseField(fs[0], fMinute); err != nil {
		return nil, err
	}
	if c.hour, _, err = parseField(fs[1], fHour); err != nil {
		return nil, err
	}
	if c.dom, c.domStar, err = parseField(fs[2], fDom); err != nil {
		return nil, err
	}
	if c.month, _, err = parseField(fs[3], fMonth); err != nil {
		return nil, err
	}
	if c.dow, c.dowStar, err = parseField(fs[4], fDow); err != nil {
		return nil, err
	}
	if c.dow&(1<<7) != 0 {
		c.dow = c.dow&^(1<<7) | 1
	}
	if !c.canFire() {
		return nil, errors.New("never fires (no such day in those months)")
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

// String returns the expression, fields separated by single spaces, or the
// macro, as written.
func (c *Cron) String() string { return c.spec }

// Location returns the time zone the expression is evaluated in.
func (c *Cron) Location() *time.Location { return c.loc }

// parseField parses a comma-separated list of items. star reports whether
// it begins with "*", which decides how the two day fields combine.
func parseField(s string, f field) (bits uint64, star bool, err error) {
	star = strings.HasPrefix(s, "*")
	for _, item := range strings.Split(s, ",") {
		if item == "" {
			return 0, false, fmt.Errorf("%s: empty item in list %q", f.name, s)
		}
		b, err := parseItem(item, f)
		if err != nil {
			return 0, false, err
		}
		bits |= b
	}
	return bits, star, nil
}

// parseItem parses one list item: "*", a, a-b, each optionally "/n".
func parseItem(item string, f field) (uint64, error) {
	rng, stepS, hasStep := strings.Cut(item, "/")
	lo, hi := f.min, f.last
	switch {
	case rng == "*":
	case strings.Contains(rng, "*"):
		return 0, fmt.Errorf("%s: %q: * stands alone, or before /n", f.name, item)
	default:
		if strings.Count(rng, "-") > 1 {
			return 0, fmt.Errorf("%s: %q is not a value or a range a-b", f.name, rng)
		}
		a, b, isRange := strings.Cut(rng, "-")
		if isRange && (a == "" || b == "") {
			return 0, fmt.Errorf("%s: range %q lacks a start or an end", f.name, rng)
		}
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
				return 0, fmt.Errorf("%s: range %q goes backwards; write one that wraps around as two (%s-%d,%d-%s)",
					f.name, rng, a, f.max, f.min, b)
			}
		case hasStep:
			hi = max(f.last, lo) // a/n runs to the end; "7/n" is Sunday alone
		default:
			hi = lo
		}
	}
	step := 1
	if hasStep {
		span := f.max - f.min + 1
		n, ok := number(stepS)
		if !ok || n < 1 || n > span {
			return 0, fmt.Errorf("%s: step %q in %q: want a number from 1 to %d", f.name, stepS, item, span)
		}
		step = n
	}
	var bits uint64
	for v := lo; v <= hi; v += step {
		bits |= 1 << v
	}
	return bits, nil
}

// value parses a single value of f: a number or, for months and days of
// the week, a name.
func value(s string, f field) (int, error) {
	ls := strings.ToLower(s)
	for i, n := range f.names {
		if ls == n {
			return f.min + i, nil
		}
	}
	n, ok := number(s)
	if !ok {
		if f.hint != "" {
			return 0, fmt.Errorf("%s: %q is not a number or %s", f.name, s, f.hint)
		}
		return 0, fmt.Errorf("%s: %q is not a number", f.name, s)
	}
	if n < f.min || n > f.max {
		return 0, fmt.Errorf("%s: %q is out of range %d-%d", f.name, s, f.min, f.max)
	}
	return n, nil
}

// number parses s, decimal digits only: leading zeros are fine ("04", "007"),
// as cron reads them with atoi, but signs and spaces, which Atoi takes,
// are not. A number too large for an int is math.MaxInt, out of every range.
func number(s string) (int, bool) {
	if s == "" {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return math.MaxInt, true // only digits: it overflowed
	}
	return n, true
}

// searchDays bounds Next's search. The rarest day that can fire is a
// February 29th that must also fall on a given weekday (0 0 29 2 */7);
// across 2100, which is no leap year, two of those are 40 years (14,609
// days) apart.
const searchDays = 366 * 41

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
