//go:build linux

package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moonwake/moonwake/internal/testlan"
)

// hubPort is where every test hub listens, on its host's LAN address.
const hubPort = 8080

// hub is a "moonwake serve" process running in a host's namespace, and an
// HTTP client that reaches it from inside that namespace.
type hub struct {
	t              testing.TB
	host           *testlan.Host
	proc           *testlan.Proc
	url            string // http://10.77.N.x:8080
	admin          string // the admin token printed at the first start, "" on a restart
	stdout, stderr *testlan.Buffer
	http           *http.Client
}

// moonwakeEnv is the environment for a moonwake process: the test's own,
// without MOONWAKE_* variables from the developer's shell, with a race
// binary's exit delay off, plus extra ("KEY=value").
func moonwakeEnv(extra ...string) []string {
	var env []string
	gorace := "atexit_sleep_ms=0"
	for _, kv := range os.Environ() {
		switch {
		case strings.HasPrefix(kv, "MOONWAKE_"):
		case strings.HasPrefix(kv, "GORACE="):
			gorace = strings.TrimPrefix(kv, "GORACE=") + " " + gorace
		default:
			env = append(env, kv)
		}
	}
	// No reverse DNS from the web app's machine suggestions: a lookup may
	// leave the machine.
	env = append(env, "GORACE="+gorace, "MOONWAKE_UI_REVERSE_DNS=off")
	return append(env, extra...)
}

// runEnv runs the moonwake binary with args and extra environment in host
// h's namespace.
func runEnv(t testing.TB, h *testlan.Host, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	cmd := h.Exec(ctx, append([]string{moonwake(t)}, args...)...)
	cmd.Env = moonwakeEnv(env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.Exited():
		r.code = ee.ExitCode()
	default:
		t.Fatalf("moonwake %s: %v (%s)", strings.Join(args, " "), err, r)
	}
	if strings.Contains(r.stderr, "DATA RACE") {
		t.Errorf("moonwake %s: data race:\n%s", strings.Join(args, " "), r.stderr)
	}
	return r
}

// nsClient returns an HTTP client whose connections are opened inside h's
// namespace: the test process reaches h's addresses as if it ran there.
// No keep-alives, so no connection outlives its request (a hub stopping
// has none to wait for, and nothing is left open when the LAN goes).
func nsClient(h *testlan.Host) *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			DisableKeepAlives: true,
			Proxy:             nil, // never an HTTP_PROXY from the environment
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				var c net.Conn
				err := h.Do(func() error {
					var err error
					c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
					return err
				})
				return c, err
			},
		},
	}
}

// startHub starts "moonwake serve" in h on h's address, port hubPort, with
// data directory data and extra environment, and returns once it answers
// /healthz. On a first start (an empty data directory) it reads the admin
// token from the file the hub writes, and checks the token is not printed
// (standard output is no terminal here); on a restart it checks none is
// printed. The hub is
// stopped when the test ends, before its data directory is removed.
func startHub(t testing.TB, h *testlan.Host, data string, env ...string) *hub {
	t.Helper()
	_, err := os.Stat(filepath.Join(data, "moonwake.db"))
	first := errors.Is(err, os.ErrNotExist)
	listen := netip.AddrPortFrom(h.Addr(), hubPort).String()
	hp := &hub{
		t: t, host: h, url: "http://" + listen,
		stdout: new(testlan.Buffer), stderr: new(testlan.Buffer),
		http: nsClient(h),
	}
	cmd := h.Exec(context.Background(), moonwake(t), "serve", "--listen", listen, "--data", data)
	cmd.Env = moonwakeEnv(env...)
	cmd.Stdout, cmd.Stderr = hp.stdout, hp.stderr
	p, err := h.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	hp.proc = p
	// Registered after the caller's t.TempDir, so it runs before the
	// directory is removed. Stop is a no-op for a hub the test stopped.
	t.Cleanup(func() {
		p.Stop()
		hp.checkLog()
	})

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, "GET", hp.url+"/healthz", nil)
		resp, err := hp.http.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-p.Done():
			t.Fatalf("hub exited: %v\nstdout: %s\nstderr: %s", p.Wait(), hp.stdout, hp.stderr)
		case <-ctx.Done():
			t.Fatalf("hub not healthy after 10 s: %v\nstderr: %s", err, hp.stderr)
		case <-time.After(10 * time.Millisecond):
		}
	}
	if first {
		hp.admin = adminTokenFile(t, data)
	}
	if tok := adminToken(hp.stdout.String()); tok != "" {
		t.Errorf("the hub printed an admin token on a standard output that is no terminal:\n%s", hp.stdout)
	}
	return hp
}

// adminTokenFile reads the first admin token from the file the hub writes
// in its data directory, and checks only the hub's user may read it.
func adminTokenFile(t testing.TB, data string) string {
	t.Helper()
	path := filepath.Join(data, "admin-token")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("the hub wrote no admin token file: %v", err)
	}
	if m := fi.Mode().Perm(); m != 0o600 {
		t.Errorf("admin token file mode %04o, want 0600", m)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tok := adminToken(string(b))
	if tok == "" {
		t.Fatalf("the admin token file holds no token: %q", b)
	}
	return tok
}

// adminToken finds the line holding nothing but a token in the hub's
// output.
func adminToken(out string) string {
	for _, line := range strings.Split(out, "\n") {
		if s := strings.TrimSpace(line); strings.HasPrefix(s, "mw_") && !strings.ContainsAny(s, " \t") {
			return s
		}
	}
	return ""
}

// checkLog fails the test if the hub logged an error, or (built with the
// race detector) reported a race: nothing the tests do should cause either.
func (hp *hub) checkLog() {
	if s := hp.stderr.String(); strings.Contains(s, "DATA RACE") || strings.Contains(s, "level=ERROR") {
		hp.t.Errorf("the hub reported an error or a data race:\n%s", s)
	}
}

// signal sends sig to the hub and waits for it to exit, returning its exit
// code (-1 when a signal ended it).
func (hp *hub) signal(sig syscall.Signal) int {
	hp.t.Helper()
	if err := hp.proc.Cmd.Process.Signal(sig); err != nil {
		hp.t.Fatalf("signal the hub: %v", err)
	}
	select {
	case <-hp.proc.Done():
	case <-time.After(10 * time.Second):
		hp.t.Fatalf("the hub did not exit 10 s after %v\nstderr: %s", sig, hp.stderr)
	}
	hp.checkLog()
	return hp.proc.Cmd.ProcessState.ExitCode()
}

// answer is an HTTP response, read whole.
type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) String() string { return fmt.Sprintf("%d %s", a.status, bytes.TrimSpace(a.body)) }

// decode unmarshals the body into v, failing t if it cannot.
func (a answer) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(a.body, v); err != nil {
		t.Fatalf("answer %s: %v", a, err)
	}
}

// do sends a request to the hub: path may hold a query; token, if not
// empty, goes in the Authorization header; body, if not nil, as JSON.
func (hp *hub) do(t testing.TB, method, path, token string, body any) answer {
	t.Helper()
	a, err := hp.send(t.Context(), method, path, token, body)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// send is do for goroutines other than the test's: it returns its error.
func (hp *hub) send(ctx context.Context, method, path, token string, body any) (answer, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return answer{}, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, hp.url+path, rd)
	if err != nil {
		return answer{}, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hp.http.Do(req)
	if err != nil {
		return answer{}, fmt.Errorf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, fmt.Errorf("%s %s: read body: %v", method, path, err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// must is do that fails t unless the answer has status want.
func (hp *hub) must(t testing.TB, want int, method, path, token string, body any) answer {
	t.Helper()
	a := hp.do(t, method, path, token, body)
	if a.status != want {
		t.Fatalf("%s %s: %s; want %d", method, path, a, want)
	}
	return a
}

// addMachine registers a machine with the admin token.
func (hp *hub) addMachine(t testing.TB, m map[string]any) {
	t.Helper()
	hp.must(t, http.StatusCreated, "POST", "/api/v1/machines", hp.admin, m)
}

// addToken creates a token with the admin token and returns its secret.
func (hp *hub) addToken(t testing.TB, in map[string]any) string {
	t.Helper()
	var nt struct{ Secret string }
	hp.must(t, http.StatusCreated, "POST", "/api/v1/tokens", hp.admin, in).decode(t, &nt)
	if !strings.HasPrefix(nt.Secret, "mw_") {
		t.Fatalf("token secret %q", nt.Secret)
	}
	return nt.Secret
}

// wireAction is an action as the API shows it, declared here rather than
// taken from package moonwake so that the test checks the wire format.
type wireAction struct {
	ID      string `json:"id"`
	Kind    string `json:"kind"`
	Machine string `json:"machine"`
	MAC     string `json:"mac"`
	Status  string `json:"status"`
	Detail  string `json:"detail"`
	Actor   struct {
		Kind string `json:"kind"`
		Name string `json:"name"`
	} `json:"actor"`
	Steps []struct {
		At     time.Time `json:"at"`
		Kind   string    `json:"kind"`
		Via    string    `json:"via"`
		Target string    `json:"target"`
		Error  string    `json:"error"`
	} `json:"steps"`
	CreatedAt  time.Time  `json:"created_at"`
	Deadline   *time.Time `json:"deadline"`
	FinishedAt *time.Time `json:"finished_at"`
}

// targets lists the targets of an action's send steps, failing t on a
// send step that records an error. Other steps (verify, request, resume)
// are left out.
func (a *wireAction) targets(t testing.TB) []string {
	t.Helper()
	var out []string
	for _, s := range a.Steps {
		if s.Kind != "send" {
			continue
		}
		if s.Via != "udp" || s.Error != "" {
			t.Errorf("action %s: step %+v, want a udp send without error", a.ID, s)
		}
		out = append(out, s.Target)
	}
	return out
}

// wake asks the hub to wake a machine with POST and checks the answer:
// 202, a Location naming the action, and the action's JSON.
func (hp *hub) wake(t testing.TB, name, token string) wireAction {
	t.Helper()
	ans := hp.must(t, http.StatusAccepted, "POST", "/api/v1/machines/"+name+"/wake", token, nil)
	var a wireAction
	ans.decode(t, &a)
	if a.ID == "" || a.Kind != "wake" || a.Machine != name {
		t.Errorf("wake %s: action %s", name, ans)
	}
	if loc := ans.header.Get("Location"); loc != "/api/v1/actions/"+a.ID {
		t.Errorf("wake %s: Location %q, want /api/v1/actions/%s", name, loc, a.ID)
	}
	return a
}

// udpFrame is an Ethernet frame holding an IPv4 UDP datagram.
type udpFrame struct {
	dstMAC, srcMAC   net.HardwareAddr
	srcIP, dstIP     netip.Addr
	srcPort, dstPort uint16
	payload          []byte
}

// parseUDPFrame parses what ListenRaw(…, 0x0800) receives.
func parseUDPFrame(b []byte) (udpFrame, error) {
	f, err := testlan.ParseFrame(b)
	if err != nil {
		return udpFrame{}, err
	}
	if f.EtherType != 0x0800 {
		return udpFrame{}, fmt.Errorf("EtherType %#04x, want IPv4", f.EtherType)
	}
	p := f.Payload
	if len(p) < 20 || p[0]>>4 != 4 {
		return udpFrame{}, fmt.Errorf("not an IPv4 header: % x", p)
	}
	ihl := int(p[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(p[2:4]))
	if ihl < 20 || total < ihl+8 || total > len(p) {
		return udpFrame{}, fmt.Errorf("bad IPv4 lengths: header %d, total %d, frame payload %d", ihl, total, len(p))
	}
	if p[9] != 17 {
		return udpFrame{}, fmt.Errorf("IP protocol %d, want UDP", p[9])
	}
	u := udpFrame{
		dstMAC: f.Dst, srcMAC: f.Src,
		srcIP: netip.AddrFrom4([4]byte(p[12:16])), dstIP: netip.AddrFrom4([4]byte(p[16:20])),
	}
	udp := p[ihl:total] // without the Ethernet padding of short frames
	ulen := int(binary.BigEndian.Uint16(udp[4:6]))
	if ulen < 8 || ulen > len(udp) {
		return udpFrame{}, fmt.Errorf("bad UDP length %d in %d bytes", ulen, len(udp))
	}
	u.srcPort, u.dstPort = binary.BigEndian.Uint16(udp[0:2]), binary.BigEndian.Uint16(udp[2:4])
	u.payload = udp[8:ulen]
	return u, nil
}

// probeFrame reports whether an IPv4 frame is not UDP: TCP or ICMP, as
// the hub's probes of a machine at the receiver's address are. Magic
// packets are UDP.
func probeFrame(b []byte) bool {
	f, err := testlan.ParseFrame(b)
	return err == nil && f.EtherType == 0x0800 && len(f.Payload) >= 20 && f.Payload[0]>>4 == 4 && f.Payload[9] != 17
}

// expectFrames receives n IPv4 UDP frames on raw and parses them, leaving
// out the hub's probes.
func expectFrames(t testing.TB, raw *testlan.Receiver, n int) []udpFrame {
	t.Helper()
	deadline := time.Now().Add(recvTimeout)
	var out []udpFrame
	for len(out) < n {
		d, err := raw.Next(time.Until(deadline))
		if err != nil {
			t.Fatalf("raw receiver: %d of %d UDP frames in %s", len(out), n, recvTimeout)
		}
		if probeFrame(d.Data) {
			continue
		}
		f, err := parseUDPFrame(d.Data)
		if err != nil {
			t.Fatalf("raw receiver: %v", err)
		}
		out = append(out, f)
	}
	return out
}

// quietRaw checks that raw gets no frame but the hub's probes for d.
func quietRaw(t testing.TB, d time.Duration, raw *testlan.Receiver) {
	t.Helper()
	for end := time.Now().Add(d); ; {
		got, err := raw.Next(max(time.Until(end), minWait))
		if err != nil {
			return
		}
		if !probeFrame(got.Data) {
			t.Errorf("received an unexpected frame: % x", got.Data)
		}
	}
}

// expectAny receives n datagrams on rx, whatever they hold.
func expectAny(t testing.TB, rx *testlan.Receiver, n int) []testlan.Datagram {
	t.Helper()
	got, err := rx.Expect(n, recvTimeout)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// minWait is the shortest wait for a receiver: a zero timer races with
// what is already queued.
const minWait = 10 * time.Millisecond

// quiet checks that none of the receivers gets anything for d (the first;
// the others are checked right after it).
func quiet(t testing.TB, d time.Duration, rxs ...*testlan.Receiver) {
	t.Helper()
	for _, rx := range rxs {
		if err := rx.Quiet(max(d, minWait)); err != nil {
			t.Error(err)
		}
		d = 0
	}
}

// jsonDecode decodes resp's body into v.
func jsonDecode(resp *http.Response, v any) error {
	return json.NewDecoder(resp.Body).Decode(v)
}
