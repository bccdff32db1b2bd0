package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moonwake/moonwake"
	"github.com/moonwake/moonwake/hub"
	"github.com/moonwake/moonwake/hub/sqlite"
	"github.com/moonwake/moonwake/wol"
)

// The test binary doubles as the moonwake binary: with MOONWAKE_TEST_MAIN
// set it runs main, so tests can start real hub processes and kill them.
func TestMain(m *testing.M) {
	if os.Getenv("MOONWAKE_TEST_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// cli runs one command line in-process.
func cli(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, strings.NewReader(""), &out, &errb, func(k string) string { return env[k] })
	return code, out.String(), errb.String()
}

func udpReceiver(t *testing.T) (*net.UDPConn, int) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, c.LocalAddr().(*net.UDPAddr).Port
}

func recv(t *testing.T, c *net.UDPConn, timeout time.Duration) []byte {
	buf := make([]byte, 2048)
	c.SetReadDeadline(time.Now().Add(timeout))
	n, _, err := c.ReadFromUDP(buf)
	if err != nil {
		return nil
	}
	return buf[:n]
}

func TestWakeLoopback(t *testing.T) {
	c, port := udpReceiver(t)
	code, out, errOut := cli(t, nil, "wake", "AA-BB-CC-DD-EE-FF", "--broadcast", "127.0.0.1", "--port", fmt.Sprint(port),
		"--password", "01:02:03:04", "--count", "2", "--interval", "1ms")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "127.0.0.1:") || !strings.Contains(out, "×2") {
		t.Fatalf("output %q", out)
	}
	want, _ := (&wol.Packet{Target: net.HardwareAddr{0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}, Password: []byte{1, 2, 3, 4}}).MarshalBinary()
	for i := 0; i < 2; i++ {
		if got := recv(t, c, time.Second); !bytes.Equal(got, want) {
			t.Fatalf("packet %d: %x", i, got)
		}
	}
}

func TestWakeByConfigName(t *testing.T) {
	c, port := udpReceiver(t)
	path := filepath.Join(t.TempDir(), "moonwake.yaml")
	os.WriteFile(path, []byte(fmt.Sprintf("machines:\n  - {name: gaming-pc, mac: 'aabb.ccdd.ee01', broadcast: 127.0.0.1, port: %d}\n", port)), 0o600)
	code, _, errOut := cli(t, map[string]string{"MOONWAKE_CONFIG": path}, "wake", "gaming-pc", "--count", "1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if p := recv(t, c, time.Second); len(p) != wol.Size {
		t.Fatalf("got %x", p)
	}
	code, _, errOut = cli(t, map[string]string{"MOONWAKE_CONFIG": path}, "wake", "other-pc")
	if code != 2 || !strings.Contains(errOut, "declares no machine") {
		t.Fatalf("unknown name: exit %d: %s", code, errOut)
	}
}

func TestWakeBadInputSendsNothing(t *testing.T) {
	c, port := udpReceiver(t)
	p := fmt.Sprint(port)
	cases := [][]string{
		{"wake", "ff:ff:ff:ff:ff:ff", "--broadcast", "127.0.0.1", "--port", p},
		{"wake", "01:00:5e:00:00:fb", "--broadcast", "127.0.0.1", "--port", p},
		{"wake", "00:00:00:00:00:00", "--broadcast", "127.0.0.1", "--port", p},
		{"wake", "aa:bb:cc:dd:ee", "--broadcast", "127.0.0.1", "--port", p},
		{"wake", "aa:bb:cc:dd:ee:gg", "--broadcast", "127.0.0.1", "--port", p},
		{"wake", "aa:bb-cc:dd:ee:ff", "--broadcast", "127.0.0.1", "--port", p},
		{"wake", "gaming-pc", "--broadcast", "127.0.0.1", "--port", p},
		{"wake", "aa:bb:cc:dd:ee:ff", "--broadcast", "not-an-ip", "--port", p},
		{"wake", "aa:bb:cc:dd:ee:ff", "--broadcast", "127.0.0.1", "--port", "0"},
		{"wake", "aa:bb:cc:dd:ee:ff", "--broadcast", "127.0.0.1", "--port", p, "--password", "123"},
		{"wake", "aa:bb:cc:dd:ee:ff", "--broadcast", "127.0.0.1", "--port", p, "--count", "0"},
		{"wake", "aa:bb:cc:dd:ee:ff", "--raw"},
		{"wake", "aa:bb:cc:dd:ee:ff", "--interface", "no-such-if0"},
		{"wake", "aa:bb:cc:dd:ee:ff", "--bogus"},
		{"wake"},
	}
	for _, args := range cases {
		code, out, errOut := cli(t, nil, args...)
		if code != 2 || errOut == "" || out != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2 with a message", args, code, out, errOut)
		}
	}
	if got := recv(t, c, 200*time.Millisecond); got != nil {
		t.Fatalf("bad input sent a packet: %x", got)
	}
}

func TestHelpAndCompletion(t *testing.T) {
	code, out, _ := cli(t, nil, "help", "wake")
	for _, want := range []string{"--interface", "--broadcast", "--port", "--password", "--raw", "--count", "Examples:", "aabb.ccdd.eeff"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("help wake lacks %q", want)
		}
	}
	for _, sh := range []string{"bash", "zsh", "fish"} {
		code, out, _ := cli(t, nil, "completion", sh)
		if code != 0 || !strings.Contains(out, "moonwake") {
			t.Errorf("completion %s: exit %d", sh, code)
		}
	}
}

func TestTokensCommands(t *testing.T) {
	dir := t.TempDir()
	// A token names machines that exist: it is bound to them.
	code, _, errOut := cli(t, nil, "tokens", "create", "--data", dir, "--name", "phone", "--machines", "gaming-pc", "--actions", "wake")
	if code == 0 || !strings.Contains(errOut, `no machine "gaming-pc"`) {
		t.Fatalf("a token for a machine not yet added: exit %d: %s", code, errOut)
	}
	db := sqlite.NewDB(filepath.Join(dir, hub.DBFile))
	if err := db.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := sqlite.NewMachineService(db).CreateMachine(context.Background(), &moonwake.Machine{Name: "gaming-pc", MAC: "02:00:00:00:00:01"}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	code, out, errOut := cli(t, nil, "tokens", "create", "--data", dir, "--name", "phone", "--machines", "gaming-pc", "--actions", "wake")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	secret := strings.TrimSpace(out)
	if !strings.HasPrefix(secret, "mw_") || strings.Count(out, "\n") != 1 {
		t.Fatalf("stdout must be the token alone: %q", out)
	}
	code, out, _ = cli(t, nil, "tokens", "list", "--data", dir)
	if code != 0 || !strings.Contains(out, "phone") || strings.Contains(out, secret) || !strings.Contains(out, "wake on gaming-pc") {
		t.Fatalf("list: %q", out)
	}
	if code, _, errOut = cli(t, nil, "tokens", "create", "--data", dir, "--name", "trigger", "--machines", "gaming-pc", "--cloudevents"); code != 0 {
		t.Fatalf("create a CloudEvents token: exit %d %s", code, errOut)
	}
	if code, out, _ = cli(t, nil, "tokens", "list", "--data", dir); code != 0 || !strings.Contains(out, "cloudevents: wake on gaming-pc") {
		t.Fatalf("list: %q", out)
	}
	if code, _, errOut = cli(t, nil, "tokens", "create", "--data", dir, "--name", "x", "--actions", "explode"); code != 2 {
		t.Fatalf("bad action: exit %d %s", code, errOut)
	}
	if code, out, _ = cli(t, nil, "tokens", "revoke", "--data", dir, "phone"); code != 0 || !strings.Contains(out, "revoked") {
		t.Fatalf("revoke: %d %q", code, out)
	}
	if code, _, _ = cli(t, nil, "tokens", "revoke", "--data", dir, "phone"); code == 0 {
		t.Fatal("revoking twice succeeded")
	}
}

// hubProcess is `moonwake serve` in a child process.
type hubProcess struct {
	cmd     *exec.Cmd
	url     string
	admin   string // from the admin token file, if there is one
	created bool   // the hub said it created the first admin token

	mu  sync.Mutex
	log strings.Builder // its stderr
}

// stderr is what the hub has logged so far.
func (hp *hubProcess) stderr() string {
	hp.mu.Lock()
	defer hp.mu.Unlock()
	return hp.log.String()
}

func startHubProcess(t *testing.T, dir string, env ...string) *hubProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0], "serve", "--listen", "127.0.0.1:0", "--data", dir)
	cmd.Env = append(os.Environ(), append([]string{"MOONWAKE_TEST_MAIN=1", "MOONWAKE_WAKE_COUNT=1",
		"MOONWAKE_RATE_LIMIT_PER_MINUTE=100000", "MOONWAKE_RATE_LIMIT_BURST=10000"}, env...)...)
	stdout, _ := cmd.StdoutPipe()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	hp := &hubProcess{cmd: cmd}
	printedc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if s := strings.TrimSpace(sc.Text()); strings.Contains(s, "mw_") {
				printedc <- s
			}
		}
	}()
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			hp.mu.Lock()
			hp.log.WriteString(line + "\n")
			hp.mu.Unlock()
			if strings.Contains(line, "created the first admin token") {
				hp.created = true // read after addrc is received
			}
			if i := strings.Index(line, "addr="); i >= 0 && strings.Contains(line, "serving") {
				addrc <- strings.Fields(line[i+5:])[0]
			}
		}
	}()
	select {
	case a := <-addrc:
		hp.url = "http://" + a
	case <-time.After(10 * time.Second):
		t.Fatal("hub did not start")
	}
	// Standard output is a pipe, no terminal: the token must not be on it.
	select {
	case s := <-printedc:
		t.Errorf("the hub printed a token on a standard output that is no terminal: %q", s)
	case <-time.After(100 * time.Millisecond):
	}
	path := filepath.Join(dir, hub.AdminTokenFile)
	if fi, err := os.Stat(path); err == nil {
		if m := fi.Mode().Perm(); m != 0o600 {
			t.Errorf("%s: mode %04o, want 0600", path, m)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		hp.admin = strings.TrimSpace(string(b))
	}
	return hp
}

func (hp *hubProcess) req(t *testing.T, method, path, token string, body any) (int, []byte) {
	t.Helper()
	var b []byte
	if body != nil {
		b, _ = json.Marshal(body)
	}
	req, _ := http.NewRequest(method, hp.url+path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out bytes.Buffer
	out.ReadFrom(resp.Body)
	return resp.StatusCode, out.Bytes()
}

// TestSurvivesKill9 kills a hub that has just answered wakes, and checks
// that the restarted hub has every machine, token and action it answered
// for.
func TestSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts hub processes")
	}
	_, port := udpReceiver(t)
	dir := t.TempDir()
	hp := startHubProcess(t, dir)
	if !hp.created || !strings.HasPrefix(hp.admin, "mw_") {
		t.Fatalf("first start: created a token %v, file holds %q", hp.created, hp.admin)
	}
	if code, body := hp.req(t, "POST", "/api/v1/machines", hp.admin, map[string]any{"name": "pc", "mac": "aa:bb:cc:dd:ee:ff", "broadcast": "127.0.0.1", "port": port}); code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}
	var ids []string
	for i := 0; i < 50; i++ {
		code, body := hp.req(t, "POST", "/api/v1/machines/pc/wake", hp.admin, nil)
		if code != 202 {
			t.Fatalf("wake: %d %s", code, body)
		}
		var a struct{ ID string }
		json.Unmarshal(body, &a)
		ids = append(ids, a.ID)
	}
	hp.cmd.Process.Signal(syscall.SIGKILL)
	hp.cmd.Wait()

	hp2 := startHubProcess(t, dir)
	if hp2.created || hp2.admin != hp.admin {
		t.Fatal("restart created another admin token")
	}
	for _, id := range ids {
		if code, body := hp2.req(t, "GET", "/api/v1/actions/"+id, hp.admin, nil); code != 200 {
			t.Fatalf("action %s lost: %d %s", id, code, body)
		}
	}
	if code, _ := hp2.req(t, "GET", "/api/v1/machines/pc", hp.admin, nil); code != 200 {
		t.Fatal("machine lost")
	}
	// A graceful stop also keeps everything.
	hp2.cmd.Process.Signal(syscall.SIGTERM)
	if err := hp2.cmd.Wait(); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
}

// TestTokenMadeWhileHubRuns checks that a token created or revoked with the
// CLI on the hub host takes effect in the running hub.
func TestTokenMadeWhileHubRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("starts hub processes")
	}
	dir := t.TempDir()
	hp := startHubProcess(t, dir)
	code, out, errOut := cli(t, nil, "tokens", "create", "--data", dir, "--name", "late")
	if code != 0 {
		t.Fatalf("create: %s", errOut)
	}
	tok := strings.TrimSpace(out)
	if code, body := hp.req(t, "GET", "/api/v1/me", tok, nil); code != 200 {
		t.Fatalf("new token refused by running hub: %d %s", code, body)
	}
	cli(t, nil, "tokens", "revoke", "--data", dir, "late")
	deadline := time.Now().Add(3 * time.Second)
	for {
		code, _ := hp.req(t, "GET", "/api/v1/me", tok, nil)
		if code == 401 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("revoked token still accepted by the running hub")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
