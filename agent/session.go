package agent

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// UserSession reports whether a user is logged in to this machine:
//   - Windows: an active or disconnected (switched-away, RDP-disconnected)
//     session with a user in it (WTSEnumerateSessions), the services'
//     session 0 aside;
//   - Linux: a logind session of class "user" that is not closing
//     (loginctl), remote ones (SSH) included; without logind, the utmp
//     records `who` prints;
//   - macOS: a record in `who` (the console user or a terminal login).
//
// A desktop's greeter or lock screen is not a user session; a locked
// session is. The error says the question could not be answered.
func UserSession() (bool, error) {
	return userSession()
}

// ErrUnavailable is in the chain of errors from IdleTime and UserSession
// when the OS cannot tell (no logind, a service that cannot see the
// user's input, no user session at all).
var ErrUnavailable = errors.New("unavailable")

// loginSession is one logind session as `loginctl show-session` prints it.
type loginSession struct {
	id, name, typ, class, state, tty string
	remote, idleHint, active         bool
	idleSince                        time.Time // IdleSinceHint; zero when 0
	uid                              int       // User; 0 when unknown (or root)
}

// loginctlShowArgs asks loginctl for the properties loginSession holds.
var loginctlShowArgs = []string{
	"-p", "Id", "-p", "Name", "-p", "Type", "-p", "Class", "-p", "State", "-p", "TTY",
	"-p", "Remote", "-p", "IdleHint", "-p", "IdleSinceHint", "-p", "User", "-p", "Active",
}

// parseLoginctlList returns the session ids in `loginctl list-sessions
// --no-legend` output. Only the first column is read: the others changed
// between systemd versions.
func parseLoginctlList(out []byte) []string {
	var ids []string
	for line := range strings.SplitSeq(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || !validSessionID(f[0]) {
			continue // "No sessions." and the like
		}
		ids = append(ids, f[0])
	}
	return ids
}

// validSessionID accepts what logind uses as session ids: the audit
// session number ("2") or "c" and a counter ("c1"); letters and digits
// with at least one digit, so neither an option nor "No sessions.".
func validSessionID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	digit := false
	for _, r := range id {
		switch {
		case r >= '0' && r <= '9':
			digit = true
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		default:
			return false
		}
	}
	return digit
}

// parseLoginctlShow parses `loginctl show-session ID… -p …`: Key=Value
// lines, one block per session, blocks separated by a blank line.
func parseLoginctlShow(out []byte) ([]loginSession, error) {
	var sessions []loginSession
	var cur *loginSession
	flush := func() {
		if cur != nil && cur.id != "" {
			sessions = append(sessions, *cur)
		}
		cur = nil
	}
	for line := range strings.SplitSeq(string(out), "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.TrimSpace(line) == "" {
			flush()
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		if cur == nil {
			cur = &loginSession{}
		}
		switch k {
		case "Id":
			cur.id = v
		case "Name":
			cur.name = v
		case "Type":
			cur.typ = v
		case "Class":
			cur.class = v
		case "State":
			cur.state = v
		case "TTY":
			cur.tty = v
		case "Remote":
			cur.remote = v == "yes"
		case "IdleHint":
			cur.idleHint = v == "yes"
		case "Active":
			cur.active = v == "yes"
		case "User":
			if uid, err := strconv.ParseUint(v, 10, 31); err == nil {
				cur.uid = int(uid)
			}
		case "IdleSinceHint":
			us, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("loginctl: IdleSinceHint=%q: %w", v, err)
			}
			if us > 0 && us < 1<<62 {
				cur.idleSince = time.UnixMicro(int64(us))
			}
		}
	}
	flush()
	return sessions, nil
}

// isUserSession tells a person's session from a greeter, a lock screen,
// a user manager or a lingering session whose user has gone.
func (s loginSession) isUserSession() bool {
	return (s.class == "" || s.class == "user" || strings.HasPrefix(s.class, "user-")) &&
		s.state != "closing"
}

// graphical returns the active graphical session of a user (x11,
// wayland, mir), where a notification reaches the person at the PC.
func graphical(sessions []loginSession) (loginSession, bool) {
	for _, s := range sessions {
		if s.isUserSession() && s.active && !s.remote && s.uid > 0 &&
			(s.typ == "x11" || s.typ == "wayland" || s.typ == "mir") {
			return s, true
		}
	}
	return loginSession{}, false
}

// loggedIn reports whether any of the sessions is a user's.
func loggedIn(sessions []loginSession) bool {
	for _, s := range sessions {
		if s.isUserSession() {
			return true
		}
	}
	return false
}

// loginIdle is how long the users' sessions have been idle at now: the
// least idle session counts. logind's hints differ by session type:
//   - graphical (x11, wayland, mir): the desktop sets IdleHint, and
//     IdleSinceHint is when it last changed; a session not marked idle
//     counts as 0 (GNOME marks a session idle after its idle-delay, 5
//     minutes by default; a desktop that never sets it is never idle);
//   - tty (consoles and SSH): logind derives both from the terminal's last
//     access, so IdleSinceHint is the last input even when not yet idle.
func loginIdle(sessions []loginSession, now time.Time) (time.Duration, error) {
	best, found := time.Duration(0), false
	for _, s := range sessions {
		if !s.isUserSession() {
			continue
		}
		var idle time.Duration
		switch {
		case s.idleHint && !s.idleSince.IsZero():
			idle = now.Sub(s.idleSince)
		case !s.idleHint && s.typ == "tty" && !s.idleSince.IsZero():
			idle = now.Sub(s.idleSince)
		}
		idle = max(idle, 0)
		if !found || idle < best {
			best, found = idle, true
		}
	}
	if !found {
		return 0, fmt.Errorf("idle time %w: no user session", ErrUnavailable)
	}
	return best, nil
}

// parseWho counts the login records in `who` output ("alice console
// Nov 25 09:12", "bob ttys001 …"): the first field is a user name.
func parseWho(out []byte) int {
	n := 0
	for line := range strings.SplitSeq(string(out), "\n") {
		if f := strings.Fields(line); len(f) >= 2 {
			n++
		}
	}
	return n
}

// winSession is one Windows Terminal Services session.
type winSession struct {
	id    uint32
	state uint32 // WTS_CONNECTSTATE_CLASS
	user  string // WTSUserName; "" for none
}

// WTS_CONNECTSTATE_CLASS values that mean a user is logged on.
const (
	wtsActive       = 0 // at the console or connected over RDP, locked or not
	wtsDisconnected = 4 // switched away from (fast user switching) or RDP gone
)

// winLoggedIn reports whether a user is logged on: a session with a user
// name that is active or disconnected; session 0 (services) never counts.
func winLoggedIn(sessions []winSession) bool {
	for _, s := range sessions {
		if s.id != 0 && s.user != "" && (s.state == wtsActive || s.state == wtsDisconnected) {
			return true
		}
	}
	return false
}

// loginctlSessions lists logind's sessions through loginctl (argv only;
// the ids passed back are validated).
func loginctlSessions(ctx context.Context, run sysRunner) ([]loginSession, error) {
	out, err := run(ctx, "loginctl", "list-sessions", "--no-legend", "--no-pager")
	if err != nil {
		return nil, err
	}
	ids := parseLoginctlList(out)
	if len(ids) == 0 {
		return nil, nil
	}
	args := append([]string{"show-session", "--no-pager"}, loginctlShowArgs...)
	args = append(args, ids...)
	out, err = run(ctx, "loginctl", args...)
	sessions, perr := parseLoginctlShow(out)
	if perr != nil {
		return nil, perr
	}
	// A session that ended between the two calls makes show-session fail
	// while it still prints the others.
	if err != nil && len(sessions) == 0 {
		return nil, err
	}
	return sessions, nil
}

// linuxUserSession answers UserSession from logind, or from utmp (`who`)
// where there is no logind.
func linuxUserSession(ctx context.Context, run sysRunner) (bool, error) {
	sessions, err := loginctlSessions(ctx, run)
	if err == nil {
		return loggedIn(sessions), nil
	}
	out, werr := run(ctx, "who")
	if werr != nil {
		return false, fmt.Errorf("user session %w: loginctl: %w; who: %w", ErrUnavailable, err, werr)
	}
	return parseWho(out) > 0, nil
}

// linuxIdleTime answers IdleTime from logind.
func linuxIdleTime(ctx context.Context, run sysRunner, now func() time.Time) (time.Duration, error) {
	sessions, err := loginctlSessions(ctx, run)
	if err != nil {
		return 0, fmt.Errorf("idle time %w: logind: %w", ErrUnavailable, err)
	}
	return loginIdle(sessions, now())
}
