package config

import (
	"strings"
	"testing"
	"time"
)

func TestPolicies(t *testing.T) {
	c := Default()
	err := Parse([]byte(`
schedules:
  - tags: [gaming]
    wake: "0 18 * * 1-5"
    shutdown: "30 23 * * *"
    timezone: Europe/Paris
    shutdown_action: hibernate
idle_off:
  - machines: [pc]
    after: 45m
    action: sleep
`), &c)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	ss, rs, err := c.Policies()
	if err != nil || len(ss) != 1 || len(rs) != 1 {
		t.Fatalf("%v %v %v", ss, rs, err)
	}
	if ss[0].Wake.String() != "0 18 * * 1-5" || ss[0].Wake.Location().String() != "Europe/Paris" {
		t.Errorf("wake %s in %s", ss[0].Wake, ss[0].Wake.Location())
	}
	if ss[0].OffAction != "hibernate" {
		t.Errorf("schedule's shutdown action %q", ss[0].OffAction)
	}
	if rs[0].After != 45*time.Minute || rs[0].Grace != 5*time.Minute || rs[0].Action != "sleep" {
		t.Errorf("idle rule %+v", rs[0])
	}
	for _, bad := range []struct{ yaml, want string }{
		{"schedules: [{tags: [a], wake: '61 * * * *'}]", "schedules[0].wake"},
		{"schedules: [{tags: [a], wake: '* * * * *', timezone: Mars/Base}]", "timezone"},
		{"schedules: [{wake: '* * * * *'}]", "machines or tags"},
		{"schedules: [{tags: [a]}]", "wake or shutdown"},
		{"idle_off: [{tags: [a], after: 10s}]", "after"},
		{"idle_off: [{after: 10m}]", "machines or tags"},
		{"idle_off: [{tags: [a], action: reboot}]", "idle_off[0].action \"reboot\": want one of shutdown, sleep, hibernate"},
		{"schedules: [{tags: [a], shutdown: '* * * * *', shutdown_action: nap}]", "shutdown_action"},
	} {
		c := Default()
		if err := Parse([]byte(bad.yaml), &c); err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: %v, want %q", bad.yaml, err, bad.want)
		}
	}
}
