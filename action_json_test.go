package moonwake_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/moonwake/moonwake"
)

// joinedAction is what a request that joins a running wake is answered
// with: the first burst and the requests that joined it.
func joinedAction() *moonwake.Action {
	now := time.Date(2026, 12, 4, 16, 1, 23, 456789000, time.UTC)
	d := now.Add(2 * time.Minute)
	a := &moonwake.Action{ID: "act_01JXYZABCDEFGHJKMNPQRSTVWX", Kind: moonwake.ActionWake, Machine: "gaming-pc", MAC: "02:77:00:00:00:01",
		Actor:  moonwake.Actor{Kind: moonwake.ActorToken, Name: "phone", TokenID: "tok_abc", Addr: "192.0.2.7"},
		Status: moonwake.StatusRunning, CreatedAt: now, Deadline: &d}
	a.Steps = append(a.Steps, moonwake.Step{At: now, Kind: "send", Via: "udp", Target: "10.78.0.255:9"})
	for range 10 {
		a.Steps = append(a.Steps, moonwake.Step{At: now, Kind: moonwake.StepRequest, Target: "phone 192.0.2.7"})
	}
	a.Steps = append(a.Steps, moonwake.Step{At: now, Kind: moonwake.StepRequest, Target: "and 12345 more requests"})
	return a
}

func TestActionAppendJSON(t *testing.T) {
	fin := time.Date(2026, 12, 4, 17, 0, 0, 0, time.FixedZone("CET", 3600))
	for _, a := range []*moonwake.Action{
		joinedAction(),
		{},
		{ID: "a", Steps: []moonwake.Step{}, FinishedAt: &fin, Detail: "<b>\"x\" & y\u2028\x00\x1f\xff</b>"},
		{CreatedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}, // json.Marshal refuses it
	} {
		want, err := json.Marshal(a)
		got := a.AppendJSON(nil)
		if err != nil {
			if string(got) != "null" {
				t.Errorf("json.Marshal fails (%v); AppendJSON = %s, want null", err, got)
			}
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("AppendJSON:\n got %s\nwant %s", got, want)
		}
	}
	var nilAction *moonwake.Action
	if got := nilAction.AppendJSON(nil); string(got) != "null" {
		t.Errorf("nil: %s", got)
	}
}

// FuzzActionAppendJSON holds AppendJSON to encoding/json's bytes.
func FuzzActionAppendJSON(f *testing.F) {
	f.Add("act_1", "wake", "pc", "02:77:00:00:00:01", "token", "phone", "tok_1", "192.0.2.7", "running", "", "send", "udp", "10.0.0.255:9", "", int64(1764864083456789000), int64(0), uint8(3))
	f.Add("a\"<>&\\", "\u2028\u2029", "\x00\x1f\x7f", "\xff\xfe", "é", "日本", "", "", "", "\b\f\n\r\t", "", "", "", "x", int64(-62135596800000000000/1000), int64(3600), uint8(0xff))
	f.Fuzz(func(t *testing.T, id, kind, machine, mac, akind, aname, atok, aaddr, status, detail, skind, svia, starget, serr string, nanos, offset int64, shape uint8) {
		at := time.Unix(0, nanos).In(time.FixedZone("z", int(offset%(30*3600))))
		a := &moonwake.Action{ID: id, Kind: kind, Machine: machine, MAC: mac,
			Actor:  moonwake.Actor{Kind: akind, Name: aname, TokenID: atok, Addr: aaddr},
			Status: status, Detail: detail, CreatedAt: at}
		if shape&1 != 0 {
			a.Deadline = &at
		}
		if shape&2 != 0 {
			a.FinishedAt = &at
		}
		if shape&4 != 0 {
			a.Steps = []moonwake.Step{}
		}
		for range int(shape>>3) % 4 {
			a.Steps = append(a.Steps, moonwake.Step{At: at, Kind: skind, Via: svia, Target: starget, Error: serr})
		}
		want, err := json.Marshal(a)
		got := a.AppendJSON([]byte("x"))
		if err != nil {
			if string(got) != "xnull" {
				t.Fatalf("json.Marshal fails (%v); AppendJSON = %s, want null", err, got)
			}
			return
		}
		if !bytes.Equal(got[1:], want) {
			t.Fatalf("AppendJSON:\n got %s\nwant %s", got[1:], want)
		}
		if want, _ := json.Marshal(a.Actor); !bytes.Equal(a.Actor.AppendJSON(nil), want) {
			t.Fatalf("Actor.AppendJSON:\n got %s\nwant %s", a.Actor.AppendJSON(nil), want)
		}
		wantSteps, werr := json.Marshal(a.Steps)
		gotSteps, gerr := moonwake.AppendStepsJSON(nil, a.Steps)
		if (werr == nil) != (gerr == nil) || werr == nil && !bytes.Equal(gotSteps, wantSteps) {
			t.Fatalf("AppendStepsJSON:\n got %s, %v\nwant %s, %v", gotSteps, gerr, wantSteps, werr)
		}
	})
}

// BenchmarkActionJSON compares encoding/json with AppendJSON on the answer
// to a request that joins a running wake:
//
//	go test -run '^$' -bench ActionJSON -benchmem .
func BenchmarkActionJSON(b *testing.B) {
	a := joinedAction()
	b.Run("encoding/json", func(b *testing.B) {
		for b.Loop() {
			if _, err := json.Marshal(a); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("AppendJSON", func(b *testing.B) {
		buf := make([]byte, 0, 2048)
		for b.Loop() {
			buf = a.AppendJSON(buf[:0])
		}
	})
}
