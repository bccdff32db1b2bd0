package agent

import (
	"context"
	"encoding/xml"
	"errors"
	"flag"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var updateGolden = flag.Bool("update-install-golden", false, "rewrite the golden files in testdata/install")

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "install", name)
	if *updateGolden {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("%s differs from %s (run with -update-install-golden to accept):\n%s", name, path, got)
	}
}

func TestSystemdExecQuote(t *testing.T) {
	tests := map[string]string{
		"/usr/local/bin/moonwake-agent": "/usr/local/bin/moonwake-agent",
		"--config":                      "--config",
		"/opt/moon wake/agent":          `"/opt/moon wake/agent"`,
		`/a"b\c`:                        `"/a\"b\\c"`,
		"/x/100%/$HOME":                 "/x/100%%/$$HOME",
		"/x/it's here":                  `"/x/it's here"`,
		"":                              `""`,
		"/tab\there":                    `"/tab\there"`,
		"/ünï/cödé":                     `"/ünï/cödé"`,
	}
	for in, want := range tests {
		if got := systemdExecQuote(in); got != want {
			t.Errorf("systemdExecQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestSystemdUnitGolden(t *testing.T) {
	golden(t, "moonwake-agent.service", systemdUnit("/opt/moon wake/moonwake-agent", "/etc/moonwake-agent/config.yaml"))
}

func TestLaunchdPlistGolden(t *testing.T) {
	plist := launchdPlist("/usr/local/bin/moonwake-agent", "/Library/Application Support/moonwake-agent/a&b <c>.yaml")
	golden(t, "com.moonwake.agent.plist", plist)
	// Well-formed XML whose strings come back unchanged.
	dec := xml.NewDecoder(strings.NewReader(plist))
	dec.Strict = true
	var strs []string
	inString := false
	for {
		tok, err := dec.Token()
		if err != nil {
			if err.Error() != "EOF" {
				t.Fatalf("plist is not XML: %v", err)
			}
			break
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			inString = tok.Name.Local == "string"
		case xml.EndElement:
			inString = false
		case xml.CharData:
			if inString {
				strs = append(strs, string(tok))
			}
		}
	}
	want := []string{launchdLabel, "/usr/local/bin/moonwake-agent", "run", "--config", "/Library/Application Support/moonwake-agent/a&b <c>.yaml"}
	if strings.Join(strs[:5], "|") != strings.Join(want, "|") {
		t.Errorf("strings = %q", strs)
	}
}

// TestSystemdAnalyzeVerify has systemd check the unit, when its offline
// verifier is installed (it reads files, loads nothing into PID 1).
func TestSystemdAnalyzeVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed")
	}
	dir := t.TempDir()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "config.yaml")
	unit := filepath.Join(dir, agentServiceName+".service")
	if err := os.WriteFile(unit, []byte(systemdUnit(exe, cfg)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", "--man=no", unit).CombinedOutput()
	text := string(out)
	// Unknown or bad settings are warnings with exit status 0; any line
	// about our unit is a failure. Without systemd as PID 1 some checks
	// cannot run, which is not our unit's fault.
	if strings.Contains(text, agentServiceName+".service:") {
		t.Errorf("systemd-analyze verify complains (%v):\n%s", err, text)
	} else if err != nil {
		t.Logf("systemd-analyze verify could not run fully here: %v\n%s", err, text)
	}
}

type recorder struct {
	calls []string
	fail  map[string]error
}

func (r *recorder) run(_ context.Context, name string, args ...string) error {
	call := strings.Join(append([]string{name}, args...), " ")
	r.calls = append(r.calls, call)
	return r.fail[call]
}

// tempSystemdInstaller writes into a temporary directory and records the
// systemctl commands instead of running them: tests never touch the
// machine's systemd.
func tempSystemdInstaller(t *testing.T, exe string) (fileInstaller, *recorder, string) {
	t.Helper()
	dir := t.TempDir()
	rec := &recorder{fail: map[string]error{}}
	unit := agentServiceName + ".service"
	in := fileInstaller{
		path:       filepath.Join(dir, "etc-systemd-system", unit),
		executable: func() (string, error) { return exe, nil },
		render:     systemdUnit,
		run:        rec.run,
		reload:     []string{"systemctl", "daemon-reload"},
		activate:   [][]string{{"systemctl", "enable", "--now", unit}},
		restart:    [][]string{{"systemctl", "restart", unit}},
		deactivate: [][]string{{"systemctl", "disable", "--now", unit}},
	}
	if err := os.Mkdir(filepath.Dir(in.path), 0o755); err != nil {
		t.Fatal(err)
	}
	return in, rec, dir
}

func TestFileInstallerSystemd(t *testing.T) {
	ctx := context.Background()
	exe := "/opt/moonwake/bin/moonwake-agent"
	in, rec, dir := tempSystemdInstaller(t, exe)
	cfg := filepath.Join(dir, "my config.yaml")
	if err := os.WriteFile(cfg, []byte("hub: https://hub.example\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	if err := in.install(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	unit, err := os.ReadFile(in.path)
	if err != nil {
		t.Fatal(err)
	}
	if want := "ExecStart=/opt/moonwake/bin/moonwake-agent run --config " + systemdExecQuote(cfg) + "\n"; !strings.Contains(string(unit), want) {
		t.Errorf("unit lacks %q:\n%s", want, unit)
	}
	if fi, _ := os.Stat(in.path); fi.Mode().Perm() != 0o644 {
		t.Errorf("unit mode %v", fi.Mode())
	}
	want := "systemctl daemon-reload|systemctl enable --now moonwake-agent.service"
	if got := strings.Join(rec.calls, "|"); got != want {
		t.Errorf("install ran %q, want %q", got, want)
	}

	// Installing again restarts the service with the new definition.
	rec.calls = nil
	if err := in.install(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(rec.calls, "|"); got != want+"|systemctl restart moonwake-agent.service" {
		t.Errorf("reinstall ran %q", got)
	}
	if entries, _ := os.ReadDir(filepath.Dir(in.path)); len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}

	rec.calls = nil
	if err := in.uninstall(ctx); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(rec.calls, "|"); got != "systemctl disable --now moonwake-agent.service|systemctl daemon-reload" {
		t.Errorf("uninstall ran %q", got)
	}
	if _, err := os.Stat(in.path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("unit still there: %v", err)
	}
	if err := in.uninstall(ctx); err == nil || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("second uninstall: %v", err)
	}
}

func TestFileInstallerErrors(t *testing.T) {
	ctx := context.Background()
	in, rec, dir := tempSystemdInstaller(t, "/opt/moonwake/bin/moonwake-agent")

	if err := in.install(ctx, filepath.Join(dir, "missing.yaml")); err == nil || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing config: %v", err)
	}
	if err := in.install(ctx, dir); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("config is a directory: %v", err)
	}
	if err := in.install(ctx, ""); err == nil {
		t.Error("no config: no error")
	}
	if len(rec.calls) != 0 {
		t.Errorf("ran %q before failing", rec.calls)
	}
	if _, err := os.Stat(in.path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("unit written before failing: %v", err)
	}

	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	relative := in
	relative.executable = func() (string, error) { return "moonwake-agent", nil }
	if err := relative.install(ctx, cfg); err == nil || !strings.Contains(err.Error(), "not absolute") {
		t.Errorf("relative program: %v", err)
	}
	noSystemd := in
	noSystemd.ready = func() error { return errors.New("systemd is not running") }
	if err := noSystemd.install(ctx, cfg); err == nil || !strings.Contains(err.Error(), "systemd is not running") {
		t.Errorf("no systemd: %v", err)
	}

	rec.fail["systemctl enable --now moonwake-agent.service"] = errors.New("exit status 1")
	if err := in.install(ctx, cfg); err == nil || !strings.Contains(err.Error(), "exit status 1") {
		t.Errorf("systemctl failing: %v", err)
	}

	// A relative configuration path is made absolute.
	t.Chdir(dir)
	delete(rec.fail, "systemctl enable --now moonwake-agent.service")
	if err := in.install(ctx, "config.yaml"); err != nil {
		t.Fatal(err)
	}
	unit, _ := os.ReadFile(in.path)
	if !strings.Contains(string(unit), "--config "+systemdExecQuote(cfg)) {
		t.Errorf("relative config not made absolute:\n%s", unit)
	}
}

func TestFileInstallerLaunchd(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	rec := &recorder{}
	plist := filepath.Join(dir, launchdLabel+".plist")
	in := fileInstaller{
		path:       plist,
		executable: func() (string, error) { return "/usr/local/bin/moonwake-agent", nil },
		render:     launchdPlist,
		run:        rec.run,
		activate:   [][]string{{"/bin/launchctl", "bootstrap", "system", plist}},
		deactivate: [][]string{{"/bin/launchctl", "bootout", "system/" + launchdLabel}},
		unload:     [][]string{{"/bin/launchctl", "bootout", "system/" + launchdLabel}},
	}
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := in.install(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if err := in.install(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	want := "/bin/launchctl bootstrap system " + plist +
		"|/bin/launchctl bootout system/com.moonwake.agent|/bin/launchctl bootstrap system " + plist
	if got := strings.Join(rec.calls, "|"); got != want {
		t.Errorf("ran %q\nwant %q", got, want)
	}
}
