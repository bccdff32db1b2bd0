//go:build linux

package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moonwake/moonwake/internal/testlan"
)

// build is the moonwake binary, built once by TestMain in the background
// while tests that need no binary run; agentBuild is moonwake-agent, built
// the same way.
var build, agentBuild struct {
	done chan struct{}
	path string
	err  error
}

func TestMain(m *testing.M) {
	build.done = make(chan struct{})
	agentBuild.done = make(chan struct{})
	dir, err := os.MkdirTemp("", "moonwake-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if canBuildLANs() {
		go func() {
			defer close(build.done)
			build.path, build.err = buildMoonwake(dir)
		}()
		go func() {
			defer close(agentBuild.done)
			agentBuild.path, agentBuild.err = buildCommand(dir, "moonwake-agent")
		}()
	} else {
		build.err = errors.New("not built: the tests skip without root")
		agentBuild.err = build.err
		close(build.done)
		close(agentBuild.done)
	}
	code := m.Run()
	<-build.done // never leave a go build running behind us
	<-agentBuild.done
	os.RemoveAll(dir)
	os.Exit(code)
}

// canBuildLANs is testlan.Require's cheap part: without root every test
// skips, so building the binary would be wasted.
func canBuildLANs() bool {
	_, err := exec.LookPath("ip")
	return os.Geteuid() == 0 && err == nil
}

// buildMoonwake builds ./cmd/moonwake into dir, with the race detector when
// this test binary has it: the run then shares the packages compiled for
// the other tests, instead of compiling the module a second time.
func buildMoonwake(dir string) (string, error) { return buildCommand(dir, "moonwake") }

// buildCommand builds ./cmd/name into dir, as buildMoonwake does.
func buildCommand(dir, name string) (string, error) {
	out := filepath.Join(dir, name)
	args := []string{"build", "-o", out}
	if raceEnabled() {
		args = append(args, "-race")
	}
	args = append(args, "./cmd/"+name)
	cmd := exec.Command("go", args...)
	cmd.Dir = ".." // the module root; tests run in the package directory
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, b)
	}
	return out, nil
}

func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" && s.Value == "true" {
			return true
		}
	}
	return false
}

// moonwake returns the path of the built binary, failing t if it did not
// build.
func moonwake(t testing.TB) string {
	t.Helper()
	select {
	case <-build.done:
	case <-time.After(5 * time.Minute):
		t.Fatal("go build of ./cmd/moonwake is taking more than 5 minutes")
	}
	if build.err != nil {
		t.Fatalf("moonwake binary: %v", build.err)
	}
	return build.path
}

// moonwakeAgent returns the path of the built moonwake-agent binary,
// failing t if it did not build.
func moonwakeAgent(t testing.TB) string {
	t.Helper()
	select {
	case <-agentBuild.done:
	case <-time.After(5 * time.Minute):
		t.Fatal("go build of ./cmd/moonwake-agent is taking more than 5 minutes")
	}
	if agentBuild.err != nil {
		t.Fatalf("moonwake-agent binary: %v", agentBuild.err)
	}
	return agentBuild.path
}

// needCommand skips t when a third-party tool is missing (CI installs them:
// tshark, etherwake, wakeonlan).
func needCommand(t *testing.T, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			t.Skipf("%s is not installed", n)
		}
	}
}

// newLAN builds a LAN with a sender "a" and a receiver "b".
func newLAN(t *testing.T) (lan *testlan.LAN, a, b *testlan.Host) {
	t.Helper()
	lan = testlan.New(t)
	return lan, lan.AddHost("a"), lan.AddHost("b")
}

// result is how a moonwake run ended.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
}

// run runs the moonwake binary with args in host h's namespace.
func run(t *testing.T, h *testlan.Host, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	cmd := h.Exec(ctx, append([]string{moonwake(t)}, args...)...)
	// No MOONWAKE_HUB or MOONWAKE_CONFIG from the developer's shell. A
	// race-enabled binary sleeps a second at exit by default, waiting for
	// reports from other threads: not needed when it has exited cleanly.
	gorace := "atexit_sleep_ms=0"
	for _, kv := range os.Environ() {
		switch {
		case strings.HasPrefix(kv, "MOONWAKE_"):
		case strings.HasPrefix(kv, "GORACE="):
			gorace = strings.TrimPrefix(kv, "GORACE=") + " " + gorace
		default:
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "GORACE="+gorace)
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
	return r
}

// wake runs "moonwake wake args..." in h and fails t unless it succeeds.
func wake(t *testing.T, h *testlan.Host, args ...string) result {
	t.Helper()
	r := run(t, h, append([]string{"wake"}, args...)...)
	if r.code != 0 {
		t.Fatalf("moonwake wake %s: %s", strings.Join(args, " "), r)
	}
	return r
}

// magic builds the packet for mac by hand, not with package wol, so a bug
// there cannot hide itself.
func magic(t testing.TB, mac string, password ...byte) []byte {
	t.Helper()
	hw, err := net.ParseMAC(mac)
	if err != nil {
		t.Fatal(err)
	}
	b := bytes.Repeat([]byte{0xff}, 6)
	for range 16 {
		b = append(b, hw...)
	}
	return append(b, password...)
}

// canaryPort is where startTshark sends the datagrams that prove tshark is
// capturing; records leaves them out.
const canaryPort = 40404

// capture is tshark running in a host's namespace.
type capture struct {
	proc        *testlan.Proc
	out, stderr *testlan.Buffer
}

// startTshark starts tshark on capHost's eth0 with a capture filter and
// returns once it is provably capturing. It prints, per packet, the
// protocol stack, the UDP port, the MACs the WOL dissector found (16 of
// them) and its Info column, which shows the SecureOn password.
//
// "Capturing on 'eth0'" on tshark's stderr comes before dumpcap's filter is
// in place (libpcap drops what was queued before), so packets sent right
// after it can be lost. Instead, sender broadcasts a canary datagram to
// dst until tshark prints it.
func startTshark(t *testing.T, capHost, sender *testlan.Host, dst netip.Addr, filter string) *capture {
	t.Helper()
	needCommand(t, "tshark")
	argv := []string{"tshark", "-i", testlan.Iface, "-n", "-l",
		"-f", fmt.Sprintf("(%s) or udp port %d", filter, canaryPort),
		// Port 7 belongs to the echo dissector, whose claim comes before
		// the WOL heuristic (and "-d udp.port==7,wol" is refused: WOL
		// is heuristic-only over UDP).
		"--disable-protocol", "echo",
		"-a", "duration:30", // a bound, in case the test forgets it
		"-T", "fields", "-E", "separator=/t",
		"-e", "frame.protocols", "-e", "udp.dstport", "-e", "wol.mac", "-e", "_ws.col.Info",
		"-e", "frame.time_epoch",
	}
	c := &capture{out: new(testlan.Buffer), stderr: new(testlan.Buffer)}
	cmd := capHost.Exec(context.Background(), argv...)
	cmd.Stdout, cmd.Stderr = c.out, c.stderr
	p, err := capHost.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	c.proc = p
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := c.stderr.WaitFor(ctx, "Capturing on", p.Done()); err != nil {
		t.Fatalf("tshark: %v", err)
	}
	canary := fmt.Sprintf("\t%d\t", canaryPort)
	for {
		err := sender.Do(func() error {
			conn, err := net.ListenPacket("udp4", ":0")
			if err != nil {
				return err
			}
			defer conn.Close()
			_, err = conn.WriteTo([]byte("canary"), net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, canaryPort)))
			return err
		})
		if err != nil {
			t.Fatalf("canary: %v", err)
		}
		wait, cancelWait := context.WithTimeout(ctx, 100*time.Millisecond)
		err = c.out.WaitFor(wait, canary, p.Done())
		cancelWait()
		if err == nil {
			return c
		}
		select {
		case <-ctx.Done():
		case <-p.Done():
		default:
			continue
		}
		t.Fatalf("tshark never captured a canary: %v\n%s", err, c.stderr)
	}
}

// wolRecord is one packet as tshark's WOL dissector decoded it.
type wolRecord struct {
	protocols string
	macs      []string
	info      string
	at        time.Time // when it was captured
}

// parseRecords reads tshark's output, canaries left out.
func parseRecords(out string) []wolRecord {
	var recs []wolRecord
	for _, line := range strings.Split(out, "\n") {
		f := strings.Split(line, "\t")
		if len(f) < 4 || f[1] == fmt.Sprint(canaryPort) {
			continue // an incomplete last line, or a canary
		}
		r := wolRecord{protocols: f[0], info: f[3]}
		if len(f) > 4 {
			if sec, err := strconv.ParseFloat(f[4], 64); err == nil {
				r.at = time.Unix(0, int64(sec*1e9))
			}
		}
		if f[2] != "" {
			r.macs = strings.Split(f[2], ",")
		}
		recs = append(recs, r)
	}
	return recs
}

// records waits until tshark has printed n packets (or timeout), stops it
// and returns them.
func (c *capture) records(t *testing.T, n int, timeout time.Duration) []wolRecord {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	err := c.out.WaitUntil(ctx, func(out string) bool { return len(parseRecords(out)) >= n }, c.proc.Done())
	c.proc.Stop()
	if err != nil {
		t.Errorf("tshark printed fewer than %d packets: %v\nstderr:\n%s", n, err, c.stderr)
	}
	return parseRecords(c.out.String())
}
