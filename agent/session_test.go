package agent

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseLoginctlList(t *testing.T) {
	tests := map[string][]string{
		"list-252.txt":   {"3", "c1", "7"},
		"list-256.txt":   {"2", "4"},
		"list-empty.txt": nil,
	}
	for file, want := range tests {
		got := parseLoginctlList(readFixture(t, "loginctl/"+file))
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: %q, want %q", file, got, want)
		}
	}
	if got := parseLoginctlList([]byte("No sessions.\n--help x\n")); len(got) != 0 {
		t.Errorf("junk: %q", got)
	}
}

func TestParseLoginctlShow(t *testing.T) {
	sessions, err := parseLoginctlShow(readFixture(t, "loginctl/show-desktop-ssh-greeter.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(sessions) != 3 {
		t.Fatalf("sessions = %+v", sessions)
	}
	want := loginSession{id: "3", name: "alice", typ: "wayland", class: "user", state: "active", tty: "tty2",
		idleHint: true, idleSince: time.UnixMicro(1732525200000000)}
	if !sessions[0].idleSince.Equal(want.idleSince) {
		t.Errorf("idleSince = %v", sessions[0].idleSince)
	}
	sessions[0].idleSince = want.idleSince
	if sessions[0] != want {
		t.Errorf("first = %+v\nwant    %+v", sessions[0], want)
	}
	if g := sessions[1]; g.class != "greeter" || !g.idleSince.IsZero() {
		t.Errorf("greeter = %+v", g)
	}
	if s := sessions[2]; !s.remote || s.typ != "tty" || s.idleHint {
		t.Errorf("ssh = %+v", s)
	}
	if _, err := parseLoginctlShow([]byte("Id=1\nIdleSinceHint=yesterday\n")); err == nil {
		t.Error("bad IdleSinceHint parsed")
	}
}

func TestLoggedInAndIdle(t *testing.T) {
	// The fixtures' times: alice's desktop idle since 09:00:00 UTC, her
	// SSH terminal last used 09:30:00.
	now := time.Date(2024, 11, 25, 9, 40, 0, 0, time.UTC)
	load := func(file string) []loginSession {
		s, err := parseLoginctlShow(readFixture(t, "loginctl/"+file))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	tests := []struct {
		file     string
		loggedIn bool
		idle     time.Duration
		idleErr  bool
	}{
		// Desktop idle 40 min, SSH terminal used 10 min ago: 10 min.
		{"show-desktop-ssh-greeter.txt", true, 10 * time.Minute, false},
		// A graphical session not marked idle is in use.
		{"show-desktop-busy.txt", true, 0, false},
		{"show-greeter-only.txt", false, 0, true},
		{"show-closing.txt", false, 0, true},
	}
	for _, tt := range tests {
		s := load(tt.file)
		if got := loggedIn(s); got != tt.loggedIn {
			t.Errorf("%s: loggedIn = %v", tt.file, got)
		}
		idle, err := loginIdle(s, now)
		if tt.idleErr {
			if !errors.Is(err, ErrUnavailable) {
				t.Errorf("%s: idle %v, %v; want ErrUnavailable", tt.file, idle, err)
			}
			continue
		}
		if err != nil || idle != tt.idle {
			t.Errorf("%s: idle = %v, %v; want %v", tt.file, idle, err, tt.idle)
		}
	}
	// Only the idle desktop: 40 minutes.
	s := load("show-desktop-ssh-greeter.txt")[:1]
	if idle, err := loginIdle(s, now); err != nil || idle != 40*time.Minute {
		t.Errorf("desktop alone: %v, %v", idle, err)
	}
	// A clock behind the hint never gives a negative idle time.
	if idle, _ := loginIdle(s, now.Add(-2*time.Hour)); idle != 0 {
		t.Errorf("clock behind: %v", idle)
	}
}

func TestLinuxUserSessionAndIdle(t *testing.T) {
	ctx := context.Background()
	show := "loginctl show-session --no-pager " + strings.Join(loginctlShowArgs, " ") + " 3 c1 7"
	r := &fakeRunner{answers: map[string]string{
		"loginctl list-sessions --no-legend --no-pager": string(readFixture(t, "loginctl/list-252.txt")),
		show: string(readFixture(t, "loginctl/show-desktop-ssh-greeter.txt")),
	}}
	if ok, err := linuxUserSession(ctx, r.run); err != nil || !ok {
		t.Errorf("logind: %v, %v (calls %q)", ok, err, r.calls)
	}
	now := func() time.Time { return time.Date(2024, 11, 25, 9, 40, 0, 0, time.UTC) }
	if idle, err := linuxIdleTime(ctx, r.run, now); err != nil || idle != 10*time.Minute {
		t.Errorf("idle: %v, %v", idle, err)
	}

	// No sessions at all.
	r = &fakeRunner{answers: map[string]string{"loginctl list-sessions --no-legend --no-pager": ""}}
	if ok, err := linuxUserSession(ctx, r.run); err != nil || ok {
		t.Errorf("no sessions: %v, %v", ok, err)
	}
	if _, err := linuxIdleTime(ctx, r.run, now); !errors.Is(err, ErrUnavailable) {
		t.Errorf("no sessions: idle err = %v", err)
	}

	// No logind: who decides; idle time is unavailable.
	r = &fakeRunner{answers: map[string]string{"who": string(readFixture(t, "who/mac.txt"))}}
	if ok, err := linuxUserSession(ctx, r.run); err != nil || !ok {
		t.Errorf("who: %v, %v", ok, err)
	}
	if _, err := linuxIdleTime(ctx, r.run, now); !errors.Is(err, ErrUnavailable) {
		t.Errorf("no logind: idle err = %v", err)
	}
	r = &fakeRunner{}
	if _, err := linuxUserSession(ctx, r.run); !errors.Is(err, ErrUnavailable) {
		t.Errorf("nothing: %v", err)
	}
}

func TestParseWho(t *testing.T) {
	if n := parseWho(readFixture(t, "who/mac.txt")); n != 2 {
		t.Errorf("mac: %d", n)
	}
	if n := parseWho(readFixture(t, "who/empty.txt")); n != 0 {
		t.Errorf("empty: %d", n)
	}
}

func TestWinLoggedIn(t *testing.T) {
	tests := []struct {
		name     string
		sessions []winSession
		want     bool
	}{
		{"services only", []winSession{{id: 0, state: 4, user: ""}}, false},
		{"login screen", []winSession{{id: 0, state: 4}, {id: 1, state: wtsActive, user: ""}}, false},
		{"console user", []winSession{{id: 0, state: 4}, {id: 1, state: wtsActive, user: "alice"}}, true},
		{"switched away", []winSession{{id: 2, state: wtsDisconnected, user: "bob"}}, true},
		{"listener", []winSession{{id: 65536, state: 6 /* WTSListen */, user: ""}}, false},
		{"session 0 user", []winSession{{id: 0, state: wtsActive, user: "SYSTEM"}}, false},
	}
	for _, tt := range tests {
		if got := winLoggedIn(tt.sessions); got != tt.want {
			t.Errorf("%s: %v", tt.name, got)
		}
	}
}

// FuzzParseLoginctlShow: any output parses or fails cleanly, and session
// ids come back as given.
func FuzzParseLoginctlShow(f *testing.F) {
	for _, name := range []string{"show-desktop-ssh-greeter.txt", "show-closing.txt", "show-desktop-busy.txt"} {
		f.Add(readFixture(f, "loginctl/"+name))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		sessions, err := parseLoginctlShow(b)
		if err != nil {
			return
		}
		for _, s := range sessions {
			if s.id == "" {
				t.Fatal("session without id")
			}
		}
		if idle, err := loginIdle(sessions, time.Now()); err == nil && idle < 0 {
			t.Fatalf("negative idle %v", idle)
		}
		_ = parseLoginctlList(b)
	})
}

func TestGraphicalSession(t *testing.T) {
	out := []byte("Id=c1\nName=gdm\nType=wayland\nClass=greeter\nState=online\nActive=yes\nUser=120\n\n" +
		"Id=4\nName=bob\nType=tty\nClass=user\nState=active\nRemote=yes\nActive=yes\nUser=1001\n\n" +
		"Id=3\nName=alice\nType=x11\nClass=user\nState=active\nActive=no\nUser=1000\n\n" +
		"Id=5\nName=carol\nType=wayland\nClass=user\nState=active\nActive=yes\nUser=1002\n")
	sessions, err := parseLoginctlShow(out)
	if err != nil {
		t.Fatal(err)
	}
	s, ok := graphical(sessions)
	if !ok || s.name != "carol" || s.uid != 1002 {
		t.Fatalf("graphical = %+v, %v", s, ok)
	}
	if _, ok := graphical(sessions[:3]); ok {
		t.Fatal("a greeter, a remote tty and an inactive session are no one at the desktop")
	}
}
