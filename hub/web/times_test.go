package web

import (
	"strings"
	"testing"
	"time"
)

func TestReadableTime(t *testing.T) {
	now := time.Date(2026, 12, 4, 16, 4, 0, 0, time.Local) // a Friday
	for _, tc := range []struct {
		t    time.Time
		want string
	}{
		{now.Add(-3 * time.Minute), "16:01, 3 min ago"},
		{now.Add(-2 * time.Second), "16:03, just now"},
		{now.Add(-26 * time.Hour), "Thu 14:04, 26 h ago"},
		{time.Date(2026, 6, 1, 9, 30, 0, 0, time.Local), "1 Jun 09:30, 186 d ago"},
		{time.Date(2025, 12, 24, 20, 0, 0, 0, time.Local), "24 Dec 2025 20:00, 344 d ago"},
		{now.Add(2 * time.Hour), "18:04, in 2 h"},
	} {
		if got := readableTime(tc.t, now); got != tc.want {
			t.Errorf("readableTime(%s) = %q, want %q", tc.t, got, tc.want)
		}
	}
}

// TestWordsMakeTimesReadable: the hub's words, such as the power
// service's "already on (since …)", read as local, relative times; the
// HTML keeps the exact value in <time datetime>.
func TestWordsMakeTimesReadable(t *testing.T) {
	now := time.Date(2026, 12, 4, 16, 4, 0, 0, time.Local)
	since := now.Add(-3*time.Minute - 23*time.Second)
	detail := "pc is already on (since " + since.UTC().Format(time.RFC3339) + "); nothing sent <b>"
	if got := readableTimes(detail, now); got != "pc is already on (since 16:00, 3 min ago); nothing sent <b>" {
		t.Errorf("text: %q", got)
	}
	html := string(wordsHTML(detail, now))
	exact := since.UTC().Format(time.RFC3339)
	want := `pc is already on (since <time datetime="` + exact + `" title="` + exact + `">16:00, 3 min ago</time>); nothing sent &lt;b&gt;`
	if html != want {
		t.Errorf("html:\n%s\nwant\n%s", html, want)
	}
	if got := readableTimes("no times here, 2026-12-04 nor 16:01", now); got != "no times here, 2026-12-04 nor 16:01" {
		t.Errorf("%q", got)
	}
	if strings.Contains(readableTimes("at 2026-12-04T16:01:23.123456789+01:00", now), "T16") {
		t.Error("a time with fractions and an offset was left raw")
	}
}

func FuzzReadableTimes(f *testing.F) {
	f.Add("pc is already on (since 2026-12-04T16:01:23Z); nothing sent")
	f.Add("2026-13-45T99:99:99Z and 2026-12-04T16:01:23.5-07:00")
	now := time.Date(2026, 12, 4, 16, 4, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		out := string(wordsHTML(s, now))
		if strings.Contains(out, "<") && !strings.Contains(out, "<time") {
			t.Fatalf("unescaped markup in %q", out)
		}
		_ = readableTimes(s, now)
	})
}
