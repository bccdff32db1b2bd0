package probe_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/probe"
)

// Every address in this file is on loopback.

func listen(t *testing.T, addr string) (net.Listener, int) {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, l.Addr().(*net.TCPAddr).Port
}

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	l, port := listen(t, "127.0.0.1:0")
	l.Close()
	return port
}

func TestTCP(t *testing.T) {
	l, port := listen(t, "127.0.0.1:0")
	accepted := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			// The probe resets the connection rather than closing it.
			_, err = c.Read(make([]byte, 1))
			c.Close()
		}
		accepted <- err
	}()
	ctx := t.Context()
	r := probe.TCP(ctx, "127.0.0.1:"+strconv.Itoa(port), time.Second)
	if r.Outcome != moonwake.OutcomeOpen || r.Port != port || r.RTT <= 0 || r.Error != "" {
		t.Errorf("open port: %+v", r)
	}
	if err := <-accepted; err == nil || !strings.Contains(err.Error(), "reset") {
		t.Errorf("server side read: %v, want a reset", err)
	}

	closed := closedPort(t)
	if r := probe.TCP(ctx, "127.0.0.1:"+strconv.Itoa(closed), time.Second); r.Outcome != moonwake.OutcomeRefused || !r.Outcome.Answered() {
		t.Errorf("closed port: %+v", r)
	}
	if r := probe.TCP(ctx, "[::1]:"+strconv.Itoa(closed), time.Second); r.Outcome != moonwake.OutcomeRefused && r.Outcome != moonwake.OutcomeError {
		t.Errorf("closed IPv6 port: %+v", r)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if r := probe.TCP(cancelled, "127.0.0.1:"+strconv.Itoa(port), time.Second); r.Outcome != moonwake.OutcomeError {
		t.Errorf("cancelled: %+v, want an error (it says nothing about the host)", r)
	}
	if r := probe.TCP(ctx, "no port", time.Second); r.Outcome != moonwake.OutcomeError {
		t.Errorf("bad address: %+v", r)
	}
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for raw ICMP sockets (CI runs the tests as root)")
	}
}

func TestPingLoopback(t *testing.T) {
	requireRoot(t)
	p := &probe.Pinger{}
	defer p.Close()
	ctx := t.Context()
	for i := range 3 {
		r := p.Ping(ctx, netip.MustParseAddr("127.0.0.1"), time.Second)
		if r.Mode != moonwake.ICMPPrivileged || r.Outcome != moonwake.OutcomeReply || r.RTT <= 0 {
			t.Fatalf("ping %d: %+v", i, r)
		}
	}
	if r := p.Ping(ctx, netip.MustParseAddr("::1"), time.Second); r.Outcome != moonwake.OutcomeReply {
		// Some containers have no IPv6 on lo.
		t.Logf("ping ::1: %+v", r)
	}
	// Many at once share the socket and each gets its own reply.
	results := make(chan moonwake.ICMPResult, 50)
	for range 50 {
		go func() { results <- p.Ping(ctx, netip.MustParseAddr("127.0.0.1"), 2*time.Second) }()
	}
	for range 50 {
		if r := <-results; r.Outcome != moonwake.OutcomeReply {
			t.Errorf("concurrent ping: %+v", r)
		}
	}
	if r := p.Ping(ctx, netip.Addr{}, time.Second); r.Outcome != moonwake.OutcomeError {
		t.Errorf("invalid address: %+v", r)
	}
	p.Close()
	if r := p.Ping(ctx, netip.MustParseAddr("127.0.0.1"), time.Second); r.Outcome != moonwake.OutcomeError {
		t.Errorf("after Close: %+v", r)
	}
}

// serveSunshine serves a Sunshine-like /serverinfo on l, busy when *app > 0.
func serveSunshine(t *testing.T, l net.Listener, app *atomic.Int64) {
	t.Helper()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		state := "SUNSHINE_SERVER_FREE"
		if app.Load() > 0 {
			state = "SUNSHINE_SERVER_BUSY"
		}
		fmt.Fprintf(w, `<?xml version="1.0" encoding="utf-8"?>`+"\n"+
			`<root status_code="200"><hostname>pc</hostname><appversion>7.1.431.-1</appversion><uniqueid>AB12</uniqueid>`+
			`<mac>00:00:00:00:00:00</mac><currentgame>%d</currentgame><state>%s</state></root>`, app.Load(), state)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
}

func TestProberLoopback(t *testing.T) {
	requireRoot(t)
	l, port := listen(t, "127.0.0.1:0")
	var app atomic.Int64
	serveSunshine(t, l, &app)
	closed := closedPort(t)
	p := probe.NewProber(probe.ProberOptions{Timeout: time.Second})
	defer p.Close()
	target := probe.Target{
		Name: "pc", Host: "127.0.0.1", MAC: net.HardwareAddr{2, 0, 0, 0, 0, 1},
		Ports: []int{port, closed}, ICMP: true, SunshinePort: port, SunshineID: "AB12",
	}
	ev := p.Probe(t.Context(), target)
	if ev.Addr != "127.0.0.1" || ev.At.IsZero() || ev.Error != "" {
		t.Fatalf("%+v", ev)
	}
	if len(ev.TCP) != 2 || ev.TCP[0].Outcome != moonwake.OutcomeOpen || ev.TCP[1].Outcome != moonwake.OutcomeRefused {
		t.Errorf("tcp %+v", ev.TCP)
	}
	if ev.ICMP == nil || ev.ICMP.Outcome != moonwake.OutcomeReply || ev.ICMP.Mode != moonwake.ICMPPrivileged {
		t.Errorf("icmp %+v", ev.ICMP)
	}
	// Loopback is this host: the identity cannot be checked there.
	if n := ev.Neighbour; n == nil || n.Identity != moonwake.IdentityUnknown || n.State != "local" {
		t.Errorf("neighbour %+v", n)
	}
	if s := ev.Sunshine; s == nil || !s.Reachable || s.State != moonwake.SunshineFree || s.Identity != moonwake.IdentityMatch || s.Hostname != "pc" {
		t.Errorf("sunshine %+v", s)
	}
	if st, why := moonwake.DeriveState(ev, moonwake.Pending{}, 0); st != moonwake.StateOn {
		t.Errorf("state %s: %s", st, why)
	}

	app.Store(7)
	ev = p.Probe(t.Context(), target)
	if st, why := moonwake.DeriveState(ev, moonwake.Pending{}, 0); st != moonwake.StateStreaming {
		t.Errorf("state %s: %s", st, why)
	}

	// Another Sunshine install at the address is another host.
	target.SunshineID = "CD34"
	ev = p.Probe(t.Context(), target)
	if ev.Sunshine.Identity != moonwake.IdentityMismatch {
		t.Errorf("sunshine %+v", ev.Sunshine)
	}
}

func TestProberNames(t *testing.T) {
	// A resolver that can only fail, so no query leaves the machine.
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
		return nil, errors.New("no DNS in tests")
	}}
	p := probe.NewProber(probe.ProberOptions{Resolver: r})
	defer p.Close()
	ev := p.Probe(t.Context(), probe.Target{Name: "pc", Host: "pc.invalid", Ports: []int{47989}})
	if ev.Error == "" || len(ev.TCP) != 0 || ev.At.IsZero() {
		t.Fatalf("%+v", ev)
	}
	if st, _ := moonwake.DeriveState(ev, moonwake.Pending{}, 0); st != moonwake.StateUnknown {
		t.Errorf("state %s", st)
	}
	// "localhost" resolves from /etc/hosts, to loopback.
	ev = p.Probe(t.Context(), probe.Target{Name: "pc", Host: "localhost", Ports: []int{closedPort(t)}})
	if ev.Error != "" || !netip.MustParseAddr(ev.Addr).IsLoopback() {
		t.Errorf("%+v", ev)
	}
	if ev = p.Probe(t.Context(), probe.Target{Name: "pc"}); ev.Error == "" {
		t.Errorf("no host: %+v", ev)
	}
}

// MaxInFlight bounds the probes at once: with one slot, two slow Sunshine
// requests run one after the other.
func TestProberMaxInFlight(t *testing.T) {
	l, port := listen(t, "127.0.0.1:0")
	var inflight, peak atomic.Int32
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inflight.Add(1)
		defer inflight.Add(-1)
		if n > peak.Load() {
			peak.Store(n)
		}
		time.Sleep(100 * time.Millisecond)
		fmt.Fprint(w, `<root status_code="200"><state>SUNSHINE_SERVER_FREE</state></root>`)
	})}
	go srv.Serve(l)
	defer srv.Close()
	p := probe.NewProber(probe.ProberOptions{MaxInFlight: 1})
	defer p.Close()
	done := make(chan moonwake.Evidence, 2)
	for range 2 {
		go func() { done <- p.Probe(t.Context(), probe.Target{Name: "pc", Host: "127.0.0.1", SunshinePort: port}) }()
	}
	for range 2 {
		if ev := <-done; ev.Sunshine == nil || !ev.Sunshine.Reachable {
			t.Errorf("%+v", ev.Sunshine)
		}
	}
	if peak.Load() != 1 {
		t.Errorf("%d requests at once with MaxInFlight 1", peak.Load())
	}
}
