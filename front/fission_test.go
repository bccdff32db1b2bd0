package front_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"plugin"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moonwake/moonwake"
)

// fissionHandler builds deploy/fission/wake as Fission's Go builder does
// (go build -buildmode=plugin, in that directory alone) and loads it as
// Fission's Go environment does: plugin.Open, then the symbol Handler as a
// func(http.ResponseWriter, *http.Request). A process loads a plugin once,
// so every test shares it.
var fissionHandler = sync.OnceValues(func() (func(http.ResponseWriter, *http.Request), error) {
	dir, err := os.MkdirTemp("", "moonwake-fission-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir) // the loaded plugin stays mapped
	so := filepath.Join(dir, "wake.so")
	args := []string{"build", "-buildmode=plugin", "-o", so}
	if raceEnabled {
		args = append(args, "-race") // a plugin must match the binary that loads it
	}
	cmd := exec.Command("go", append(args, ".")...)
	cmd.Dir = filepath.Join("..", "deploy", "fission", "wake")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build -buildmode=plugin: %w\n%s", err, out)
	}
	p, err := plugin.Open(so)
	if err != nil {
		return nil, err
	}
	sym, err := p.Lookup("Handler")
	if err != nil {
		return nil, err
	}
	h, ok := sym.(func(http.ResponseWriter, *http.Request))
	if !ok {
		return nil, fmt.Errorf("Handler is a %T, not the func(http.ResponseWriter, *http.Request) that Fission's Go environment calls", sym)
	}
	return h, nil
})

// needPlugins skips a test where Go plugins cannot be built (no cgo, no C
// compiler), unless MOONWAKE_TEST_REQUIRE names plugin (as in CI), where
// it fails.
func needPlugins(t *testing.T) {
	t.Helper()
	why := ""
	if out, err := exec.Command("go", "env", "CGO_ENABLED").Output(); err != nil || strings.TrimSpace(string(out)) != "1" {
		why = "cgo is off"
	} else if _, err := exec.LookPath("gcc"); err != nil {
		why = "no gcc for cgo"
	}
	if why == "" {
		return
	}
	if strings.Contains(os.Getenv("MOONWAKE_TEST_REQUIRE"), "plugin") {
		t.Fatalf("Go plugins cannot be built here (%s), and MOONWAKE_TEST_REQUIRE names plugin", why)
	}
	t.Skipf("Go plugins cannot be built here (%s); CI builds them", why)
}

// The Fission function, built and loaded as Fission does, serves the old
// URL against a real hub: the token wakes, a bad MAC is a 400, a missing
// token the hub's 401, and a hub that is gone a 502.
func TestFissionFunction(t *testing.T) {
	needPlugins(t)
	handler, err := fissionHandler()
	if err != nil {
		t.Fatal(err)
	}
	th := startHub(t)
	r := newReceiver(t)
	th.addMachine("pc", "aa:bb:cc:dd:ee:41", r)
	tok := th.token("shortcut", []string{"pc"}, []string{"wake"})

	// Before it knows its hub, it says so.
	t.Setenv("MOONWAKE_HUB", "")
	fn := httptest.NewServer(http.HandlerFunc(handler))
	defer fn.Close()
	if a := get(t, fn.URL+"/wake?mac=aa:bb:cc:dd:ee:41&token="+tok); a.Status != 500 || !strings.Contains(a.Body, "moonwake-front") {
		t.Errorf("with no hub URL: %d %s", a.Status, a.Body)
	}

	t.Setenv("MOONWAKE_HUB", th.URL)
	a := get(t, fn.URL+"/wake?mac=aa:bb:cc:dd:ee:41&token="+tok)
	if a.Status != http.StatusAccepted || !strings.Contains(a.Body, `"machine":"pc"`) {
		t.Fatalf("wake: %d %s", a.Status, a.Body)
	}
	wantPacket(t, r.next(5*time.Second), "aa:bb:cc:dd:ee:41")

	if a := get(t, fn.URL+"/wake?mac=aa:bb:cc:dd:ee"); a.Status != 400 || errorCode(t, a) != moonwake.EInvalid {
		t.Errorf("bad MAC: %d %s", a.Status, a.Body)
	}
	if a := get(t, fn.URL+"/wake?mac=aa:bb:cc:dd:ee:41"); a.Status != 401 || errorCode(t, a) != moonwake.EUnauthorized {
		t.Errorf("no token: %d %s", a.Status, a.Body)
	}
	th.stop()
	if a := get(t, fn.URL+"/wake?mac=aa:bb:cc:dd:ee:41&token="+tok); a.Status != 502 || errorCode(t, a) != moonwake.EUnavailable || strings.Contains(a.Body, tok) {
		t.Errorf("hub gone: %d %s", a.Status, a.Body)
	}
}
