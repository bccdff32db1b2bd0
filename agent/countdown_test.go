package agent

import (
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moonwake/moonwake/uplink"
)

func TestNotificationText(t *testing.T) {
	now := time.Date(2026, 12, 4, 22, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		n     Notification
		title string
	}{
		{Notification{Kind: CmdShutdown, Until: now.Add(90 * time.Second)}, "This PC shuts down in 1:30"},
		{Notification{Kind: CmdReboot, Until: now.Add(1500 * time.Millisecond)}, "This PC restarts in 0:02"},
		{Notification{Kind: CmdSleep, Until: now.Add(-time.Second)}, "This PC goes to sleep in 0:00"},
		{Notification{Kind: uplink.CountdownIdle, Until: now.Add(10 * time.Minute)}, "This PC shuts down (idle) in 10:00"},
		{Notification{Kind: "frobnicate", Until: now}, "This PC is frobnicate in 0:00"},
	} {
		if got := tc.n.Title(now); got != tc.title {
			t.Errorf("title %q, want %q", got, tc.title)
		}
	}
	if b := (Notification{By: "token phone"}).Body(); b != "moonwake (asked by token phone): press Cancel, or use the mouse or keyboard, to keep it on." {
		t.Errorf("body %q", b)
	}
}

// scriptedNotifier shows nothing; its Cancel button is pressed when the
// test says so.
type scriptedNotifier struct {
	press  chan struct{}
	shown  chan string
	closed chan string
}

func (s *scriptedNotifier) Show(ctx context.Context, n Notification) (bool, error) {
	s.shown <- n.ID
	select {
	case <-ctx.Done():
		s.closed <- n.ID
		return false, nil
	case <-s.press:
		return true, nil
	}
}

// TestCountdownAtThePC: the agent shows a countdown the hub sends, and
// tells the hub when it is cancelled there, by the button or by
// "moonwake-agent cancel"; the command the countdown announced, or a
// withdraw, ends it without a word.
func TestCountdownAtThePC(t *testing.T) {
	h := newTestHub(t)
	var mu sync.Mutex
	var notices []uplink.Notice
	h.Server.OnNotice = func(p uplink.Peer, n uplink.Notice) {
		mu.Lock()
		defer mu.Unlock()
		notices = append(notices, n)
	}
	lastNotice := func() (uplink.Notice, int) {
		mu.Lock()
		defer mu.Unlock()
		if len(notices) == 0 {
			return uplink.Notice{}, 0
		}
		return notices[len(notices)-1], len(notices)
	}
	dir := t.TempDir()
	start := time.Now() // the idle clock runs with the wall clock: no input
	st, err := Pair(t.Context(), PairOptions{Hub: h.url, Code: h.code(t, "pc"), StatePath: filepath.Join(dir, "state.json")})
	if err != nil {
		t.Fatal(err)
	}
	notes := &scriptedNotifier{press: make(chan struct{}), shown: make(chan string, 4), closed: make(chan string, 4)}
	a := &Agent{
		Config:   Config{State: filepath.Join(dir, "state.json"), Commands: safeCommands(dir), AckDelay: time.Hour},
		State:    st,
		Logger:   slog.New(slog.NewTextHandler(t.Output(), nil)).With("side", "agent"),
		Notifier: notes,
		Idle:     func() (time.Duration, error) { return time.Hour + time.Since(start), nil }, // nobody touches it
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	eventually(t, "the agent's link", func() bool { return h.Connected(st.ID) })
	sock := a.Config.SocketPath()

	countdown := func(id string) {
		t.Helper()
		args, _ := json.Marshal(uplink.CountdownArgs{Kind: CmdShutdown, Until: time.Now().Add(time.Minute), By: "token phone"})
		r, err := h.Send(t.Context(), st.ID, uplink.Command{ID: id, Name: uplink.CmdCountdown, Args: args})
		if err != nil || !r.OK || !strings.Contains(r.Detail, "counting down to shutdown") {
			t.Fatalf("countdown: %+v, %v", r, err)
		}
		if got := <-notes.shown; got != id {
			t.Fatalf("shown %s, want %s", got, id)
		}
	}

	// The button.
	countdown("act_1")
	notes.press <- struct{}{}
	eventually(t, "the cancel notice", func() bool { n, _ := lastNotice(); return n.Action == "act_1" })
	if n, _ := lastNotice(); n.Kind != uplink.NoticeCancel || n.How != uplink.CancelButton || n.From != "" || n.Data != nil {
		t.Fatalf("notice %+v", n)
	}

	// moonwake-agent cancel.
	countdown("act_2")
	said, err := Request(t.Context(), sock, LocalRequest{Name: LocalCancel})
	if err != nil || said != "cancelled 1 countdown(s); the hub is told" {
		t.Fatalf("cancel: %q, %v", said, err)
	}
	if got := <-notes.closed; got != "act_2" {
		t.Fatalf("closed %s", got)
	}
	eventually(t, "the cancel notice", func() bool { n, _ := lastNotice(); return n.Action == "act_2" })
	if n, _ := lastNotice(); n.How != uplink.CancelCommand {
		t.Fatalf("notice %+v", n)
	}
	if _, err := Request(t.Context(), sock, LocalRequest{Name: LocalCancel}); err == nil || !strings.Contains(err.Error(), "no countdown is running") {
		t.Fatalf("cancel with none: %v", err)
	}

	// The command comes: the countdown ends, and the hub hears nothing.
	_, before := lastNotice()
	countdown("act_3")
	if r, err := h.Send(t.Context(), st.ID, uplink.Command{ID: "act_3", Name: CmdShutdown}); err != nil || !r.OK {
		t.Fatalf("shutdown: %+v, %v", r, err)
	}
	if got := <-notes.closed; got != "act_3" {
		t.Fatalf("closed %s", got)
	}
	// Withdrawn by the hub.
	countdown("act_4")
	if r, err := h.Send(t.Context(), st.ID, uplink.Command{ID: "act_4", Name: uplink.CmdWithdraw}); err != nil || !r.OK {
		t.Fatalf("withdraw: %+v, %v", r, err)
	}
	if got := <-notes.closed; got != "act_4" {
		t.Fatalf("closed %s", got)
	}
	time.Sleep(100 * time.Millisecond)
	if _, n := lastNotice(); n != before {
		t.Fatalf("%d notices after a command and a withdraw, want %d", n, before)
	}

	// What the agent does not understand, it refuses.
	r, err := h.Send(t.Context(), st.ID, uplink.Command{ID: "act_5", Name: uplink.CmdCountdown, Args: json.RawMessage(`{"kind":"shutdown"}`)})
	if err != nil || r.OK || !strings.Contains(r.Error, "countdown without a time") {
		t.Fatalf("a bad countdown: %+v, %v", r, err)
	}
}

// TestCountdownInput: a drop of the idle time cancels the countdown as
// input; an idle time that reads 0 throughout (a desktop that does not
// report idleness) never does.
func TestCountdownInput(t *testing.T) {
	for _, tc := range []struct {
		name     string
		readings []time.Duration // one per poll, the last repeated
		input    bool
	}{
		{"quiet", []time.Duration{time.Hour, time.Hour + 10*time.Millisecond, time.Hour + 20*time.Millisecond}, false},
		{"input", []time.Duration{time.Hour, time.Hour, 0}, true},
		{"input after a while", []time.Duration{5 * time.Second, 5 * time.Second, 5 * time.Second, 200 * time.Millisecond}, true},
		{"zero throughout", []time.Duration{0}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			i := 0
			a := &Agent{
				Logger:        slog.New(slog.DiscardHandler),
				Notifier:      &scriptedNotifier{shown: make(chan string, 1), closed: make(chan string, 1)},
				CountdownPoll: 5 * time.Millisecond,
				Idle: func() (time.Duration, error) {
					mu.Lock()
					defer mu.Unlock()
					d := tc.readings[min(i, len(tc.readings)-1)]
					i++
					return d, nil
				},
			}
			ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
			defer cancel()
			how := a.countdown(ctx, Notification{ID: "act_1", Kind: CmdShutdown, Until: time.Now().Add(time.Minute)}, nil)
			if want := map[bool]string{true: uplink.CancelInput}[tc.input]; how != want {
				t.Fatalf("countdown ended with %q, want %q", how, want)
			}
		})
	}
	// A slow idle source (logind on a busy PC) whose readings are taken
	// as each call starts, each call slower than the one before: the time
	// the calls cost is not input.
	t.Run("slow source", func(t *testing.T) {
		last := time.Now().Add(-time.Hour)
		calls := 0
		a := &Agent{
			Logger:        slog.New(slog.DiscardHandler),
			Notifier:      &scriptedNotifier{shown: make(chan string, 1), closed: make(chan string, 1)},
			CountdownPoll: 5 * time.Millisecond,
			Idle: func() (time.Duration, error) {
				d := time.Since(last)
				calls++
				time.Sleep(time.Duration(calls) * (inputSlack + 200*time.Millisecond)) // the call's cost, after the reading
				return d, nil
			},
		}
		ctx, cancel := context.WithTimeout(t.Context(), 5*inputSlack)
		defer cancel()
		if how := a.countdown(ctx, Notification{ID: "act_1", Kind: CmdShutdown, Until: time.Now().Add(time.Minute)}, nil); how != "" {
			t.Fatalf("countdown ended with %q, want no input", how)
		}
	})
}

func TestAppleQuote(t *testing.T) {
	for in, want := range map[string]string{
		`This PC shuts down in 0:59`: `"This PC shuts down in 0:59"`,
		`token "x" & \ y`:            `"token \"x\" & \\ y"`,
		"a\nb\x00c\x7fé":             `"abcé"`,
		"bad \xff":                   `"bad ?"`,
	} {
		if got := appleQuote(in); got != want {
			t.Errorf("appleQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

// TestCountdownCancelTooLate: once a countdown's time is up the hub is
// sending its command and takes no cancel: "moonwake-agent cancel" says
// so rather than that it cancelled, and the button pressed then tells the
// hub nothing.
func TestCountdownCancelTooLate(t *testing.T) {
	notes := &scriptedNotifier{press: make(chan struct{}), shown: make(chan string, 4), closed: make(chan string, 4)}
	var logs strings.Builder
	var mu sync.Mutex
	a := &Agent{Notifier: notes, Idle: func() (time.Duration, error) { return time.Hour, nil },
		Logger: slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
			mu.Lock()
			defer mu.Unlock()
			return logs.Write(p)
		}), nil))}
	args, _ := json.Marshal(uplink.CountdownArgs{Kind: CmdShutdown, Until: time.Now().Add(-time.Second)})
	if r := a.startCountdown(uplink.Command{ID: "act_1", Name: uplink.CmdCountdown, Args: args}); !r.OK {
		t.Fatalf("countdown: %+v", r)
	}
	<-notes.shown
	res, err := a.localRequest(nil)(t.Context(), uplink.Request{Name: LocalCancel})
	if err != nil || res.OK || !strings.Contains(res.Error, "too late") {
		t.Errorf("cancel after the countdown's time: %+v, %v", res, err)
	}
	notes.press <- struct{}{}
	eventually(t, "the countdown's end", func() bool {
		a.countdowns.mu.Lock()
		defer a.countdowns.mu.Unlock()
		return len(a.countdowns.running) == 0
	})
	a.countdowns.wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(logs.String(), "too late") || strings.Contains(logs.String(), "could not tell the hub") {
		t.Errorf("log:\n%s", logs.String())
	}
}

type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
