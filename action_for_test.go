package moonwake

import (
	"reflect"
	"testing"
)

// For tells a non-admin token what kind of actor asked, never another
// token's name, id or address, nor a CloudEvent's, nor those of the
// requests that joined; its own it reads in full; admins read everything.
// The action itself is never changed.
func TestActionFor(t *testing.T) {
	phone := &Token{ID: "tok_phone", Name: "phone"}
	admin := &Token{ID: "tok_admin", Name: "laptop", Admin: true}
	a := &Action{
		ID: "act_1", Actor: Actor{Kind: ActorToken, Name: "ha", TokenID: "tok_ha", Addr: "192.0.2.9"},
		Steps: []Step{
			{Kind: "send", Target: "192.0.2.255:9"},
			{Kind: StepRequest, Target: "phone 192.0.2.7"},
			{Kind: StepRequest, Target: "tablet 198.51.100.4"},
			{Kind: StepRequest, Target: "and 3 more requests"},
		},
	}
	orig := *a
	orig.Steps = append([]Step(nil), a.Steps...)

	got := a.For(phone)
	if got.Actor != (Actor{Kind: ActorToken}) {
		t.Errorf("actor: %+v", got.Actor)
	}
	want := []string{"192.0.2.255:9", "phone 192.0.2.7", "another request", "and 3 more requests"}
	for i, st := range got.Steps {
		if st.Target != want[i] {
			t.Errorf("step %d: %q, want %q", i, st.Target, want[i])
		}
	}
	if !reflect.DeepEqual(*a, orig) {
		t.Errorf("For changed the action: %+v", a)
	}
	if a.For(admin) != a {
		t.Error("an admin reads a copy")
	}
	own := &Action{Actor: Actor{Kind: ActorToken, Name: "phone", TokenID: "tok_phone", Addr: "192.0.2.7"}}
	if own.For(phone) != own {
		t.Error("its own action, redacted")
	}
	ce := &Action{Actor: Actor{Kind: ActorCloudEvent, Name: "ha: event nightly-1 from /cron", TokenID: "tok_ha", Addr: "10.0.0.5"}}
	if got := ce.For(phone); got.Actor != (Actor{Kind: ActorCloudEvent}) {
		t.Errorf("another token's CloudEvent: %+v", got.Actor)
	}
	pol := &Action{Actor: Actor{Kind: "policy", Name: "idle-off"}}
	if pol.For(phone) != pol {
		t.Error("a policy's action, redacted")
	}
	pt := &Action{Actor: Actor{Kind: "relay", Name: "moonlight", Addr: "203.0.113.8"}}
	if got := pt.For(phone); got.Actor != (Actor{Kind: "relay", Name: "moonlight"}) {
		t.Errorf("the passthrough's: %+v", got.Actor)
	}
}

// TestActionForCancel: a cancel through the API names its token to
// admins and to that token, never to another.
func TestActionForCancel(t *testing.T) {
	phone := &Token{ID: "tok_phone", Name: "phone"}
	bob := &Token{ID: "tok_bob", Name: "bob"}
	a := &Action{
		ID: "act_1", Actor: Actor{Kind: ActorToken, Name: "phone", TokenID: "tok_phone"},
		Status: StatusCancelled, Detail: CancelledByToken("bob"),
		Steps: []Step{{Kind: StepCountdown, Target: "1m0s"}, {Kind: "cancel", Via: "api", Target: CancelledByToken("bob")}},
	}
	got := a.For(phone)
	if got.Detail != "cancelled by another token" || got.Steps[1].Target != "cancelled by another token" || got.Steps[0].Target != "1m0s" {
		t.Errorf("for the action's own token: %q, %+v", got.Detail, got.Steps)
	}
	if a.Detail != CancelledByToken("bob") || a.Steps[1].Target != CancelledByToken("bob") {
		t.Errorf("For changed the action: %+v", a)
	}
	if got := a.For(bob); got.Detail != "cancelled by token bob" || got.Steps[1].Target != "cancelled by token bob" {
		t.Errorf("for the token that cancelled: %q, %+v", got.Detail, got.Steps)
	}
	pc := &Action{Actor: Actor{Kind: "policy", Name: "idle-off"}, Detail: CancelledAtPC + " (button)",
		Steps: []Step{{Kind: "cancel", Via: "pc", Target: CancelledAtPC + " (button)"}}}
	if pc.For(phone) != pc {
		t.Error("a cancel at the PC, redacted")
	}
}
