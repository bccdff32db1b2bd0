package remote

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"unicode"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/uplink"
)

// RequestFunc starts the power action kind (one of moonwake.PowerActions)
// on machine for actor, and returns it once started: the power service's
// Command.
type RequestFunc func(ctx context.Context, machine, kind string, actor moonwake.Actor) (*moonwake.Action, error)

// requests holds the function that carries agents' requests out; the
// power service is built after the agents.
type requests struct {
	mu sync.Mutex
	fn RequestFunc
}

// OnRequest registers fn to carry out what a program on a machine asks
// its agent for (a Sunshine app's "Sleep PC"): a verified action on that
// machine, recorded with the actor "sunshine"/the app's title.
func (a *Agents) OnRequest(fn RequestFunc) {
	a.requests.mu.Lock()
	defer a.requests.mu.Unlock()
	a.requests.fn = fn
}

// RequestActor is the actor of an agent's request: who asked on the PC.
// Only Sunshine apps ask for now.
func RequestActor(r uplink.Request) (moonwake.Actor, error) {
	if r.From != uplink.RequestFromSunshine {
		return moonwake.Actor{}, moonwake.Errorf(moonwake.EInvalid, "requests come from Sunshine apps, not %.32q", r.From)
	}
	app := strings.TrimSpace(r.App)
	if app == "" || strings.ContainsFunc(app, func(c rune) bool { return !unicode.IsPrint(c) }) {
		return moonwake.Actor{}, moonwake.Errorf(moonwake.EInvalid, "a Sunshine request needs the app's title, printable")
	}
	return moonwake.Actor{Kind: uplink.RequestFromSunshine, Name: app}, nil
}

// RequestData is a reply's Data: the action started, for the program that
// asked to print.
type RequestData struct {
	Action string `json:"action"`
	Status string `json:"status"`
}

// onRequest answers an agent's request: a power action on its own
// machine, never another one.
func (a *Agents) onRequest(ctx context.Context, p uplink.Peer, r uplink.Request) uplink.Result {
	a.requests.mu.Lock()
	fn := a.requests.fn
	a.requests.mu.Unlock()
	if fn == nil {
		return uplink.Result{Error: "this hub takes no requests"}
	}
	if !slices.Contains(moonwake.PowerActions, r.Name) {
		return uplink.Result{Error: fmt.Sprintf("unknown power action %.32q; want one of %s", r.Name, strings.Join(moonwake.PowerActions, ", "))}
	}
	actor, err := RequestActor(r)
	if err != nil {
		return uplink.Result{Error: moonwake.ErrorMessage(err)}
	}
	act, err := fn(ctx, p.Machine, r.Name, actor)
	if act == nil && err != nil {
		return uplink.Result{Error: moonwake.ErrorMessage(err)}
	}
	data, _ := json.Marshal(RequestData{Action: act.ID, Status: act.Status})
	res := uplink.Result{Data: data}
	switch {
	case err != nil:
		res.Error = fmt.Sprintf("%s of %s failed (action %s): %s", r.Name, p.Machine, act.ID, moonwake.ErrorMessage(err))
	case act.Status == moonwake.StatusFailed:
		res.Error = fmt.Sprintf("%s of %s failed (action %s): %s", r.Name, p.Machine, act.ID, act.Detail)
	case act.Status == moonwake.StatusSucceeded:
		res.OK, res.Detail = true, fmt.Sprintf("%s of %s: %s (action %s)", r.Name, p.Machine, act.Detail, act.ID)
	default:
		res.OK, res.Detail = true, fmt.Sprintf("%s of %s under way; the hub verifies it (action %s)", r.Name, p.Machine, act.ID)
	}
	return res
}
