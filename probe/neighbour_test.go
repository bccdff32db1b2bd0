package probe

import "testing"

func TestNUDState(t *testing.T) {
	for s, want := range map[NUDState]string{
		0: "none", NUDReachable: "reachable", NUDFailed: "failed", NUDIncomplete: "incomplete",
		NUDStale | NUDPermanent: "stale|permanent", 0x100: "0x100",
	} {
		if s.String() != want {
			t.Errorf("%#x: %q, want %q", uint16(s), s.String(), want)
		}
	}
	if !NUDIncomplete.Unresolved() || NUDReachable.Unresolved() || NUDState(0).Unresolved() || (NUDFailed | NUDPermanent).Unresolved() {
		t.Error("Unresolved")
	}
}
