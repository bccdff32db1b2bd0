package policy

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func mustLoc(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Skipf("no time zone %s: %v", name, err)
	}
	return loc
}

func TestParseCronErrors(t *testing.T) {
	for _, spec := range []string{
		"", "* * * *", "* * * * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * 32 * *",
		"* * * 13 *", "* * * * 8", "5-1 * * * *", "*/0 * * * *", "*/61 * * * *", "1,,2 * * * *",
		"a * * * *", "* * * foo *", "* * * * mon-", "-1 * * * *", "+1 * * * *",
		"* * 30 feb *", "* * 31 apr,jun *", "1/x * * * *", "1-2-3 * * * *",
		// "@daily" and "01 * * * *" were refused here before; crontab(5)
		// takes both, and so does ParseCron now (see TestParseCronForms).
	} {
		if _, err := ParseCron(spec, nil); err == nil {
			t.Errorf("ParseCron(%q): no error", spec)
		}
	}
}

func TestCronNext(t *testing.T) {
	utc := time.UTC
	paris := mustLoc(t, "Europe/Paris")
	for _, tc := range []struct {
		spec  string
		loc   *time.Location
		after string // RFC3339
		want  string // RFC3339, in the location
	}{
		{"* * * * *", utc, "2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z"},
		{"* * * * *", utc, "2026-01-01T00:00:30Z", "2026-01-01T00:01:00Z"},
		{"0 18 * * 1-5", utc, "2026-11-27T18:00:00Z", "2026-11-30T18:00:00Z"}, // Friday → Monday
		{"0 18 * * mon-fri", utc, "2026-11-25T10:00:00Z", "2026-11-25T18:00:00Z"},
		{"30 23 * * *", utc, "2026-11-25T23:30:00Z", "2026-11-26T23:30:00Z"},
		{"*/15 * * * *", utc, "2026-01-01T00:16:00Z", "2026-01-01T00:30:00Z"},
		{"5/20 * * * *", utc, "2026-01-01T00:26:00Z", "2026-01-01T00:45:00Z"},
		{"0 0 1 jan *", utc, "2026-06-01T00:00:00Z", "2027-01-01T00:00:00Z"},
		{"0 0 29 2 *", utc, "2026-01-01T00:00:00Z", "2028-02-29T00:00:00Z"},
		{"0 12 * * 7", utc, "2026-11-25T00:00:00Z", "2026-11-29T12:00:00Z"}, // 7 is Sunday
		{"0 12 * * SUN", utc, "2026-11-25T00:00:00Z", "2026-11-29T12:00:00Z"},
		{"0 0 13 * fri", utc, "2026-11-25T00:00:00Z", "2026-11-27T00:00:00Z"}, // either day field
		{"0 9,17 * * *", utc, "2026-11-25T10:00:00Z", "2026-11-25T17:00:00Z"},
		{"0 18 * * 1-5", paris, "2026-11-25T12:00:00Z", "2026-11-25T18:00:00+01:00"},
		{"0 18 * * 1-5", paris, "2026-07-01T12:00:00Z", "2026-07-01T18:00:00+02:00"},
		// Spring forward in Paris, 2026-03-29: 02:00-03:00 does not exist.
		{"30 2 * * *", paris, "2026-03-28T03:00:00+01:00", "2026-03-30T02:30:00+02:00"},
		{"0 3 * * *", paris, "2026-03-29T00:00:00+01:00", "2026-03-29T03:00:00+02:00"},
		// Fall back, 2026-10-25: 02:00-03:00 happens twice; it fires once.
		{"30 2 * * *", paris, "2026-10-25T00:00:00+02:00", "2026-10-25T02:30:00+02:00"},
		{"30 2 * * *", paris, "2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"},
		{"30 2 * * *", paris, "2026-10-25T02:40:00+01:00", "2026-10-26T02:30:00+01:00"},
		{"*/30 2 * * *", paris, "2026-10-25T02:30:00+02:00", "2026-10-26T02:00:00+01:00"},
	} {
		c, err := ParseCron(tc.spec, tc.loc)
		if err != nil {
			t.Errorf("ParseCron(%q): %v", tc.spec, err)
			continue
		}
		after, _ := time.Parse(time.RFC3339, tc.after)
		want, _ := time.Parse(time.RFC3339, tc.want)
		if got := c.Next(after); !got.Equal(want) {
			t.Errorf("%q in %s after %s: %s, want %s", tc.spec, tc.loc, tc.after, got.Format(time.RFC3339), tc.want)
		}
	}
}

// A repeated hour fires once: walking Next over the fall-back night gives
// each wall time once.
func TestCronFallBackOnce(t *testing.T) {
	paris := mustLoc(t, "Europe/Paris")
	c, err := ParseCron("0,30 * * * *", paris)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 10, 25, 0, 0, 0, 0, paris)
	seen := map[string]int{}
	for i := 0; i < 12; i++ {
		at = c.Next(at)
		seen[at.Format("15:04")]++
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("%s fired %d times", k, n)
		}
	}
}

// TestParseCronForms checks the forms people paste from crontabs and
// documents: each parses like a plain numeric equivalent and fires at the
// times given, after a fixed instant (a Friday noon) in Europe/Paris,
// whose clocks go forward on Sunday 2026-03-29 at 02:00.
func TestParseCronForms(t *testing.T) {
	paris := mustLoc(t, "Europe/Paris")
	const friday = "2026-03-27T12:00:00+01:00"
	for _, tc := range []struct {
		spec  string
		equiv string   // parses to the same fields; "": spec itself
		str   string   // String(); "": spec itself
		after string   // RFC3339; "": friday
		want  []string // the next fire times, RFC3339 in Paris
	}{
		// Leading zeros, read as decimal (crontab(5) uses atoi).
		{spec: "04 22 * * *", equiv: "4 22 * * *",
			want: []string{"2026-03-27T22:04:00+01:00", "2026-03-28T22:04:00+01:00", "2026-03-29T22:04:00+02:00"}},
		{spec: "00 00 * * *", equiv: "0 0 * * *",
			want: []string{"2026-03-28T00:00:00+01:00", "2026-03-29T00:00:00+01:00", "2026-03-30T00:00:00+02:00"}},
		{spec: "007 8 01 * *", equiv: "7 8 1 * *",
			want: []string{"2026-04-01T08:07:00+02:00", "2026-05-01T08:07:00+02:00", "2026-06-01T08:07:00+02:00"}},
		{spec: "*/05 */06 * * *", equiv: "0-55/5 0,6,12,18 * * *",
			want: []string{"2026-03-27T12:05:00+01:00", "2026-03-27T12:10:00+01:00", "2026-03-27T12:15:00+01:00"}},
		// Steps, ranges, lists and mixes of them.
		{spec: "*/15 * * * *", equiv: "0,15,30,45 * * * *",
			want: []string{"2026-03-27T12:15:00+01:00", "2026-03-27T12:30:00+01:00", "2026-03-27T12:45:00+01:00"}},
		{spec: "10-20/5 13 * * *", equiv: "10,15,20 13 * * *",
			want: []string{"2026-03-27T13:10:00+01:00", "2026-03-27T13:15:00+01:00", "2026-03-27T13:20:00+01:00"}},
		{spec: "50/5 12 * * *", equiv: "50,55 12 * * *", // a/n: a to the end
			want: []string{"2026-03-27T12:50:00+01:00", "2026-03-27T12:55:00+01:00", "2026-03-28T12:50:00+01:00"}},
		{spec: "1,15,30 14 * * *", equiv: "30,1,15 14 * * *",
			want: []string{"2026-03-27T14:01:00+01:00", "2026-03-27T14:15:00+01:00", "2026-03-27T14:30:00+01:00"}},
		{spec: "1-5,10,20-30/5 13 * * *", equiv: "1,2,3,4,5,10,20,25,30 13 * * *",
			want: []string{"2026-03-27T13:01:00+01:00", "2026-03-27T13:02:00+01:00", "2026-03-27T13:03:00+01:00"}},
		// Names, in any case, also in ranges; 7 is Sunday like 0.
		{spec: "0 9 * JAN-mar Mon-FRI", equiv: "0 9 * 1-3 1-5",
			want: []string{"2026-03-30T09:00:00+02:00", "2026-03-31T09:00:00+02:00", "2027-01-01T09:00:00+01:00"}},
		{spec: "0 9 * * sun", equiv: "0 9 * * 0",
			want: []string{"2026-03-29T09:00:00+02:00", "2026-04-05T09:00:00+02:00", "2026-04-12T09:00:00+02:00"}},
		{spec: "0 9 * * 7", equiv: "0 9 * * 0",
			want: []string{"2026-03-29T09:00:00+02:00", "2026-04-05T09:00:00+02:00", "2026-04-12T09:00:00+02:00"}},
		{spec: "0 9 * * 5-7", equiv: "0 9 * * 0,5,6",
			want: []string{"2026-03-28T09:00:00+01:00", "2026-03-29T09:00:00+02:00", "2026-04-03T09:00:00+02:00"}},
		{spec: "0 0 * * 1/2", equiv: "0 0 * * 1,3,5", // ends on Saturday, like */2
			want: []string{"2026-03-30T00:00:00+02:00", "2026-04-01T00:00:00+02:00", "2026-04-03T00:00:00+02:00"}},
		{spec: "0 0 * * 7/3", equiv: "0 0 * * 0",
			want: []string{"2026-03-29T00:00:00+01:00", "2026-04-05T00:00:00+02:00"}},
		{spec: "0 0 1 jan,Jul *", equiv: "0 0 1 1,7 *",
			want: []string{"2026-07-01T00:00:00+02:00", "2027-01-01T00:00:00+01:00", "2027-07-01T00:00:00+02:00"}},
		// Both day fields restricted: either fires (the 1st or a Monday).
		{spec: "0 12 1 * mon",
			want: []string{"2026-03-30T12:00:00+02:00", "2026-04-01T12:00:00+02:00", "2026-04-06T12:00:00+02:00"}},
		// One begins with "*": both must match (an odd day and a Monday).
		{spec: "0 12 */2 * mon",
			want: []string{"2026-04-13T12:00:00+02:00", "2026-04-27T12:00:00+02:00", "2026-05-11T12:00:00+02:00"}},
		{spec: "0 0 29 feb *", equiv: "0 0 29 2 *",
			want: []string{"2028-02-29T00:00:00+01:00", "2032-02-29T00:00:00+01:00", "2036-02-29T00:00:00+01:00"}},
		// The rarest day there is: two Sunday 29 Februaries 40 years apart.
		{spec: "0 0 29 2 */7", after: "2088-03-01T00:00:00+01:00",
			want: []string{"2128-02-29T00:00:00+01:00", "2156-02-29T00:00:00+01:00"}},
		// Macros.
		{spec: "@yearly", equiv: "0 0 1 1 *",
			want: []string{"2027-01-01T00:00:00+01:00", "2028-01-01T00:00:00+01:00", "2029-01-01T00:00:00+01:00"}},
		{spec: "@annually", equiv: "0 0 1 1 *",
			want: []string{"2027-01-01T00:00:00+01:00", "2028-01-01T00:00:00+01:00"}},
		{spec: "@monthly", equiv: "0 0 1 * *",
			want: []string{"2026-04-01T00:00:00+02:00", "2026-05-01T00:00:00+02:00", "2026-06-01T00:00:00+02:00"}},
		{spec: "@weekly", equiv: "0 0 * * 0",
			want: []string{"2026-03-29T00:00:00+01:00", "2026-04-05T00:00:00+02:00", "2026-04-12T00:00:00+02:00"}},
		{spec: "@daily", equiv: "0 0 * * *",
			want: []string{"2026-03-28T00:00:00+01:00", "2026-03-29T00:00:00+01:00", "2026-03-30T00:00:00+02:00"}},
		{spec: "@midnight", equiv: "0 0 * * *",
			want: []string{"2026-03-28T00:00:00+01:00", "2026-03-29T00:00:00+01:00"}},
		{spec: " @Daily\t", equiv: "0 0 * * *", str: "@Daily",
			want: []string{"2026-03-28T00:00:00+01:00", "2026-03-29T00:00:00+01:00"}},
		{spec: "@hourly", equiv: "0 * * * *",
			want: []string{"2026-03-27T13:00:00+01:00", "2026-03-27T14:00:00+01:00", "2026-03-27T15:00:00+01:00"}},
		// Across the daylight-saving changes: 02:00-03:00 does not exist on
		// 2026-03-29 and happens twice on 2026-10-25 (it fires once).
		{spec: "@hourly", equiv: "0 * * * *", after: "2026-03-29T00:30:00+01:00",
			want: []string{"2026-03-29T01:00:00+01:00", "2026-03-29T03:00:00+02:00", "2026-03-29T04:00:00+02:00"}},
		{spec: "@hourly", equiv: "0 * * * *", after: "2026-10-25T00:30:00+02:00",
			want: []string{"2026-10-25T01:00:00+02:00", "2026-10-25T02:00:00+02:00", "2026-10-25T03:00:00+01:00"}},
		{spec: "30 02 * * *", equiv: "30 2 * * *",
			want: []string{"2026-03-28T02:30:00+01:00", "2026-03-30T02:30:00+02:00", "2026-03-31T02:30:00+02:00"}},
		// Any run of spaces and tabs between fields; String has one space.
		{spec: "  0\t9  *\t* \t mon-fri ", equiv: "0 9 * * 1-5", str: "0 9 * * mon-fri",
			want: []string{"2026-03-30T09:00:00+02:00", "2026-03-31T09:00:00+02:00", "2026-04-01T09:00:00+02:00"}},
	} {
		c, err := ParseCron(tc.spec, paris)
		if err != nil {
			t.Errorf("ParseCron(%q): %v", tc.spec, err)
			continue
		}
		if tc.str == "" {
			tc.str = tc.spec
		}
		if c.String() != tc.str {
			t.Errorf("ParseCron(%q).String() = %q, want %q", tc.spec, c.String(), tc.str)
		}
		if tc.equiv != "" {
			e, err := ParseCron(tc.equiv, paris)
			if err != nil {
				t.Fatalf("ParseCron(%q): %v", tc.equiv, err)
			}
			got, want := *c, *e
			got.spec, want.spec = "", ""
			if got != want {
				t.Errorf("ParseCron(%q) = %+v, want as %q: %+v", tc.spec, got, tc.equiv, want)
			}
		}
		if tc.after == "" {
			tc.after = friday
		}
		at, err := time.Parse(time.RFC3339, tc.after)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range tc.want {
			at = c.Next(at)
			if got := at.Format(time.RFC3339); got != w {
				t.Errorf("%q after %s: %s, want %s", tc.spec, tc.after, got, w)
				break
			}
		}
	}
}

// TestParseCronErrorMessages checks that errors name the field and the
// text at fault, and say why.
func TestParseCronErrorMessages(t *testing.T) {
	for _, tc := range []struct{ spec, want string }{
		{"* * * * 8", `day-of-week: "8" is out of range 0-7`},
		{"60 * * * *", `minute: "60" is out of range 0-59`},
		{"0099 * * * *", `minute: "0099" is out of range 0-59`},
		{"99999999999999999999999 * * * *", `minute: "99999999999999999999999" is out of range 0-59`},
		{"* 24 * * *", `hour: "24" is out of range 0-23`},
		{"* * 0 * *", `day-of-month: "0" is out of range 1-31`},
		{"* * * 13 *", `month: "13" is out of range 1-12`},
		{"*/0 * * * *", `minute: step "0" in "*/0": want a number from 1 to 60`},
		{"* */25 * * *", `hour: step "25" in "*/25": want a number from 1 to 24`},
		{"* * * * 1-5/0", `day-of-week: step "0" in "1-5/0"`},
		{"1/x * * * *", `minute: step "x" in "1/x"`},
		{"*/ * * * *", `minute: step "" in "*/"`},
		{"1/2/3 * * * *", `minute: step "2/3" in "1/2/3"`},
		{"5-1 * * * *", `minute: range "5-1" goes backwards; write one that wraps around as two (5-59,0-1)`},
		{"* * * * fri-mon", `day-of-week: range "fri-mon" goes backwards`},
		{"1,,2 * * * *", `minute: empty item in list "1,,2"`},
		{"1, * * * *", `minute: empty item in list "1,"`},
		{"* * * * ,mon", `day-of-week: empty item in list ",mon"`},
		{"* * * * mon-", `day-of-week: range "mon-" lacks a start or an end`},
		{"-1 * * * *", `minute: range "-1" lacks a start or an end`},
		{"1-2-3 * * * *", `minute: "1-2-3" is not a value or a range a-b`},
		{"+1 * * * *", `minute: "+1" is not a number`},
		{"a * * * *", `minute: "a" is not a number`},
		{"*5 * * * *", `minute: "*5": * stands alone, or before /n`},
		{"* * * foo *", `month: "foo" is not a number or a month name (jan-dec)`},
		{"* * * january *", `month: "january" is not a number or a month name (jan-dec)`},
		{"* * * * monday", `day-of-week: "monday" is not a number or a day name (sun-sat)`},
		{"* * * * mon#2", `day-of-week: "mon#2" is not a number or a day name (sun-sat)`},
		{"* * L * *", `day-of-month: "L" is not a number`},
		{"* * 15W * *", `day-of-month: "15W" is not a number`},
		{"* * ? * *", `day-of-month: "?" is not a number`},
		{"* * 30 feb *", "never fires"},
		{"0 0 0 * * *", "want 5 fields (minute hour day-of-month month day-of-week), got 6: there is no seconds or year field"},
		{"0 0 12 * * ? 2030", "got 7: there is no seconds or year field"},
		{"0 22 * * * /usr/local/bin/backup", "got 6: there is no seconds or year field, and no command"},
		{"* * * *", "want 5 fields (minute hour day-of-month month day-of-week), got 4"},
		{"", "got 0"},
		{"@reboot", "@reboot runs once when cron starts; a hub schedule has no boot to run at"},
		{"@every 5m", `unknown macro "@every": want @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly`},
		{"@", `unknown macro "@"`},
		{"@daily 0 0 * * *", `@daily stands alone: it takes no other fields (got "0 0 * * *" after it)`},
		{strings.Repeat("1,", 200) + "1 * * * *", "longer than 256 characters"},
	} {
		_, err := ParseCron(tc.spec, nil)
		if err == nil {
			t.Errorf("ParseCron(%q): no error", tc.spec)
			continue
		}
		if prefix := fmt.Sprintf("cron %q: ", tc.spec); len(tc.spec) <= maxSpec && !strings.HasPrefix(err.Error(), prefix) {
			t.Errorf("ParseCron(%q): %q does not begin with %q", tc.spec, err, prefix)
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseCron(%q): %q, want %q in it", tc.spec, err, tc.want)
		}
	}
}

func FuzzParseCron(f *testing.F) {
	for _, s := range []string{"* * * * *", "0 18 * * 1-5", "*/5 1-3,7 1,15 jan-mar mon-fri", "30 2 * * *", "0 0 29 2 *", "0 0 13 * fri",
		"04 22 * * *", "@daily", "@reboot", "1-5,10,20-30/5 * * * *", "0 9 * JAN-Mar Mon-FRI", " 0\t9 * * 7 ", "0 0 29 2 */7"} {
		f.Add(s, int64(1790000000))
	}
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		paris = time.UTC
	}
	f.Fuzz(func(t *testing.T, spec string, unix int64) {
		c, err := ParseCron(spec, paris)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "cron ") {
				t.Fatalf("%q: error %q does not say it is about cron", spec, err)
			}
			return
		}
		c2, err := ParseCron(c.String(), paris)
		if err != nil || *c2 != *c {
			t.Fatalf("%q does not round-trip through %q: %v", spec, c.String(), err)
		}
		after := time.Unix(unix%(1<<34), 0)
		n := c.Next(after)
		if n.IsZero() {
			t.Fatalf("%q after %s: never", spec, after)
		}
		if !n.After(after) || n.Second() != 0 {
			t.Fatalf("%q after %s: %s", spec, after, n)
		}
		l := n.In(paris)
		if !c.fires(l) {
			t.Fatalf("%q: %s does not match", spec, l)
		}
		// Nothing fires in between: walk the minutes up to a day ahead
		// (since 1980, when Paris time is a whole number of hours from UTC
		// and minutes start together).
		if after.Year() < 1980 || n.Sub(after) > 24*time.Hour {
			return
		}
		for m := after.Truncate(time.Minute).Add(time.Minute); m.Before(n); m = m.Add(time.Minute) {
			if l := m.In(paris); c.fires(l) && !repeated(l) {
				t.Fatalf("%q after %s: %s, but %s fires first", spec, after, n, l)
			}
		}
	})
}

// fires reports whether c matches the wall-clock minute of t.
func (c *Cron) fires(t time.Time) bool {
	return c.minute&(1<<t.Minute()) != 0 && c.hour&(1<<t.Hour()) != 0 && c.dayMatches(t)
}

// repeated reports whether t's wall-clock time already happened, before
// clocks went back.
func repeated(t time.Time) bool {
	for _, back := range []time.Duration{30 * time.Minute, time.Hour, 2 * time.Hour} {
		u := t.Add(-back).In(t.Location())
		if u.Year() == t.Year() && u.YearDay() == t.YearDay() && u.Hour() == t.Hour() && u.Minute() == t.Minute() {
			return true
		}
	}
	return false
}
