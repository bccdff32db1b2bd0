// Package moonwake holds the domain of moonwake: machines that can be woken
// and shut down, their power states and the evidence behind them, the
// tokens that may ask for it, and the actions that record what was done.
// It also declares, once, every service contract that more than one
// package uses (PowerService, Monitor, Commander, the pairers,
// KeepAwakeService, RelayService, and the stores); package mock fakes each
// of them once.
// The hub's parts live under hub/, what runs on a LAN or a PC (wol, probe,
// sunshine, uplink, relay, agent) at the top, and the binaries under cmd/;
// ARCHITECTURE.md draws the map.
package moonwake

import (
	"context"
	"strconv"
	"time"
)

// Version is the release of this build, set at link time with
// -ldflags "-X github.com/moonwake/moonwake.Version=v1.2.3". It is the one
// source of the version: the binaries, the agent's and relay's reports,
// the web app and the image all read it. Build describes the whole build.
var Version = "dev"

// Clock returns the current time. Services take one so tests control time.
type Clock func() time.Time

// actorKey is the context key for the Actor of a request.
type actorKey struct{}

// Actor is who asks for something: a token, the command line on the hub
// host, a policy, an MQTT client or the UDP passthrough. It is written into
// every action for the audit log.
type Actor struct {
	Kind    string `json:"kind"`               // "token", "cli", "policy", "mqtt", "relay" (the UDP passthrough)
	Name    string `json:"name"`               // token name, policy name …
	TokenID string `json:"token_id,omitempty"` // the public id of the token, never the secret
	Addr    string `json:"addr,omitempty"`     // client address, when it came over the network
}

// Kinds of actors that are tokens: an API token or a tap link, and a
// CloudEvent sent with a token.
const (
	ActorToken      = "token"
	ActorCloudEvent = "cloudevent"
)

// WithActor returns a context that carries a.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor carried by ctx, if any.
func ActorFrom(ctx context.Context) (Actor, bool) {
	a, ok := ctx.Value(actorKey{}).(Actor)
	return a, ok
}

type graceKey struct{}

// WithGrace returns a context that asks PowerService.Command for a
// countdown of d before the command is sent: the person at the PC is
// warned and can cancel. Like the actor, it is a property of the request,
// so every front door passes it the same way.
func WithGrace(ctx context.Context, d time.Duration) context.Context {
	return context.WithValue(ctx, graceKey{}, d)
}

// GraceFrom returns the grace carried by ctx; 0 for none.
func GraceFrom(ctx context.Context) time.Duration {
	d, _ := ctx.Value(graceKey{}).(time.Duration)
	return d
}

// ParseGrace parses a grace as a front door receives it: a Go duration
// ("60s", "2m") or a number of seconds ("90"), between 0 and MaxGrace.
// EInvalid otherwise.
func ParseGrace(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		n, nerr := strconv.ParseUint(s, 10, 32)
		if nerr != nil {
			return 0, Errorf(EInvalid, "grace %.20q: want a duration such as 60s or 2m", s)
		}
		d = time.Duration(n) * time.Second
	}
	if d < 0 || d > MaxGrace {
		return 0, Errorf(EInvalid, "grace %s: want between 0s and %s", d, MaxGrace)
	}
	return d.Round(time.Second), nil
}
