package moonwake

import (
	"context"
	"slices"
	"strings"
	"time"
)

// Actions a token can be allowed to ask for.
const (
	ActionWake      = "wake"
	ActionShutdown  = "shutdown"
	ActionReboot    = "reboot"
	ActionSleep     = "sleep"
	ActionHibernate = "hibernate"
)

// KnownActions lists every action a token can be scoped to.
var KnownActions = []string{ActionWake, ActionShutdown, ActionReboot, ActionSleep, ActionHibernate}

// ScopeRead lets a token read the audit log of the machines it sees: every
// action, with the actor of its own actions in full. Without it a token
// reads the machines' state and the actions it asked for itself, nothing
// else. It is a scope, not an action: nothing is done to a machine.
const ScopeRead = "read"

// KnownScopes lists everything a token's Actions may name.
var KnownScopes = append(slices.Clone(KnownActions), ScopeRead)

// PowerActions are the actions carried out by a machine's agent.
var PowerActions = []string{ActionShutdown, ActionReboot, ActionSleep, ActionHibernate}

// Token is a credential for the API. Its secret is shown once, when it is
// created, and stored only as a hash.
type Token struct {
	ID       string   `json:"id"`       // public, safe to log
	Name     string   `json:"name"`     // for people and the audit log
	Machines []string `json:"machines"` // empty: every machine
	Actions  []string `json:"actions"`  // what it may do to those machines
	Admin    bool     `json:"admin"`    // may manage machines and tokens, and do anything
	// TapLink marks a tap link: it works on its link page (/l/…) only,
	// never on the API, so a leaked link does its one thing and reads
	// nothing else (not the audit log, not the evidence).
	TapLink bool `json:"link,omitempty"`
	// RelayEnrol marks a relay enrolment token: relays (pods that are
	// re-created) enrol with it, again and again, until it is revoked; it
	// works on the enrolment route only and reads nothing.
	RelayEnrol bool `json:"relay_enrol,omitempty"`
	// CloudEvents marks a CloudEvents token: it works on the CloudEvents
	// route only (POST /api/v1/cloudevents), where it may also be given in
	// the URL, for Knative Triggers that cannot set headers; every other
	// route refuses it, so a subscriber URL that leaks into a log reads
	// nothing and does only what its scope allows.
	CloudEvents bool `json:"cloudevents,omitempty"`

	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

// CanSee reports whether t may read the machine called name.
func (t *Token) CanSee(name string) bool {
	return t.Admin || len(t.Machines) == 0 || slices.Contains(t.Machines, name)
}

// ReadsLog reports whether t may read the audit log (of the machines it
// sees): admins and tokens with the read scope.
func (t *Token) ReadsLog() bool {
	return t.Admin || slices.Contains(t.Actions, ScopeRead)
}

// Allows reports whether t may do action to the machine called name.
func (t *Token) Allows(action, name string) bool {
	if t.Admin {
		return true
	}
	return t.CanSee(name) && slices.Contains(t.Actions, action)
}

// Scope says, in words for people, what t may do: "admin: everything",
// "wake, shutdown on pc-a, pc-b", "read-only on every machine" (the read
// scope: the audit log too), "state only on pc-a" (no scope), or for a
// tap link "tap link: wake on pc-a". The CLI and the web app both show it.
func (t *Token) Scope() string {
	if t.Admin {
		return "admin: everything"
	}
	acts := "state only"
	switch {
	case len(t.Actions) == 1 && t.Actions[0] == ScopeRead:
		acts = "read-only"
	case len(t.Actions) > 0:
		acts = strings.Join(t.Actions, ", ")
	}
	on := "every machine"
	if len(t.Machines) > 0 {
		on = strings.Join(t.Machines, ", ")
	}
	if t.RelayEnrol {
		return "relay enrolment"
	}
	if t.CloudEvents {
		return "cloudevents: " + acts + " on " + on
	}
	if t.TapLink {
		// Its link page only, never the API.
		return "tap link: " + acts + " on " + on
	}
	return acts + " on " + on
}

// Normalize checks t's name and scope.
func (t *Token) Normalize() error {
	if !ValidName(t.Name) {
		return Errorf(EInvalid, "token name %q: use 1-63 characters a-z, 0-9, '-' or '_'", t.Name)
	}
	for _, m := range t.Machines {
		if !ValidName(m) {
			return Errorf(EInvalid, "token scope: %q is not a machine name", m)
		}
	}
	if t.TapLink && (t.Admin || len(t.Machines) != 1 || len(t.Actions) != 1) {
		return Errorf(EInvalid, "a tap link does one action on one machine, and is not an admin token")
	}
	if t.RelayEnrol && (t.Admin || t.TapLink || len(t.Machines) != 0 || len(t.Actions) != 0) {
		return Errorf(EInvalid, "a relay enrolment token enrols relays and does nothing else: no machines, no actions, not an admin token")
	}
	if t.CloudEvents && (t.Admin || t.TapLink || t.RelayEnrol) {
		return Errorf(EInvalid, "a CloudEvents token asks for actions through CloudEvents only: not an admin token, a tap link or a relay enrolment token")
	}
	for _, a := range t.Actions {
		if !slices.Contains(KnownScopes, a) {
			return Errorf(EInvalid, "token scope: unknown action %q (known: %v)", a, KnownScopes)
		}
	}
	if t.TapLink && t.Actions[0] == ScopeRead {
		return Errorf(EInvalid, "a tap link does an action: %v", KnownActions)
	}
	slices.Sort(t.Machines)
	t.Machines = slices.Compact(t.Machines)
	slices.Sort(t.Actions)
	t.Actions = slices.Compact(t.Actions)
	if t.Machines == nil {
		t.Machines = []string{}
	}
	if t.Actions == nil {
		t.Actions = []string{}
	}
	return nil
}

// TokenService stores tokens and checks secrets.
type TokenService interface {
	// CreateToken normalizes and stores t, fills in its ID and CreatedAt,
	// and returns the secret, which cannot be recovered later. EInvalid, or
	// EConflict when an active token has that name.
	CreateToken(ctx context.Context, t *Token) (secret string, err error)
	// Authenticate returns the active token whose secret this is, or
	// EUnauthorized. It is called on every request and must be fast.
	Authenticate(ctx context.Context, secret string) (*Token, error)
	// ListTokens returns every token, revoked ones included, oldest first.
	ListTokens(ctx context.Context) ([]*Token, error)
	// RevokeToken revokes the active token with that ID or name. ENotFound.
	RevokeToken(ctx context.Context, idOrName string) (*Token, error)
	// HasAdminToken reports whether an active admin token exists.
	HasAdminToken(ctx context.Context) (bool, error)
}
