//go:build linux

package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestRelayKilledHeals kills a relay with SIGKILL, as the OOM killer or a
// node drain does, and starts it again: the hub sees it go, the machine it
// serves is unknown (never off) meanwhile, and once the new process is up
// the relay is online again by itself, the machine is seen off again, and a
// wake through the relay boots it. (An agent's restart is the emulated PC's
// every boot, in the verified-action tests; the broker's is hub/hass's
// TestBrokerRestart.)
func TestRelayKilledHeals(t *testing.T) {
	l := newRelayLAN(t)
	h, r1, _ := l.startRelay(t, "lan-a", 1)
	l.waitRelay(t, "lan-a", "online", func(r wireRelay) bool { return r.Connected })
	l.hp.addMachine(t, map[string]any{"name": "pc", "mac": l.pc.MAC().String(), "host": l.pc.Addr().String()})
	l.hp.waitPower(t, "pc", 10*time.Second, "off (seen by the relay)", func(p wirePower) bool { return p.State == "off" })

	if err := r1.Cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-r1.Done()
	l.waitRelay(t, "lan-a", "offline", func(r wireRelay) bool { return !r.Connected })
	l.hp.waitPower(t, "pc", 10*time.Second, "unknown while its relay is gone", func(p wirePower) bool { return p.State == "unknown" })

	start := time.Now()
	l.runRelay(t, h, "lan-a", l.tokenFile)
	l.waitRelay(t, "lan-a", "online again", func(r wireRelay) bool { return r.Connected })
	l.hp.waitPower(t, "pc", 10*time.Second, "off again", func(p wirePower) bool { return p.State == "off" })
	t.Logf("relay online and pc seen off %.1fs after the relay restarted", time.Since(start).Seconds())

	a := l.hp.wake(t, "pc", l.hp.admin)
	for _, s := range a.Steps {
		if s.Kind == "send" && (!strings.HasPrefix(s.Via, "relay lan-a ") || s.Error != "") {
			t.Errorf("send step %+v: want one sent by the restarted relay", s)
		}
	}
	l.pc.waitState(t, pcOn, 10*time.Second)
	deadline := time.Now().Add(15 * time.Second)
	for {
		var got wireAction
		l.hp.must(t, http.StatusOK, "GET", "/api/v1/actions/"+a.ID, l.hp.admin, nil).decode(t, &got)
		if got.Status == "succeeded" {
			break
		}
		if time.Now().After(deadline) || got.Status == "failed" {
			t.Fatalf("wake through the restarted relay: %s %s", got.Status, got.Detail)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
