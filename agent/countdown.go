package agent

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/uplink"
)

// A countdown is what the person at the PC sees before the hub shuts it
// down (or reboots, sleeps, hibernates it, or before an idle auto-off): a
// notification that says what comes and when, with a Cancel button. The
// countdown ends, and the hub is told it was cancelled at the PC, when the
// person presses Cancel, uses the keyboard or mouse (the idle time, which
// Report measures, drops between two readings), or runs "moonwake-agent
// cancel". The hub keeps the time: when the grace
// ends it sends the command itself, with the countdown's ID, which ends
// the countdown here.

// Notification is a countdown as a Notifier shows it.
type Notification struct {
	ID    string    `json:"id"`           // the action's
	Kind  string    `json:"kind"`         // "shutdown" … or uplink.CountdownIdle
	Until time.Time `json:"until"`        // when the hub acts
	By    string    `json:"by,omitempty"` // who asked, in words
}

// Notifier shows countdowns to the person at the PC through the OS's own
// means.
type Notifier interface {
	// Show shows n and keeps it up to date until ctx ends or the person
	// presses its Cancel button; it reports whether they did. An error
	// says it could not be shown (no graphical session, no notification
	// service): the countdown still watches for input.
	Show(ctx context.Context, n Notification) (cancelled bool, err error)
}

// Bounds of countdowns.
const (
	// inputSlack is how far the idle time must fall behind the clock to
	// mean input: the idle clocks of some OSes move in whole seconds.
	inputSlack = time.Second
	// countdownLinger keeps a countdown up after its time, for the hub's
	// command to arrive and end it.
	countdownLinger = 30 * time.Second
	maxCountdowns   = 4
	// defaultCountdownPoll is how often input is looked for.
	defaultCountdownPoll = time.Second
)

// verbs say what a countdown's kind does to the PC.
var verbs = map[string]string{
	CmdShutdown: "shuts down", CmdReboot: "restarts", CmdSleep: "goes to sleep", CmdHibernate: "hibernates",
	uplink.CountdownIdle: "shuts down (idle)",
}

// Title is n's headline at now: "This PC shuts down in 0:59".
func (n Notification) Title(now time.Time) string {
	verb := verbs[n.Kind]
	if verb == "" {
		verb = "is " + n.Kind
	}
	return fmt.Sprintf("This PC %s in %s", verb, clock(n.Until.Sub(now)))
}

// Body is n's text: who asked, and the way out.
func (n Notification) Body() string {
	s := "moonwake"
	if n.By != "" {
		s += " (asked by " + n.By + ")"
	}
	return s + ": press Cancel, or use the mouse or keyboard, to keep it on."
}

// clock writes d, rounded up to a second, as m:ss.
func clock(d time.Duration) string {
	s := int64(max(d+time.Second-1, 0) / time.Second)
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// countdowns are the countdowns running on this agent, by action id.
type countdowns struct {
	mu      sync.Mutex
	ctx     context.Context // the agent's Run; nil before it
	running map[string]*countdownRun
	wg      sync.WaitGroup
}

type countdownRun struct {
	stop   context.CancelFunc
	cancel chan string // how the person cancelled it, from the local socket
	until  time.Time   // when the hub acts
}

// startCountdown answers a countdown command: it starts showing it and
// watching for input, and accepts at once.
func (a *Agent) startCountdown(cmd uplink.Command) uplink.Result {
	args, err := uplink.ParseCountdownArgs(cmd.Args)
	if err != nil {
		return uplink.Result{Error: err.Error()}
	}
	c := &a.countdowns
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running == nil {
		c.running = map[string]*countdownRun{}
	}
	if old := c.running[cmd.ID]; old != nil {
		old.stop() // the hub said it again: the newer one counts
		delete(c.running, cmd.ID)
	}
	if len(c.running) >= maxCountdowns {
		return uplink.Result{Error: "too many countdowns at once"}
	}
	parent := c.ctx
	if parent == nil {
		parent = context.Background()
	}
	ctx, stop := context.WithCancel(parent)
	n := Notification{ID: cmd.ID, Kind: args.Kind, Until: time.Now().Add(args.Remaining(time.Now())), By: args.By}
	r := &countdownRun{stop: stop, cancel: make(chan string, 1), until: n.Until}
	c.running[cmd.ID] = r
	c.wg.Go(func() {
		defer stop()
		if how := a.countdown(ctx, n, r.cancel); how != "" {
			a.cancelAtPC(ctx, n.ID, how)
		}
		c.mu.Lock()
		if c.running[n.ID] == r {
			delete(c.running, n.ID)
		}
		c.mu.Unlock()
	})
	a.Logger.Warn("countdown", "action", cmd.ID, "kind", args.Kind, "until", n.Until, "by", args.By)
	return uplink.Result{OK: true, Detail: fmt.Sprintf("counting down to %s at %s", args.Kind, n.Until.Format(time.RFC3339))}
}

// endCountdown stops the countdown of that id, if one runs: withdrawn by
// the hub, or its command has come.
func (a *Agent) endCountdown(id string) bool {
	c := &a.countdowns
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.running[id]
	if r != nil {
		r.stop()
		delete(c.running, id)
	}
	return r != nil
}

// CancelCountdowns cancels every countdown running, as the person at the PC
// asked with "moonwake-agent cancel", and returns how many it cancelled,
// and how many it left because their time is up: the hub is sending
// their command, and takes no cancel any more.
func (a *Agent) CancelCountdowns() (cancelled, late int) {
	c := &a.countdowns
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	for _, r := range c.running {
		if !now.Before(r.until) {
			late++
			continue
		}
		select {
		case r.cancel <- uplink.CancelCommand:
		default:
		}
		cancelled++
	}
	return cancelled, late
}

// countdown shows n and watches for input until n's time has passed, ctx
// ends, or the person cancels; it returns how they did (uplink.CancelInput
// …), or "".
func (a *Agent) countdown(ctx context.Context, n Notification, cancel <-chan string) string {
	idle := a.Idle
	if idle == nil {
		idle = IdleTime
	}
	notifier := a.Notifier
	if notifier == nil {
		notifier = osNotifier(a.Logger)
	}
	poll := a.CountdownPoll
	if poll <= 0 {
		poll = defaultCountdownPoll
	}

	nctx, closeNote := context.WithCancel(ctx)
	pressed := make(chan bool, 1)
	var shown sync.WaitGroup
	shown.Go(func() {
		ok, err := notifier.Show(nctx, n)
		if err != nil {
			a.Logger.Warn("countdown not shown; input still cancels it", "action", n.ID, "error", err)
		}
		pressed <- ok
	})
	defer shown.Wait()
	defer closeNote()

	// Input is the idle time falling behind the clock between two
	// readings: someone used the PC in between. A reading under
	// inputSlack arms nothing: a desktop that reports no idleness
	// (logind's hint before the desktop marks the session idle) reads 0
	// throughout, and proves nothing either way.
	// A reading is taken somewhere between the call's start and its end
	// (a query of logind may take a while on a busy PC), so the clock
	// is counted from the end of the last call to the start of this one:
	// no more than passed between the two readings, whatever the calls
	// cost.
	var last time.Duration
	var lastEnd time.Time
	armed := false
	read := func() bool {
		start := time.Now()
		d, err := idle()
		end := time.Now()
		if err != nil {
			return false
		}
		input := armed && d+inputSlack < last+start.Sub(lastEnd)
		last, lastEnd, armed = d, end, d >= inputSlack
		return input
	}
	read()
	tick := time.NewTicker(poll)
	defer tick.Stop()
	end := time.NewTimer(time.Until(n.Until) + countdownLinger)
	defer end.Stop()
	for {
		var how string
		select {
		case <-ctx.Done():
			return ""
		case <-end.C:
			return ""
		case ok := <-pressed:
			pressed = nil // the notification is gone; input still counts
			if !ok {
				continue
			}
			how = uplink.CancelButton
		case how = <-cancel:
		case <-tick.C:
			if !read() {
				continue
			}
			how = uplink.CancelInput
		}
		if !time.Now().Before(n.Until) {
			// Lingering for the command: the hub takes no cancel now,
			// and the person must not be told it did.
			a.Logger.Info("countdown cancelled at the PC too late: its time is up", "action", n.ID, "how", how)
			return ""
		}
		return how
	}
}

// cancelAtPC tells the hub that the countdown of that action was cancelled
// at the PC, retrying while the uplink is down for as long as ctx lives
// and at most a minute: the hub carries the command out otherwise.
func (a *Agent) cancelAtPC(ctx context.Context, id, how string) {
	a.Logger.Warn("countdown cancelled at the PC", "action", id, "how", how)
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		var err error = moonwake.Errorf(moonwake.EUnavailable, "no uplink")
		if l := a.link.Load(); l != nil {
			err = l.Notify(ctx, uplink.Notice{Kind: uplink.NoticeCancel, Action: id, How: how})
		}
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			a.Logger.Error("could not tell the hub that the countdown was cancelled", "action", id, "error", err)
			return
		case <-time.After(time.Second):
		}
	}
}

// appleQuote writes s as an AppleScript string literal, for macOS's
// notifier: backslashes and quotes escaped, control characters dropped, so
// nothing in s (a token's name in By) can end the literal.
func appleQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range strings.ToValidUTF8(s, "?") {
		switch {
		case r == '\\' || r == '"':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
