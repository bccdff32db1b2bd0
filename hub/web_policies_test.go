package hub_test

import (
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/moonwake/moonwake/hub/config"
)

// TestWebMachinePolicies checks that a machine's page lists, in words, the
// schedules and the idle rule of the config file that select it by name or
// tag, and says so when none does.
func TestWebMachinePolicies(t *testing.T) {
	cfg := newConfig(t)
	cfg.Schedules = []config.Schedule{
		{Tags: []string{"gaming"}, Wake: "0 18 * * 1-5", Shutdown: "30 1 * * *", Timezone: "UTC"},
		{Machines: []string{"nas"}, Wake: "0 7 * * sat,sun", Timezone: "UTC"},
	}
	cfg.IdleOff = []config.IdleOff{
		{Tags: []string{"gaming"}}, // 30 min, 5 min: the defaults
		{Machines: []string{"pc"}, After: 2 * time.Hour, Grace: 10 * time.Minute}, // pc is tagged: the first rule wins
	}
	th := startHub(t, cfg)
	r := newReceiver(t)
	th.addMachine("pc", "02:00:00:00:01:01", r, map[string]any{"tags": []string{"gaming"}})
	th.addMachine("nas", "02:00:00:00:01:02", r, nil)
	th.addMachine("printer", "02:00:00:00:01:03", r, map[string]any{"tags": []string{"office"}})

	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	pw := "a long enough password"
	res, err := c.PostForm(th.URL+"/setup", url.Values{"token": {th.Admin}, "password": {pw}, "confirm": {pw}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("setup: %s", res.Status)
	}
	page := func(name string) string {
		t.Helper()
		res, err := c.Get(th.URL + "/machines/" + name)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("GET /machines/%s: %s %v", name, res.Status, err)
		}
		return html.UnescapeString(string(b))
	}
	for _, c := range []struct {
		machine string
		want    []string
		not     []string
	}{
		{"pc", []string{
			"<li>Wakes at 18:00 Mon–Fri (cron 0 18 * * 1-5, UTC).</li>",
			"<li>Shuts down at 01:30 every day (cron 30 1 * * *, UTC), unless it streams or is kept awake.</li>",
			"<li>Shuts down after 30 min unused (never while streaming), 5 min after a warning.</li>",
		}, []string{"after 2 h", "07:00", "No schedule"}},
		{"nas", []string{"<li>Wakes at 07:00 Sat, Sun (cron 0 7 * * sat,sun, UTC).</li>"}, []string{"18:00", "unused", "No schedule"}},
		{"printer", []string{"No schedule or idle auto-off applies to this machine."}, []string{"<li>Wakes", "<li>Shuts"}},
	} {
		body := page(c.machine)
		for _, w := range c.want {
			if !strings.Contains(body, w) {
				t.Errorf("page of %s lacks %q", c.machine, w)
			}
		}
		for _, n := range c.not {
			if strings.Contains(body, n) {
				t.Errorf("page of %s has %q", c.machine, n)
			}
		}
	}
}
