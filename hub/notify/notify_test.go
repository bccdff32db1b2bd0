package notify

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moonwake/moonwake"
)

type recorder struct {
	mu     sync.Mutex
	reqs   []*http.Request
	bodies [][]byte
	fail   int // answer 500 this many times first
	got    chan struct{}
}

func newRecorder(fail int) (*recorder, *httptest.Server) {
	r := &recorder{fail: fail, got: make(chan struct{}, 16)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.fail > 0 {
			r.fail--
			w.WriteHeader(500)
			return
		}
		r.reqs = append(r.reqs, req)
		r.bodies = append(r.bodies, b)
		r.got <- struct{}{}
	}))
	return r, srv
}

func (r *recorder) wait(t *testing.T) {
	t.Helper()
	select {
	case <-r.got:
	case <-time.After(5 * time.Second):
		t.Fatal("nothing delivered")
	}
}

func failedShutdown() *moonwake.Action {
	now := time.Now().UTC()
	return &moonwake.Action{ID: "act_1", Kind: "shutdown", Machine: "gaming-pc", Status: "failed",
		Detail: "still on 120s after the command", CreatedAt: now, FinishedAt: &now}
}

func TestWebhookSignedAndRetried(t *testing.T) {
	rec, srv := newRecorder(1)
	defer srv.Close()
	d := NewDispatcher(nil, nil)
	d.retries = []time.Duration{10 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	go d.Run(ctx)
	defer func() { cancel(); d.Close() }()

	d.Send(ForAction(failedShutdown()), moonwake.NotifyTarget{Webhook: srv.URL, Secret: "s3cret"})
	rec.wait(t)
	req, body := rec.reqs[0], rec.bodies[0]
	if req.Header.Get("X-Moonwake-Signature") != Sign("s3cret", body) || req.Header.Get("X-Moonwake-Event") != "shutdown.failed" {
		t.Fatalf("headers %v", req.Header)
	}
	var m Message
	if err := json.Unmarshal(body, &m); err != nil || m.Machine != "gaming-pc" || m.Action.ID != "act_1" {
		t.Fatalf("body %s", body)
	}
}

func TestNtfy(t *testing.T) {
	rec, srv := newRecorder(0)
	defer srv.Close()
	d := NewDispatcher(nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	go d.Run(ctx)
	defer func() { cancel(); d.Close() }()
	d.Send(ForAction(failedShutdown()), moonwake.NotifyTarget{Ntfy: srv.URL + "/pc-alerts", NtfyToken: "tk"})
	rec.wait(t)
	req := rec.reqs[0]
	if req.URL.Path != "/pc-alerts" || req.Header.Get("Priority") != "high" || req.Header.Get("Authorization") != "Bearer tk" ||
		req.Header.Get("Title") != "gaming-pc: shutdown failed" || string(rec.bodies[0]) != "still on 120s after the command" {
		t.Fatalf("ntfy request %v %q", req.Header, rec.bodies[0])
	}
}

func TestSuccessOnlyWhenAsked(t *testing.T) {
	rec, srv := newRecorder(0)
	defer srv.Close()
	d := NewDispatcher(nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	go d.Run(ctx)
	defer func() { cancel(); d.Close() }()
	ok := failedShutdown()
	ok.Status = "succeeded"
	d.Send(ForAction(ok), moonwake.NotifyTarget{Webhook: srv.URL})
	d.Send(ForAction(ok), moonwake.NotifyTarget{Webhook: srv.URL, OnSuccess: true})
	rec.wait(t)
	select {
	case <-rec.got:
		t.Fatal("a success was sent to a target that did not ask")
	case <-time.After(100 * time.Millisecond):
	}
}

func TestValidateHidesSecrets(t *testing.T) {
	err := moonwake.NotifyTarget{Webhook: "ftp://user:pw@host/x?token=abc"}.Validate()
	if err == nil {
		t.Fatal("ftp accepted")
	}
	if s := err.Error(); strings.Contains(s, "pw") || strings.Contains(s, "abc") {
		t.Fatalf("secret in error: %s", s)
	}
}

// TestCancelledLikeAFailure: an action cancelled in its countdown is news
// for whoever asked, sent without on_success.
func TestCancelledLikeAFailure(t *testing.T) {
	rec, srv := newRecorder(0)
	defer srv.Close()
	d := NewDispatcher(nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	go d.Run(ctx)
	defer func() { cancel(); d.Close() }()

	a := failedShutdown()
	a.Status, a.Detail = moonwake.StatusCancelled, moonwake.CancelledAtPC+" (input)"
	m := ForAction(a)
	if m.Event != "shutdown.cancelled" || !m.Cancelled() || m.Failure() || m.Title != "gaming-pc: shutdown cancelled" {
		t.Fatalf("message %+v", m)
	}
	d.Send(m, moonwake.NotifyTarget{Webhook: srv.URL})
	rec.wait(t)
	if got := rec.reqs[0].Header.Get("X-Moonwake-Event"); got != "shutdown.cancelled" {
		t.Fatalf("event %q", got)
	}
}
