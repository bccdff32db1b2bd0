package policy

import (
	"slices"
	"testing"
	"time"

	"github.com/moonwake/moonwake"
)

func TestCronDescribe(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	for _, c := range []struct{ spec, want string }{
		{"0 18 * * 1-5", "at 18:00 Mon–Fri (cron 0 18 * * 1-5, Europe/Paris)"},
		{"30 7 * * *", "at 07:30 every day (cron 30 7 * * *, Europe/Paris)"},
		{"0 1 * * sat,sun", "at 01:00 Sat, Sun (cron 0 1 * * sat,sun, Europe/Paris)"},
		{"0 1 * * 0", "at 01:00 Sun (cron 0 1 * * 0, Europe/Paris)"},
		{"0 1 * * 7", "at 01:00 Sun (cron 0 1 * * 7, Europe/Paris)"},
		{"0 1 * * 1,3,5", "at 01:00 Mon, Wed, Fri (cron 0 1 * * 1,3,5, Europe/Paris)"},
		{"0 1 * * 0-6", "at 01:00 every day (cron 0 1 * * 0-6, Europe/Paris)"},
		{"0 1 * * */2", "at 01:00 Tue, Thu, Sat, Sun (cron 0 1 * * */2, Europe/Paris)"},
		{"*/5 * * * *", "by cron */5 * * * * (Europe/Paris)"},
		{"0 18 1 * *", "by cron 0 18 1 * * (Europe/Paris)"},
		{"0 8,18 * * *", "by cron 0 8,18 * * * (Europe/Paris)"},
		// Worded from the parsed fields, so leading zeros, names and
		// macros read like the plain forms.
		{"04 22 * * *", "at 22:04 every day (cron 04 22 * * *, Europe/Paris)"},
		{"0 18 * jan-dec Mon-Fri", "at 18:00 Mon–Fri (cron 0 18 * jan-dec Mon-Fri, Europe/Paris)"},
		{"@daily", "at 00:00 every day (cron @daily, Europe/Paris)"},
		{"@midnight", "at 00:00 every day (cron @midnight, Europe/Paris)"},
		{"@weekly", "at 00:00 Sun (cron @weekly, Europe/Paris)"},
		{"@hourly", "by cron @hourly (Europe/Paris)"},
		{"@monthly", "by cron @monthly (Europe/Paris)"},
		{"@yearly", "by cron @yearly (Europe/Paris)"},
		{"0 18 * jan *", "by cron 0 18 * jan * (Europe/Paris)"},
		{"0 18 */2 * *", "by cron 0 18 */2 * * (Europe/Paris)"},
		// 1-31 is not "*": with a day of week, either day field fires.
		{"0 18 1-31 * mon", "by cron 0 18 1-31 * mon (Europe/Paris)"},
	} {
		cr, err := ParseCron(c.spec, paris)
		if err != nil {
			t.Fatal(err)
		}
		if got := cr.Describe(); got != c.want {
			t.Errorf("%q: got %q, want %q", c.spec, got, c.want)
		}
	}
	cr, _ := ParseCron("0 18 * * *", time.Local)
	if got, want := cr.Describe(), "at 18:00 every day (cron 0 18 * * *, the hub's local time)"; got != want {
		t.Errorf("local: got %q, want %q", got, want)
	}
}

func TestDescribe(t *testing.T) {
	wake, _ := ParseCron("0 18 * * 1-5", time.UTC)
	off, _ := ParseCron("0 1 * * *", time.UTC)
	schedules := []Schedule{
		{Selector: Selector{Tags: []string{"gaming"}}, Wake: wake, Shutdown: off},
		{Selector: Selector{Machines: []string{"nas"}}, Wake: wake},
	}
	idle := []IdleRule{
		{Selector: Selector{Machines: []string{"pc"}}, After: 90 * time.Minute, Grace: 0},
		{Selector: Selector{Tags: []string{"gaming"}}, After: 30 * time.Minute, Grace: 5 * time.Minute},
	}
	for _, c := range []struct {
		m    *moonwake.Machine
		want []string
	}{
		{&moonwake.Machine{Name: "pc", Tags: []string{"gaming"}}, []string{
			"Wakes at 18:00 Mon–Fri (cron 0 18 * * 1-5, UTC)",
			"Shuts down at 01:00 every day (cron 0 1 * * *, UTC), unless it streams or is kept awake",
			"Shuts down after 1 h 30 min unused (never while streaming), right after a warning", // the first rule wins
		}},
		{&moonwake.Machine{Name: "box", Tags: []string{"gaming"}}, []string{
			"Wakes at 18:00 Mon–Fri (cron 0 18 * * 1-5, UTC)",
			"Shuts down at 01:00 every day (cron 0 1 * * *, UTC), unless it streams or is kept awake",
			"Shuts down after 30 min unused (never while streaming), 5 min after a warning",
		}},
		{&moonwake.Machine{Name: "nas"}, []string{"Wakes at 18:00 Mon–Fri (cron 0 18 * * 1-5, UTC)"}},
		{&moonwake.Machine{Name: "other", Tags: []string{"office"}}, nil},
	} {
		if got := Describe(c.m, schedules, idle); !slices.Equal(got, c.want) {
			t.Errorf("%s:\ngot  %q\nwant %q", c.m.Name, got, c.want)
		}
	}
}

func TestHumanDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		30 * time.Minute: "30 min", 2 * time.Hour: "2 h", 90*time.Minute + 5*time.Second: "1 h 30 min 5 s", 45 * time.Second: "45 s",
	} {
		if got := humanDuration(d); got != want {
			t.Errorf("%s: got %q, want %q", d, got, want)
		}
	}
}
