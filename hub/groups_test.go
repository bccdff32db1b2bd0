package hub_test

import (
	"strings"
	"testing"
	"time"

	"github.com/moonwake/moonwake"
)

// TestGroupWake wakes a tag's machines through the API, a stagger apart,
// and reads each member's outcome; a token that may not wake every member
// starts nothing.
func TestGroupWake(t *testing.T) {
	th := startHub(t, newConfig(t))
	r := newReceiver(t)
	th.addMachine("pc-a", "aa:bb:cc:dd:ee:0a", r, map[string]any{"tags": []string{"lab"}})
	th.addMachine("pc-b", "aa:bb:cc:dd:ee:0b", r, map[string]any{"tags": []string{"lab", "den"}})
	th.addMachine("pc-c", "aa:bb:cc:dd:ee:0c", r, map[string]any{"tags": []string{"lab"}})
	th.addMachine("solo", "aa:bb:cc:dd:ee:0d", r, nil)

	var groups struct {
		Groups []struct {
			Tag      string
			Machines []string
		}
	}
	th.must(200, "GET", "/api/v1/groups", th.Admin, nil).decode(t, &groups)
	if len(groups.Groups) != 2 || groups.Groups[1].Tag != "lab" || strings.Join(groups.Groups[1].Machines, ",") != "pc-a,pc-b,pc-c" {
		t.Fatalf("groups %+v", groups)
	}

	// A token for pc-a and pc-b only: the lab holds pc-c too.
	scoped := th.token("phone", []string{"pc-a", "pc-b"}, []string{"wake"}, false)
	a := th.do("POST", "/api/v1/groups/lab/wake", scoped, nil)
	if a.Status != 403 || !strings.Contains(string(a.Body), "1 of the machines") || strings.Contains(string(a.Body), "pc-c") {
		t.Fatalf("a scoped token: %d %s", a.Status, a.Body)
	}
	if r.next(100*time.Millisecond) != nil {
		t.Fatal("a refused group wake sent a packet")
	}
	for _, tc := range []struct {
		path string
		body any
		want int
	}{
		{"/api/v1/groups/attic/wake", nil, 404},
		{"/api/v1/groups/wake", map[string]any{"machines": []string{"pc-a", "nope"}}, 404},
		{"/api/v1/groups/wake", map[string]any{}, 400},
		{"/api/v1/groups/lab/wake", map[string]any{"stagger": "1s", "per_second": 2}, 400},
		{"/api/v1/groups/lab/wake", map[string]any{"stagger": "-1s"}, 400},
		{"/api/v1/groups/lab/wake", map[string]any{"machines": []string{"solo"}}, 400},
	} {
		if a := th.do("POST", tc.path, th.Admin, tc.body); a.Status != tc.want {
			t.Errorf("%s %v: %d %s, want %d", tc.path, tc.body, a.Status, a.Body, tc.want)
		}
	}

	const stagger = 150 * time.Millisecond
	var g moonwake.GroupAction
	a = th.must(202, "POST", "/api/v1/groups/lab/wake", scopedAll(th), map[string]any{"stagger": stagger.String()})
	a.decode(t, &g)
	if g.Tag != "lab" || g.StaggerMS != 150 || len(g.Members) != 3 || g.Members[0].Machine != "pc-a" || a.Header.Get("Location") != "/api/v1/groups/actions/"+g.ID {
		t.Fatalf("group %+v", g)
	}
	// The packets come in member order.
	var macs []string
	for len(macs) < 3 {
		p := r.next(5 * time.Second)
		if p == nil {
			t.Fatalf("only %d members' packets arrived", len(macs))
		}
		mac := moonwakeMAC(p)
		if len(macs) == 0 || macs[len(macs)-1] != mac {
			macs = append(macs, mac)
		}
	}
	if strings.Join(macs, ",") != "aa:bb:cc:dd:ee:0a,aa:bb:cc:dd:ee:0b,aa:bb:cc:dd:ee:0c" {
		t.Fatalf("order %q", macs)
	}
	// Unverified wakes (loopback has no PC) end after their blind resends.
	var done moonwake.GroupAction
	th.must(200, "GET", "/api/v1/groups/actions/"+g.ID, th.Admin, nil).decode(t, &done)
	for deadline := time.Now().Add(30 * time.Second); !done.Done(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("still running: %+v", done)
		}
		th.must(200, "GET", "/api/v1/groups/actions/"+g.ID, th.Admin, nil).decode(t, &done)
	}
	// A stagger apart or more (never less; later on a loaded machine).
	for i, m := range done.Members[1:] {
		if gap := m.StartedAt.Sub(*done.Members[0].StartedAt); gap < time.Duration(i+1)*stagger {
			t.Errorf("%s started %v after the first", m.Machine, gap)
		}
	}
	for _, m := range done.Members {
		if m.Action == "" || m.Status == moonwake.StatusPending || m.Status == moonwake.StatusRunning || m.StartedAt == nil {
			t.Errorf("member %+v", m)
		}
		var act moonwake.Action
		th.must(200, "GET", "/api/v1/actions/"+m.Action, th.Admin, nil).decode(t, &act)
		if act.Machine != m.Machine || act.Actor.Name != "all-lab" || act.Status != m.Status {
			t.Errorf("member %s's action %+v", m.Machine, act)
		}
	}
	if done.Actor.Name != "all-lab" || !strings.Contains(done.Detail, "of 3 succeeded") {
		t.Errorf("group %+v", done)
	}
	// The phone sees none of it: pc-c is beyond its scope.
	if a := th.do("GET", "/api/v1/groups/actions/"+g.ID, scoped, nil); a.Status != 404 {
		t.Errorf("the phone reads the lab's group action: %d", a.Status)
	}
}

// scopedAll is a token that may wake the whole lab, and nothing else.
func scopedAll(th *testHub) string {
	return th.token("all-lab", []string{"pc-a", "pc-b", "pc-c"}, []string{"wake"}, false)
}

// moonwakeMAC is the target MAC of a magic packet.
func moonwakeMAC(p []byte) string {
	if len(p) < 12 {
		return ""
	}
	b := p[6:12]
	const hex = "0123456789abcdef"
	var s strings.Builder
	for i, c := range b {
		if i > 0 {
			s.WriteByte(':')
		}
		s.WriteByte(hex[c>>4])
		s.WriteByte(hex[c&15])
	}
	return s.String()
}
