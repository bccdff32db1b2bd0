package policy

import (
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
		"a * * * *", "* * * foo *", "@daily", "* * * * mon-", "-1 * * * *", "+1 * * * *", "01 * * * *",
		"* * 30 feb *", "* * 31 apr,jun *", "1/x * * * *", "1-2-3 * * * *",
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

func FuzzParseCron(f *testing.F) {
	for _, s := range []string{"* * * * *", "0 18 * * 1-5", "*/5 1-3,7 1,15 jan-mar mon-fri", "30 2 * * *", "0 0 29 2 *", "0 0 13 * fri"} {
		f.Add(s, int64(1790000000))
	}
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		paris = time.UTC
	}
	f.Fuzz(func(t *testing.T, spec string, unix int64) {
		c, err := ParseCron(spec, paris)
		if err != nil {
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
		if c.minute&(1<<l.Minute()) == 0 || c.hour&(1<<l.Hour()) == 0 || !c.dayMatches(l) {
			t.Fatalf("%q: %s does not match", spec, l)
		}
	})
}
