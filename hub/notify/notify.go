// Package notify tells people when an action ends, above all when a wake or
// a shutdown did not happen: through a generic JSON webhook and through ntfy
// (https://ntfy.sh or a self-hosted server). Deliveries are retried with
// backoff by one goroutine per Dispatcher, never by the caller.
package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/moonwake/moonwake"
)

// Events that can be notified.
const (
	EventWakeFailed        = "wake.failed"
	EventWakeSucceeded     = "wake.succeeded"
	EventShutdownFailed    = "shutdown.failed"
	EventShutdownSucceeded = "shutdown.succeeded"
)

// Message is one notification.
type Message struct {
	Event   string           `json:"event"`
	Machine string           `json:"machine"`
	Title   string           `json:"title"`
	Text    string           `json:"text"`
	At      time.Time        `json:"at"`
	Action  *moonwake.Action `json:"action,omitempty"`
}

// Failure reports whether m is about something that went wrong.
func (m *Message) Failure() bool { return strings.HasSuffix(m.Event, ".failed") }

// Cancelled reports whether m is about an action cancelled in its
// countdown ("shutdown.cancelled"): news for whoever asked for it, sent
// like a failure.
func (m *Message) Cancelled() bool { return strings.HasSuffix(m.Event, "."+moonwake.StatusCancelled) }

// ForAction builds the message for an action that ended.
func ForAction(a *moonwake.Action) Message {
	ev := a.Kind + "." + a.Status
	title := fmt.Sprintf("%s: %s %s", a.Machine, a.Kind, a.Status)
	text := a.Detail
	if text == "" {
		text = title
	}
	at := a.CreatedAt
	if a.FinishedAt != nil {
		at = *a.FinishedAt
	}
	return Message{Event: ev, Machine: a.Machine, Title: title, Text: text, At: at, Action: a}
}

// Dispatcher delivers messages in the background with retries. Create it
// with NewDispatcher, Run it, and Close it.
type Dispatcher struct {
	client *http.Client
	log    *slog.Logger
	queue  chan delivery
	wg     sync.WaitGroup
	// Retries is the delay before each retry of a failed delivery.
	retries []time.Duration
	// Sent, when set before Run, hears of every delivery tried on a
	// channel ("webhook", "ntfy") and its error (the hub's metrics).
	Sent func(channel string, err error)

	mu     sync.Mutex
	closed bool
}

type delivery struct {
	msg    Message
	target moonwake.NotifyTarget
}

// NewDispatcher returns a dispatcher; client nil means a 10 s timeout client.
func NewDispatcher(client *http.Client, log *slog.Logger) *Dispatcher {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Dispatcher{
		client: client, log: log,
		queue:   make(chan delivery, 256),
		retries: []time.Duration{time.Second, 5 * time.Second, 30 * time.Second},
	}
}

// Send queues m for each target that wants it. It never blocks: when the
// queue is full the message is dropped and logged.
func (d *Dispatcher) Send(m Message, targets ...moonwake.NotifyTarget) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	for _, t := range targets {
		if t.Empty() || (!m.Failure() && !m.Cancelled() && !t.OnSuccess) {
			continue
		}
		select {
		case d.queue <- delivery{m, t}:
		default:
			d.log.Error("notification dropped: queue full", "event", m.Event, "machine", m.Machine)
		}
	}
}

// Run delivers until ctx ends; pending deliveries are then attempted once.
func (d *Dispatcher) Run(ctx context.Context) {
	d.wg.Add(1)
	defer d.wg.Done()
	for {
		select {
		case <-ctx.Done():
			d.drain()
			return
		case dl := <-d.queue:
			d.deliver(ctx, dl)
		}
	}
}

func (d *Dispatcher) drain() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		select {
		case dl := <-d.queue:
			d.attempt(ctx, dl)
		default:
			return
		}
	}
}

// deliver tries dl, then retries with backoff while ctx lives.
func (d *Dispatcher) deliver(ctx context.Context, dl delivery) {
	for i := 0; ; i++ {
		err := d.attempt(ctx, dl)
		if err == nil {
			return
		}
		if i >= len(d.retries) {
			d.log.Error("notification failed", "event", dl.msg.Event, "machine", dl.msg.Machine, "error", err)
			return
		}
		d.log.Warn("notification failed; retrying", "event", dl.msg.Event, "machine", dl.msg.Machine, "in", d.retries[i], "error", err)
		t := time.NewTimer(d.retries[i])
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func (d *Dispatcher) attempt(ctx context.Context, dl delivery) error {
	var errs []string
	if dl.target.Webhook != "" {
		if err := d.sent("webhook", d.webhook(ctx, dl.target, dl.msg)); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if dl.target.Ntfy != "" {
		if err := d.sent("ntfy", d.ntfy(ctx, dl.target, dl.msg)); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// sent tells Sent of a delivery tried on channel, and returns its err.
func (d *Dispatcher) sent(channel string, err error) error {
	if d.Sent != nil {
		d.Sent(channel, err)
	}
	return err
}

// Sign returns the X-Moonwake-Signature value of body under secret.
func Sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

func (d *Dispatcher) webhook(ctx context.Context, t moonwake.NotifyTarget, m Message) error {
	body, err := json.Marshal(m)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, "POST", t.Webhook, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook %s: %w", t.Redacted().Webhook, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "moonwake/"+moonwake.Version)
	req.Header.Set("X-Moonwake-Event", m.Event)
	if t.Secret != "" {
		req.Header.Set("X-Moonwake-Signature", Sign(t.Secret, body))
	}
	return d.do(req, "webhook "+t.Redacted().Webhook)
}

// ntfy publishes with ntfy's plain HTTP API: the body is the message and
// headers carry the title, priority and tags.
func (d *Dispatcher) ntfy(ctx context.Context, t moonwake.NotifyTarget, m Message) error {
	req, err := http.NewRequestWithContext(ctx, "POST", t.Ntfy, strings.NewReader(m.Text))
	if err != nil {
		return fmt.Errorf("ntfy %s: %w", t.Redacted().Ntfy, err)
	}
	req.Header.Set("Title", m.Title)
	if m.Failure() {
		req.Header.Set("Priority", "high")
		req.Header.Set("Tags", "warning")
	} else {
		req.Header.Set("Tags", "white_check_mark")
	}
	if t.NtfyToken != "" {
		req.Header.Set("Authorization", "Bearer "+t.NtfyToken)
	}
	return d.do(req, "ntfy "+t.Redacted().Ntfy)
}

func (d *Dispatcher) do(req *http.Request, what string) error {
	resp, err := d.client.Do(req)
	if err != nil {
		if ue, ok := err.(*url.Error); ok {
			err = ue.Err // the URL may carry a token
		}
		return fmt.Errorf("%s: %v", what, err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s: answered %s", what, resp.Status)
	}
	return nil
}

// Close stops accepting messages and waits for Run to end (cancel its
// context first).
func (d *Dispatcher) Close() {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	d.wg.Wait()
}
