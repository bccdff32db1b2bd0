package agent

import (
	"context"
	"errors"
	"testing"
)

func TestParsePmsetValue(t *testing.T) {
	out := readFixture(t, "pmset/womp-on.txt")
	for key, want := range map[string]string{"womp": "1", "Sleep On Power Button": "1", "hibernatemode": "0", "tcpkeepalive": "1"} {
		if got, ok := parsePmsetValue(out, key); !ok || got != want {
			t.Errorf("%s = %q, %v; want %q", key, got, ok, want)
		}
	}
	if _, ok := parsePmsetValue(out, "nosuch"); ok {
		t.Error("found a missing key")
	}
}

func TestDarwinChecks(t *testing.T) {
	ctx := context.Background()
	enabled := false
	sys := func(fixture string, err error) darwinDoctorSys {
		return darwinDoctorSys{
			pmset: func(context.Context) ([]byte, error) {
				if err != nil {
					return nil, err
				}
				return readFixture(t, "pmset/"+fixture), nil
			},
			enableWomp: func(context.Context) error { enabled = true; return nil },
		}
	}
	if c := darwinChecks(ctx, sys("womp-on.txt", nil))[0]; c.state != checkPass {
		t.Errorf("on: %+v", c)
	}
	off := darwinChecks(ctx, sys("womp-off.txt", nil))[0]
	if off.state != checkFail || off.fix == nil {
		t.Fatalf("off: %+v", off)
	}
	if err := off.fix.apply(ctx); err != nil || !enabled {
		t.Errorf("fix: %v %v", err, enabled)
	}
	if c := darwinChecks(ctx, sys("no-womp.txt", nil))[0]; c.state != checkWarn {
		t.Errorf("missing: %+v", c)
	}
	if c := darwinChecks(ctx, sys("", errors.New("pmset: not found")))[0]; c.state != checkWarn {
		t.Errorf("error: %+v", c)
	}
}
