package front_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/hub"
	"github.com/moonwake/moonwake/hub/config"
	"github.com/moonwake/moonwake/hub/sqlite"
	"github.com/moonwake/moonwake/wol"
)

// testHub is a real hub serving on loopback, with a temporary data
// directory, that sends its magic packets to a UDP socket on loopback.
type testHub struct {
	t     *testing.T
	cfg   config.Config
	URL   string
	Admin string
	stop  func()
}

func startHub(t *testing.T) *testHub {
	t.Helper()
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.Data = t.TempDir()
	cfg.Wake.Count = 1
	cfg.RateLimit = config.RateLimit{PerMinute: 6000, Burst: 1000}
	cfg.TrustedProxies = []string{"127.0.0.0/8"} // the front, in front of it
	off := false
	cfg.UI.ReverseDNS = &off // a lookup may leave the machine
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	h := hub.New(cfg, log)
	// Nothing a packet could be broadcast on: only explicit loopback
	// targets work.
	h.Interfaces = func() ([]wol.Iface, error) { return []wol.Iface{{Name: "lo", Up: true, Loopback: true}}, nil }
	h.Resends = []time.Duration{20 * time.Millisecond}
	if err := h.Open(context.Background()); err != nil {
		h.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Serve(ctx) }()
	th := &testHub{t: t, cfg: cfg, URL: "http://" + h.Addr().String(), Admin: h.AdminSecret}
	stopped := false
	th.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		if err := h.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	}
	t.Cleanup(th.stop)
	return th
}

// api calls the hub's API directly with the admin token.
func (th *testHub) api(want int, method, path string, body any) []byte {
	th.t.Helper()
	b, _ := json.Marshal(body)
	req, err := http.NewRequest(method, th.URL+path, bytes.NewReader(b))
	if err != nil {
		th.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+th.Admin)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		th.t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		th.t.Fatalf("%s %s: %d, want %d: %s", method, path, res.StatusCode, want, out)
	}
	return out
}

// addMachine registers a machine whose packets go to r.
func (th *testHub) addMachine(name, mac string, r *receiver) {
	th.api(201, "POST", "/api/v1/machines", map[string]any{"name": name, "mac": mac, "broadcast": "127.0.0.1", "port": r.port()})
}

// token makes a token through the API and returns its secret.
func (th *testHub) token(name string, machines, actions []string) string {
	var nt struct{ Secret string }
	if err := json.Unmarshal(th.api(201, "POST", "/api/v1/tokens", map[string]any{"name": name, "machines": machines, "actions": actions}), &nt); err != nil {
		th.t.Fatal(err)
	}
	return nt.Secret
}

// tapLink makes a wake link for machine, as the web app does, in the hub's
// database, and waits until the hub sees it.
func (th *testHub) tapLink(machine string) string {
	th.t.Helper()
	db, err := hub.OpenDB(context.Background(), th.cfg.Data, nil)
	if err != nil {
		th.t.Fatal(err)
	}
	secret, err := sqlite.NewTokenService(db).CreateToken(context.Background(),
		&moonwake.Token{Name: "link-" + machine + "-wake", Machines: []string{machine}, Actions: []string{moonwake.ActionWake}, TapLink: true})
	db.Close()
	if err != nil {
		th.t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		req, _ := http.NewRequest("GET", th.URL+"/api/v1/me", nil)
		req.Header.Set("Authorization", "Bearer "+secret)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			th.t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 401 {
			return secret
		}
		if time.Now().After(deadline) {
			th.t.Fatal("the hub never saw the new link")
		}
		time.Sleep(50 * time.Millisecond)
	}
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
	for r.next(50*time.Millisecond) != nil {
	}
}

// wantPacket fails unless got is the magic packet for mac.
func wantPacket(t *testing.T, got []byte, mac string) {
	t.Helper()
	m, _ := wol.ParseMAC(mac)
	p := wol.Packet{Target: m}
	want, _ := p.MarshalBinary()
	if !bytes.Equal(got, want) {
		t.Fatalf("packet\n got %x\nwant %x", got, want)
	}
}

// answer is a response read whole.
type answer struct {
	Status int
	Header http.Header
	Body   string
}

func get(t *testing.T, url string, header ...string) answer {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) answer {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return answer{res.StatusCode, res.Header, string(b)}
}

// errorCode is the code of an error answer, failing unless it is the
// hub's error JSON.
func errorCode(t *testing.T, a answer) string {
	t.Helper()
	var e struct{ Error, Code string }
	if err := json.Unmarshal([]byte(a.Body), &e); err != nil || e.Error == "" || !strings.HasPrefix(a.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("not an error JSON (%v): %d %s %s", err, a.Status, a.Header.Get("Content-Type"), a.Body)
	}
	return e.Code
}
