//go:build linux

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/moonwake/moonwake/agent"
	"github.com/moonwake/moonwake/internal/testlan"
	"github.com/moonwake/moonwake/uplink"
)

// The verified-action tests run a hub ("moonwake serve", host "hub") and
// an emulated PC (host "pc", see pcutil_test.go) with the real
// moonwake-agent on one LAN. The hub has short deadlines (wake 5 s,
// shutdown 2 s), probes every 100 ms during an action, and notifies a
// webhook in its own namespace.

// stepKinds lists the kinds of an action's steps.
func stepKinds(a wireAction) []string {
	var out []string
	for _, s := range a.Steps {
		out = append(out, s.Kind)
	}
	return out
}

// containsRun reports whether seq holds want as consecutive elements.
func containsRun(seq, want []string) bool {
	for i := 0; i+len(want) <= len(seq); i++ {
		if slices.Equal(seq[i:i+len(want)], want) {
			return true
		}
	}
	return false
}

var onAfter = regexp.MustCompile(`^pc is (on|idle|streaming) after [0-9.]+m?s$`)

// TestWakeVerified wakes the PC through the hub and waits for the outcome:
// the hub says it succeeded only once it saw the PC on, after the PC's
// address really came up (its network stack answers before Sunshine's
// port opens, as a booting PC's does), and within a second of that; the
// hub then sees Sunshine's port within a second of its opening. The boot
// takes 3 s, longer than a probe round against a silent address (whose
// Sunshine request waits 2 s), so the hub has time to say "waking" before
// "on".
func TestWakeVerified(t *testing.T) {
	t.Parallel()
	l := newPCLAN(t, pcOptions{BootDelay: 3 * time.Second})

	a, took := l.hp.act(t, "pc", "wake")
	l.pc.waitState(t, pcOn, 5*time.Second)
	st := l.pc.Stats()
	if a.Status != "succeeded" || !onAfter.MatchString(a.Detail) {
		t.Fatalf("wake: %s %q; steps %+v", a.Status, a.Detail, a.Steps)
	}
	kinds := stepKinds(a)
	if kinds[0] != "send" || kinds[len(kinds)-1] != "verify" || a.Steps[len(a.Steps)-1].Target == "" {
		t.Errorf("steps %q", kinds)
	}
	if st.Boots != 1 || st.Magic < 1 || l.pc.State() != pcOn {
		t.Errorf("pc: %+v, state %s", st, l.pc.State())
	}
	verified := *a.FinishedAt
	// Proof, not assumption: the hub cannot have seen the PC on before
	// its address existed.
	if verified.Before(st.UpAt) {
		t.Errorf("verified at %s, before the PC's address came up at %s", verified, st.UpAt)
	}
	// The bound: a state change is seen within 1 s of the PC
	// coming up.
	if d := verified.Sub(st.UpAt); d > time.Second {
		t.Errorf("verified %s after the PC's address came up, want within 1 s", d)
	}

	// The evidence, once a round saw Sunshine's port open.
	type evidence struct {
		At  time.Time `json:"at"`
		TCP []struct {
			Port    int    `json:"port"`
			Outcome string `json:"outcome"`
		} `json:"tcp"`
		Sunshine *struct {
			Reachable bool   `json:"reachable"`
			Hostname  string `json:"hostname"`
		} `json:"sunshine"`
		Neighbour *struct {
			MAC      string `json:"mac"`
			Identity string `json:"identity"`
		} `json:"neighbour"`
	}
	var ev evidence
	p := l.hp.waitPower(t, "pc", 3*time.Second, "seen with Sunshine and nothing pending", func(p wirePower) bool {
		ev = evidence{}
		return json.Unmarshal(p.Evidence, &ev) == nil && ev.Sunshine != nil && ev.Sunshine.Reachable && p.Pending == nil
	})
	if !up(p.State) || !strings.Contains(p.Reason, "MAC "+l.pc.MAC().String()+" matches") {
		t.Errorf("power after the wake: %+v", p)
	}
	if len(ev.TCP) != 1 || ev.TCP[0].Port != sunshinePort || ev.TCP[0].Outcome != "open" || ev.Sunshine.Hostname != "PC" ||
		ev.Neighbour == nil || ev.Neighbour.Identity != "match" || ev.Neighbour.MAC != l.pc.MAC().String() {
		t.Errorf("evidence %s", p.Evidence)
	}
	if d := ev.At.Sub(st.PortOpen); d > time.Second {
		t.Errorf("Sunshine seen %s after its port opened (or later: the first round that saw it may be older), want within 1 s", d)
	}
	t.Logf("wake: request to verified %s (the hub says %q); magic packet to address up %s (boot delay); address up to verified %s; Sunshine port open to seen by the hub ≤ %s; %d magic packets seen by the PC; steps %q",
		took.Round(time.Millisecond), a.Detail, st.UpAt.Sub(a.CreatedAt).Round(time.Millisecond),
		verified.Sub(st.UpAt).Round(time.Millisecond), ev.At.Sub(st.PortOpen).Round(time.Millisecond), st.Magic, stepKinds(a))
	h := l.hp.history(t, "pc")
	if s := states(h); !containsRun(s, []string{"off", "waking", "on"}) {
		t.Errorf("history %q, want off → waking → on", s)
	}
	// A wake of a PC that is on sends nothing and says so.
	again, _ := l.hp.act(t, "pc", "wake")
	if again.Status != "succeeded" || !strings.Contains(again.Detail, "already") || len(again.Steps) != 0 {
		t.Errorf("second wake: %+v", again)
	}
	if st2 := l.pc.Stats(); st2.Magic != st.Magic {
		t.Errorf("the second wake sent %d magic packets", st2.Magic-st.Magic)
	}
}

// TestShutdownVerified shuts the PC down through its paired agent: the
// agent runs its command (the override that makes the PC power off), and
// the hub says "succeeded" only once its probes see the PC off.
func TestShutdownVerified(t *testing.T) {
	t.Parallel()
	l := newPCLAN(t, pcOptions{})
	l.bootAndPair(t)

	a, took := l.hp.act(t, "pc", "shutdown")
	st := l.pc.Stats()
	if a.Status != "succeeded" || !regexp.MustCompile(`^pc is off after [0-9.]+m?s$`).MatchString(a.Detail) {
		t.Fatalf("shutdown: %s %q; steps %+v", a.Status, a.Detail, a.Steps)
	}
	if st.Commands["poweroff"] != 1 {
		t.Fatalf("pc after the shutdown: %+v, state %s", st, l.pc.State())
	}
	// Its address is gone (the hub saw it so); the emulator may still be
	// reaping the ip command that removed it.
	l.pc.waitState(t, pcOff, 10*time.Second)
	first := a.Steps[0]
	if first.Kind != "command" || first.Via != "agent" || first.Error != "" || !strings.HasPrefix(first.Target, "shutdown: accepted") {
		t.Errorf("first step %+v", first)
	}
	if last := a.Steps[len(a.Steps)-1]; last.Kind != "verify" || last.Target != "off" {
		t.Errorf("last step %+v", last)
	}
	verified := *a.FinishedAt
	t.Logf("shutdown: request to verified %s (the hub says %q); request to the PC off %s; PC off to verified %s; steps %q",
		took.Round(time.Millisecond), a.Detail, st.OffAt.Sub(a.CreatedAt).Round(time.Millisecond),
		verified.Sub(st.OffAt).Round(time.Millisecond), stepKinds(a))
	if verified.Before(st.OffAt) {
		t.Errorf("verified at %s, before the PC went off at %s", verified, st.OffAt)
	}
	// The PC was off within ~150 ms, but the hub may take longer than its
	// 2 s deadline to be sure (a probe round at a silent address lasts as
	// long as its Sunshine request, 2 s), and then sends the command
	// again. The agent is gone by then, so that retry must have failed:
	// the hub never delivered a second shutdown.
	for _, s := range a.Steps[1:] {
		if s.Kind == "command" && !strings.Contains(s.Error, "not connected") {
			t.Errorf("a second command reached the agent: %+v", s)
		}
	}
	// Off, the agent's link down, and once a probe round after the end
	// has ended, nothing pending.
	l.hp.waitPower(t, "pc", 3*time.Second, "off with nothing pending", func(p wirePower) bool {
		return p.State == "off" && p.Agent != nil && !p.Agent.Connected && p.Pending == nil
	})
	if s := states(l.hp.history(t, "pc")); !containsRun(s, []string{"shutting-down", "off"}) {
		t.Errorf("history %q, want shutting-down → off", s)
	}
	if !strings.Contains(l.pc.AgentLog(), "carrying out a power command from the hub") {
		t.Errorf("the agent did not say it carried the command out:\n%s", l.pc.AgentLog())
	}
}

// TestShutdownBroken gives the PC an agent whose shutdown does nothing:
// the agent accepts the command, runs it, and the PC stays on. The hub
// retries once at the deadline, then says "failed" and notifies the
// webhook, all within twice its deadline.
func TestShutdownBroken(t *testing.T) {
	t.Parallel()
	l := newPCLAN(t, pcOptions{BrokenShutdown: true})
	l.bootAndPair(t)

	start := time.Now()
	a, took := l.hp.act(t, "pc", "shutdown")
	msg := l.hook.wait(t, "shutdown.failed", "pc", 10*time.Second)
	if a.Status != "failed" || !strings.HasPrefix(a.Detail, "pc is still ") {
		t.Errorf("shutdown: %s %q", a.Status, a.Detail)
	}
	var commands int
	for _, s := range a.Steps {
		if s.Kind == "command" {
			commands++
			if s.Via != "agent" || s.Error != "" || !strings.HasPrefix(s.Target, "shutdown: accepted") {
				t.Errorf("step %+v", s)
			}
		}
	}
	if commands != 2 {
		t.Errorf("%d commands sent, want 2 (one retry); steps %q", commands, stepKinds(a))
	}
	failedIn := a.FinishedAt.Sub(a.CreatedAt)
	notified := msg.received.Sub(*a.FinishedAt)
	t.Logf("broken shutdown: request to failed %s (deadline %s, so 2× is %s); failure to webhook %s; request to webhook %s; detail %q",
		failedIn.Round(time.Millisecond), shutdownDeadline, 2*shutdownDeadline, notified.Round(time.Millisecond),
		msg.received.Sub(start).Round(time.Millisecond), a.Detail)
	if failedIn < 2*shutdownDeadline-100*time.Millisecond || took > 2*shutdownDeadline+3*time.Second {
		t.Errorf("failed %s after the request (answered in %s), want about %s", failedIn, took, 2*shutdownDeadline)
	}
	if d := msg.received.Sub(start); d > 2*shutdownDeadline+3*time.Second {
		t.Errorf("webhook %s after the request", d)
	}
	if msg.Action == nil || msg.Action.ID != a.ID || msg.Action.Status != "failed" || msg.Text != a.Detail || !strings.Contains(msg.Title, "pc") {
		t.Errorf("webhook message %+v", msg)
	}
	if st := l.pc.Stats(); st.Commands["poweroff"] != 0 || l.pc.State() != pcOn {
		t.Errorf("pc: %+v, state %s", st, l.pc.State())
	}
	if n := strings.Count(l.pc.AgentLog(), "carrying out a power command from the hub"); n != 2 {
		t.Errorf("the agent carried out %d commands, want 2:\n%s", n, l.pc.AgentLog())
	}
	// Still up, and once the next probe round has ended, with nothing
	// pending.
	l.hp.waitPower(t, "pc", 3*time.Second, "up, with its agent and nothing pending", func(p wirePower) bool {
		return up(p.State) && p.Pending == nil && p.Agent != nil && p.Agent.Connected
	})
}

// TestReusedIP lets another device take the PC's address while the PC is
// off (DHCP gave it away) and answer on Sunshine's port, even with a copy
// of the PC's Sunshine identity: the hub must not believe the PC is on,
// and must say why; a wake must not be verified by the impostor. The PC's
// NIC ignores magic packets here (think Fast Startup), so the address
// stays the other device's.
func TestReusedIP(t *testing.T) {
	t.Parallel()
	l := newPCLAN(t, pcOptions{NoWake: true})
	phone := l.lan.AddHost("phone", l.pc.prefix.String())
	var ln net.Listener
	err := phone.Do(func() error {
		var err error
		ln, err = net.Listen("tcp", fmt.Sprintf(":%d", sunshinePort))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: sunshineHandler(l.pc.hostname, l.pc.uniqueID, l.pc.Addr()), ReadHeaderTimeout: 5 * time.Second}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-served
	})

	phoneMAC := phone.MAC().String()
	p := l.hp.waitPower(t, "pc", 10*time.Second, "naming the phone's MAC", func(p wirePower) bool {
		return strings.Contains(p.Reason, phoneMAC)
	})
	t.Logf("state %s: %s", p.State, p.Reason)
	if p.State != "off" && p.State != "unknown" {
		t.Errorf("state %s (%s), want off or unknown", p.State, p.Reason)
	}
	// And it stays so.
	for end := time.Now().Add(1500 * time.Millisecond); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if p := l.hp.power(t, "pc"); up(p.State) {
			t.Fatalf("the phone at the PC's address made it look %s: %s", p.State, p.Reason)
		}
	}

	a, took := l.hp.act(t, "pc", "wake")
	t.Logf("wake with the address taken: %s in %s: %q", a.Status, took.Round(time.Millisecond), a.Detail)
	if a.Status != "failed" || !strings.Contains(a.Detail, "not seen on within "+wakeDeadline.String()) {
		t.Errorf("wake: %s %q, want failed at the deadline", a.Status, a.Detail)
	}
	if st := l.pc.Stats(); st.Magic < 1 || st.Boots != 0 {
		t.Errorf("pc: %+v; want magic packets received and no boot", st)
	}
	if slices.ContainsFunc(states(l.hp.history(t, "pc")), up) {
		t.Errorf("history %q: the PC was said to be up", states(l.hp.history(t, "pc")))
	}
	l.hook.wait(t, "wake.failed", "pc", 5*time.Second)
}

// TestHubRestartMidAction kills the hub right after it accepted a wake of
// the PC, which boots 2 s after the first magic packet, and starts it
// again: the same action ends with the truth (the PC came up: succeeded,
// after a "resume" step), never stuck running.
func TestHubRestartMidAction(t *testing.T) {
	t.Parallel()
	l := newPCLAN(t, pcOptions{BootDelay: 2 * time.Second})
	var a wireAction
	l.hp.must(t, http.StatusAccepted, "POST", "/api/v1/machines/pc/wake", l.hp.admin, nil).decode(t, &a)
	if a.Status != "running" {
		t.Fatalf("wake: %+v", a)
	}
	if code := l.hp.signal(syscall.SIGKILL); code != -1 {
		t.Fatalf("hub exited %d, want killed", code)
	}
	killed := time.Now()
	l.restartHub(t)
	restarted := time.Now()
	// The restarted hub knows a wake is under way: it probes fast and says
	// "waking", not "off".
	p := l.hp.waitPower(t, "pc", 5*time.Second, "probed", func(p wirePower) bool { return p.Reason != "not probed yet" })
	// (Unless the PC had come up already: then the round may have seen it.)
	if l.pc.Stats().UpAt.IsZero() && (p.Pending == nil || p.Pending.Kind != "wake" || p.State != "waking") {
		t.Errorf("power of the PC with a wake resumed: %s (%s), pending %+v", p.State, p.Reason, p.Pending)
	}

	var got wireAction
	for deadline := time.Now().Add(wakeDeadline + 5*time.Second); ; time.Sleep(50 * time.Millisecond) {
		got = wireAction{}
		l.hp.must(t, http.StatusOK, "GET", "/api/v1/actions/"+a.ID, l.hp.admin, nil).decode(t, &got)
		if got.Status != "running" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("action %s still running %s after the restart: %+v", a.ID, time.Since(restarted), got)
		}
	}
	st := l.pc.Stats()
	t.Logf("restart: killed %s after the request, hub back %s later; PC up %s after the request; action ended %s after it: %s %q, steps %q",
		killed.Sub(a.CreatedAt).Round(time.Millisecond), restarted.Sub(killed).Round(time.Millisecond),
		st.UpAt.Sub(a.CreatedAt).Round(time.Millisecond), got.FinishedAt.Sub(a.CreatedAt).Round(time.Millisecond),
		got.Status, got.Detail, stepKinds(got))
	if got.ID != a.ID || got.Status != "succeeded" || !onAfter.MatchString(got.Detail) {
		t.Errorf("action after the restart: %+v", got)
	}
	kinds := stepKinds(got)
	if !slices.Contains(kinds, "resume") || kinds[len(kinds)-1] != "verify" || kinds[0] != "send" {
		t.Errorf("steps %q, want send … resume … verify", kinds)
	}
	if st.Boots != 1 || got.FinishedAt.Before(st.UpAt) {
		t.Errorf("pc %+v; action finished at %s", st, got.FinishedAt)
	}
	l.hp.waitPower(t, "pc", 3*time.Second, "up with nothing pending", func(p wirePower) bool {
		return up(p.State) && p.Pending == nil
	})
	var list struct{ Actions []wireAction }
	l.hp.must(t, http.StatusOK, "GET", "/api/v1/actions", l.hp.admin, nil).decode(t, &list)
	if len(list.Actions) != 1 || list.Actions[0].ID != a.ID {
		t.Errorf("actions after the restart: %+v", list.Actions)
	}
}

// TestReplay captures, as an attacker on the LAN would (the switch's
// bridge in promiscuous mode, every frame), the traffic of a pairing and
// of a real shutdown: hub and agent speak plain HTTP here, so every byte
// of the link is visible. With the PC on again, it replays what it
// captured:
//
//  1. the agent's whole side of the link connection, byte for byte, to
//     the hub, pretending to be the agent: the hub must refuse it (its
//     challenge is fresh, the captured signature is for another one);
//  2. the pairing request, byte for byte: refused, the code was used;
//  3. the hub's side to the agent. The agent dials out and listens on
//     nothing, so the attacker must be the server it dials (as with ARP
//     or DNS spoofing): the agent is pointed at a fake hub written here,
//     which plays, connection after connection:
//     a. the captured challenge, then the captured command: without the
//     hub's private key the attacker cannot answer the agent's fresh
//     nonce, and the agent hangs up;
//     b. a fresh handshake signed with the real hub's key (which a LAN
//     attacker does not have: this isolates the replay protection from
//     the authentication), then the captured command verbatim: refused,
//     it belongs to another session;
//     c. the same, with the captured command's session id rewritten to
//     the new one: refused, the signature no longer matches;
//     d. a control: a command freshly signed for the session. The agent
//     carries it out and the PC goes off, which proves the fake hub
//     speaks the protocol, so a–c were refused by the agent's checks
//     and not by a flaw of the test.
//
// Until d, the PC must stay on: no replay shut it down.
func TestReplay(t *testing.T) {
	t.Parallel()
	l := newPCLAN(t, pcOptions{})
	mallory := l.lan.AddHost("mallory")
	hubAddr := netip.AddrPortFrom(l.hub.Addr(), hubPort)
	capture := startBridgeCapture(t, l.lan)

	l.bootAndPair(t)
	a, _ := l.hp.act(t, "pc", "shutdown")
	if a.Status != "succeeded" || l.pc.Stats().Commands["poweroff"] != 1 {
		t.Fatalf("the real shutdown: %s %q, pc %+v", a.Status, a.Detail, l.pc.Stats())
	}
	streams := capture.stop(t)

	// The captured connections to the hub: the pairing request, and the
	// link (the one upgraded to a WebSocket).
	var pairReq, linkUp, linkDown []byte
	for k, s := range streams {
		if k.dst != hubAddr {
			continue
		}
		switch {
		case bytes.HasPrefix(s, []byte("POST "+uplink.PairPath+" ")):
			pairReq = s
		case bytes.HasPrefix(s, []byte("GET "+uplink.Path+" ")) && bytes.Contains(streams[flow{k.dst, k.src}], []byte("command")):
			linkUp, linkDown = s, streams[flow{k.dst, k.src}]
		}
	}
	if pairReq == nil || linkUp == nil {
		t.Fatalf("the capture holds no pairing request or no link with a command; %d streams", len(streams))
	}
	upMsgs, err := wsMessages(linkUp)
	if err != nil {
		t.Fatalf("agent → hub: %v", err)
	}
	down, err := wsMessages(linkDown)
	if err != nil {
		t.Fatalf("hub → agent: %v", err)
	}
	capturedChallenge := findFrame(t, down, "challenge")
	capturedCommand := findFrame(t, down, "command")
	var cmd uplink.Command
	if err := json.Unmarshal(capturedCommand.Payload, &cmd); err != nil || cmd.Name != "shutdown" {
		t.Fatalf("captured command %s: %v", capturedCommand.raw, err)
	}
	findFrame(t, upMsgs, "hello")
	findFrame(t, upMsgs, "auth")
	t.Logf("captured: pairing request %d bytes; link %d bytes up (%d messages), %d down (%d messages)",
		len(pairReq), len(linkUp), len(upMsgs), len(linkDown), len(down))
	// Nothing on the wire lets the attacker do better than replay: neither
	// private key crossed it, in any encoding, nor the admin token.
	st, err := agent.ReadState(l.pc.statePath())
	if err != nil {
		t.Fatal(err)
	}
	hubKey := readHubKey(t, l.data)
	for what, secret := range map[string][]byte{"the agent's key": st.PrivateKey, "the hub's key": hubKey.Seed(), "the admin token": []byte(l.hp.admin)} {
		for _, enc := range [][]byte{secret, []byte(base64.StdEncoding.EncodeToString(secret)), []byte(base64.RawURLEncoding.EncodeToString(secret)), []byte(hex.EncodeToString(secret))} {
			for k, s := range streams {
				if bytes.Contains(s, enc) {
					t.Errorf("%s crossed the LAN, %s → %s", what, k.src, k.dst)
				}
			}
		}
	}

	// The PC is on again; its agent links up in a new session.
	l.pc.PowerOn(t)
	before := l.hp.waitPower(t, "pc", 10*time.Second, "on with its agent linked", func(p wirePower) bool {
		return p.Agent != nil && p.Agent.Connected && up(p.State)
	})

	// 1. The agent's side, replayed to the hub byte for byte.
	resp := rawExchange(t, mallory, hubAddr, linkUp, 3*time.Second)
	if !bytes.HasPrefix(resp, []byte("HTTP/1.1 101 ")) {
		t.Fatalf("the hub answered the replayed upgrade with %q", firstLine(resp))
	}
	got, err := wsMessages(resp)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, f := range got {
		types = append(types, f.Type)
	}
	if !slices.Equal(types, []string{"challenge", "error"}) || got[1].Error != "authentication failed" {
		t.Errorf("the hub answered the replayed link with %q (%+v)", types, got)
	}
	if bytes.Equal(got[0].Nonce, capturedChallenge.Nonce) || bytes.Equal(got[0].Session, capturedChallenge.Session) {
		t.Errorf("the hub's challenge repeats the captured one")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := l.hp.stderr.WaitFor(ctx, "link refused", nil); err != nil {
		t.Errorf("the hub did not log the refused link: %v", err)
	}

	// 2. The pairing request, byte for byte.
	resp = rawExchange(t, mallory, hubAddr, pairReq, 3*time.Second)
	if line := firstLine(resp); !strings.HasPrefix(line, "HTTP/1.1 401 ") {
		t.Errorf("the replayed pairing request got %q, want 401", line)
	}
	if p := l.hp.power(t, "pc"); p.Agent == nil || !p.Agent.Connected || p.Agent.ID != before.Agent.ID || !up(p.State) {
		t.Errorf("after the replays to the hub: %+v (before: agent %+v)", p, before.Agent)
	}

	// 3. The hub's side, replayed to the agent by a fake hub.
	fh := &fakeHub{
		hubKey: hubKey, peerPub: st.Key().Public().(ed25519.PublicKey),
		challenge: capturedChallenge.raw, command: capturedCommand,
		results: make(chan string, 8),
	}
	fakeURL := fh.start(t, mallory)
	l.pc.SetHub(t, fakeURL)
	for _, want := range []string{
		"a: agent refused the replayed challenge",
		"b: agent closed the session on the replayed command",
		"c: agent closed the session on the re-addressed command",
	} {
		select {
		case r := <-fh.results:
			if r != want {
				t.Errorf("fake hub: %s\nwant: %s", r, want)
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("fake hub: no result for %q\nagent log:\n%s", want, l.pc.AgentLog())
		}
		if st := l.pc.Stats(); st.Commands["poweroff"] != 1 || l.pc.State() != pcOn {
			t.Fatalf("after %q: the PC %s, %+v", want, l.pc.State(), st)
		}
	}
	select {
	case r := <-fh.results:
		if r != "d: agent accepted the fresh command" {
			t.Errorf("fake hub, control: %s", r)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("fake hub: no control result\nagent log:\n%s", l.pc.AgentLog())
	}
	l.pc.waitState(t, pcOff, 5*time.Second)
	if st := l.pc.Stats(); st.Commands["poweroff"] != 2 {
		t.Errorf("after the control command: %+v", st)
	}
	for _, s := range []string{"protocol violation", "not the paired hub"} {
		if !strings.Contains(l.pc.AgentLog(), s) {
			t.Errorf("the agent did not log %q", s)
		}
	}
}

// firstLine returns b's first line.
func firstLine(b []byte) string {
	line, _, _ := bytes.Cut(b, []byte("\r\n"))
	return string(line)
}

// flow is one direction of a TCP connection.
type flow struct{ src, dst netip.AddrPort }

// bridgeCapture records every IPv4 frame crossing a LAN's bridge.
type bridgeCapture struct {
	mu     sync.Mutex
	frames [][]byte
	done   chan struct{}
	ended  chan struct{}
}

// startBridgeCapture puts the LAN's bridge in promiscuous mode, so that a
// packet socket on it sees the frames it forwards between hosts (a mirror
// port, in switch terms), and records them.
func startBridgeCapture(t *testing.T, lan *testlan.LAN) *bridgeCapture {
	t.Helper()
	sw := lan.Switch()
	if _, err := sw.Run(t.Context(), "ip", "link", "set", "br0", "promisc", "on"); err != nil {
		t.Fatal(err)
	}
	rx, err := sw.ListenRaw("br0", 0x0800)
	if err != nil {
		t.Fatal(err)
	}
	c := &bridgeCapture{done: make(chan struct{}), ended: make(chan struct{})}
	go func() {
		defer close(c.ended)
		for {
			select {
			case <-c.done:
				return
			default:
			}
			if d, err := rx.Next(50 * time.Millisecond); err == nil {
				c.mu.Lock()
				c.frames = append(c.frames, d.Data)
				c.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		select {
		case <-c.done:
		default:
			close(c.done)
		}
		<-c.ended
	})
	return c
}

// stop ends the capture and reassembles the TCP streams it saw, by
// direction, from their SYN.
func (c *bridgeCapture) stop(t *testing.T) map[flow][]byte {
	t.Helper()
	time.Sleep(100 * time.Millisecond) // what is in flight
	close(c.done)
	<-c.ended
	type seg struct {
		seq  uint32
		data []byte
	}
	isn := map[flow]uint32{}
	segs := map[flow][]seg{}
	for _, b := range c.frames {
		f, err := testlan.ParseFrame(b)
		if err != nil || f.EtherType != 0x0800 {
			continue
		}
		p := f.Payload
		if len(p) < 20 || p[0]>>4 != 4 || p[9] != 6 {
			continue
		}
		ihl, total := int(p[0]&0x0f)*4, int(binary.BigEndian.Uint16(p[2:4]))
		if total > len(p) || total < ihl+20 {
			continue
		}
		tcp := p[ihl:total]
		off := int(tcp[12]>>4) * 4
		if off < 20 || off > len(tcp) {
			continue
		}
		k := flow{
			netip.AddrPortFrom(netip.AddrFrom4([4]byte(p[12:16])), binary.BigEndian.Uint16(tcp[0:2])),
			netip.AddrPortFrom(netip.AddrFrom4([4]byte(p[16:20])), binary.BigEndian.Uint16(tcp[2:4])),
		}
		seq := binary.BigEndian.Uint32(tcp[4:8])
		if tcp[13]&0x02 != 0 { // SYN
			isn[k] = seq
		}
		if len(tcp) > off {
			segs[k] = append(segs[k], seg{seq, tcp[off:]})
		}
	}
	out := map[flow][]byte{}
	for k, ss := range segs {
		start, ok := isn[k]
		if !ok {
			continue // began before the capture
		}
		sort.Slice(ss, func(i, j int) bool { return ss[i].seq-start < ss[j].seq-start })
		var b []byte
		next := uint32(1)
		for _, s := range ss {
			rel := s.seq - start
			end := rel + uint32(len(s.data))
			if end <= next {
				continue // a retransmission
			}
			if rel > next {
				break // a gap: a frame the capture missed
			}
			b = append(b, s.data[next-rel:]...)
			next = end
		}
		out[k] = b
	}
	return out
}

// linkFrame is a link message as it crosses the wire (see package link).
type linkFrame struct {
	V       int             `json:"v"`
	Type    string          `json:"type"`
	Purpose string          `json:"purpose,omitempty"`
	Peer    string          `json:"peer,omitempty"`
	Nonce   []byte          `json:"nonce,omitempty"`
	Session []byte          `json:"session,omitempty"`
	Seq     uint64          `json:"seq,omitempty"`
	Payload json.RawMessage `json:"payload,omitempty"`
	Sig     []byte          `json:"sig,omitempty"`
	Error   string          `json:"error,omitempty"`
	raw     []byte
}

// wsMessages reads an HTTP/1.1 upgrade (request or response) and the
// WebSocket frames after it, and returns the text messages, unmasked and
// parsed as link frames.
func wsMessages(stream []byte) ([]linkFrame, error) {
	_, rest, ok := bytes.Cut(stream, []byte("\r\n\r\n"))
	if !ok {
		return nil, errors.New("no end of the HTTP header")
	}
	var out []linkFrame
	var msg []byte
	for len(rest) > 0 {
		if len(rest) < 2 {
			return out, errors.New("truncated frame header")
		}
		fin, op := rest[0]&0x80 != 0, rest[0]&0x0f
		if rest[0]&0x70 != 0 {
			return out, errors.New("a frame with RSV bits (compression?)")
		}
		masked, n := rest[1]&0x80 != 0, uint64(rest[1]&0x7f)
		rest = rest[2:]
		switch n {
		case 126:
			if len(rest) < 2 {
				return out, errors.New("truncated length")
			}
			n, rest = uint64(binary.BigEndian.Uint16(rest)), rest[2:]
		case 127:
			if len(rest) < 8 {
				return out, errors.New("truncated length")
			}
			n, rest = binary.BigEndian.Uint64(rest), rest[8:]
		}
		var key []byte
		if masked {
			if len(rest) < 4 {
				return out, errors.New("truncated mask")
			}
			key, rest = rest[:4], rest[4:]
		}
		if uint64(len(rest)) < n {
			break // the connection ended mid-frame
		}
		payload := append([]byte(nil), rest[:n]...)
		rest = rest[n:]
		for i := range payload {
			if masked {
				payload[i] ^= key[i%4]
			}
		}
		if op >= 8 { // close, ping, pong
			continue
		}
		msg = append(msg, payload...)
		if !fin {
			continue
		}
		var f linkFrame
		if op != 1 || json.Unmarshal(msg, &f) != nil {
			return out, fmt.Errorf("a message that is not a link frame: %q", msg)
		}
		f.raw, msg = msg, nil
		out = append(out, f)
	}
	return out, nil
}

// findFrame returns the first frame of a type.
func findFrame(t *testing.T, fs []linkFrame, typ string) linkFrame {
	t.Helper()
	for _, f := range fs {
		if f.Type == typ {
			return f
		}
	}
	t.Fatalf("no %s frame captured", typ)
	return linkFrame{}
}

// rawExchange connects from h to addr, writes b, and returns what comes
// back until the other side closes or wait passes.
func rawExchange(t *testing.T, h *testlan.Host, addr netip.AddrPort, b []byte, wait time.Duration) []byte {
	t.Helper()
	var c net.Conn
	err := h.Do(func() error {
		var err error
		c, err = net.DialTimeout("tcp", addr.String(), 2*time.Second)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(wait))
	if _, err := c.Write(b); err != nil {
		t.Fatalf("replay to %s: %v", addr, err)
	}
	out, _ := io.ReadAll(bufio.NewReader(c)) // until EOF or the deadline
	return out
}

// readHubKey reads the hub's private key from its data directory.
func readHubKey(t *testing.T, data string) ed25519.PrivateKey {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(data, "hub.key"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatal("hub.key: not PEM")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(ed25519.PrivateKey)
}

// fakeHub is the attacker's server for the agent to dial: it speaks the
// link protocol from its description in package link, written again here
// (so the test does not borrow the code it checks), and plays one
// scenario per connection, reporting each outcome on results.
type fakeHub struct {
	hubKey    ed25519.PrivateKey
	peerPub   ed25519.PublicKey
	challenge []byte    // captured, verbatim
	command   linkFrame // captured
	results   chan string

	mu sync.Mutex
	n  int
}

// start serves the fake hub on h's address, port hubPort, and returns its
// URL.
func (fh *fakeHub) start(t *testing.T, h *testlan.Host) string {
	t.Helper()
	addr := netip.AddrPortFrom(h.Addr(), hubPort)
	var ln net.Listener
	err := h.Do(func() error {
		var err error
		ln, err = net.Listen("tcp", addr.String())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, BaseContext: func(net.Listener) context.Context { return ctx }}
	srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != uplink.Path {
			http.NotFound(w, r)
			return
		}
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{uplink.Subprotocol}})
		if err != nil {
			return
		}
		defer c.CloseNow()
		fh.mu.Lock()
		fh.n++
		n := fh.n
		fh.mu.Unlock()
		rctx, rcancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer rcancel()
		var res string
		switch n {
		case 1:
			res = fh.replayChallenge(rctx, c)
		case 2:
			res = fh.replayCommand(rctx, c, false)
		case 3:
			res = fh.replayCommand(rctx, c, true)
		case 4:
			res = fh.control(rctx, c)
		default:
			return
		}
		fh.results <- res
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		cancel()
		srv.Close()
		<-done
	})
	return "http://" + addr.String()
}

func (fh *fakeHub) read(ctx context.Context, c *websocket.Conn) (linkFrame, error) {
	typ, b, err := c.Read(ctx)
	if err != nil {
		return linkFrame{}, err
	}
	var f linkFrame
	if typ != websocket.MessageText || json.Unmarshal(b, &f) != nil {
		return f, fmt.Errorf("not a link frame: %q", b)
	}
	f.raw = b
	return f, nil
}

func (fh *fakeHub) write(ctx context.Context, c *websocket.Conn, f any) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // the payload's bytes are signed
	if err := enc.Encode(f); err != nil {
		return err
	}
	return c.Write(ctx, websocket.MessageText, bytes.TrimSuffix(b.Bytes(), []byte("\n")))
}

// a: the captured challenge, then the captured command.
func (fh *fakeHub) replayChallenge(ctx context.Context, c *websocket.Conn) string {
	hello, err := fh.read(ctx, c)
	if err != nil || hello.Type != "hello" {
		return fmt.Sprintf("a: no hello: %v %+v", err, hello)
	}
	if err := c.Write(ctx, websocket.MessageText, fh.challenge); err != nil {
		return "a: write challenge: " + err.Error()
	}
	answer, err := fh.read(ctx, c)
	// Sent anyway: the agent must not act on it, whatever state it is in.
	_ = c.Write(ctx, websocket.MessageText, fh.command.raw)
	if err != nil || answer.Type != "error" || answer.Error != "authentication failed" {
		return fmt.Sprintf("a: agent answered the replayed challenge with %+v, %v", answer, err)
	}
	return "a: agent refused the replayed challenge"
}

// session is what a handshake binds a link session to.
type session struct {
	purpose, peer         string
	peerPub, hubPub       []byte
	nonceP, nonceH, sesID []byte
}

func lp(b, p []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(p)))
	return append(b, p...)
}

const sigDomain = "moonwake-link-v1\x00"

func (s *session) handshakeInput(label string) []byte {
	b := []byte(sigDomain + label + "\x00")
	for _, p := range [][]byte{[]byte(s.purpose), []byte(s.peer), s.peerPub, s.hubPub, s.nonceP, s.nonceH, s.sesID} {
		b = lp(b, p)
	}
	return b
}

func (s *session) messageInput(typ string, seq uint64, payload []byte) []byte {
	b := []byte(sigDomain + "msg:" + typ + "\x00")
	for _, p := range [][]byte{[]byte(s.purpose), []byte(s.peer), s.sesID, s.nonceP, s.nonceH, binary.BigEndian.AppendUint64(nil, seq)} {
		b = lp(b, p)
	}
	return lp(b, payload)
}

// handshake opens a session as the real hub would, with its key, and
// checks the agent's signature (which also checks this reimplementation).
func (fh *fakeHub) handshake(ctx context.Context, c *websocket.Conn) (*session, error) {
	hello, err := fh.read(ctx, c)
	if err != nil || hello.Type != "hello" {
		return nil, fmt.Errorf("no hello: %v %+v", err, hello)
	}
	s := &session{
		purpose: hello.Purpose, peer: hello.Peer, peerPub: fh.peerPub, hubPub: fh.hubKey.Public().(ed25519.PublicKey),
		nonceP: hello.Nonce, nonceH: randomBytes(32), sesID: randomBytes(16),
	}
	err = fh.write(ctx, c, linkFrame{V: 1, Type: "challenge", Nonce: s.nonceH, Session: s.sesID,
		Sig: ed25519.Sign(fh.hubKey, s.handshakeInput("hub-challenge"))})
	if err != nil {
		return nil, err
	}
	auth, err := fh.read(ctx, c)
	if err != nil || auth.Type != "auth" {
		return nil, fmt.Errorf("no auth: %v %+v", err, auth)
	}
	if !ed25519.Verify(fh.peerPub, s.handshakeInput("peer-auth"), auth.Sig) {
		return nil, errors.New("the agent's signature does not verify: the test's transcript is wrong")
	}
	return s, fh.write(ctx, c, linkFrame{V: 1, Type: "welcome", Session: s.sesID})
}

// untilEnd reads until the agent closes the session; it reports any
// result frame, which would mean the agent took a command.
func (fh *fakeHub) untilEnd(ctx context.Context, c *websocket.Conn) (closed bool, results []string) {
	for {
		f, err := fh.read(ctx, c)
		if err != nil {
			return websocket.CloseStatus(err) == websocket.StatusPolicyViolation, results
		}
		if f.Type == "result" || f.Type == "outcome" {
			results = append(results, string(f.raw))
		}
	}
}

// b and c: the captured command in a fresh session, verbatim or with its
// session id rewritten.
func (fh *fakeHub) replayCommand(ctx context.Context, c *websocket.Conn, readdress bool) string {
	name := "b"
	if readdress {
		name = "c"
	}
	s, err := fh.handshake(ctx, c)
	if err != nil {
		return name + ": handshake: " + err.Error()
	}
	f := fh.command
	f.raw = nil
	what := "replayed"
	if readdress {
		f.Session = s.sesID
		what = "re-addressed"
	}
	if err := fh.write(ctx, c, f); err != nil {
		return name + ": write: " + err.Error()
	}
	closed, results := fh.untilEnd(ctx, c)
	if !closed || len(results) > 0 {
		return fmt.Sprintf("%s: after the %s command the agent closed=%v (want a policy violation), results %q", name, what, closed, results)
	}
	return name + ": agent closed the session on the " + what + " command"
}

// d: a command freshly signed for the session.
func (fh *fakeHub) control(ctx context.Context, c *websocket.Conn) string {
	s, err := fh.handshake(ctx, c)
	if err != nil {
		return "d: handshake: " + err.Error()
	}
	payload, _ := json.Marshal(uplink.Command{ID: "control", Name: "shutdown"})
	err = fh.write(ctx, c, linkFrame{V: 1, Type: "command", Session: s.sesID, Seq: 1, Payload: payload,
		Sig: ed25519.Sign(fh.hubKey, s.messageInput("command", 1, payload))})
	if err != nil {
		return "d: write: " + err.Error()
	}
	for {
		f, err := fh.read(ctx, c)
		if err != nil {
			return "d: no result: " + err.Error()
		}
		if f.Type != "result" {
			continue
		}
		var r uplink.Result
		if json.Unmarshal(f.Payload, &r) != nil || !r.OK || r.CommandID != "control" {
			return fmt.Sprintf("d: result %s", f.Payload)
		}
		if !ed25519.Verify(fh.peerPub, s.messageInput("result", f.Seq, f.Payload), f.Sig) {
			return "d: the result's signature does not verify"
		}
		return "d: agent accepted the fresh command"
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// TestSleepVerifiedAsleep puts a PC whose network card answers ARP while
// it sleeps (Windows ARP offload) to sleep through its agent: TCP, ping
// and the agent go silent, ARP does not. The sleep succeeds, and its
// outcome says asleep, not just off; the hub shows the PC off and asleep.
// A wake then wakes it as from off (never "already on"). A shutdown of the
// same PC, whose address then goes, says plain off.
func TestSleepVerifiedAsleep(t *testing.T) {
	t.Parallel()
	l := newPCLAN(t, pcOptions{ARPOffload: true})
	l.bootAndPair(t)

	a, took := l.hp.act(t, "pc", "sleep")
	t.Logf("sleep: %s %q in %s; steps %q", a.Status, a.Detail, took.Round(time.Millisecond), stepKinds(a))
	if a.Status != "succeeded" || !regexp.MustCompile(`^pc is asleep after [0-9.]+m?s: nothing answers but its network card \(ARP\)$`).MatchString(a.Detail) {
		t.Fatalf("sleep: %s %q; steps %+v", a.Status, a.Detail, a.Steps)
	}
	if last := a.Steps[len(a.Steps)-1]; last.Kind != "verify" || last.Target != "asleep" {
		t.Errorf("last step %+v", last)
	}
	if st := l.pc.Stats(); st.Commands["sleep"] != 1 || st.Commands["poweroff"] != 0 {
		t.Fatalf("pc after the sleep: %+v", st)
	}
	p := l.hp.waitPower(t, "pc", 5*time.Second, "off and asleep", func(p wirePower) bool {
		return p.State == "off" && p.Asleep && p.Pending == nil
	})
	if !strings.Contains(p.Reason, "asleep (network card answers)") || !strings.Contains(string(p.Evidence), `"answered":true`) {
		t.Errorf("power %s; evidence %s", p, p.Evidence)
	}

	w, _ := l.hp.act(t, "pc", "wake")
	if w.Status != "succeeded" || strings.Contains(w.Detail, "already") || !strings.HasPrefix(w.Detail, "pc is on after") {
		t.Fatalf("wake of a sleeping PC: %s %q", w.Status, w.Detail)
	}
	if st := l.pc.Stats(); st.Magic == 0 || st.Boots != 2 {
		t.Errorf("pc after the wake: %+v", st)
	}
	l.hp.waitPower(t, "pc", 10*time.Second, "on with its agent linked", func(p wirePower) bool {
		return up(p.State) && !p.Asleep && p.Agent != nil && p.Agent.Connected
	})

	s, _ := l.hp.act(t, "pc", "shutdown")
	if s.Status != "succeeded" || !regexp.MustCompile(`^pc is off after [0-9.]+m?s$`).MatchString(s.Detail) {
		t.Fatalf("shutdown: %s %q", s.Status, s.Detail)
	}
	p = l.hp.waitPower(t, "pc", 5*time.Second, "off", func(p wirePower) bool { return p.State == "off" && p.Pending == nil })
	if p.Asleep || strings.Contains(p.Reason, "asleep") {
		t.Errorf("a PC off says asleep: %s", p)
	}

	// Its sleep, woken, then off: in that order in the history.
	if h := states(l.hp.history(t, "pc")); !containsRun(h, []string{"shutting-down", "off", "waking", "on"}) {
		t.Errorf("history %q", h)
	}
}
