package hub_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/agent"
	"github.com/moonwake/moonwake/hub/notify"
)

// shownCountdowns is the PC's notifier in these tests: it records what it
// was asked to show, and until when it was up.
type shownCountdowns struct {
	mu    sync.Mutex
	shown []agent.Notification
	up    map[string]bool
}

func (s *shownCountdowns) Show(ctx context.Context, n agent.Notification) (bool, error) {
	s.mu.Lock()
	s.shown = append(s.shown, n)
	s.up[n.ID] = true
	s.mu.Unlock()
	<-ctx.Done()
	s.mu.Lock()
	s.up[n.ID] = false
	s.mu.Unlock()
	return false, nil
}

func (s *shownCountdowns) isUp(id string) (shown, up bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	up, shown = s.up[id]
	return shown, up
}

// countdownPC is a machine with a real agent linked to the hub over the
// real uplink: its idle source is the test's, its shutdown override
// records the call in a file, and its notifier records the countdowns.
type countdownPC struct {
	notes    *shownCountdowns
	input    atomic.Bool // fresh input: the idle source says 0 from now on
	executed string      // the file the shutdown override creates
}

func linkCountdownPC(t *testing.T, th *testHub, name string) *countdownPC {
	t.Helper()
	th.addMachine(name, "aa:bb:cc:dd:ee:31", newReceiver(t), nil)
	var p moonwake.AgentPairing
	th.must(201, "POST", "/api/v1/machines/"+name+"/pair", th.Admin, nil).decode(t, &p)
	dir := t.TempDir()
	st, err := agent.Pair(context.Background(), agent.PairOptions{Hub: th.URL, Code: p.Code, StatePath: filepath.Join(dir, "state.json")})
	if err != nil {
		t.Fatal(err)
	}
	pc := &countdownPC{notes: &shownCountdowns{up: map[string]bool{}}, executed: filepath.Join(dir, "shutdown")}
	a := &agent.Agent{
		Config: agent.Config{
			AckDelay: 50 * time.Millisecond, ReportInterval: time.Second,
			Commands: map[string][]string{agent.CmdShutdown: {"/usr/bin/touch", pc.executed}},
			Socket:   filepath.Join(dir, "agent.sock"),
		},
		State:    st,
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		Notifier: pc.notes,
		Idle: func() (time.Duration, error) {
			if pc.input.Load() {
				return 0, nil
			}
			return time.Hour, nil
		},
		Session:       func() (bool, error) { return true, nil },
		Uptime:        func() (time.Duration, error) { return time.Hour, nil },
		CountdownPoll: 50 * time.Millisecond,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent: %v", err)
		}
	})
	waitFor(t, "the agent's link", func() bool {
		var m struct {
			Power moonwake.PowerInfo `json:"power"`
		}
		th.must(200, "GET", "/api/v1/machines/"+name, th.Admin, nil).decode(t, &m)
		return m.Power.Agent != nil && m.Power.Agent.Connected
	})
	return pc
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// webhook is a notification target that keeps what it receives.
type webhook struct {
	mu   sync.Mutex
	msgs []notify.Message
	srv  *httptest.Server
}

func newWebhook(t *testing.T) *webhook {
	w := &webhook{}
	w.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var m notify.Message
		if err := json.NewDecoder(r.Body).Decode(&m); err == nil {
			w.mu.Lock()
			w.msgs = append(w.msgs, m)
			w.mu.Unlock()
		}
	}))
	t.Cleanup(w.srv.Close)
	return w
}

func (w *webhook) events() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var evs []string
	for _, m := range w.msgs {
		evs = append(evs, m.Event+": "+m.Text)
	}
	return evs
}

// TestCountdownCancelledAtThePC is issue 14's check: a shutdown asked with
// a grace counts down at the PC, and input there (emulated through the
// agent's idle source) cancels it. The action ends "cancelled at the
// PC", the shutdown is never carried out, and the requester is told,
// through the webhook and the event stream.
func TestCountdownCancelledAtThePC(t *testing.T) {
	hook := newWebhook(t)
	cfg := newConfig(t)
	cfg.Notify.Webhook = hook.srv.URL
	th := startHub(t, cfg)
	pc := linkCountdownPC(t, th, "gaming-pc")
	phone := th.token("phone", []string{"gaming-pc"}, []string{"shutdown"}, false)
	evs := th.events("/api/v1/events", phone, "")

	const grace = 2 * time.Second
	var act moonwake.Action
	th.must(202, "POST", "/api/v1/machines/gaming-pc/shutdown", phone, map[string]string{"grace": "2s"}).decode(t, &act)
	if act.Status != moonwake.StatusRunning || len(act.Steps) == 0 || act.Steps[0].Kind != moonwake.StepCountdown || act.Steps[0].Target != "2s" {
		t.Fatalf("action %+v", act)
	}
	waitFor(t, "the countdown at the PC", func() bool { shown, up := pc.notes.isUp(act.ID); return shown && up })
	pc.notes.mu.Lock()
	n := pc.notes.shown[0]
	pc.notes.mu.Unlock()
	if n.Kind != "shutdown" || n.By != "token phone" || time.Until(n.Until) > grace || time.Until(n.Until) < grace-time.Second {
		t.Fatalf("notification %+v", n)
	}

	pc.input.Store(true) // someone moves the mouse
	done := th.waitDone(act.ID)
	if done.Status != moonwake.StatusCancelled || done.Detail != moonwake.CancelledAtPC+" (input)" {
		t.Fatalf("action %+v", done)
	}
	if _, up := pc.notes.isUp(act.ID); up {
		t.Error("the notification is still up")
	}

	// Past the grace, and the agent's delay: nothing was carried out.
	time.Sleep(grace + 500*time.Millisecond)
	if _, err := os.Stat(pc.executed); err == nil {
		t.Fatal("the shutdown was carried out")
	}
	got := th.waitDone(act.ID)
	for _, st := range got.Steps {
		if st.Kind == "command" {
			t.Fatalf("a command was sent: %+v", got.Steps)
		}
	}

	waitFor(t, "the webhook", func() bool { return len(hook.events()) > 0 })
	if e := hook.events(); len(e) != 1 || e[0] != "shutdown.cancelled: cancelled at the PC (input)" {
		t.Fatalf("webhook got %q", e)
	}
	for {
		ev := evs.next(t)
		if ev.Data.Type == moonwake.EventAction && ev.Data.Data.ID == act.ID && ev.Data.Data.Status == moonwake.StatusCancelled {
			break
		}
	}
}

// TestCountdownRunsOut: with no one at the PC, the grace runs out and the
// hub sends the command, which ends the countdown there.
func TestCountdownRunsOut(t *testing.T) {
	th := startHub(t, newConfig(t))
	pc := linkCountdownPC(t, th, "gaming-pc")
	var act moonwake.Action
	th.must(202, "POST", "/api/v1/machines/gaming-pc/shutdown?grace=1s", th.Admin, nil).decode(t, &act)
	waitFor(t, "the countdown at the PC", func() bool { shown, _ := pc.notes.isUp(act.ID); return shown })
	waitFor(t, "the shutdown", func() bool { _, err := os.Stat(pc.executed); return err == nil })
	if _, up := pc.notes.isUp(act.ID); up {
		t.Error("the notification is still up after the command")
	}
	var a moonwake.Action
	th.must(200, "GET", "/api/v1/actions/"+act.ID, th.Admin, nil).decode(t, &a)
	kinds := ""
	for _, st := range a.Steps {
		kinds += st.Kind + " "
	}
	if a.Status != moonwake.StatusRunning || !strings.Contains(kinds, "countdown countdown command") {
		t.Fatalf("action %s: %s", a.Status, kinds)
	}
	th.must(409, "POST", "/api/v1/actions/"+act.ID+"/cancel", th.Admin, nil)
}

// TestCountdownCancelledByAPI: a cancel through the API ends the action
// and takes the notification down at the PC; a token that may not shut
// the machine down may not cancel it either (nor read it).
func TestCountdownCancelledByAPI(t *testing.T) {
	th := startHub(t, newConfig(t))
	pc := linkCountdownPC(t, th, "gaming-pc")
	// Through a client that checks every exchange against the OpenAPI
	// description.
	api := th.apiClient()
	post := func(want int, path, body string, v any) {
		t.Helper()
		req, _ := http.NewRequest("POST", th.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+th.Admin)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := api.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != want {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("POST %s: %d, want %d: %s", path, resp.StatusCode, want, b)
		}
		if v != nil {
			json.NewDecoder(resp.Body).Decode(v)
		}
	}
	var act moonwake.Action
	post(202, "/api/v1/machines/gaming-pc/shutdown", `{"grace":"60s"}`, &act)
	waitFor(t, "the countdown at the PC", func() bool { _, up := pc.notes.isUp(act.ID); return up })

	waker := th.token("waker", []string{"gaming-pc"}, []string{"wake"}, false)
	th.must(404, "POST", "/api/v1/actions/"+act.ID+"/cancel", waker, nil) // as GET answers it
	th.must(404, "POST", "/api/v1/actions/act_none/cancel", th.Admin, nil)

	var got moonwake.Action
	post(200, "/api/v1/actions/"+act.ID+"/cancel", "", &got)
	if got.Status != moonwake.StatusCancelled || got.Detail != "cancelled by token admin" {
		t.Fatalf("action %+v", got)
	}
	waitFor(t, "the notification to go", func() bool { _, up := pc.notes.isUp(act.ID); return !up })
	post(409, "/api/v1/actions/"+act.ID+"/cancel", "", nil)

	// Bad graces are refused before anything happens.
	for _, q := range []string{"?grace=31m", "?grace=-1s", "?grace=soon"} {
		post(400, "/api/v1/machines/gaming-pc/reboot"+q, "", nil)
	}
	th.must(400, "POST", "/api/v1/machines/gaming-pc/shutdown?grace=1s", th.Admin, map[string]string{"grace": "2s"})
}
