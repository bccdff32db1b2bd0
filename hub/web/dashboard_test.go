package web

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moonwake/moonwake"
)

func TestDashboardCards(t *testing.T) {
	h := newHarness(t, "desk", "pc")
	h.signIn()

	// No state yet: unknown, nothing in progress.
	res, body := h.get("/")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("dashboard: %s", res.Status)
	}
	for _, want := range []string{
		`<article class="machine" data-machine="desk" data-state="unknown"`,
		`<article class="machine" data-machine="pc" data-state="unknown"`,
		`<a class="name" href="/machines/pc">pc</a>`,
		`button type="submit" class="btn wake" data-action="wake"`,
		`data-action="shutdown"`, `data-action="keep-awake"`,
		`class="since"`, `class="progress"`, `class="state">Unknown<`,
		`<details class="evidence">`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("dashboard lacks %s", want)
		}
	}

	// On for 3 minutes, with evidence; a failed shutdown; kept awake.
	since := time.Now().Add(-3*time.Minute - 5*time.Second)
	rtt := 2 * time.Millisecond
	idle := int64(90)
	h.monitor.set("pc", moonwake.PowerInfo{State: moonwake.StateOn, Since: since, Reason: "answered: tcp/47989 open",
		Evidence: &moonwake.Evidence{At: time.Now(), Addr: "127.0.0.3",
			TCP:       []moonwake.TCPResult{{Port: 47989, Outcome: moonwake.OutcomeOpen, RTT: rtt}},
			ICMP:      &moonwake.ICMPResult{Mode: moonwake.ICMPUnprivileged, Outcome: moonwake.OutcomeReply, RTT: 15 * time.Millisecond},
			Neighbour: &moonwake.NeighbourResult{IP: "127.0.0.3", MAC: "02:00:00:00:00:02", State: "reachable", Identity: moonwake.IdentityMatch},
			Agent:     &moonwake.AgentEvidence{Connected: true, IdleSeconds: &idle},
			Sunshine:  &moonwake.SunshineEvidence{Reachable: true, State: moonwake.SunshineBusy, CurrentGame: 7},
		}})
	created := time.Now().Add(-20 * time.Second)
	finished := created.Add(12 * time.Second)
	if err := h.srv.Actions.CreateAction(context.Background(), &moonwake.Action{ID: "act_01", Kind: moonwake.ActionShutdown, Machine: "pc",
		MAC: "02:00:00:00:00:02", Status: moonwake.StatusFailed, Detail: "still answering on 47989", Steps: []moonwake.Step{},
		CreatedAt: created, FinishedAt: &finished, Actor: moonwake.Actor{Kind: "session", Name: "admin"}}); err != nil {
		t.Fatal(err)
	}
	h.srv.KeepAwake.SetKeepAwake(context.Background(), "pc", time.Now().Add(100*time.Minute), "test")
	_, body = h.get("/")
	card := cardOf(t, body, "pc")
	for _, want := range []string{
		`data-state="on"`, `data-outcome="failed"`, `class="state">On<`, `for 3 min`,
		`shutdown failed: still answering on 47989`, "TCP 47989: open in 2 ms", "ping: reply in 15 ms",
		"MAC 02:00:00:00:00:02 matches", "agent: link up, no input for 1 min", "Sunshine: busy, app 7",
		`name="clear"`, `Awake 2 h more`, `aria-pressed="true"`,
	} {
		if !strings.Contains(card, want) {
			t.Errorf("card lacks %s:\n%s", want, card)
		}
	}
	if strings.Contains(body, ` style=`) || strings.Contains(body, "<style") || regexp.MustCompile(`<script>|<script [^>]*>[^<]`).MatchString(body) {
		t.Error("the page has inline style or script, which the CSP forbids")
	}

	// No machines at all.
	for _, name := range []string{"desk", "pc"} {
		if err := h.machines.DeleteMachine(context.Background(), name); err != nil {
			t.Fatal(err)
		}
	}
	if _, body = h.get("/"); !strings.Contains(body, "No machines yet") || !strings.Contains(body, `href="/machines/new"`) {
		t.Errorf("empty dashboard:\n%s", body)
	}
}

// A machine asleep is off, and its card and page say that its network
// card answers; one that is simply off says nothing more.
func TestDashboardAsleep(t *testing.T) {
	h := newHarness(t, "desk", "pc")
	h.signIn()
	ev := &moonwake.Evidence{At: time.Now(), Addr: "127.0.0.3",
		TCP:  []moonwake.TCPResult{{Port: 47989, Outcome: moonwake.OutcomeTimeout}},
		ICMP: &moonwake.ICMPResult{Mode: moonwake.ICMPPrivileged, Outcome: moonwake.OutcomeTimeout},
		Neighbour: &moonwake.NeighbourResult{IP: "127.0.0.3", MAC: "02:00:00:00:00:02", State: "reachable",
			Identity: moonwake.IdentityMatch, Answered: true},
	}
	_, reason := moonwake.DeriveState(*ev, moonwake.Pending{}, 0)
	h.monitor.set("pc", moonwake.PowerInfo{State: moonwake.StateOff, Since: time.Now().Add(-time.Minute), Reason: reason, Evidence: ev, Asleep: true})
	h.monitor.set("desk", moonwake.PowerInfo{State: moonwake.StateOff, Since: time.Now().Add(-time.Minute), Reason: "no answer"})
	_, body := h.get("/")
	card := cardOf(t, body, "pc")
	for _, want := range []string{`class="state">Off<`, `<span class="asleep">asleep (network card answers)</span>`, "answered ARP just now"} {
		if !strings.Contains(card, want) {
			t.Errorf("card lacks %s:\n%s", want, card)
		}
	}
	if card := cardOf(t, body, "desk"); !strings.Contains(card, `<span class="asleep" hidden>`) {
		t.Errorf("an off machine's card says asleep:\n%s", card)
	}
	_, page := h.get("/machines/pc")
	if !strings.Contains(page, `<span class="asleep">asleep (network card answers)</span>`) {
		t.Errorf("the machine page does not say asleep")
	}
}

// cardOf returns the card of the machine called name.
func cardOf(t *testing.T, body, name string) string {
	t.Helper()
	i := strings.Index(body, `data-machine="`+name+`"`)
	if i < 0 {
		t.Fatalf("no card for %s", name)
	}
	j := strings.Index(body[i:], "</article>")
	return body[i : i+j]
}

func TestProgress(t *testing.T) {
	now := time.Now()
	at := func(d time.Duration) *time.Time { x := now.Add(d); return &x }
	for _, tc := range []struct {
		a             *moonwake.Action
		text, outcome string
	}{
		{nil, "", ""},
		{&moonwake.Action{Kind: "wake", Status: "running"}, "waking…", "running"},
		{&moonwake.Action{Kind: "shutdown", Status: "running"}, "shutting down…", "running"},
		{&moonwake.Action{Kind: "wake", Status: "succeeded", CreatedAt: now.Add(-50 * time.Second), FinishedAt: at(-9 * time.Second),
			Steps: []moonwake.Step{{Kind: "send"}, {Kind: "verify", Target: "on"}}}, "on after 41 s", "succeeded"},
		{&moonwake.Action{Kind: "shutdown", Status: "succeeded", CreatedAt: now.Add(-12 * time.Second), FinishedAt: at(0),
			Steps: []moonwake.Step{{Kind: "verify", Target: "off"}}}, "off after 12 s", "succeeded"},
		{&moonwake.Action{Kind: "wake", Status: "succeeded", Detail: "pc is already on (since x); nothing sent", FinishedAt: at(0)}, "already on", "succeeded"},
		{&moonwake.Action{Kind: "shutdown", Status: "failed", Detail: "still answering on 47989", FinishedAt: at(0)}, "shutdown failed: still answering on 47989", "failed"},
		{&moonwake.Action{Kind: "shutdown", Status: "failed", Detail: "old", FinishedAt: at(-2 * time.Hour)}, "", ""},
		{&moonwake.Action{Kind: "shutdown", Status: "cancelled", Detail: "cancelled at the PC (input)", FinishedAt: at(0)}, "shutdown cancelled at the PC (input)", "cancelled"},
		{&moonwake.Action{Kind: "reboot", Status: "cancelled", Detail: "old", FinishedAt: at(-2 * time.Hour)}, "", ""},
	} {
		text, outcome := progress(tc.a, now)
		if text != tc.text || outcome != tc.outcome {
			t.Errorf("%+v: %q %q, want %q %q", tc.a, text, outcome, tc.text, tc.outcome)
		}
	}
}

func TestActionButtons(t *testing.T) {
	h := newHarness(t, "pc")
	h.signIn()
	token := h.csrf()

	// Without JS: 303 back to the page it came from, if it is ours.
	for ref, want := range map[string]string{
		"":                                "/",
		h.ts.URL + "/machines/pc":         "/machines/pc",
		"http://evil.example/machines/pc": "/",
	} {
		hdr := map[string]string{}
		if ref != "" {
			hdr["Referer"] = ref
		}
		res, _ := h.do(h.client, http.MethodPost, "/machines/pc/wake", url.Values{"csrf": {token}}, hdr)
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != want {
			t.Errorf("wake from %q: %s to %q, want %q", ref, res.Status, res.Header.Get("Location"), want)
		}
	}

	// With JS: JSON, with the card's progress line.
	res, body := h.do(h.client, http.MethodPost, "/machines/pc/shutdown", url.Values{},
		map[string]string{"X-CSRF-Token": token, "Accept": "application/json"})
	var ans actionAnswer
	if err := json.Unmarshal([]byte(body), &ans); err != nil || res.StatusCode != http.StatusAccepted {
		t.Fatalf("shutdown: %s %v\n%s", res.Status, err, body)
	}
	if ans.Action == nil || ans.Action.Kind != "shutdown" || ans.Progress != "shutting down…" || ans.Outcome != "running" {
		t.Errorf("answer %+v", ans)
	}
	calls := h.power.Calls()
	if len(calls) != 4 || calls[3] != "shutdown pc" {
		t.Fatalf("calls %v", calls)
	}
	h.power.mu.Lock()
	actor := h.power.actors[3]
	h.power.mu.Unlock()
	if actor.Kind != "session" || actor.Name != "admin" || actor.Addr != "127.0.0.1" {
		t.Errorf("actor %+v", actor)
	}

	// A failure to start is an error, with the action for the card.
	h.power.mu.Lock()
	h.power.err = moonwake.Errorf(moonwake.EUnavailable, "no packet could be sent")
	h.power.mu.Unlock()
	res, body = h.do(h.client, http.MethodPost, "/machines/pc/wake", url.Values{}, map[string]string{"X-CSRF-Token": token, "Accept": "application/json"})
	if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, `"outcome":"failed"`) || !strings.Contains(body, "wake failed: no packet could be sent") {
		t.Errorf("failed wake: %s\n%s", res.Status, body)
	}

	// Unknown machine.
	res, _ = h.do(h.client, http.MethodPost, "/machines/nope/wake", url.Values{"csrf": {token}}, nil)
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("wake nope: %s", res.Status)
	}

	// Keep awake for 2 h, then clear.
	res, body = h.do(h.client, http.MethodPost, "/machines/pc/keep-awake", url.Values{"for": {"2h"}}, map[string]string{"X-CSRF-Token": token, "Accept": "application/json"})
	if res.StatusCode != http.StatusOK || !strings.Contains(body, `"until"`) {
		t.Fatalf("keep awake: %s\n%s", res.Status, body)
	}
	if u := h.keep.get("pc"); time.Until(u) < 119*time.Minute || time.Until(u) > 121*time.Minute {
		t.Errorf("kept awake until %s", u)
	}
	for _, bad := range []string{"forever", "-1h", "800h"} {
		if res, _ := h.post("/machines/pc/keep-awake", url.Values{"for": {bad}}); res.StatusCode != http.StatusBadRequest {
			t.Errorf("keep awake for %q: %s", bad, res.Status)
		}
	}
	if res, _ := h.post("/machines/pc/keep-awake", url.Values{"clear": {"1"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("clear: %s", res.Status)
	}
	if u := h.keep.get("pc"); !u.IsZero() {
		t.Errorf("still kept awake until %s", u)
	}
}

func TestEventStream(t *testing.T) {
	h := newHarness(t, "pc")
	h.signIn()
	seq := h.broker.Seq()

	// A missed event is replayed from ?after=.
	if _, err := h.broker.Publish(moonwake.EventState, "pc", moonwake.StateChange{Machine: "pc", From: "off", To: "waking", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, h.ts.URL+"/events?after="+itoa64(seq), nil)
	res, err := h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %s %s", res.Status, res.Header.Get("Content-Type"))
	}
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	waitLine := func(want string) {
		t.Helper()
		timeout := time.After(20 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("stream ended before %q", want)
				}
				if strings.Contains(l, want) {
					return
				}
			case <-timeout:
				t.Fatalf("no %q", want)
			}
		}
	}
	waitLine(`"to":"waking"`)

	// A new one arrives live.
	if _, err := h.broker.Publish(moonwake.EventState, "pc", moonwake.StateChange{Machine: "pc", From: "waking", To: "on", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	waitLine("event: state")
	waitLine(`"to":"on"`)

	// Revoking the session ends the stream, saying so.
	if err := h.sessions.RevokeSession(context.Background(), sessionIDOf(t, h, h.client)); err != nil {
		t.Fatal(err)
	}
	waitLine("event: signed-out")
	eventually(t, "the stream to end", func() bool {
		select {
		case _, ok := <-lines:
			return !ok
		default:
			return false
		}
	})
}

func TestEventStreamEndsOnShutdown(t *testing.T) {
	h := newHarness(t)
	h.signIn()
	req, _ := http.NewRequest(http.MethodGet, h.ts.URL+"/events", nil)
	res, err := h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
		}
	}()
	h.srv.CloseStreams()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the stream outlived CloseStreams")
	}
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }
