package hub_test

import (
	"testing"
	"time"

	"github.com/moonwake/moonwake/hub/config"
)

func TestKeepAwakeAPI(t *testing.T) {
	cfg := newConfig(t)
	cfg.IdleOff = []config.IdleOff{{Tags: []string{"gaming"}, After: time.Hour}}
	th := startHub(t, cfg)
	r := newReceiver(t)
	th.addMachine("pc", "aa:bb:cc:dd:ee:03", r, map[string]any{"tags": []string{"gaming"}})
	th.addMachine("other", "aa:bb:cc:dd:ee:04", r, nil)
	wakeOnly := th.token("phone", []string{"pc"}, []string{"wake"}, false)
	shutPC := th.token("shut-pc", []string{"pc"}, []string{"shutdown"}, false)
	shutOther := th.token("shut-other", []string{"other"}, []string{"shutdown"}, false)

	const path = "/api/v1/machines/pc/keep-awake"
	th.must(403, "POST", path, wakeOnly, map[string]any{"for": "2h"})
	th.must(403, "DELETE", path, wakeOnly, nil)
	th.must(403, "POST", path, shutOther, map[string]any{"for": "2h"})
	th.must(404, "POST", "/api/v1/machines/nope/keep-awake", th.Admin, map[string]any{"for": "2h"})

	var got struct {
		Machine string
		Until   *time.Time
	}
	before := time.Now()
	th.must(200, "POST", path, shutPC, map[string]any{"for": "2h"}).decode(t, &got)
	if got.Machine != "pc" || got.Until == nil || got.Until.Before(before.Add(2*time.Hour-time.Second)) || got.Until.After(time.Now().Add(2*time.Hour)) {
		t.Errorf("keep-awake for 2h: %+v", got)
	}
	until := time.Now().Add(time.Hour).Truncate(time.Second)
	th.must(200, "POST", path, th.Admin, map[string]any{"until": until.Format(time.RFC3339)}).decode(t, &got)
	if got.Until == nil || !got.Until.Equal(until) {
		t.Errorf("keep-awake until %s: %+v", until, got)
	}
	// Any token that may see the machine can read it back.
	got.Until = nil
	th.must(200, "GET", path, shutPC, nil).decode(t, &got)
	if got.Until == nil || !got.Until.Equal(until) {
		t.Errorf("read back: %+v", got)
	}
	for _, body := range []map[string]any{
		{}, {"for": "2h", "until": until.Format(time.RFC3339)}, {"for": "-1h"}, {"for": "soon"},
		{"until": "tomorrow"}, {"until": time.Now().Add(-time.Hour).Format(time.RFC3339)}, {"for": "2000h"}, {"for": "2h", "x": 1},
	} {
		th.must(400, "POST", path, shutPC, body)
	}
	got.Until = nil
	th.must(200, "DELETE", path, shutPC, nil).decode(t, &got)
	if got.Until != nil {
		t.Errorf("cleared: %+v", got)
	}
	if r.next(100*time.Millisecond) != nil {
		t.Fatal("keep-awake sent a packet")
	}
}
