//go:build linux

package e2e

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moonwake/moonwake/internal/docscheck"
	"github.com/moonwake/moonwake/internal/testlan"
)

// TestGettingStarted follows docs/getting-started.md as a newcomer would:
// it runs the moonwake command lines of the page's numbered steps, in order
// and as written, on a fresh hub host with an emulated PC on its LAN, and
// expects the PC woken and seen on. Only the example's values are replaced
// (the PC's MAC and address, the hub's interface, the admin token the hub
// wrote); a step the programs no longer do as the page says fails here.
func TestGettingStarted(t *testing.T) {
	t.Parallel()
	root, err := docscheck.Root()
	if err != nil {
		t.Fatal(err)
	}
	const page = "docs/getting-started.md"
	md, err := os.ReadFile(filepath.Join(root, page))
	if err != nil {
		t.Fatal(err)
	}
	// The steps are the sections before "## The same over HTTP".
	end := strings.Index(string(md), "\n## The same over HTTP")
	if end < 0 {
		t.Fatalf("%s: no section \"The same over HTTP\" to end the steps at", page)
	}
	stepsEnd := strings.Count(string(md[:end]), "\n") + 1
	blocks, err := docscheck.Parse(page, md)
	if err != nil {
		t.Fatal(err)
	}
	var steps []docscheck.Command
	for _, b := range blocks {
		if b.IsShell() && b.Line < stepsEnd {
			steps = append(steps, docscheck.Commands(b)...)
		}
	}

	lan := testlan.New(t)
	h := lan.AddHost("hub")
	p := newPC(t, lan, "pc", pcOptions{BootDelay: 500 * time.Millisecond})
	home := t.TempDir() // the newcomer's working directory on the hub
	env := []string{}
	admin := ""
	replace := func(w string) string {
		return strings.NewReplacer(
			"aa:bb:cc:dd:ee:ff", p.MAC().String(),
			"192.168.1.20", p.Addr().String(),
			"eth0", testlan.Iface,
			"mw_…", admin,
		).Replace(w)
	}

	var ran []string
	for _, c := range steps {
		if len(c.Words) > 0 && c.Words[0] == "export" {
			for _, kv := range c.Words[1:] {
				env = append(env, replace(kv))
			}
			continue
		}
		prog, args, ok := c.Program()
		if !ok || prog != "moonwake" {
			continue // go build, install: the test has its binary
		}
		for i := range args {
			args[i] = replace(args[i])
		}
		ran = append(ran, strings.Join(args, " "))
		if len(args) == 1 && args[0] == "serve" {
			admin = serveAsThePageSays(t, h, home)
			continue
		}
		r := runInDir(t, h, home, env, args...)
		if r.code != 0 {
			t.Fatalf("%s: moonwake %s: %s", c.Pos, strings.Join(args, " "), r)
		}
		t.Logf("%s: moonwake %s\n%s", c.Pos, strings.Join(args, " "), r.stdout)
	}
	want := []string{"serve", "machines add", "wake gaming-pc", "status gaming-pc"}
	for _, w := range want {
		if !strings.Contains(strings.Join(ran, "\n"), w) {
			t.Errorf("the steps never ran moonwake %s; ran %q", w, ran)
		}
	}
	if p.State() != pcOn {
		t.Errorf("after the steps the PC is %s, want on", p.State())
	}
	r := runInDir(t, h, home, env, "status", "gaming-pc")
	if !strings.Contains(r.stdout, "on") {
		t.Errorf("moonwake status gaming-pc after the steps: %s", r)
	}
}

// serveAsThePageSays starts "moonwake serve" with no flags and no
// configuration in dir, in h's namespace, as the page's step 1 does, and
// returns the admin token it writes to moonwake-data/admin-token.
func serveAsThePageSays(t *testing.T, h *testlan.Host, dir string) string {
	t.Helper()
	cmd := h.Exec(context.Background(), moonwake(t), "serve")
	cmd.Dir = dir
	cmd.Env = moonwakeEnv()
	stdout, stderr := new(testlan.Buffer), new(testlan.Buffer)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	p, err := h.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop() })
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	client := nsClient(h)
	for {
		resp, err := client.Get("http://localhost:8080/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("moonwake serve not healthy on :8080: %v\nstderr: %s", err, stderr)
		case <-time.After(20 * time.Millisecond):
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "moonwake-data", "moonwake.db")); err != nil {
		t.Errorf("moonwake serve did not keep its data in ./moonwake-data: %v", err)
	}
	// Its standard output is no terminal here: as the page says, the token
	// is in the file, not printed.
	if tok := adminToken(stdout.String()); tok != "" {
		t.Errorf("moonwake serve printed the admin token on a standard output that is no terminal")
	}
	return adminTokenFile(t, filepath.Join(dir, "moonwake-data"))
}

// runInDir runs moonwake with args in h's namespace, in dir, with env.
func runInDir(t *testing.T, h *testlan.Host, dir string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := h.Exec(ctx, append([]string{moonwake(t)}, args...)...)
	cmd.Dir = dir
	cmd.Env = moonwakeEnv(env...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	if err != nil {
		r.code = -1
		if ee, ok := err.(interface{ ExitCode() int }); ok {
			r.code = ee.ExitCode()
		}
	}
	return r
}
