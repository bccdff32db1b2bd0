package web

import (
	"html/template"
	"regexp"
	"strings"
	"time"
)

// Times people read are local and relative ("16:01, 3 min ago"), never
// raw RFC 3339; where the page is HTML, a <time datetime="…"> keeps the
// exact value for machines and for the title a pointer shows. Every time
// the pages write goes through readableTime, including those inside the
// hub's words: action details say "already on (since 2026-12-04T16:01:23Z)".

// rfc3339RE finds an RFC 3339 time in text.
var rfc3339RE = regexp.MustCompile(`\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})`)

// readableTime writes t for people, in the hub's local time zone: "16:01"
// today, "Thu 16:01" this week, "4 Dec 16:01" this year, "4 Dec 2025
// 16:01" before; then how long ago, or from now: "16:01, 3 min ago".
func readableTime(t, now time.Time) string {
	t, now = t.In(time.Local), now.In(time.Local)
	var at string
	ty, tm, td := t.Date()
	ny, nm, nd := now.Date()
	switch {
	case ty == ny && tm == nm && td == nd:
		at = t.Format("15:04")
	case now.Sub(t) > 0 && now.Sub(t) < 6*24*time.Hour:
		at = t.Format("Mon 15:04")
	case ty == ny:
		at = t.Format("2 Jan 15:04")
	default:
		at = t.Format("2 Jan 2006 15:04")
	}
	if d := now.Sub(t); d >= 0 {
		if d < 5*time.Second {
			return at + ", just now"
		}
		return at + ", " + shortDuration(d) + " ago"
	}
	return at + ", in " + shortDuration(roundDuration(t.Sub(now)))
}

// readableTimes rewrites every RFC 3339 time in text with readableTime.
func readableTimes(text string, now time.Time) string {
	return rfc3339RE.ReplaceAllStringFunc(text, func(m string) string {
		t, err := time.Parse(time.RFC3339Nano, m)
		if err != nil {
			return m
		}
		return readableTime(t, now)
	})
}

// timeHTML is t as a <time> element: readable text, the exact value in
// datetime and title.
func timeHTML(t, now time.Time) template.HTML {
	exact := t.UTC().Format(time.RFC3339)
	return template.HTML(`<time datetime="` + exact + `" title="` + exact + `">` +
		template.HTMLEscapeString(readableTime(t, now)) + `</time>`)
}

// wordsHTML escapes text, with each RFC 3339 time in it made a <time>
// element.
func wordsHTML(text string, now time.Time) template.HTML {
	var b strings.Builder
	last := 0
	for _, loc := range rfc3339RE.FindAllStringIndex(text, -1) {
		t, err := time.Parse(time.RFC3339Nano, text[loc[0]:loc[1]])
		if err != nil {
			continue
		}
		b.WriteString(template.HTMLEscapeString(text[last:loc[0]]))
		b.WriteString(string(timeHTML(t, now)))
		last = loc[1]
	}
	b.WriteString(template.HTMLEscapeString(text[last:]))
	return template.HTML(b.String())
}
