package hub_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/hub"
	"github.com/moonwake/moonwake/hub/config"
	"github.com/moonwake/moonwake/hub/sqlite"
	"github.com/moonwake/moonwake/wol"
)

// loopbackOnly is the interface list the test hubs see: nothing a magic
// packet could be broadcast on, so only explicit loopback targets work.
func loopbackOnly() ([]wol.Iface, error) {
	return []wol.Iface{{Name: "lo", Up: true, Loopback: true}}, nil
}

// testHub is a hub serving on loopback with a temporary data directory.
type testHub struct {
	*hub.Hub
	t     *testing.T
	cfg   config.Config
	URL   string
	Admin string // the first admin token
	stop  context.CancelFunc
	done  chan error
}

func newConfig(t *testing.T) config.Config {
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.Data = t.TempDir()
	cfg.Wake.Count = 1
	cfg.RateLimit = config.RateLimit{PerMinute: 6000, Burst: 1000}
	off := false
	cfg.UI.ReverseDNS = &off // a lookup may leave the machine
	return cfg
}

// admins remembers the first admin token of each data directory, so a test
// that restarts a hub keeps using it.
var admins = map[string]string{}

func startHub(t *testing.T, cfg config.Config) *testHub {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	h := hub.New(cfg, log)
	h.Interfaces = loopbackOnly
	h.Resends = []time.Duration{20 * time.Millisecond, 40 * time.Millisecond}
	if err := h.Open(context.Background()); err != nil {
		h.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	th := &testHub{Hub: h, t: t, cfg: cfg, URL: "http://" + h.Addr().String(), Admin: h.AdminSecret, stop: cancel, done: make(chan error, 1)}
	if th.Admin != "" {
		admins[cfg.Data] = th.Admin
	}
	th.Admin = admins[cfg.Data]
	go func() { th.done <- h.Serve(ctx) }()
	t.Cleanup(th.Stop)
	return th
}

// Stop shuts the hub down gracefully; it may be called twice.
func (th *testHub) Stop() {
	if th.stop == nil {
		return
	}
	th.stop()
	if err := <-th.done; err != nil {
		th.t.Errorf("serve: %v", err)
	}
	if err := th.Close(); err != nil {
		th.t.Errorf("close: %v", err)
	}
	th.stop = nil
}

type answer struct {
	Status int
	Header http.Header
	Body   []byte
}

func (a answer) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(a.Body, v); err != nil {
		t.Fatalf("decode %s: %v", a.Body, err)
	}
}

func (th *testHub) do(method, path, token string, body any) answer {
	th.t.Helper()
	var r io.Reader
	if body != nil {
		if s, ok := body.(string); ok {
			r = strings.NewReader(s)
		} else {
			b, _ := json.Marshal(body)
			r = bytes.NewReader(b)
		}
	}
	req, err := http.NewRequest(method, th.URL+path, r)
	if err != nil {
		th.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := th.apiClient().Do(req) // checks the exchange against the OpenAPI description
	if err != nil {
		th.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, b}
}

func (th *testHub) must(want int, method, path, token string, body any) answer {
	th.t.Helper()
	a := th.do(method, path, token, body)
	if a.Status != want {
		th.t.Fatalf("%s %s: status %d, want %d: %s", method, path, a.Status, want, a.Body)
	}
	return a
}

// token creates a token through the API and returns its secret.
func (th *testHub) token(name string, machines, actions []string, admin bool) string {
	th.t.Helper()
	a := th.must(201, "POST", "/api/v1/tokens", th.Admin, map[string]any{"name": name, "machines": machines, "actions": actions, "admin": admin})
	var nt struct{ Secret string }
	a.decode(th.t, &nt)
	if !strings.HasPrefix(nt.Secret, "mw_") {
		th.t.Fatalf("secret %q", nt.Secret)
	}
	return nt.Secret
}

// receiver is a UDP socket on loopback that plays the sleeping machine.
type receiver struct {
	t    *testing.T
	conn *net.UDPConn
}

func newReceiver(t *testing.T) *receiver {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &receiver{t, c}
}

func (r *receiver) port() int { return r.conn.LocalAddr().(*net.UDPAddr).Port }

// next returns the next datagram, or nil after timeout.
func (r *receiver) next(timeout time.Duration) []byte {
	buf := make([]byte, 2048)
	r.conn.SetReadDeadline(time.Now().Add(timeout))
	n, _, err := r.conn.ReadFromUDP(buf)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil
		}
		r.t.Fatal(err)
	}
	return buf[:n]
}

// drain discards what has arrived.
func (r *receiver) drain() {
	for r.next(20*time.Millisecond) != nil {
	}
}

func (th *testHub) addMachine(name, mac string, r *receiver, extra map[string]any) {
	th.t.Helper()
	body := map[string]any{"name": name, "mac": mac, "broadcast": "127.0.0.1", "port": r.port()}
	for k, v := range extra {
		body[k] = v
	}
	th.must(201, "POST", "/api/v1/machines", th.Admin, body)
}

func wantPacket(t *testing.T, got []byte, mac, password string) {
	t.Helper()
	m, _ := wol.ParseMAC(mac)
	p := wol.Packet{Target: m}
	if password != "" {
		p.Password, _ = wol.ParsePassword(password)
	}
	want, _ := p.MarshalBinary()
	if !bytes.Equal(got, want) {
		t.Fatalf("packet\n got %x\nwant %x", got, want)
	}
}

func TestWakeSendsAndRecords(t *testing.T) {
	th := startHub(t, newConfig(t))
	r := newReceiver(t)
	th.addMachine("gaming-pc", "AA-BB-CC-DD-EE-01", r, map[string]any{"password": "01:02:03:04:05:06", "tags": []string{"Games"}})

	a := th.must(202, "POST", "/api/v1/machines/gaming-pc/wake", th.Admin, nil)
	wantPacket(t, r.next(2*time.Second), "aa:bb:cc:dd:ee:01", "010203040506")
	var act moonwake.Action
	a.decode(t, &act)
	if act.ID == "" || act.Machine != "gaming-pc" || act.Kind != "wake" || act.Actor.Name != "admin" || act.Actor.Addr != "127.0.0.1" {
		t.Fatalf("action %+v", act)
	}
	if a.Header.Get("Location") != "/api/v1/actions/"+act.ID {
		t.Fatalf("Location %q", a.Header.Get("Location"))
	}
	if len(act.Steps) < 1 || act.Steps[0].Target != "127.0.0.1:"+itoa(r.port()) || act.Steps[0].Error != "" {
		t.Fatalf("steps %+v", act.Steps)
	}
	act2 := th.waitDone(act.ID)
	if act2.Status != moonwake.StatusSucceeded || act2.FinishedAt == nil {
		t.Fatalf("action after: %+v", act2)
	}

	// The password is never shown back.
	m := th.must(200, "GET", "/api/v1/machines/gaming-pc", th.Admin, nil)
	if bytes.Contains(m.Body, []byte("0102")) || !bytes.Contains(m.Body, []byte(`"password_set":true`)) {
		t.Fatalf("machine JSON leaks or misses password state: %s", m.Body)
	}
	if !bytes.Contains(m.Body, []byte(`"tags":["games"]`)) {
		t.Fatalf("tags not normalized: %s", m.Body)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// waitDone polls an action until it ends.
func (th *testHub) waitDone(id string) moonwake.Action {
	th.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var got moonwake.Action
		th.must(200, "GET", "/api/v1/actions/"+id, th.Admin, nil).decode(th.t, &got)
		if got.Done() {
			return got
		}
		if time.Now().After(deadline) {
			th.t.Fatalf("action never ended: %+v", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestWakeUnverifiedResends(t *testing.T) {
	cfg := newConfig(t)
	cfg.Wake.Count = 2
	th := startHub(t, cfg)
	r := newReceiver(t)
	th.addMachine("pc", "aa:bb:cc:dd:ee:02", r, nil)
	a := th.must(202, "POST", "/api/v1/machines/pc/wake", th.Admin, nil)
	var act moonwake.Action
	a.decode(t, &act)
	if act.Status != moonwake.StatusRunning || act.Deadline == nil {
		t.Fatalf("status %s, want running while resends are due", act.Status)
	}
	// Pressing again is not tried here: this blind wake runs for 80ms, and
	// a loaded host may answer a second press after it ended. Joining is
	// power's TestWakeJoin, on a test clock.
	for i := 0; i < 6; i++ { // 3 bursts of 2
		if p := r.next(2 * time.Second); p == nil {
			t.Fatalf("packet %d not received", i+1)
		}
	}
	got := th.waitDone(act.ID)
	if got.Status != moonwake.StatusSucceeded || !strings.Contains(got.Detail, "not verified") {
		t.Fatalf("outcome %+v", got)
	}
	kinds := map[string]int{}
	for _, st := range got.Steps {
		kinds[st.Kind]++
	}
	if kinds["send"] != 3 {
		t.Fatalf("steps %+v", got.Steps)
	}
}

// routes lists every authenticated route with a path that exists.
var routes = []struct {
	method, path string
	admin        bool
	body         any
}{
	{"GET", "/api/v1/openapi.json", false, nil},
	{"GET", "/api/v1/me", false, nil},
	{"GET", "/api/v1/machines", false, nil},
	{"GET", "/api/v1/machines/pc", false, nil},
	{"GET", "/api/v1/actions", false, nil},
	{"GET", "/api/v1/actions/act_none", false, nil},
	{"POST", "/api/v1/actions/act_none/cancel", false, nil},
	{"POST", "/api/v1/machines", true, map[string]any{"name": "x", "mac": "aa:bb:cc:dd:ee:99", "broadcast": "127.0.0.1"}},
	{"PATCH", "/api/v1/machines/pc", true, map[string]any{"tags": []string{"a"}}},
	{"DELETE", "/api/v1/machines/other", true, nil},
	{"GET", "/api/v1/tokens", true, nil},
	{"POST", "/api/v1/tokens", true, map[string]any{"name": "new"}},
	{"DELETE", "/api/v1/tokens/nobody", true, nil},
	{"POST", "/api/v1/machines/pc/wake", false, nil},
	{"GET", "/wake?mac=aa:bb:cc:dd:ee:03", false, nil},
	{"POST", "/api/v1/machines/pc/shutdown", false, nil},
	{"POST", "/api/v1/machines/pc/reboot", false, nil},
	{"POST", "/api/v1/machines/pc/sleep", false, nil},
	{"POST", "/api/v1/machines/pc/hibernate", false, nil},
	{"GET", "/api/v1/machines/pc/history", false, nil},
	{"POST", "/api/v1/machines/pc/pair", true, nil},
	{"POST", "/api/v1/machines/pc/sunshine/pair", true, map[string]any{"pin": "1234"}},
	{"POST", "/api/v1/machines/pc/keep-awake", false, map[string]any{"for": "2h"}},
	{"DELETE", "/api/v1/machines/pc/keep-awake", false, nil},
	{"GET", "/api/v1/events", false, nil},
	{"GET", "/api/v1/machines/pc/keep-awake", false, nil},
	{"GET", "/api/v1/relays", true, nil},
	{"POST", "/api/v1/relays/x/pair", true, nil},
	{"DELETE", "/api/v1/relays/x", true, nil},
	{"POST", "/api/v1/relays/x/sweep", true, map[string]any{"network": "10.0.0.0/24"}},
	{"GET", "/api/v1/discover", true, nil},
	{"POST", "/api/v1/cloudevents", false, nil},
	{"GET", "/api/v1/groups", false, nil},
	{"GET", "/api/v1/groups/actions/grp_none", false, nil},
	{"POST", "/api/v1/groups/lab/wake", false, nil},
	{"POST", "/api/v1/groups/lab/shutdown", false, nil},
	{"POST", "/api/v1/groups/wake", false, map[string]any{"machines": []string{"pc"}}},
	{"POST", "/api/v1/groups/sleep", false, map[string]any{"tags": []string{"lab"}}},
	{"POST", "/api/v1/groups/lab/reboot", false, nil},
	{"POST", "/api/v1/groups/lab/sleep", false, nil},
	{"POST", "/api/v1/groups/lab/hibernate", false, nil},
	{"POST", "/api/v1/groups/shutdown", false, map[string]any{"machines": []string{"pc"}}},
	{"POST", "/api/v1/groups/reboot", false, map[string]any{"machines": []string{"pc"}}},
	{"POST", "/api/v1/groups/hibernate", false, map[string]any{"machines": []string{"pc"}}},
}

func TestEveryRouteNeedsAToken(t *testing.T) {
	th := startHub(t, newConfig(t))
	r := newReceiver(t)
	th.addMachine("pc", "aa:bb:cc:dd:ee:03", r, nil)
	th.addMachine("other", "aa:bb:cc:dd:ee:04", r, nil)
	scoped := th.token("phone", []string{"pc"}, []string{"wake"}, false)
	revoked := th.token("old", nil, []string{"wake"}, false)
	th.must(200, "DELETE", "/api/v1/tokens/old", th.Admin, nil)

	for _, rt := range routes {
		for _, tc := range []struct {
			name, token string
			want        int
		}{
			{"none", "", 401},
			{"garbage", "mw_not-a-token", 401},
			{"revoked", revoked, 401},
		} {
			a := th.do(rt.method, rt.path, tc.token, rt.body)
			if a.Status != tc.want {
				t.Errorf("%s %s with %s token: %d, want %d", rt.method, rt.path, tc.name, a.Status, tc.want)
			}
			var e struct{ Error, Code string }
			if json.Unmarshal(a.Body, &e) != nil || e.Error == "" || e.Code != "unauthorized" {
				t.Errorf("%s %s: error body %s", rt.method, rt.path, a.Body)
			}
			if a.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s %s: no WWW-Authenticate", rt.method, rt.path)
			}
		}
		if rt.admin {
			if a := th.do(rt.method, rt.path, scoped, rt.body); a.Status != 403 {
				t.Errorf("%s %s with a scoped token: %d, want 403: %s", rt.method, rt.path, a.Status, a.Body)
			}
		}
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		th.must(200, "GET", p, "", nil)
	}
	if r.next(200*time.Millisecond) != nil {
		t.Fatal("a refused request sent a packet")
	}
}

// A relay enrolment token enrols relays (POST /api/v1/agents/pair) and
// does nothing else: every API route answers 403, and it cannot be made
// with a scope.
func TestRelayEnrolmentToken(t *testing.T) {
	th := startHub(t, newConfig(t))
	r := newReceiver(t)
	th.addMachine("pc", "aa:bb:cc:dd:ee:03", r, nil)
	th.addMachine("other", "aa:bb:cc:dd:ee:04", r, nil)

	var nt struct {
		Token  moonwake.Token
		Secret string
	}
	th.must(201, "POST", "/api/v1/tokens", th.Admin, map[string]any{"name": "r", "relay_enrol": true}).decode(t, &nt)
	if !nt.Token.RelayEnrol || nt.Token.Admin || len(nt.Token.Actions) != 0 || len(nt.Token.Machines) != 0 || !strings.HasPrefix(nt.Secret, "mw_") {
		t.Fatalf("enrolment token %+v", nt)
	}
	for _, rt := range routes {
		a := th.do(rt.method, rt.path, nt.Secret, rt.body)
		var e struct{ Error, Code string }
		if a.Status != 403 || json.Unmarshal(a.Body, &e) != nil || e.Code != "forbidden" || !strings.Contains(e.Error, "relay enrolment token") {
			t.Errorf("%s %s with the enrolment token: %d %s, want 403", rt.method, rt.path, a.Status, a.Body)
		}
	}
	if a := th.do("GET", "/wake?mac=aa:bb:cc:dd:ee:03&token="+nt.Secret, "", nil); a.Status != 403 {
		t.Errorf("GET /wake?token= with the enrolment token: %d %s", a.Status, a.Body)
	}
	if r.next(200*time.Millisecond) != nil {
		t.Fatal("the enrolment token sent a packet")
	}

	for _, in := range []map[string]any{
		{"name": "r2", "relay_enrol": true, "machines": []string{"pc"}},
		{"name": "r3", "relay_enrol": true, "actions": []string{"wake"}},
		{"name": "r4", "relay_enrol": true, "admin": true},
		{"name": "r5", "relay_enrol": true, "actions": []string{}, "admin": true},
	} {
		a := th.do("POST", "/api/v1/tokens", th.Admin, in)
		var e struct{ Error, Code string }
		if a.Status != 400 || json.Unmarshal(a.Body, &e) != nil || e.Code != "invalid" || !strings.Contains(e.Error, "relay enrolment token") {
			t.Errorf("create %v: %d %s, want 400", in, a.Status, a.Body)
		}
	}
	var list struct{ Tokens []moonwake.Token }
	th.must(200, "GET", "/api/v1/tokens", th.Admin, nil).decode(t, &list)
	for _, tok := range list.Tokens {
		if tok.RelayEnrol && tok.Name != "r" {
			t.Errorf("refused enrolment token stored: %+v", tok)
		}
	}

	// What it does do: enrol a relay, which the admin then sees.
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var pr struct{ ID, Purpose, Machine string }
	th.must(200, "POST", "/api/v1/agents/pair", "", map[string]any{"v": 1, "purpose": "relay", "public_key": pub, "token": nt.Secret, "name": "lan-a"}).decode(t, &pr)
	if pr.Purpose != "relay" || pr.Machine != "lan-a" || pr.ID == "" {
		t.Fatalf("enrolled %+v", pr)
	}
	var relays []moonwake.Relay
	th.must(200, "GET", "/api/v1/relays", th.Admin, nil).decode(t, &relays)
	if len(relays) != 1 || relays[0].Name != "lan-a" || relays[0].Connected {
		t.Fatalf("relays %+v", relays)
	}
	// Not as an agent, and not once revoked.
	th.must(400, "POST", "/api/v1/agents/pair", "", map[string]any{"v": 1, "purpose": "agent", "public_key": pub, "token": nt.Secret, "name": "pc"})
	th.must(200, "DELETE", "/api/v1/tokens/r", th.Admin, nil)
	th.must(401, "POST", "/api/v1/agents/pair", "", map[string]any{"v": 1, "purpose": "relay", "public_key": pub, "token": nt.Secret, "name": "lan-b"})
	th.must(200, "GET", "/api/v1/relays", th.Admin, nil).decode(t, &relays)
	if len(relays) != 1 {
		t.Fatalf("relays after the token was revoked: %+v", relays)
	}
}

func TestScopedTokens(t *testing.T) {
	th := startHub(t, newConfig(t))
	r, rnas := newReceiver(t), newReceiver(t)
	th.addMachine("pc", "aa:bb:cc:dd:ee:05", r, nil)
	th.addMachine("nas", "aa:bb:cc:dd:ee:06", rnas, nil)
	phone := th.token("phone", []string{"pc"}, []string{"wake"}, false)
	reader := th.token("reader", nil, []string{"shutdown", "read"}, false)

	th.must(202, "POST", "/api/v1/machines/pc/wake", phone, nil)
	r.next(time.Second)
	th.must(403, "POST", "/api/v1/machines/nas/wake", phone, nil)
	th.must(403, "POST", "/api/v1/machines/does-not-exist/wake", phone, nil)
	th.must(403, "GET", "/api/v1/machines/nas", phone, nil)
	th.must(403, "GET", "/wake?mac=aa:bb:cc:dd:ee:06&token="+phone, "", nil)
	th.must(403, "POST", "/api/v1/machines/pc/wake", reader, nil) // may see, may not wake
	th.must(200, "GET", "/api/v1/machines/nas", reader, nil)

	var list struct{ Machines []moonwake.Machine }
	th.must(200, "GET", "/api/v1/machines", phone, nil).decode(t, &list)
	if len(list.Machines) != 1 || list.Machines[0].Name != "pc" {
		t.Fatalf("scoped list: %+v", list.Machines)
	}
	var acts struct{ Actions []moonwake.Action }
	th.must(200, "GET", "/api/v1/actions", reader, nil).decode(t, &acts)
	if len(acts.Actions) != 1 || acts.Actions[0].Actor.Kind != "token" || acts.Actions[0].Actor.Name != "" {
		t.Fatalf("actions: %+v", acts.Actions)
	}
	if rnas.next(200*time.Millisecond) != nil {
		t.Fatal("a forbidden wake sent a packet")
	}
}

// fresh zeroes *a and returns it: decoding JSON into a used struct keeps
// the fields the JSON leaves out.
func fresh(a *moonwake.Action) *moonwake.Action { *a = moonwake.Action{}; return a }

// The audit log needs the read scope. A token without it reads the
// actions it asked for itself, and nothing else of the log; a token with
// it reads every action on its machines, but another token's name, id and
// client address only an admin reads: on the list, on one action and on
// the event stream.
func TestAuditLogScope(t *testing.T) {
	th := startHub(t, newConfig(t))
	r, rnas := newReceiver(t), newReceiver(t)
	th.addMachine("pc", "aa:bb:cc:dd:ee:15", r, nil)
	th.addMachine("nas", "aa:bb:cc:dd:ee:16", rnas, nil)
	phone := th.token("phone", []string{"pc"}, []string{"wake"}, false)
	other := th.token("other", []string{"pc"}, []string{"wake"}, false)
	off := th.token("off", []string{"pc"}, []string{"shutdown"}, false)
	reader := th.token("reader", nil, []string{"read"}, false)
	nasReader := th.token("nas-reader", []string{"nas"}, []string{"read"}, false)
	readerStream := th.events("/api/v1/events?type=action", reader, "")
	otherStream := th.events("/api/v1/events?type=action", other, "")
	offStream := th.events("/api/v1/events?type=action", off, "")

	var act moonwake.Action
	th.must(202, "POST", "/api/v1/machines/pc/wake", phone, nil).decode(t, &act)
	r.next(time.Second)
	th.waitDone(act.ID)

	anon := moonwake.Actor{Kind: "token"} // another token's action, as a non-admin reads it
	var got moonwake.Action
	th.must(200, "GET", "/api/v1/actions/"+act.ID, phone, nil).decode(t, fresh(&got))
	if got.Actor.Name != "phone" || got.Actor.TokenID == "" || got.Actor.Addr == "" {
		t.Errorf("its own action, as its token reads it: %+v", got.Actor)
	}
	th.must(200, "GET", "/api/v1/actions/"+act.ID, other, nil).decode(t, fresh(&got)) // it could have asked for it
	if got.Actor != anon {
		t.Errorf("a wake, as another waker reads it: %+v", got.Actor)
	}
	th.must(404, "GET", "/api/v1/actions/"+act.ID, off, nil)       // it could not have
	th.must(404, "GET", "/api/v1/actions/"+act.ID, nasReader, nil) // another machine's
	a := th.must(403, "GET", "/api/v1/actions", phone, nil)
	if !strings.Contains(string(a.Body), `\"read\"`) {
		t.Errorf("the refusal does not name the scope: %s", a.Body)
	}

	th.must(200, "GET", "/api/v1/actions/"+act.ID, reader, nil).decode(t, fresh(&got))
	if got.Actor != anon {
		t.Errorf("a reader reads: %+v", got.Actor)
	}
	var list struct{ Actions []moonwake.Action }
	th.must(200, "GET", "/api/v1/actions", reader, nil).decode(t, &list)
	if len(list.Actions) != 1 || list.Actions[0].Actor != anon {
		t.Errorf("the log, as a reader reads it: %+v", list.Actions)
	}
	th.must(200, "GET", "/api/v1/actions", nasReader, nil).decode(t, &list)
	if len(list.Actions) != 0 {
		t.Errorf("the log, as a reader of nas alone reads it: %+v", list.Actions)
	}
	th.must(200, "GET", "/api/v1/actions/"+act.ID, th.Admin, nil).decode(t, fresh(&got))
	if got.Actor.Name != "phone" || got.Actor.Addr == "" {
		t.Errorf("as the admin reads it: %+v", got.Actor)
	}

	for name, s := range map[string]*sse{"a reader": readerStream, "another waker": otherStream} {
		if ev := s.next(t); ev.Data.Data.ID != act.ID || ev.Data.Data.Actor != anon {
			t.Errorf("the event stream, as %s reads it: %+v", name, ev.Data.Data)
		}
	}
	// A token that may only shut pc down hears nothing of its wakes: the
	// first action event it gets is its own shutdown's.
	var sd struct{ Action moonwake.Action }
	th.do("POST", "/api/v1/machines/pc/shutdown", off, nil).decode(t, &sd)
	if ev := offStream.next(t); ev.Data.Data.Kind != "shutdown" || ev.Data.Data.Actor.Name != "off" {
		t.Errorf("a shutdown-only token heard of %s by %+v", ev.Data.Data.Kind, ev.Data.Data.Actor)
	}
}

func TestWakeByMAC(t *testing.T) {
	th := startHub(t, newConfig(t))
	r := newReceiver(t)
	th.addMachine("pc", "aa:bb:cc:dd:ee:07", r, nil)
	tok := th.token("button", nil, []string{"wake"}, false)

	// Every MAC form, token in the query string (tap links).
	for _, form := range []string{"aa:bb:cc:dd:ee:07", "AA-BB-CC-DD-EE-07", "aabb.ccdd.ee07", "AABBCCDDEE07"} {
		var a moonwake.Action
		th.must(202, "GET", "/wake?mac="+form+"&token="+tok, "", nil).decode(t, &a)
		wantPacket(t, r.next(time.Second), "aa:bb:cc:dd:ee:07", "")
		th.waitDone(a.ID)
		r.drain()
	}
	var last moonwake.Action
	th.must(202, "GET", "/wake?mac=aa:bb:cc:dd:ee:07", tok, nil).decode(t, &last)
	th.waitDone(last.ID)
	r.drain()

	// Only registered machines; bad input is a 400 with a reason.
	a := th.must(404, "GET", "/wake?mac=aa:bb:cc:dd:ee:99&token="+tok, "", nil)
	if !bytes.Contains(a.Body, []byte("registered")) {
		t.Fatalf("body %s", a.Body)
	}
	th.must(400, "GET", "/wake?mac=ff:ff:ff:ff:ff:ff&token="+tok, "", nil)
	th.must(400, "GET", "/wake?mac=nonsense&token="+tok, "", nil)
	th.must(400, "GET", "/wake?token="+tok, "", nil)
	if r.next(200*time.Millisecond) != nil {
		t.Fatal("a refused wake sent a packet")
	}
	// The query token is for wake routes only.
	th.must(401, "GET", "/api/v1/machines?token="+tok, "", nil)
	th.must(401, "GET", "/api/v1/me?token="+th.Admin, "", nil)
}

func TestRateLimits(t *testing.T) {
	cfg := newConfig(t)
	cfg.RateLimit = config.RateLimit{PerMinute: 1, Burst: 2}
	th := startHub(t, cfg)
	r := newReceiver(t)
	th.addMachine("pc", "aa:bb:cc:dd:ee:08", r, nil)
	a1 := th.token("a1", nil, []string{"wake"}, false)
	a2 := th.token("a2", nil, []string{"wake"}, false)
	th.must(202, "POST", "/api/v1/machines/pc/wake", a1, nil)
	th.must(202, "POST", "/api/v1/machines/pc/wake", a1, nil)
	a := th.must(429, "POST", "/api/v1/machines/pc/wake", a1, nil)
	if ra := a.Header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Fatalf("Retry-After %q", ra)
	}
	// Another token from the same address: the address limit applies too.
	th.must(429, "GET", "/wake?mac=aa:bb:cc:dd:ee:08", a2, nil)
	// Reading is not an action and is not limited.
	for i := 0; i < 5; i++ {
		th.must(200, "GET", "/api/v1/machines", a1, nil)
	}
}

// TestFailedAuthLocksOutOnlyFailures: wrong tokens from one address (a
// CGNAT, an office, a proxy not in trusted_proxies) spend that address's
// failure budget; once it is spent wrong tokens get 429, but a valid token
// from the same address still works, in the header or in ?token=. Tap
// links and relay enrolment tokens are valid secrets refused with 403:
// they neither spend the budget nor are stopped by it.
func TestFailedAuthLocksOutOnlyFailures(t *testing.T) {
	cfg := newConfig(t)
	// The failure budget is 30 a minute, 30 at once, whatever is lower;
	// the action limits leave room for the wakes below.
	cfg.RateLimit = config.RateLimit{PerMinute: 1, Burst: 5}
	th := startHub(t, cfg)
	r := newReceiver(t)
	th.addMachine("pc", "aa:bb:cc:dd:ee:0b", r, nil)
	waker := th.token("waker", nil, []string{"wake"}, false)
	var enrol struct{ Secret string }
	th.must(201, "POST", "/api/v1/tokens", th.Admin, map[string]any{"name": "r", "relay_enrol": true}).decode(t, &enrol)
	db, err := hub.OpenDB(context.Background(), cfg.Data, nil)
	if err != nil {
		t.Fatal(err)
	}
	link, err := sqlite.NewTokenService(db).CreateToken(context.Background(),
		&moonwake.Token{Name: "link-pc-wake-abcd", Machines: []string{"pc"}, Actions: []string{"wake"}, TapLink: true})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	misses := 0 // 401s while the hub catches up with the link: failures
	for deadline := time.Now().Add(10 * time.Second); th.do("GET", "/api/v1/me", link, nil).Status == 401; misses++ {
		if time.Now().After(deadline) {
			t.Fatal("the hub never saw the link")
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Refused valid secrets, more of them than the budget: 403 each, and
	// the budget is untouched.
	refused := func(when string) {
		t.Helper()
		for _, c := range []struct{ method, path, token string }{
			{"GET", "/api/v1/me", link},
			{"POST", "/api/v1/machines/pc/wake", link},
			{"GET", "/wake?mac=aa:bb:cc:dd:ee:0b&token=" + link, ""},
			{"GET", "/api/v1/me", enrol.Secret},
			{"GET", "/wake?mac=aa:bb:cc:dd:ee:0b&token=" + enrol.Secret, ""},
		} {
			if a := th.do(c.method, c.path, c.token, nil); a.Status != 403 {
				t.Fatalf("%s: %s %s with a link or enrolment token: %d %s, want 403", when, c.method, strings.Split(c.path, "?")[0], a.Status, a.Body)
			}
		}
	}
	for i := 0; i < 8; i++ {
		refused("before the budget is spent")
	}

	// Spend the budget, half in the header, half in ?token=.
	failures := 0
	for ; failures < 100; failures++ {
		var a answer
		if failures%2 == 0 {
			a = th.do("GET", "/api/v1/me", "mw_not-a-token", nil)
		} else {
			a = th.do("GET", "/wake?mac=aa:bb:cc:dd:ee:0b&token=mw_not-a-token", "", nil)
		}
		if a.Status == 429 {
			break
		}
		if a.Status != 401 {
			t.Fatalf("bad token %d: %d %s", failures, a.Status, a.Body)
		}
	}
	if failures+misses < 30 || failures >= 100 {
		t.Fatalf("the budget lasted %d failures (+%d while waiting for the link), want 30", failures, misses)
	}

	// A valid token from the spent address still works: reading, waking
	// with the header, waking with ?token=.
	th.must(200, "GET", "/api/v1/me", waker, nil)
	th.must(200, "GET", "/api/v1/me", th.Admin, nil)
	var a1, a2 moonwake.Action
	th.must(202, "POST", "/api/v1/machines/pc/wake", waker, nil).decode(t, &a1)
	th.must(202, "GET", "/wake?mac=aa:bb:cc:dd:ee:0b&token="+waker, "", nil).decode(t, &a2)
	if r.next(5*time.Second) == nil {
		t.Fatal("a valid token from a spent address sent no packet")
	}
	th.waitDone(a1.ID)
	th.waitDone(a2.ID)
	r.drain()
	// Refused valid secrets are still refused for what they are.
	refused("after the budget is spent")

	// A wrong token from it still gets 429, as before.
	for _, c := range []struct{ path, token string }{
		{"/api/v1/me", "mw_not-a-token"},
		{"/api/v1/machines", "also wrong"},
		{"/wake?mac=aa:bb:cc:dd:ee:0b&token=mw_not-a-token", ""},
	} {
		a := th.must(429, "GET", c.path, c.token, nil)
		var e struct{ Error, Code string }
		if json.Unmarshal(a.Body, &e) != nil || e.Code != "rate_limited" || !strings.Contains(e.Error, "too many failed authentications from your address") {
			t.Errorf("GET %s: error body %s", strings.Split(c.path, "?")[0], a.Body)
		}
		if ra := a.Header.Get("Retry-After"); ra != "2" {
			t.Errorf("GET %s: Retry-After %q, want 2", strings.Split(c.path, "?")[0], ra)
		}
	}
	if r.next(200*time.Millisecond) != nil {
		t.Fatal("a refused request sent a packet")
	}
}

func TestMachineValidation(t *testing.T) {
	th := startHub(t, newConfig(t))
	cases := []struct {
		body any
		want string
	}{
		{map[string]any{"name": "Bad Name", "mac": "aa:bb:cc:dd:ee:0a"}, "name"},
		{map[string]any{"name": "pc", "mac": "01:00:5e:00:00:01"}, "multicast"},
		{map[string]any{"name": "pc", "mac": "zz:bb:cc:dd:ee:0a"}, "hexadecimal"},
		{map[string]any{"name": "pc", "mac": "aa:bb:cc:dd:ee:0a", "port": 70000}, "port"},
		{map[string]any{"name": "pc", "mac": "aa:bb:cc:dd:ee:0a", "password": "123"}, "SecureOn"},
		{map[string]any{"name": "pc", "mac": "aa:bb:cc:dd:ee:0a", "broadcast": "nope"}, "broadcast"},
		{map[string]any{"name": "pc", "mac": "aa:bb:cc:dd:ee:0a", "colour": "red"}, "colour"},
		{`{"name": "pc",`, "JSON"},
		{`[]`, "want"},
		{"", "empty"},
	}
	for _, c := range cases {
		a := th.must(400, "POST", "/api/v1/machines", th.Admin, c.body)
		if !bytes.Contains(a.Body, []byte(c.want)) {
			t.Errorf("body %v: error %s does not mention %q", c.body, a.Body, c.want)
		}
	}
	r := newReceiver(t)
	th.addMachine("pc", "aa:bb:cc:dd:ee:0a", r, nil)
	th.must(409, "POST", "/api/v1/machines", th.Admin, map[string]any{"name": "pc", "mac": "aa:bb:cc:dd:ee:0b"})
	th.must(409, "POST", "/api/v1/machines", th.Admin, map[string]any{"name": "pc2", "mac": "AA:BB:CC:DD:EE:0A"})
	th.must(400, "PATCH", "/api/v1/machines/pc", th.Admin, map[string]any{"name": "renamed"})
	var m moonwake.Machine
	th.must(200, "PATCH", "/api/v1/machines/pc", th.Admin, map[string]any{"host": "192.0.2.10", "tags": []string{"b", "a"}}).decode(t, &m)
	if m.Host != "192.0.2.10" || strings.Join(m.Tags, ",") != "a,b" || m.Broadcast != "127.0.0.1" {
		t.Fatalf("patched: %+v", m)
	}
	var cleared moonwake.Machine
	th.must(200, "PATCH", "/api/v1/machines/pc", th.Admin, map[string]any{"host": nil}).decode(t, &cleared)
	if cleared.Host != "" {
		t.Fatalf("host not cleared: %+v", m)
	}
	th.must(404, "PATCH", "/api/v1/machines/nope", th.Admin, map[string]any{"host": "x"})
	th.must(204, "DELETE", "/api/v1/machines/pc", th.Admin, nil)
	th.must(404, "GET", "/api/v1/machines/pc", th.Admin, nil)
	th.must(404, "GET", "/api/v1/nothing-here", th.Admin, nil)
}

func TestConfigMachinesWin(t *testing.T) {
	cfg := newConfig(t)
	th := startHub(t, cfg)
	r := newReceiver(t)
	th.addMachine("pc", "aa:bb:cc:dd:ee:0c", r, nil)
	th.Stop()

	// Declare "pc" in the file with another address: the file wins.
	cfg.Machines = []config.Machine{{Name: "pc", MAC: "aa:bb:cc:dd:ee:0c", Broadcast: "127.0.0.1", Port: r.port(), Tags: []string{"gitops"}}}
	th = startHub(t, cfg)
	var m moonwake.Machine
	th.must(200, "GET", "/api/v1/machines/pc", th.Admin, nil).decode(t, &m)
	if m.Source != moonwake.SourceConfig || len(m.Tags) != 1 {
		t.Fatalf("machine %+v", m)
	}
	th.must(409, "PATCH", "/api/v1/machines/pc", th.Admin, map[string]any{"tags": []string{}})
	th.must(409, "DELETE", "/api/v1/machines/pc", th.Admin, nil)
	th.must(202, "POST", "/api/v1/machines/pc/wake", th.Admin, nil)
	wantPacket(t, r.next(time.Second), "aa:bb:cc:dd:ee:0c", "")
	th.Stop()

	// Removed from the file: gone.
	cfg.Machines = nil
	th = startHub(t, cfg)
	th.must(404, "GET", "/api/v1/machines/pc", th.Admin, nil)
}

// A machine may name its relay: through the API (create, PATCH, clear) and
// in the config file; GET answers it, and it survives a restart.
func TestMachineRelayField(t *testing.T) {
	cfg := newConfig(t)
	cfg.Machines = []config.Machine{{Name: "cfg", MAC: "aa:bb:cc:dd:ee:1c", Relay: "garage"}}
	th := startHub(t, cfg)
	r := newReceiver(t)
	th.addMachine("pc", "aa:bb:cc:dd:ee:1a", r, map[string]any{"relay": "office"})
	th.addMachine("nas", "aa:bb:cc:dd:ee:1b", r, nil)
	a := th.must(400, "POST", "/api/v1/machines", th.Admin, map[string]any{"name": "bad", "mac": "aa:bb:cc:dd:ee:1d", "relay": "Office Relay"})
	if !bytes.Contains(a.Body, []byte("relay")) {
		t.Errorf("error %s does not mention the relay", a.Body)
	}
	th.must(400, "PATCH", "/api/v1/machines/pc", th.Admin, map[string]any{"relay": 7})

	relay := func(name string) string {
		t.Helper()
		var m moonwake.Machine
		a := th.must(200, "GET", "/api/v1/machines/"+name, th.Admin, nil)
		a.decode(t, &m)
		if m.Relay == "" && bytes.Contains(a.Body, []byte(`"relay"`)) {
			t.Errorf("%s: empty relay rendered: %s", name, a.Body)
		}
		return m.Relay
	}
	if got := relay("pc"); got != "office" {
		t.Fatalf("pc: relay %q, want office", got)
	}
	if got := relay("cfg"); got != "garage" {
		t.Fatalf("cfg: relay %q, want garage", got)
	}
	var m moonwake.Machine
	th.must(200, "PATCH", "/api/v1/machines/nas", th.Admin, map[string]any{"relay": "attic"}).decode(t, &m)
	if m.Relay != "attic" {
		t.Fatalf("patched: %+v", m)
	}
	var cleared moonwake.Machine
	th.must(200, "PATCH", "/api/v1/machines/pc", th.Admin, map[string]any{"relay": nil}).decode(t, &cleared)
	if cleared.Relay != "" {
		t.Fatalf("not cleared: %+v", cleared)
	}
	var list struct{ Machines []moonwake.Machine }
	th.must(200, "GET", "/api/v1/machines", th.Admin, nil).decode(t, &list)
	got := map[string]string{}
	for _, m := range list.Machines {
		got[m.Name] = m.Relay
	}
	if got["pc"] != "" || got["nas"] != "attic" || got["cfg"] != "garage" {
		t.Fatalf("list: %v", got)
	}

	th.Stop()
	th = startHub(t, cfg)
	if got := relay("nas"); got != "attic" {
		t.Fatalf("after restart: nas relay %q, want attic", got)
	}
	if got := relay("pc"); got != "" {
		t.Fatalf("after restart: pc relay %q, want none", got)
	}
}

func TestRestartKeepsEverything(t *testing.T) {
	cfg := newConfig(t)
	th := startHub(t, cfg)
	if th.Admin == "" {
		t.Fatal("first start made no admin token")
	}
	admin := th.Admin
	r := newReceiver(t)
	th.addMachine("pc", "aa:bb:cc:dd:ee:0d", r, nil)
	phone := th.token("phone", []string{"pc"}, []string{"wake"}, false)
	var act moonwake.Action
	th.must(202, "POST", "/api/v1/machines/pc/wake", phone, nil).decode(t, &act)
	th.Stop()

	th = startHub(t, cfg)
	if th.AdminSecret != "" {
		t.Fatal("second start made another admin token")
	}
	th.must(200, "GET", "/api/v1/machines/pc", admin, nil)
	th.must(202, "POST", "/api/v1/machines/pc/wake", phone, nil)
	got := th.waitDone(act.ID)
	if got.Actor.Name != "phone" || got.Status != moonwake.StatusSucceeded {
		t.Fatalf("action after restart: %+v", got)
	}
	if _, err := os.Stat(filepath.Join(cfg.Data, hub.DBFile)); err != nil {
		t.Fatal(err)
	}
}

func TestWakeFailureIsRecorded(t *testing.T) {
	th := startHub(t, newConfig(t))
	// No broadcast address and no usable interface: nothing can be sent,
	// and the hub says so instead of pretending.
	th.must(201, "POST", "/api/v1/machines", th.Admin, map[string]any{"name": "lost", "mac": "aa:bb:cc:dd:ee:0e"})
	a := th.must(503, "POST", "/api/v1/machines/lost/wake", th.Admin, nil)
	var body struct {
		Error  string
		Action moonwake.Action
	}
	a.decode(t, &body)
	if body.Action.Status != moonwake.StatusFailed || body.Error == "" {
		t.Fatalf("failure answer %s", a.Body)
	}
	var got moonwake.Action
	th.must(200, "GET", "/api/v1/actions/"+body.Action.ID, th.Admin, nil).decode(t, &got)
	if got.Status != moonwake.StatusFailed {
		t.Fatalf("recorded %+v", got)
	}
}

// sse reads server-sent events from a stream.
type sse struct {
	resp *http.Response
	r    *bufio.Reader
}

func (th *testHub) events(path, token, lastID string) *sse {
	th.t.Helper()
	req, _ := http.NewRequest("GET", th.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		th.t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		th.t.Fatalf("events: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	th.t.Cleanup(func() { resp.Body.Close() })
	return &sse{resp, bufio.NewReader(resp.Body)}
}

type sseEvent struct {
	ID, Type string
	Data     struct {
		Seq     int64
		Type    string
		Machine string
		Data    moonwake.Action
	}
}

// next returns the next event, skipping comments and retry lines.
func (s *sse) next(t *testing.T) sseEvent {
	t.Helper()
	var ev sseEvent
	done := make(chan error, 1)
	go func() {
		for {
			line, err := s.r.ReadString('\n')
			if err != nil {
				done <- err
				return
			}
			line = strings.TrimRight(line, "\n")
			switch {
			case strings.HasPrefix(line, "id: "):
				ev.ID = line[4:]
			case strings.HasPrefix(line, "event: "):
				ev.Type = line[7:]
			case strings.HasPrefix(line, "data: "):
				if err := json.Unmarshal([]byte(line[6:]), &ev.Data); err != nil {
					done <- err
					return
				}
			case line == "" && ev.ID != "":
				done <- nil
				return
			}
		}
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event")
	}
	return ev
}

func TestEventStream(t *testing.T) {
	cfg := newConfig(t)
	th := startHub(t, cfg)
	r := newReceiver(t)
	th.addMachine("pc", "aa:bb:cc:dd:ee:10", r, nil)
	th.addMachine("nas", "aa:bb:cc:dd:ee:11", r, nil)
	phone := th.token("phone", []string{"pc"}, []string{"wake"}, false)

	all := th.events("/api/v1/events", th.Admin, "")
	mine := th.events("/api/v1/events", phone, "")
	var nasWake, pcWake moonwake.Action
	th.must(202, "POST", "/api/v1/machines/nas/wake", th.Admin, nil).decode(t, &nasWake)
	th.waitDone(nasWake.ID)
	th.must(202, "POST", "/api/v1/machines/pc/wake", phone, nil).decode(t, &pcWake)
	th.waitDone(pcWake.ID)

	// The admin sees both actions from start to end, in order.
	var seen []sseEvent
	for len(seen) == 0 || seen[len(seen)-1].Data.Data.ID != pcWake.ID || seen[len(seen)-1].Data.Data.Status == "running" {
		seen = append(seen, all.next(t))
	}
	if seen[0].Type != "action" || seen[0].Data.Machine != "nas" || seen[0].Data.Data.Status != "running" {
		t.Fatalf("first event %+v", seen[0])
	}
	for i := 1; i < len(seen); i++ {
		if seen[i].Data.Seq != seen[i-1].Data.Seq+1 {
			t.Fatalf("events out of order: %+v", seen)
		}
	}
	// The scoped token sees only its machine.
	if e := mine.next(t); e.Data.Machine != "pc" {
		t.Fatalf("scoped stream got %+v", e)
	}

	// Resume after the first: the rest is replayed, also after a restart.
	th.Stop()
	th = startHub(t, cfg)
	resumed := th.events("/api/v1/events", th.Admin, seen[0].ID)
	for _, want := range seen[1:] {
		if e := resumed.next(t); e.ID != want.ID {
			t.Fatalf("resumed with %+v, want %s", e, want.ID)
		}
	}
	th.must(202, "POST", "/api/v1/machines/pc/wake", th.Admin, nil)
	if e := resumed.next(t); e.Data.Seq != seen[len(seen)-1].Data.Seq+1 {
		t.Fatalf("live after resume: %+v", e)
	}
	th.must(403, "GET", "/api/v1/events?machine=nas", phone, nil)
	th.must(400, "GET", "/api/v1/events?type=weather", th.Admin, nil)
}

func TestFailedShutdownNotifiesMachineTarget(t *testing.T) {
	got := make(chan []byte, 4)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- b
	}))
	defer hook.Close()
	th := startHub(t, newConfig(t))
	r := newReceiver(t)
	th.addMachine("pc", "aa:bb:cc:dd:ee:20", r, map[string]any{"notify": map[string]any{"webhook": hook.URL + "/secret-path", "secret": "s3"}})

	// The secret and the webhook's path are never shown back.
	m := th.must(200, "GET", "/api/v1/machines/pc", th.Admin, nil)
	if bytes.Contains(m.Body, []byte("secret-path")) || bytes.Contains(m.Body, []byte("s3")) {
		t.Fatalf("machine JSON leaks the notify target: %s", m.Body)
	}
	// No agent: the shutdown cannot happen, and says so, loudly.
	a := th.must(503, "POST", "/api/v1/machines/pc/shutdown", th.Admin, nil)
	if !bytes.Contains(a.Body, []byte("pair its agent")) {
		t.Fatalf("answer %s", a.Body)
	}
	select {
	case b := <-got:
		var msg struct{ Event, Machine string }
		if json.Unmarshal(b, &msg); msg.Event != "shutdown.failed" || msg.Machine != "pc" {
			t.Fatalf("webhook got %s", b)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no notification")
	}
	// A shutdown link cannot be fired by a GET, nor carry its token.
	th.must(404, "GET", "/api/v1/machines/pc/shutdown", th.Admin, nil)
	th.must(401, "POST", "/api/v1/machines/pc/shutdown?token="+th.Admin, "", nil)
}

// A tap link works on its page only: on the API it could read the
// machine's audit log and evidence, so every API route refuses it.
func TestTapTapsOnlyOnTheirPage(t *testing.T) {
	cfg := newConfig(t)
	th := startHub(t, cfg)
	r := newReceiver(t)
	th.addMachine("pc", "aa:bb:cc:dd:ee:31", r, nil)

	// Made as the web app makes it, in the hub's database.
	db, err := hub.OpenDB(context.Background(), cfg.Data, nil)
	if err != nil {
		t.Fatal(err)
	}
	secret, err := sqlite.NewTokenService(db).CreateToken(context.Background(),
		&moonwake.Token{Name: "link-pc-wake-abcd", Machines: []string{"pc"}, Actions: []string{"wake"}, TapLink: true})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	// The hub follows writes by other processes within moments.
	deadline := time.Now().Add(10 * time.Second)
	for th.do("GET", "/api/v1/me", secret, nil).Status == 401 {
		if time.Now().After(deadline) {
			t.Fatal("the hub never saw the new token")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, c := range []struct{ method, path, token string }{
		{"GET", "/api/v1/me", secret},
		{"GET", "/api/v1/machines/pc", secret},
		{"GET", "/api/v1/actions?machine=pc", secret},
		{"GET", "/api/v1/events?machine=pc", secret},
		{"POST", "/api/v1/machines/pc/wake", secret},
		{"GET", "/wake?mac=aa:bb:cc:dd:ee:31&token=" + secret, ""},
	} {
		if a := th.do(c.method, c.path, c.token, nil); a.Status != 403 {
			t.Errorf("%s %s with a link: %d %s, want 403", c.method, strings.Split(c.path, "?")[0], a.Status, a.Body)
		}
	}
	if r.next(200*time.Millisecond) != nil {
		t.Fatal("a link on the API sent a packet")
	}
	// Its own page wakes.
	res, err := http.Get(th.URL + "/l/" + secret)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("GET the link: %s", res.Status)
	}
	if r.next(5*time.Second) == nil {
		t.Fatal("the link's page sent no packet")
	}
}

// TestTokenFiles: admin_token_file makes the first admin token from a
// Secret (and nothing is printed); relay_enrol_token_file makes an
// enrolment token, replaces it when the file changes, and a revoked one in
// the file stops no restart.
func TestTokenFiles(t *testing.T) {
	cfg := newConfig(t)
	dir := t.TempDir()
	write := func(name, secret string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(secret+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const admin = "mw_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	const enrol1 = "mw_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	const enrol2 = "mw_ccccccccccccccccccccccccccccccccccccccccccc"
	cfg.AdminTokenFile = write("admin", admin)
	cfg.RelayEnrolTokenFile = write("enrol", enrol1)
	th := startHub(t, cfg)
	if th.AdminSecret != "" {
		t.Fatalf("a hub with admin_token_file made a token of its own: %q", th.AdminSecret)
	}
	th.must(200, "GET", "/api/v1/tokens", admin, nil)
	th.must(403, "GET", "/api/v1/machines", enrol1, nil) // an enrolment token, which the API refuses
	th.Stop()

	write("enrol", enrol2)
	th = startHub(t, cfg)
	th.must(401, "GET", "/api/v1/machines", enrol1, nil) // revoked with the old file
	th.must(403, "GET", "/api/v1/machines", enrol2, nil)
	th.must(200, "DELETE", "/api/v1/tokens/relay-enrol-file", admin, nil)
	th.Stop()

	th = startHub(t, cfg) // the file holds a revoked token: the hub starts, relays cannot enrol
	th.must(401, "GET", "/api/v1/machines", enrol2, nil)
}
