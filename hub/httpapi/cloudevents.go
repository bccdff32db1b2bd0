package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/moonwake/moonwake"
)

// CloudEvents that ask for an action: dev.moonwake.machine.<action>.requested,
// with the machine as the subject.
const (
	commandTypePrefix = "dev.moonwake.machine."
	commandTypeSuffix = ".requested"
)

// Bounds of what the hub keeps of an event: its source and id name the
// actor in the audit log and key the receipt.
const (
	maxEventSource = 512
	maxEventID     = 256
)

// command is what a CloudEvent asks for.
type command struct {
	Action  string // moonwake.ActionWake …
	Machine string
	Source  string
	ID      string
}

// readCommand reads the CloudEvent of r, in structured or binary mode, and
// the command it asks for. Every error is EInvalid, for the client.
func readCommand(w http.ResponseWriter, r *http.Request) (command, error) {
	if cehttp.IsHTTPBatch(r.Header) {
		return command{}, moonwake.Errorf(moonwake.EInvalid, "batched CloudEvents are not accepted; send one event per request")
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	msg := cehttp.NewMessageFromHttpRequest(r)
	defer msg.Finish(nil)
	if msg.ReadEncoding() == binding.EncodingUnknown {
		return command{}, moonwake.Errorf(moonwake.EInvalid, "not a CloudEvent: send it in binary mode (ce-specversion, ce-type, ce-source, ce-id headers) or structured mode (Content-Type: application/cloudevents+json)")
	}
	ev, err := binding.ToEvent(r.Context(), msg)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return command{}, moonwake.Errorf(moonwake.EInvalid, "CloudEvent larger than %d bytes", maxBody)
		}
		return command{}, moonwake.Errorf(moonwake.EInvalid, "malformed CloudEvent: %s", clip(err.Error(), 300))
	}
	return commandOf(ev)
}

// commandOf checks a decoded event and returns its command: a known type,
// a machine as the subject, and a source and id of sane length.
func commandOf(ev *event.Event) (command, error) {
	if err := ev.Validate(); err != nil {
		return command{}, moonwake.Errorf(moonwake.EInvalid, "invalid CloudEvent: %s", clip(err.Error(), 300))
	}
	typ := ev.Type()
	action, ok := strings.CutPrefix(typ, commandTypePrefix)
	if ok {
		action, ok = strings.CutSuffix(action, commandTypeSuffix)
	}
	if !ok || !slices.Contains(moonwake.KnownActions, action) {
		return command{}, moonwake.Errorf(moonwake.EInvalid, "CloudEvent type %q: the hub acts on %s", clip(typ, 100), strings.Join(commandTypes(), ", "))
	}
	c := command{Action: action, Machine: ev.Subject(), Source: ev.Source(), ID: ev.ID()}
	if c.Machine == "" {
		return command{}, moonwake.Errorf(moonwake.EInvalid, "CloudEvent %s has no subject: set it to the machine's name", typ)
	}
	if !moonwake.ValidName(c.Machine) {
		return command{}, moonwake.Errorf(moonwake.EInvalid, "CloudEvent subject %q is not a machine name", clip(c.Machine, 100))
	}
	if len(c.Source) > maxEventSource || len(c.ID) > maxEventID {
		return command{}, moonwake.Errorf(moonwake.EInvalid, "CloudEvent source or id too long (at most %d and %d bytes)", maxEventSource, maxEventID)
	}
	return c, nil
}

// commandTypes lists the types the hub acts on.
func commandTypes() []string {
	ts := make([]string, 0, len(moonwake.KnownActions))
	for _, a := range moonwake.KnownActions {
		ts = append(ts, commandTypePrefix+a+commandTypeSuffix)
	}
	return ts
}

// clip shortens s, which may come from a client, for an error message.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// cloudEvent is POST /api/v1/cloudevents: a CloudEvent that asks for an
// action runs it exactly as the action's own route would, as the token's
// holder, with the event's source and id in the audit log. An event
// delivered again (same source and id) answers with the action it started
// and starts nothing.
func (s *Server) cloudEvent(w http.ResponseWriter, r *http.Request) {
	for k := range r.URL.Query() {
		if k != "token" {
			// act would refuse a bad ?wait after the claim: refuse
			// anything but the token before it.
			s.error(w, r, moonwake.Errorf(moonwake.EInvalid, "parameter %q: the CloudEvents route takes only token", clip(k, 40)))
			return
		}
	}
	c, err := readCommand(w, r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	tok := tokenFrom(r.Context())
	if !tok.Allows(c.Action, c.Machine) {
		s.error(w, r, moonwake.Errorf(moonwake.EForbidden, "token %q may not %s %q", tok.Name, c.Action, c.Machine))
		return
	}
	m, err := s.Machines.FindMachine(r.Context(), c.Machine)
	if err != nil {
		s.error(w, r, err)
		return
	}
	key := moonwake.EventKey{Token: tok.ID, Source: c.Source, ID: c.ID}
	if s.Receipts != nil {
		claimed, actionID, err := s.Receipts.ClaimReceipt(r.Context(), key)
		if err != nil {
			s.error(w, r, err)
			return
		}
		if !claimed {
			s.duplicate(w, r, tok, c, actionID)
			return
		}
	}
	actor, _ := moonwake.ActorFrom(r.Context())
	actor.Kind = moonwake.ActorCloudEvent
	actor.Name = fmt.Sprintf("%s: event %s from %s", tok.Name, c.ID, c.Source)
	ctx := moonwake.WithActor(r.Context(), actor)
	s.act(w, r, func() (*moonwake.Action, error) {
		var a *moonwake.Action
		var err error
		if c.Action == moonwake.ActionWake {
			a, err = s.Power.Wake(ctx, m)
		} else {
			a, err = s.Power.Command(ctx, m, c.Action)
		}
		s.receipt(context.WithoutCancel(ctx), key, a)
		return a, err
	})
}

// receipt records the action that c started, or forgets c's claim when it
// started none, so that a delivery again may try again.
func (s *Server) receipt(ctx context.Context, c moonwake.EventKey, a *moonwake.Action) {
	if s.Receipts == nil {
		return
	}
	if a == nil {
		if err := s.Receipts.DropReceipt(ctx, c); err != nil {
			s.Logger.Error("cloudevents: forget a receipt", "source", c.Source, "id", c.ID, "error", err)
		}
		return
	}
	if err := s.Receipts.SetReceiptAction(ctx, c, a.ID); err != nil {
		// The action runs; a delivery again finds the claim without its
		// action and is refused (409), never acted on twice.
		s.Logger.Error("cloudevents: record the action of an event", "source", c.Source, "id", c.ID, "action", a.ID, "error", err)
	}
}

// duplicate answers an event delivered again: with the action it started
// (200), or 409 while the first delivery is still starting it.
func (s *Server) duplicate(w http.ResponseWriter, r *http.Request, tok *moonwake.Token, c command, actionID string) {
	if actionID == "" {
		s.error(w, r, moonwake.Errorf(moonwake.EConflict, "CloudEvent %s from %s is being handled already", c.ID, c.Source))
		return
	}
	a, err := s.Actions.FindAction(r.Context(), actionID)
	if err != nil {
		if moonwake.ErrorCode(err) == moonwake.ENotFound {
			// Pruned with the audit log: still, it acted once.
			err = moonwake.Errorf(moonwake.EConflict, "CloudEvent %s from %s started action %s, which is no longer in the audit log", c.ID, c.Source, actionID)
		}
		s.error(w, r, err)
		return
	}
	if !tok.CanSee(a.Machine) || !mayRead(tok, a) {
		// The token's scope changed since: it reads no more than an
		// action it could not ask for now.
		s.error(w, r, moonwake.Errorf(moonwake.EConflict, "CloudEvent %s from %s was handled already", c.ID, c.Source))
		return
	}
	w.Header().Set("Location", "/api/v1/actions/"+a.ID)
	w.Header().Set("Moonwake-Duplicate", "true")
	writeJSON(w, http.StatusOK, a.For(tok))
}
