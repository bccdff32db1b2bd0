package hub_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// conformanceTool builds the CloudEvents conformance tool (the cloudevents
// command of github.com/cloudevents/conformance, the tool of the module in
// testdata/conformance/tool) and returns its path and the directory of the
// conformance module, which holds the spec's example events.
func conformanceTool(t *testing.T) (bin, moduleDir string) {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command builds the conformance tool: %v", err)
	}
	bin = filepath.Join(t.TempDir(), "cloudevents")
	const pkg = "github.com/cloudevents/conformance/cmd/cloudevents"
	dir := filepath.Join("testdata", "conformance", "tool")
	if out, err := exec.Command(goCmd, "build", "-C", dir, "-o", bin, pkg).CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", pkg, err, out)
	}
	out, err := exec.Command(goCmd, "list", "-C", dir, "-m", "-f", "{{.Dir}}", "github.com/cloudevents/conformance").Output()
	if err != nil {
		t.Fatalf("find the conformance module: %v", err)
	}
	return bin, strings.TrimSpace(string(out))
}

// listen starts the tool's listener, which records what it receives, and
// returns its URL. It stops with the test.
func listen(t *testing.T, bin string) string {
	t.Helper()
	cmd := exec.Command(bin, "listen", "--port", "0", "--history", "100")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := regexp.MustCompile(`listening on :(\d+)`).FindStringSubmatch(sc.Text()); m != nil {
				addr <- "http://127.0.0.1:" + m[1]
			}
		}
	}()
	select {
	case u := <-addr:
		return u
	case <-time.After(30 * time.Second):
		t.Fatal("the conformance listener did not start")
		return ""
	}
}

// TestConformanceTool has the CloudEvents conformance tool talk to the hub
// both ways: it sends the spec's example events and moonwake's own wake
// requests (binary and structured) at POST /api/v1/cloudevents, and it is
// the sink that receives, and judges, what the hub emits.
func TestConformanceTool(t *testing.T) {
	bin, moduleDir := conformanceTool(t)
	sink := listen(t, bin)

	cfg := newConfig(t)
	cfg.Events.Sink = sink
	th := startHub(t, cfg)
	r := newReceiver(t)
	th.addMachine("pc", "aa:bb:cc:dd:ee:51", r, nil)
	token := th.ceToken("conformance", []string{"pc"}, []string{"wake"})
	target := th.URL + "/api/v1/cloudevents?token=" + token

	invoke := func(file string) (string, error) {
		out, err := exec.Command(bin, "invoke", target, "-f", file).CombinedOutput()
		return string(out), err
	}

	// The spec's examples (binary and structured, type
	// com.example.someevent) are read as CloudEvents and refused as types
	// the hub does not act on, 400, not as malformed ones.
	examples, err := os.ReadFile(filepath.Join(moduleDir, "yaml", "v1.yaml"))
	if err != nil {
		t.Fatalf("the spec's examples: %v", err)
	}
	modes := 0
	for i, ex := range strings.Split(string(examples), "\n---\n") {
		f := filepath.Join(t.TempDir(), "example.yaml")
		if err := os.WriteFile(f, []byte(ex), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := invoke(f)
		if err == nil || !strings.Contains(out, "expected 200 level response, got 400 Bad Request") {
			t.Fatalf("the spec's example %d: %v\n%s", i+1, err, out)
		}
		if strings.Contains(ex, "Mode: binary") || strings.Contains(ex, "Mode: structured") {
			modes++
		}
	}
	if modes != 2 {
		t.Fatalf("%d of the spec's examples name a mode, want 2 (binary and structured)", modes)
	}
	if th.countActions() != 0 {
		t.Fatal("an example event recorded an action")
	}

	// moonwake's wake requests are accepted in both modes.
	wake := filepath.Join("testdata", "conformance", "wake.yaml")
	if out, err := invoke(wake); err != nil {
		t.Fatalf("wake requests: %v\n%s", err, out)
	}
	wantPacket(t, r.next(5*time.Second), "aa:bb:cc:dd:ee:51", "")
	n := th.countActions()
	if n == 0 {
		t.Fatal("no action recorded")
	}
	// Delivered again, they are answered (2xx) and act no more.
	if out, err := invoke(wake); err != nil {
		t.Fatalf("wake requests again: %v\n%s", err, out)
	}
	if got := th.countActions(); got != n {
		t.Fatalf("%d actions after the redelivery, want %d", got, n)
	}

	// Out: the listener got the action's events; the tool's diff judges
	// them against what moonwake promises.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", sink+"/history?wait=2", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("the listener's history: %v", err)
	}
	got, _ := io.ReadAll(res.Body)
	res.Body.Close()
	// The diff leaves the content mode out: the listener records it.
	for i, doc := range strings.Split(string(got), "\n---\n") {
		if !strings.Contains(doc, "Mode: binary") {
			t.Errorf("event %d the hub sent is not in binary mode:\n%s", i+1, doc)
		}
	}
	gotFile := filepath.Join(t.TempDir(), "got.yaml")
	if err := os.WriteFile(gotFile, got, 0o600); err != nil {
		t.Fatal(err)
	}
	want := filepath.Join("testdata", "conformance", "want.yaml")
	if out, err := exec.Command(bin, "diff", want, gotFile, "--match", "type", "--ignore-additions").CombinedOutput(); err != nil {
		t.Fatalf("cloudevents diff: %v\n%s\ngot:\n%s", err, out, got)
	}
}
