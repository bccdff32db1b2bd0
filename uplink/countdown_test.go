package uplink

import (
	"encoding/json"
	"errors"
	"testing"
	"time"
)

func TestParseCountdownArgs(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{`{"kind":"shutdown","until":"2026-12-04T22:00:00Z","by":"token phone"}`, true},
		{`{"kind":"idle","until":"2026-12-04T22:00:00+01:00"}`, true},
		{`{"kind":"shutdown","until":"2026-12-04T22:00:00Z","extra":1}`, true}, // newer hubs may add fields
		{`{"kind":"Shutdown","until":"2026-12-04T22:00:00Z"}`, false},
		{`{"kind":"shutdown"}`, false},
		{`{"kind":"","until":"2026-12-04T22:00:00Z"}`, false},
		{`{"kind":"shutdown","until":"2026-12-04T22:00:00Z","by":"a\nb"}`, false},
		{`{"kind":"shutdown","until":"0001-01-01T00:00:00Z"}`, false},
		{`[]`, false},
		{`null`, false},
		{``, false},
	} {
		a, err := ParseCountdownArgs(json.RawMessage(tc.in))
		if (err == nil) != tc.ok {
			t.Errorf("%s: err %v, want ok %v", tc.in, err, tc.ok)
		}
		if err != nil && !errors.Is(err, errProtocol) {
			t.Errorf("%s: %v is not a protocol error", tc.in, err)
		}
		if err == nil && a.Until.Location() != time.UTC {
			t.Errorf("%s: until %v not in UTC", tc.in, a.Until)
		}
	}
}

func TestCountdownRemaining(t *testing.T) {
	now := time.Date(2026, 12, 4, 22, 0, 0, 0, time.UTC)
	for until, want := range map[time.Time]time.Duration{
		now.Add(time.Minute):      time.Minute,
		now.Add(-time.Minute):     0,
		now.Add(1000 * time.Hour): maxCountdownFor,
	} {
		if got := (CountdownArgs{Until: until}).Remaining(now); got != want {
			t.Errorf("remaining to %v: %v, want %v", until, got, want)
		}
	}
}

func TestValidNotice(t *testing.T) {
	for _, tc := range []struct {
		n  Notice
		ok bool
	}{
		{Notice{Kind: NoticeCancel, Action: "act_1", How: CancelInput}, true},
		{Notice{Kind: NoticeCancel, Action: "act_1", How: CancelButton}, true},
		{Notice{Kind: NoticeCancel, Action: "act_1", How: "magic"}, false},
		{Notice{Kind: NoticeCancel, How: CancelInput}, false},
		{Notice{Kind: NoticeCancel, Action: "a\x00", How: CancelInput}, false},
		{Notice{Kind: NoticeCancel, Action: string(make([]byte, 65)), How: CancelInput}, false},
		{Notice{Kind: NoticeMagic, From: "192.0.2.1", Data: make([]byte, 102)}, true},
		{Notice{Kind: NoticeMagic, Data: make([]byte, MaxNoticeData+1)}, false},
	} {
		if got := validNotice(tc.n); got != tc.ok {
			t.Errorf("%+v: valid %v, want %v", tc.n, got, tc.ok)
		}
	}
}

// FuzzParseCountdownArgs feeds arbitrary bytes to the parser of the
// countdown arguments an agent receives. What it accepts is in bounds and
// parses again to the same arguments.
func FuzzParseCountdownArgs(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := ParseCountdownArgs(b)
		if err != nil {
			if !errors.Is(err, errProtocol) {
				t.Fatalf("not a protocol error: %v", err)
			}
			return
		}
		if len(a.By) > MaxCountdownBy || !printable(a.By) || !countdownKindRE.MatchString(a.Kind) {
			t.Fatalf("accepted out of bounds: %+v", a)
		}
		if r := a.Remaining(time.Now()); r < 0 || r > maxCountdownFor {
			t.Fatalf("remaining %v", r)
		}
		again, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		b2, err := ParseCountdownArgs(again)
		if err != nil || b2 != a {
			t.Fatalf("round trip: %+v → %s → %+v, %v", a, again, b2, err)
		}
	})
}
