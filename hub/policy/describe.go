package policy

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"time"

	"github.com/moonwake/moonwake"
)

// Describe says, for people, which policies apply to m: a sentence for each
// scheduled wake and shutdown that selects it, in the schedules' order,
// then one for the idle rule that governs it (the first that selects it,
// as the Engine picks). It returns nil when none applies.
func Describe(m *moonwake.Machine, schedules []Schedule, idle []IdleRule) []string {
	var out []string
	for _, s := range schedules {
		if !s.Matches(m) {
			continue
		}
		if s.Wake != nil {
			out = append(out, "Wakes "+s.Wake.Describe())
		}
		if s.Shutdown != nil {
			out = append(out, offSentence(s.OffAction)+" "+s.Shutdown.Describe()+", unless it streams or is kept awake")
		}
	}
	for _, r := range idle {
		if r.Matches(m) {
			out = append(out, r.Describe())
			break
		}
	}
	return out
}

// Describe says when the rule shuts a machine down, for people: "Shuts
// down after 30 min unused (never while streaming), 5 min after a
// warning".
func (r IdleRule) Describe() string {
	s := offSentence(r.Action) + " after " + humanDuration(r.After) + " unused (never while streaming), "
	if r.Grace <= 0 {
		return s + "right after a warning"
	}
	return s + humanDuration(r.Grace) + " after a warning"
}

// offSentence starts a sentence about an off action: "Shuts down",
// "Sleeps", "Hibernates".
func offSentence(kind string) string {
	switch offAction(kind) {
	case moonwake.ActionSleep:
		return "Sleeps"
	case moonwake.ActionHibernate:
		return "Hibernates"
	}
	return "Shuts down"
}

// Describe says when the expression fires, for people, with the expression
// and its time zone: "at 18:00 Mon–Fri (cron 0 18 * * 1-5, Europe/Paris)".
// Only a single daily time, every day or on some days of the week, is put
// in words; other expressions are shown as they are: "by cron */5 * * * *
// (Europe/Paris)".
func (c *Cron) Describe() string {
	zone := c.loc.String()
	if c.loc == time.Local {
		zone = "the hub's local time"
	}
	// Read the parsed fields, not the text, so that "04 22 * * *",
	// "0 0 * jan-dec *" and @daily are worded like "4 22 * * *" and
	// "0 0 * * *". The day of month must be "*" itself (not "1-31", which
	// would make a restricted day of week fire every day, nor "*/2").
	minute, okM := only(c.minute)
	hour, okH := only(c.hour)
	if !okM || !okH || !c.domStar || c.dom != allDays || c.month != allMonths {
		return fmt.Sprintf("by cron %s (%s)", c.spec, zone)
	}
	days := "every day"
	if c.dow&0x7f != 0x7f { // the day of month is "*": the days of the week decide
		days = weekdays(c.dow)
	}
	return fmt.Sprintf("at %02d:%02d %s (cron %s, %s)", hour, minute, days, c.spec, zone)
}

// The bits of a day-of-month or month field that has every value.
const (
	allDays   = 1<<32 - 2 // 1-31
	allMonths = 1<<13 - 2 // 1-12
)

// only returns the value whose bit is set when exactly one is.
func only(b uint64) (int, bool) {
	return bits.TrailingZeros64(b), bits.OnesCount64(b) == 1
}

// weekdays names the days whose bits (0 Sunday … 6 Saturday) are set,
// Monday first, runs of three or more as ranges: "Mon–Fri", "Sat, Sun".
func weekdays(bits uint64) string {
	names := [7]string{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}
	on := func(i int) bool { return bits&(1<<((i+1)%7)) != 0 } // i: 0 Monday … 6 Sunday
	var parts []string
	for i := 0; i < 7; {
		if !on(i) {
			i++
			continue
		}
		j := i
		for j+1 < 7 && on(j+1) {
			j++
		}
		switch {
		case j-i >= 2:
			parts = append(parts, names[i]+"–"+names[j])
		case j == i+1:
			parts = append(parts, names[i], names[j])
		default:
			parts = append(parts, names[i])
		}
		i = j + 1
	}
	return strings.Join(parts, ", ")
}

// humanDuration writes d in hours, minutes and seconds: "30 min",
// "1 h 30 min", "45 s".
func humanDuration(d time.Duration) string {
	if d < time.Second {
		return d.String()
	}
	d = d.Round(time.Second)
	h, m, s := int(d/time.Hour), int(d%time.Hour/time.Minute), int(d%time.Minute/time.Second)
	var parts []string
	if h > 0 {
		parts = append(parts, strconv.Itoa(h)+" h")
	}
	if m > 0 {
		parts = append(parts, strconv.Itoa(m)+" min")
	}
	if s > 0 {
		parts = append(parts, strconv.Itoa(s)+" s")
	}
	return strings.Join(parts, " ")
}

// Describe says which of the engine's rules apply to m, in words; see the
// package function Describe.
func (e *Engine) Describe(m *moonwake.Machine) []string {
	return Describe(m, e.o.Schedules, e.o.Idle)
}
