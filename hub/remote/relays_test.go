package remote

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/hub/sqlite"
	"github.com/moonwake/moonwake/internal/testlan"
	"github.com/moonwake/moonwake/probe"
	"github.com/moonwake/moonwake/relay"
	"github.com/moonwake/moonwake/uplink"
	"github.com/moonwake/moonwake/wol"
)

// t0 is when every test clock starts.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// clock is a settable time source, for the store and the relays.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Set sets the clock to t0+d.
func (c *clock) Set(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t0.Add(d)
}

// world is a hub's remote side on a real SQLite store, with a real uplink
// server that no peer dials: the tests drive the uplink's callbacks.
type world struct {
	t      *testing.T
	path   string
	key    ed25519.PrivateKey
	clock  *clock
	db     *sqlite.DB
	tokens *sqlite.TokenService
	r      *Remote
	log    *testlan.Buffer
}

func newWorld(t *testing.T) *world {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, path: filepath.Join(t.TempDir(), "moonwake.db"), key: key, clock: &clock{t: t0}}
	w.open()
	return w
}

// open opens the store and builds the remote side on it, as the hub does
// when it starts.
func (w *world) open() {
	w.t.Helper()
	ctx := context.Background()
	w.db = sqlite.NewDB(w.path)
	w.db.Now = w.clock.Now
	if err := w.db.Open(ctx); err != nil {
		w.t.Fatal(err)
	}
	db := w.db
	w.t.Cleanup(func() { db.Close() })
	w.tokens = sqlite.NewTokenService(w.db)
	w.log = new(testlan.Buffer)
	r, err := New(ctx, Options{
		Peers: sqlite.NewPeerService(w.db), Relays: sqlite.NewRelayStore(w.db), Tokens: w.tokens,
		Key: w.key, Now: w.clock.Now, Logger: slog.New(slog.NewTextHandler(w.log, nil)),
	})
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { r.Close() })
	w.r = r
}

// restart closes the store and the remote side and opens them again.
func (w *world) restart() {
	w.t.Helper()
	w.r.Close()
	if err := w.db.Close(); err != nil {
		w.t.Fatal(err)
	}
	w.open()
}

// token creates a token and returns its secret.
func (w *world) token(tok *moonwake.Token) string {
	w.t.Helper()
	secret, err := w.tokens.CreateToken(context.Background(), tok)
	if err != nil {
		w.t.Fatal(err)
	}
	return secret
}

// newPeer is a relay key as a relay generates it before enrolling.
func newPeer(t *testing.T) uplink.Peer {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return uplink.Peer{ID: uplink.NewPeerID(uplink.PurposeRelay), Purpose: uplink.PurposeRelay, PublicKey: pub}
}

// enrol enrols a relay called name with the enrolment token secret, at
// t0+at on the clock, through the store the hub's pairer uses.
func (w *world) enrol(secret, name string, at time.Duration) (*uplink.Peer, error) {
	w.clock.Set(at)
	store := w.r.pair.Store.(uplink.TokenEnroller)
	return store.EnrolRelay(context.Background(), secret, name, w.clock.Now(), newPeer(w.t))
}

// relay enrols a relay at t0+at and has it report nets; connected says
// whether its uplink then comes up.
func (w *world) relay(secret, name string, at time.Duration, connected bool, nets ...string) uplink.Peer {
	w.t.Helper()
	p, err := w.enrol(secret, name, at)
	if err != nil {
		w.t.Fatalf("enrol %s: %v", name, err)
	}
	if connected {
		w.r.onConnect(*p)
	}
	w.r.onReport(*p, uplink.Report{Networks: nets, Software: "moonwake test", Hostname: name + "-host"})
	return *p
}

// relays returns ListRelays by name.
func (w *world) relays() map[string]*moonwake.Relay {
	w.t.Helper()
	list, err := w.r.Relays.ListRelays(context.Background())
	if err != nil {
		w.t.Fatal(err)
	}
	out := map[string]*moonwake.Relay{}
	for i, r := range list {
		if i > 0 && list[i-1].Name >= r.Name {
			w.t.Errorf("ListRelays not by name: %s before %s", list[i-1].Name, r.Name)
		}
		out[r.Name] = r
	}
	return out
}

// route is one Route call and what it should answer.
type route struct {
	named, host string
	want        string // the relay; "" the hub itself
	err         string // the error's text; "" none
}

func checkRoutes(t *testing.T, rs *Relays, what string, routes []route) {
	t.Helper()
	for _, tc := range routes {
		got, err := rs.Route(tc.named, tc.host)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s: Route(%q, %q): %v, want %q", what, tc.named, tc.host, err, tc.want)
		case tc.err != "" && (err == nil || moonwake.ErrorMessage(err) != tc.err):
			t.Errorf("%s: Route(%q, %q) = %q, %v; want error %q", what, tc.named, tc.host, got, err, tc.err)
		case tc.err != "" && moonwake.ErrorCode(err) != moonwake.EUnavailable:
			t.Errorf("%s: Route(%q, %q): %v is %s, want unavailable", what, tc.named, tc.host, err, moonwake.ErrorCode(err))
		case got != tc.want:
			t.Errorf("%s: Route(%q, %q) = %q, want %q", what, tc.named, tc.host, got, tc.want)
		}
	}
}

// TestRoute routes machines to relays: the relay a machine names, else
// the oldest relay online whose network holds its address, with a
// younger one on the same network taking over while the older is
// offline; the hub itself for a DNS name or an address no relay serves;
// an error saying since when when every relay that serves it is offline.
func TestRoute(t *testing.T) {
	w := newWorld(t)
	enrol := w.token(&moonwake.Token{Name: "enrol", RelayEnrol: true})
	// Enrolled in this order, one minute apart; garage goes offline at
	// 12:03; shed never comes up after the hub started.
	attic := w.relay(enrol, "attic", 0, true, "192.168.1.0/24", "2001:db8:1::/64")
	basement := w.relay(enrol, "basement", time.Minute, true, "192.168.1.0/24")
	garage := w.relay(enrol, "garage", 2*time.Minute, true, "10.5.0.0/16")
	w.clock.Set(3 * time.Minute)
	w.r.onDisconnect(garage, nil)
	w.relay(enrol, "shed", 4*time.Minute, false, "10.6.0.0/16")
	// The first word wins over a prefix that only later relays claim:
	// zeta is younger than attic, though its name sorts first.
	w.relay(enrol, "a-zeta", 5*time.Minute, true, "192.168.0.0/16")

	rs := w.r.Relays
	garageOff := "relay garage offline since 2026-03-01T12:03:00Z"
	shedOff := "relay shed offline (not seen since the hub started)"
	checkRoutes(t, rs, "all up", []route{
		{named: "attic", host: "192.168.1.20", want: "attic"},
		{named: "basement", host: "192.168.1.20", want: "basement"}, // the machine's own choice wins
		{named: "basement", host: "pc.lan", want: "basement"},
		{named: "basement", want: "basement"},
		{named: "garage", host: "10.5.1.1", err: garageOff},
		{named: "garage", host: "192.168.1.20", err: garageOff}, // named and offline: no fallback
		{named: "shed", err: shedOff},
		{named: "ghost", host: "192.168.1.20", err: "relay ghost is not paired: pair it (moonwake relays pair ghost)"},
		{host: "192.168.1.20", want: "attic"},
		{host: "192.168.1.0", want: "attic"},
		{host: "192.168.1.255", want: "attic"},
		{host: "192.168.2.1", want: "a-zeta"},
		{host: "::ffff:192.168.1.20", want: "attic"},
		{host: "::ffff:c0a8:0114", want: "attic"},
		{host: "2001:db8:1::20", want: "attic"},
		{host: "2001:db8:1::20%eth0", want: "attic"},
		{host: "2001:db8:2::20", want: ""},
		{host: "10.5.1.1", err: garageOff},
		{host: "10.6.200.1", err: shedOff},
		{host: "10.7.0.1", want: ""},
		{host: "172.16.0.1", want: ""},
		{host: "127.0.0.1", want: ""},
		{host: "pc.lan", want: ""},
		{host: "192.168.1.20.nip.io", want: ""},
		{host: "192.168.1.20/24", want: ""},
		{host: "", want: ""},
	})

	// attic drops: basement, younger, takes 192.168.1.0/24 over, and
	// a-zeta's wider prefix does not; attic's IPv6 LAN has no one else.
	w.clock.Set(10 * time.Minute)
	w.r.onDisconnect(attic, nil)
	atticOff := "relay attic offline since 2026-03-01T12:10:00Z"
	checkRoutes(t, rs, "attic offline", []route{
		{host: "192.168.1.20", want: "basement"},
		{host: "::ffff:192.168.1.20", want: "basement"},
		{host: "192.168.2.1", want: "a-zeta"},
		{host: "2001:db8:1::20", err: atticOff},
		{named: "attic", host: "192.168.1.20", err: atticOff},
	})

	// basement drops too: 192.168.1.0/24 falls to a-zeta, which claims
	// 192.168.0.0/16; then a-zeta drops, and the error names the oldest
	// relay of the address.
	w.clock.Set(11 * time.Minute)
	w.r.onDisconnect(basement, nil)
	checkRoutes(t, rs, "attic and basement offline", []route{
		{host: "192.168.1.20", want: "a-zeta"},
	})
	zeta := w.r.Relays.relays["a-zeta"]
	w.r.onDisconnect(uplink.Peer{ID: zeta.peerID, Purpose: uplink.PurposeRelay, Machine: "a-zeta"}, nil)
	checkRoutes(t, rs, "all of 192.168.1.0/24 offline", []route{
		{host: "192.168.1.20", err: atticOff},
		{host: "192.168.2.1", err: "relay a-zeta offline since 2026-03-01T12:11:00Z"},
	})

	// attic comes back: it serves its LAN again at once.
	w.clock.Set(12 * time.Minute)
	w.r.onConnect(attic)
	checkRoutes(t, rs, "attic back", []route{
		{host: "192.168.1.20", want: "attic"},
		{named: "attic", want: "attic"},
	})
	if got := w.relays()["attic"]; !got.Connected || !got.Since.Equal(t0.Add(12*time.Minute)) || got.LastSeen == nil {
		t.Errorf("attic back: %+v", got)
	}

	// RouteMachine is Route of the machine's relay and host.
	if got, err := rs.RouteMachine(&moonwake.Machine{Name: "pc", Host: "192.168.1.20", Relay: "ghost"}); err == nil {
		t.Errorf("RouteMachine to ghost: %q", got)
	}
	if got, err := rs.RouteMachine(&moonwake.Machine{Name: "pc", Host: "192.168.1.20"}); err != nil || got != "attic" {
		t.Errorf("RouteMachine: %q, %v", got, err)
	}

	// After a restart no relay is connected, and none has been seen.
	w.restart()
	checkRoutes(t, w.r.Relays, "restarted", []route{
		{host: "192.168.1.20", err: "relay attic offline (not seen since the hub started)"},
		{host: "10.5.1.1", err: "relay garage offline (not seen since the hub started)"},
		{named: "shed", err: shedOff},
		{host: "172.16.0.1", want: ""},
	})
	// Its key is still the one the store has: it comes up and serves.
	w.r.onConnect(attic)
	checkRoutes(t, w.r.Relays, "restarted, attic up", []route{
		{host: "192.168.1.20", want: "attic"},
	})
}

// TestRouteTieOnAge: two relays enrolled at the same instant on one
// network are ordered by name, so the choice does not change from one
// call to the next.
func TestRouteTieOnAge(t *testing.T) {
	w := newWorld(t)
	enrol := w.token(&moonwake.Token{Name: "enrol", RelayEnrol: true})
	w.relay(enrol, "lan-b", 0, true, "192.168.1.0/24")
	w.relay(enrol, "lan-a", 0, true, "192.168.1.0/24")
	for range 20 {
		checkRoutes(t, w.r.Relays, "tie", []route{{host: "192.168.1.20", want: "lan-a"}})
	}
	rs := w.relays()
	if len(rs["lan-a"].Standby) != 0 || !slices.Equal(rs["lan-b"].Standby, []string{"192.168.1.0/24"}) {
		t.Errorf("standby: lan-a %q, lan-b %q", rs["lan-a"].Standby, rs["lan-b"].Standby)
	}
}

// TestListRelaysStandby: a relay stands by for each of its networks that
// an older relay's network overlaps (the same, wider or narrower), online
// or not; its other networks it serves.
func TestListRelaysStandby(t *testing.T) {
	w := newWorld(t)
	enrol := w.token(&moonwake.Token{Name: "enrol", RelayEnrol: true})
	w.relay(enrol, "first", 0, true, "192.168.1.0/24", "10.0.0.0/16")
	w.relay(enrol, "same", time.Minute, true, "192.168.1.0/24")
	w.relay(enrol, "wider", 2*time.Minute, false, "192.168.0.0/16", "172.16.0.0/24")
	w.relay(enrol, "narrower", 3*time.Minute, true, "10.0.5.0/24", "10.1.0.0/16")
	w.relay(enrol, "alone", 4*time.Minute, true, "2001:db8::/64")
	w.relay(enrol, "quiet", 5*time.Minute, true)

	got := w.relays()
	for name, want := range map[string][]string{
		"first":    nil,
		"same":     {"192.168.1.0/24"},
		"wider":    {"192.168.0.0/16"},
		"narrower": {"10.0.5.0/24"},
		"alone":    nil,
		"quiet":    nil,
	} {
		r := got[name]
		if r == nil {
			t.Errorf("%s not listed", name)
			continue
		}
		if !slices.Equal(r.Standby, want) {
			t.Errorf("%s: standby %q, want %q", name, r.Standby, want)
		}
	}
	if len(got) != 6 {
		t.Errorf("%d relays listed", len(got))
	}
	first := got["first"]
	if !first.Connected || !slices.Equal(first.Networks, []string{"192.168.1.0/24", "10.0.0.0/16"}) ||
		first.Software != "moonwake test" || first.Hostname != "first-host" || !first.CreatedAt.Equal(t0) ||
		!first.Since.Equal(t0) || first.LastSeen == nil {
		t.Errorf("first: %+v", first)
	}
	if got["wider"].Connected || !got["wider"].Since.IsZero() {
		t.Errorf("wider: %+v", got["wider"])
	}
	if q := got["quiet"]; q.Networks == nil || len(q.Networks) != 0 {
		t.Errorf("quiet: networks %#v, want an empty list", q.Networks)
	}

	// The list is a copy.
	first.Networks[0] = "changed"
	first.Standby = append(first.Standby, "changed")
	if again := w.relays()["first"]; again.Networks[0] != "192.168.1.0/24" || len(again.Standby) != 0 {
		t.Errorf("ListRelays shares its state: %+v", again)
	}

	// What the relays said survives a restart, with their age (so the
	// standby), though none is connected.
	before := w.relays()
	w.restart()
	after := w.relays()
	for name, r := range before {
		a := after[name]
		if a == nil || a.Connected || !slices.Equal(a.Networks, r.Networks) || !slices.Equal(a.Standby, r.Standby) ||
			!a.CreatedAt.Equal(r.CreatedAt) || a.Software != r.Software {
			t.Errorf("%s after a restart: %+v, before %+v", name, a, r)
		}
	}
}

// TestReportNetworks: a relay's report sets its networks, masked, leaving
// out (with a warning) what is not a CIDR prefix; a report from a key the
// relay no longer has is ignored.
func TestReportNetworks(t *testing.T) {
	w := newWorld(t)
	enrol := w.token(&moonwake.Token{Name: "enrol", RelayEnrol: true})
	p := w.relay(enrol, "lan-a", 0, true,
		"192.168.1.0/24", "garbage", "10.0.0.1", "", "10.1.2.3/24", "2001:db8::1/64", "192.168.1.0/33", " 10.9.0.0/16", "fe80::/10%eth0")
	got := w.relays()["lan-a"]
	if want := []string{"192.168.1.0/24", "10.1.2.0/24", "2001:db8::/64"}; !slices.Equal(got.Networks, want) {
		t.Fatalf("networks %q, want %q", got.Networks, want)
	}
	if !strings.Contains(w.log.String(), `relay claimed networks it may not serve; ignored" relay=lan-a`) {
		t.Errorf("no warning in the log:\n%s", w.log)
	}
	for _, bad := range []string{`garbage (not a CIDR prefix)`, `10.0.0.1 (not a CIDR prefix)`, `192.168.1.0/33 (not a CIDR prefix)`} {
		if !strings.Contains(w.log.String(), bad) {
			t.Errorf("no warning for %s in the log:\n%s", bad, w.log)
		}
	}
	checkRoutes(t, w.r.Relays, "reported", []route{
		{host: "192.168.1.5", want: "lan-a"},
		{host: "10.1.2.200", want: "lan-a"},
		{host: "10.0.0.1", want: ""},
		{host: "10.9.0.1", want: ""},
	})

	// A new report replaces the networks; an empty one leaves none. A
	// network wider than a LAN (/16; IPv6 /48) is refused: a relay does
	// not take the world.
	w.r.onReport(p, uplink.Report{Networks: []string{"10.0.0.0/16", "10.0.0.0/8", "0.0.0.0/1", "2001:db8::/32"}, Software: "v2"})
	if got := w.relays()["lan-a"]; !slices.Equal(got.Networks, []string{"10.0.0.0/16"}) || got.Software != "v2" {
		t.Fatalf("after a second report: %+v", got)
	}
	checkRoutes(t, w.r.Relays, "second report", []route{{host: "192.168.1.5", want: ""}, {host: "10.0.0.1", want: "lan-a"}})

	// The relay enrols again (a new pod): the old key's report is ignored.
	p2, err := w.enrol(enrol, "lan-a", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	w.r.onReport(p, uplink.Report{Networks: []string{"172.16.0.0/12"}, Software: "stale"})
	w.r.onConnect(p)
	if got := w.relays()["lan-a"]; got.Connected || !slices.Equal(got.Networks, []string{"10.0.0.0/16"}) || got.Software != "v2" {
		t.Fatalf("the old key was heard: %+v", got)
	}
	w.r.onConnect(*p2)
	w.r.onReport(*p2, uplink.Report{Networks: []string{}})
	if got := w.relays()["lan-a"]; !got.Connected || len(got.Networks) != 0 || got.Networks == nil {
		t.Fatalf("after the new key's empty report: %+v", got)
	}
	w.restart()
	if got := w.relays()["lan-a"]; got == nil || len(got.Networks) != 0 {
		t.Fatalf("after a restart: %+v", got)
	}
}

// TestEnrolRelay: only an active relay enrolment token enrols a relay;
// admin, API and tap-link tokens, revoked ones and secrets that are no
// token are refused (EUnauthorized, logged), and nothing is stored.
// Enrolling again under a name replaces the relay's key and ends the old
// key's uplink.
func TestEnrolRelay(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	// A tap link is bound to a machine that exists.
	if err := sqlite.NewMachineService(w.db).CreateMachine(ctx, &moonwake.Machine{Name: "pc", MAC: "02:00:00:00:00:01"}); err != nil {
		t.Fatal(err)
	}
	enrol := w.token(&moonwake.Token{Name: "enrol", RelayEnrol: true})
	admin := w.token(&moonwake.Token{Name: "admin", Admin: true})
	phone := w.token(&moonwake.Token{Name: "phone", Actions: []string{moonwake.ActionWake}})
	link := w.token(&moonwake.Token{Name: "link", TapLink: true, Machines: []string{"pc"}, Actions: []string{moonwake.ActionWake}})
	revoked := w.token(&moonwake.Token{Name: "old-enrol", RelayEnrol: true})
	if _, err := w.tokens.RevokeToken(ctx, "old-enrol"); err != nil {
		t.Fatal(err)
	}

	for name, secret := range map[string]string{
		"admin token": admin, "wake token": phone, "tap link": link, "revoked enrolment token": revoked,
		"no token": "", "garbage": "mw_not-a-token", "another hub's": "mw_" + strings.Repeat("A", 43),
	} {
		p, err := w.enrol(secret, "lan-a", 0)
		if err == nil || moonwake.ErrorCode(err) != moonwake.EUnauthorized || moonwake.ErrorMessage(err) != "not an active relay enrolment token" {
			t.Errorf("%s: enrolled %+v, %v", name, p, err)
		}
	}
	if n := strings.Count(w.log.String(), "relay enrolment refused: not an active relay enrolment token"); n != 7 {
		t.Errorf("%d refusals logged, want 7:\n%s", n, w.log)
	}
	if got := w.relays(); len(got) != 0 {
		t.Fatalf("relays after refused enrolments: %+v", got)
	}
	if peers, err := sqlite.NewPeerService(w.db).ListPeers(ctx, uplink.PurposeRelay); err != nil || len(peers) != 0 {
		t.Fatalf("relay keys after refused enrolments: %+v, %v", peers, err)
	}
	// Refused before the name is looked at.
	if _, err := w.enrol(admin, "Bad Name", 0); moonwake.ErrorCode(err) != moonwake.EUnauthorized {
		t.Errorf("admin token, bad name: %v", err)
	}
	if _, err := w.enrol(enrol, "Bad Name", 0); moonwake.ErrorCode(err) != moonwake.EInvalid {
		t.Errorf("enrolment token, bad name: %v", err)
	}

	p1, err := w.enrol(enrol, "lan-a", 0)
	if err != nil {
		t.Fatal(err)
	}
	if p1.Purpose != uplink.PurposeRelay || p1.Machine != "lan-a" || !p1.PairedAt.Equal(t0) {
		t.Fatalf("enrolled %+v", p1)
	}
	if !strings.Contains(w.log.String(), `msg="relay enrolled" relay=lan-a token=enrol`) {
		t.Errorf("enrolment not logged:\n%s", w.log)
	}
	got := w.relays()
	if r := got["lan-a"]; len(got) != 1 || r == nil || r.Connected || !r.CreatedAt.Equal(t0) || r.Networks == nil {
		t.Fatalf("relays after enrolment: %+v", got)
	}
	w.r.onConnect(*p1)
	checkRoutes(t, w.r.Relays, "enrolled", []route{{named: "lan-a", want: "lan-a"}})

	// Again (a re-created pod): the new key replaces the old, and the
	// relay keeps its age.
	p2, err := w.enrol(enrol, "lan-a", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	peers := sqlite.NewPeerService(w.db)
	if _, err := peers.LookupPeer(ctx, p1.ID); moonwake.ErrorCode(err) != moonwake.ENotFound {
		t.Errorf("the old key is still known: %v", err)
	}
	if p, err := peers.LookupPeer(ctx, p2.ID); err != nil || p.Machine != "lan-a" {
		t.Errorf("the new key: %+v, %v", p, err)
	}
	if r := w.relays()["lan-a"]; r.Connected || !r.CreatedAt.Equal(t0) {
		t.Errorf("after enrolling again: %+v", r)
	}
	// (Since is not moved by the new key: the error gives the time the
	// old key came up.)
	if _, err := w.r.Relays.Route("lan-a", ""); !strings.HasPrefix(moonwake.ErrorMessage(err), "relay lan-a offline since ") {
		t.Errorf("enrolled again, not connected yet: %v", err)
	}

	// Through the pairer, as the route does it.
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	resp, err := w.r.pair.Pair(ctx, uplink.PairRequest{V: uplink.Version, Purpose: uplink.PurposeRelay, PublicKey: pub, Token: enrol, Name: "lan-b"})
	if err != nil || resp.Machine != "lan-b" || resp.Purpose != uplink.PurposeRelay {
		t.Fatalf("pair with the enrolment token: %+v, %v", resp, err)
	}
	if _, err := w.r.pair.Pair(ctx, uplink.PairRequest{V: uplink.Version, Purpose: uplink.PurposeRelay, PublicKey: pub, Token: revoked, Name: "lan-c"}); moonwake.ErrorCode(err) != moonwake.EUnauthorized {
		t.Errorf("pair with a revoked enrolment token: %v", err)
	}
	if _, err := w.r.pair.Pair(ctx, uplink.PairRequest{V: uplink.Version, Purpose: uplink.PurposeAgent, PublicKey: pub, Token: enrol, Name: "pc"}); moonwake.ErrorCode(err) != moonwake.EInvalid {
		t.Errorf("an agent with the enrolment token: %v", err)
	}
	if _, ok := w.relays()["lan-c"]; ok {
		t.Error("lan-c enrolled with a revoked token")
	}

	// Revoking the token stops new enrolments, not the relays enrolled.
	if _, err := w.tokens.RevokeToken(ctx, "enrol"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.enrol(enrol, "lan-d", 2*time.Hour); moonwake.ErrorCode(err) != moonwake.EUnauthorized {
		t.Errorf("enrol with the token revoked: %v", err)
	}
	if got := w.relays(); len(got) != 2 {
		t.Errorf("relays: %+v", got)
	}
}

// TestRelayPairingCode: a relay paired with a one-time code; pairing
// again replaces its key; DeleteRelay forgets it with its key.
func TestRelayPairingCode(t *testing.T) {
	w := newWorld(t)
	// The pairer redeems codes on the real clock (remote.New does not
	// give it Options.Now).
	w.clock.mu.Lock()
	w.clock.t = time.Now().UTC()
	w.clock.mu.Unlock()
	ctx := context.Background()
	rs := w.r.Relays
	if _, err := rs.NewRelayPairing(ctx, "Bad Name"); moonwake.ErrorCode(err) != moonwake.EInvalid {
		t.Errorf("bad name: %v", err)
	}
	pairing, err := rs.NewRelayPairing(ctx, "lan-a")
	if err != nil {
		t.Fatal(err)
	}
	if pairing.Relay != "lan-a" || pairing.HubFingerprint != w.r.Fingerprint() || !pairing.ExpiresAt.After(w.clock.Now()) {
		t.Fatalf("pairing %+v", pairing)
	}
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	// An agent cannot use a relay's code, and the code is then used up.
	if _, err := w.r.pair.Pair(ctx, uplink.PairRequest{V: uplink.Version, Code: pairing.Code, Purpose: uplink.PurposeAgent, PublicKey: pub}); err == nil {
		t.Fatal("an agent paired with a relay's code")
	}
	pairing, _ = rs.NewRelayPairing(ctx, "lan-a")
	resp, err := w.r.pair.Pair(ctx, uplink.PairRequest{V: uplink.Version, Code: pairing.Code, Purpose: uplink.PurposeRelay, PublicKey: pub})
	if err != nil {
		t.Fatal(err)
	}
	p := uplink.Peer{ID: resp.ID, Purpose: uplink.PurposeRelay, Machine: "lan-a"}
	w.r.onConnect(p)
	w.r.onReport(p, uplink.Report{Networks: []string{"192.168.1.0/24"}})
	checkRoutes(t, rs, "paired", []route{{host: "192.168.1.9", want: "lan-a"}})

	if err := rs.DeleteRelay(ctx, "lan-a"); err != nil {
		t.Fatal(err)
	}
	if err := rs.DeleteRelay(ctx, "lan-a"); moonwake.ErrorCode(err) != moonwake.ENotFound {
		t.Errorf("delete twice: %v", err)
	}
	if _, err := sqlite.NewPeerService(w.db).LookupPeer(ctx, resp.ID); moonwake.ErrorCode(err) != moonwake.ENotFound {
		t.Errorf("the deleted relay's key: %v", err)
	}
	checkRoutes(t, rs, "deleted", []route{
		{host: "192.168.1.9", want: ""},
		{named: "lan-a", err: "relay lan-a is not paired: pair it (moonwake relays pair lan-a)"},
	})
	// What the deleted relay's old uplink still says is ignored.
	w.r.onReport(p, uplink.Report{Networks: []string{"192.168.1.0/24"}})
	w.r.onConnect(p)
	if got := w.relays(); len(got) != 0 {
		t.Fatalf("relays after delete: %+v", got)
	}
	w.restart()
	if got := w.relays(); len(got) != 0 {
		t.Fatalf("relays after delete and restart: %+v", got)
	}
}

// TestOrdersWithoutAnUplink: wakes and probes of a relay whose uplink is
// not up fail, saying so; probes of machines no relay serves go to the
// hub's own prober; an unreachable relay's probe proves nothing.
func TestOrdersWithoutAnUplink(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	enrol := w.token(&moonwake.Token{Name: "enrol", RelayEnrol: true})
	// Connected as far as Relays knows, but no session on the uplink
	// server: the order cannot be sent.
	w.relay(enrol, "lan-a", 0, true, "192.168.1.0/24")
	garage := w.relay(enrol, "garage", time.Minute, true, "10.5.0.0/16")
	w.clock.Set(2 * time.Minute)
	w.r.onDisconnect(garage, nil)
	rs := w.r.Relays

	steps, sent, err := rs.Wake(ctx, "lan-a", &moonwake.Machine{Name: "pc", MAC: "aa:bb:cc:dd:ee:01", Host: "192.168.1.9"}, 2)
	if err == nil || moonwake.ErrorCode(err) != moonwake.EUnavailable || !strings.HasPrefix(moonwake.ErrorMessage(err), "relay lan-a: ") || steps != nil || sent != 0 {
		t.Errorf("wake through lan-a: %+v, %d, %v", steps, sent, err)
	}
	if _, _, err := rs.Wake(ctx, "ghost", &moonwake.Machine{Name: "pc", MAC: "aa:bb:cc:dd:ee:01"}, 2); moonwake.ErrorMessage(err) != "relay ghost is not paired" {
		t.Errorf("wake through ghost: %v", err)
	}

	var local []string
	probeFn := rs.Probe(func(ctx context.Context, tg probe.Target) moonwake.Evidence {
		local = append(local, tg.Name)
		return moonwake.Evidence{Addr: tg.Host}
	})
	for _, tc := range []struct {
		target    probe.Target
		local     bool
		errPrefix string
	}{
		{probe.Target{Name: "nas", Host: "172.16.0.9"}, true, ""},
		{probe.Target{Name: "dns", Host: "pc.lan"}, true, ""},
		{probe.Target{Name: "pc", Host: "192.168.1.9", Ports: []int{22}}, false, "relay lan-a: "},
		{probe.Target{Name: "car", Host: "10.5.0.9"}, false, "relay garage offline since 2026-03-01T12:02:00Z"},
		{probe.Target{Name: "named", Host: "172.16.0.9", Relay: "ghost"}, false, "relay ghost is not paired"},
	} {
		local = nil
		ev := probeFn(ctx, tc.target)
		if tc.local != (len(local) == 1) {
			t.Errorf("%s: probed locally %v, want %v", tc.target.Name, local, tc.local)
		}
		if tc.local {
			if ev.Error != "" || ev.Addr != tc.target.Host {
				t.Errorf("%s: evidence %+v", tc.target.Name, ev)
			}
			continue
		}
		if !strings.HasPrefix(ev.Error, tc.errPrefix) || ev.At.IsZero() || len(ev.TCP) != 0 || ev.ICMP != nil || ev.Neighbour != nil {
			t.Errorf("%s: evidence %+v, want only an error starting %q", tc.target.Name, ev, tc.errPrefix)
		}
	}
}

// TestRelayOverTheUplink runs a real relay (package relay) against this
// hub's remote side over the uplink on loopback: the relay enrols with
// the token, reports its network and carries out the wake and probe
// orders that Relays sends it. Its packets go to a fake network and its
// probes to a prober that reaches nothing.
func TestRelayOverTheUplink(t *testing.T) {
	w := newWorld(t)
	w.clock.mu.Lock()
	w.clock.t = time.Now().UTC()
	w.clock.mu.Unlock()
	enrol := w.token(&moonwake.Token{Name: "enrol", RelayEnrol: true})
	mux := http.NewServeMux()
	mux.Handle("GET "+uplink.Path, w.r.Uplink())
	mux.Handle("POST "+uplink.PairPath, w.r.Pair())
	srv := httptest.NewServer(mux)
	defer srv.Close()

	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(enrol+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var sent packets
	refuse := func(func() error) error { return errors.New("no network in unit tests") }
	prober := probe.NewProber(probe.ProberOptions{Timeout: 50 * time.Millisecond, Enter: refuse,
		Resolver: &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
			return nil, errors.New("no DNS in unit tests")
		}}})
	defer prober.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- relay.Run(ctx, relay.Options{
			StatePath: filepath.Join(dir, "relay.json"), Hub: srv.URL, Name: "lan-a", TokenFile: tokenFile,
			Interfaces: func() ([]wol.Iface, error) {
				return []wol.Iface{{Name: "eth0", Up: true, Broadcast: true, Prefixes: []netip.Prefix{netip.MustParsePrefix("192.168.1.10/24")}}}, nil
			},
			Sender: &wol.Sender{ListenPacket: sent.ListenPacket, Raw: func(string, []byte) error { return errors.New("no raw frames") }},
			Prober: prober, Software: "relay-test",
			Neighbours: func(context.Context) ([]probe.Neighbour, error) {
				return []probe.Neighbour{{IP: netip.MustParseAddr("192.168.1.9"), MAC: net.HardwareAddr{0xd8, 0xbb, 0xc1, 0, 0, 9}, Ifindex: 1, State: probe.NUDStale}}, nil
			},
		})
	}()
	stop := sync.OnceFunc(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("relay: %v", err)
		}
	})
	defer stop()

	rs := w.r.Relays
	deadline := time.Now().Add(10 * time.Second)
	for {
		if name, err := rs.Route("", "192.168.1.9"); err == nil && name == "lan-a" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the relay did not come up and report its network:\n%s", w.log)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if r := w.relays()["lan-a"]; !r.Connected || !slices.Equal(r.Networks, []string{"192.168.1.0/24"}) || r.Software != "relay-test" {
		t.Fatalf("relay %+v", r)
	}

	m := &moonwake.Machine{Name: "pc", MAC: "aa:bb:cc:dd:ee:01", Host: "192.168.1.9"}
	steps, n, err := rs.Wake(ctx, "lan-a", m, 2)
	if err != nil {
		t.Fatal(err)
	}
	var targets []string
	for _, s := range steps {
		targets = append(targets, s.Target)
		if s.Via != "relay lan-a udp" || s.Kind != "send" || s.Error != "" {
			t.Errorf("step %+v", s)
		}
	}
	if want := []string{"192.168.1.255:9", "192.168.1.9:9"}; n != 4 || !slices.Equal(targets, want) {
		t.Fatalf("wake: %d sent to %q, want 4 to %q", n, targets, want)
	}
	pkt, _ := (&wol.Packet{Target: net.HardwareAddr{0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x01}}).MarshalBinary()
	if got := sent.list(); len(got) != 4 || !bytes.Equal(got[0], pkt) {
		t.Fatalf("on the relay's LAN: %d packets", len(got))
	}
	_, _, err = rs.Wake(ctx, "lan-a", m, 0)
	if moonwake.ErrorMessage(err) != "relay lan-a refused: count 0: want 1 to 20" {
		t.Errorf("a bad order: %v", err)
	}

	ev := rs.Probe(func(context.Context, probe.Target) moonwake.Evidence {
		t.Error("probed from the hub")
		return moonwake.Evidence{}
	})(ctx, probe.Target{Name: "pc", Host: "192.168.1.9", Ports: []int{47989}, MAC: net.HardwareAddr{0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x01}})
	if ev.Error != "" || ev.Addr != "192.168.1.9" || len(ev.TCP) != 1 || ev.TCP[0].Port != 47989 || ev.TCP[0].Outcome == moonwake.OutcomeOpen || ev.Neighbour == nil {
		t.Fatalf("evidence from the relay: %+v", ev)
	}

	// Discovery: its neighbour table, and a sweep it refuses (not enabled
	// there) with the relay's own error code.
	tables := rs.Neighbours(ctx, false)
	if len(tables) != 1 || tables[0].Err != nil || len(tables[0].Report.Devices) != 1 || tables[0].Report.Devices[0].MAC != "d8:bb:c1:00:00:09" || tables[0].Report.Sweep {
		t.Fatalf("neighbours: %+v", tables)
	}
	if _, err := rs.Sweep(ctx, "lan-a", ""); moonwake.ErrorCode(err) != moonwake.EForbidden || !strings.Contains(moonwake.ErrorMessage(err), "not enabled") {
		t.Errorf("sweep where it is not enabled: %v", err)
	}
	if _, err := rs.Sweep(ctx, "ghost", ""); moonwake.ErrorCode(err) != moonwake.ENotFound {
		t.Errorf("sweep by an unknown relay: %v", err)
	}

	// The relay stops: its machines are unavailable, saying since when.
	stop()
	deadline = time.Now().Add(10 * time.Second)
	for {
		_, err := rs.Route("", "192.168.1.9")
		if err != nil && strings.HasPrefix(moonwake.ErrorMessage(err), "relay lan-a offline since ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Route after the relay stopped: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// packets is a fake network for a wol.Sender: it keeps what is written.
type packets struct {
	mu sync.Mutex
	b  [][]byte
}

func (p *packets) ListenPacket(network, address string) (net.PacketConn, error) {
	return &packetConn{p: p}, nil
}

func (p *packets) list() [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.b)
}

type packetConn struct {
	net.PacketConn // nil: only WriteTo and Close are used
	p              *packets
}

func (c *packetConn) WriteTo(b []byte, _ net.Addr) (int, error) {
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	c.p.b = append(c.p.b, bytes.Clone(b))
	return len(b), nil
}

func (c *packetConn) Close() error { return nil }
